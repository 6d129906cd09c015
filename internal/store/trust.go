package store

import (
	"context"
	"errors"
	"time"
)

// ErrJTIUsed is returned by UseJTI for an ID token id seen before.
var ErrJTIUsed = errors.New("the token id was used before")

// TrustRule lets GitHub Actions ID tokens of one repository log in to one
// workspace. Repository and owner are numeric ids, never names: a deleted
// name can be registered again by someone else, an id cannot. The optional
// fields, when not empty, must equal the token's claim of the same name.
type TrustRule struct {
	ID                string
	WorkspaceID       string
	RepositoryID      int64
	RepositoryOwnerID int64
	Ref               string // claim "ref", e.g. refs/heads/main
	Environment       string // claim "environment"
	WorkflowRef       string // claim "job_workflow_ref"
	Created           time.Time
}

// ServiceUserInput finds or creates the machine user a workspace knows by
// Key (e.g. a repository id), so that one key in two workspaces makes two
// users, each a member of its own workspace only.
type ServiceUserInput struct {
	WorkspaceID string
	Key         string
	Email       string // set on creation, and updated when it changed
}

// TrustStore keeps GitHub OIDC trust rules, the ids of the ID tokens
// already exchanged, and the service users the exchange logs in as.
type TrustStore interface {
	// AddTrustRule stores a rule, unless the workspace has one with the
	// same fields: then it returns that one and created is false.
	AddTrustRule(ctx context.Context, r TrustRule) (res TrustRule, created bool, err error)
	// TrustRules lists the rules of a workspace ("" for all), oldest first.
	TrustRules(ctx context.Context, workspaceID string) ([]TrustRule, error)
	// TrustRulesFor lists the rules of every workspace for a repository and
	// owner id, oldest first.
	TrustRulesFor(ctx context.Context, repositoryID, ownerID int64) ([]TrustRule, error)
	// RemoveTrustRule deletes a rule; ErrNotFound when there is none.
	RemoveTrustRule(ctx context.Context, id string) error
	// UseJTI records that the ID token of issuer with id jti was exchanged;
	// ErrJTIUsed when it was before. The record is kept until expires, and
	// expired records are removed on the way.
	UseJTI(ctx context.Context, issuer, jti string, expires time.Time) error
	// EnsureServiceUser finds or creates a workspace's service user.
	EnsureServiceUser(ctx context.Context, in ServiceUserInput) (User, error)
}
