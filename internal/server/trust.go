package server

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/dlthub/runtime-action/internal/store"
)

// TrustRuleInput is a trust rule to add, as an admin typed it: the ids are
// checked here so that a name given for an id is refused, not stored.
type TrustRuleInput struct {
	WorkspaceID       string
	RepositoryID      string // numeric: gh api repos/OWNER/REPO --jq .id
	RepositoryOwnerID string // numeric: gh api repos/OWNER/REPO --jq .owner.id
	Ref               string // optional, e.g. refs/heads/main
	Environment       string // optional
	WorkflowRef       string // optional, e.g. OWNER/REPO/.github/workflows/deploy.yml@refs/heads/main
}

// TrustRule is a stored trust rule, as the admin commands print it.
type TrustRule struct {
	ID                string    `json:"id"`
	WorkspaceID       string    `json:"workspace_id"`
	RepositoryID      int64     `json:"repository_id"`
	RepositoryOwnerID int64     `json:"repository_owner_id"`
	Ref               string    `json:"ref,omitempty"`
	Environment       string    `json:"environment,omitempty"`
	WorkflowRef       string    `json:"workflow_ref,omitempty"`
	DateAdded         time.Time `json:"date_added"`
}

// TrustInputError is a trust rule value that is refused; Field names the
// input (repository-id, ref, ...) so that the command line can name its flag.
type TrustInputError struct {
	Field  string
	Value  string
	Reason string
}

// Error names the field, the value and what is expected.
func (e *TrustInputError) Error() string {
	return fmt.Sprintf("invalid %s %q: %s", e.Field, e.Value, e.Reason)
}

func trustRule(r store.TrustRule) TrustRule {
	return TrustRule{ID: r.ID, WorkspaceID: r.WorkspaceID, RepositoryID: r.RepositoryID, RepositoryOwnerID: r.RepositoryOwnerID,
		Ref: r.Ref, Environment: r.Environment, WorkflowRef: r.WorkflowRef, DateAdded: r.Created}
}

// checkTrustInput turns in into a rule, or says which value is wrong.
func checkTrustInput(in TrustRuleInput) (store.TrustRule, error) {
	var r store.TrustRule
	ids := []struct {
		field, value, fix string
		dst               *int64
	}{
		{"repository-id", in.RepositoryID, "gh api repos/OWNER/REPO --jq .id", &r.RepositoryID},
		{"repository-owner-id", in.RepositoryOwnerID, "gh api repos/OWNER/REPO --jq .owner.id", &r.RepositoryOwnerID},
	}
	for _, id := range ids {
		v := strings.TrimSpace(id.value)
		if v == "" {
			return r, &TrustInputError{Field: id.field, Value: id.value, Reason: "it is required: the numeric id, which " + id.fix + " prints"}
		}
		n, ok := parseGitHubID(v)
		if !ok {
			return r, &TrustInputError{Field: id.field, Value: id.value,
				Reason: "expected a numeric id, not a name (names can be re-registered by others); " + id.fix + " prints it"}
		}
		*id.dst = n
	}
	r.Ref, r.Environment, r.WorkflowRef = in.Ref, in.Environment, in.WorkflowRef
	if err := checkClaimValue("ref", r.Ref); err != nil {
		return r, err
	}
	if r.Ref != "" && !strings.HasPrefix(r.Ref, "refs/") {
		return r, &TrustInputError{Field: "ref", Value: r.Ref, Reason: "expected a full ref as the token's ref claim has it, e.g. refs/heads/main or refs/tags/v1"}
	}
	if err := checkClaimValue("environment", r.Environment); err != nil {
		return r, err
	}
	if err := checkClaimValue("workflow-ref", r.WorkflowRef); err != nil {
		return r, err
	}
	if wf := r.WorkflowRef; wf != "" {
		path, ref, ok := strings.Cut(wf, "@")
		if !ok || strings.Count(path, "/") < 2 || !strings.HasPrefix(ref, "refs/") {
			return r, &TrustInputError{Field: "workflow-ref", Value: wf,
				Reason: "expected OWNER/REPO/PATH@REF as the token's job_workflow_ref claim has it, e.g. octo/app/.github/workflows/deploy.yml@refs/heads/main"}
		}
	}
	return r, nil
}

// checkClaimValue refuses what no token claim holds: control characters,
// blanks around it, or a length over 1024.
func checkClaimValue(field, v string) error {
	switch {
	case v == "":
		return nil
	case len(v) > 1024:
		return &TrustInputError{Field: field, Value: v[:40] + "...", Reason: "longer than 1024 bytes"}
	case strings.TrimSpace(v) != v || strings.ContainsFunc(v, unicode.IsControl):
		return &TrustInputError{Field: field, Value: v, Reason: "it holds blanks at its ends or control characters"}
	}
	return nil
}

// Check reports the first value of in that would be refused, naming its
// field in a *TrustInputError; whether the workspace exists is not checked.
func (in TrustRuleInput) Check() error {
	if strings.TrimSpace(in.WorkspaceID) == "" {
		return &TrustInputError{Field: "workspace", Value: in.WorkspaceID,
			Reason: "it is required: \"runtime-action serve workspace list\" shows the ids"}
	}
	_, err := checkTrustInput(in)
	return err
}

// AddTrustRule lets the ID tokens whose claims match in log in to its
// workspace. Adding a rule that exists returns it with created false.
func (a *Admin) AddTrustRule(ctx context.Context, in TrustRuleInput) (rule TrustRule, created bool, err error) {
	if err := in.Check(); err != nil {
		return TrustRule{}, false, err
	}
	r, _ := checkTrustInput(in)
	ws, err := a.workspace(ctx, in.WorkspaceID)
	if err != nil {
		return TrustRule{}, false, err
	}
	r.WorkspaceID = ws.ID
	res, created, err := a.dir.store.AddTrustRule(ctx, r)
	if err != nil {
		return TrustRule{}, false, err
	}
	return trustRule(res), created, nil
}

// TrustRules lists the trust rules of a workspace ("" for all), oldest first.
func (a *Admin) TrustRules(ctx context.Context, workspaceID string) ([]TrustRule, error) {
	if workspaceID != "" {
		if _, err := a.workspace(ctx, workspaceID); err != nil {
			return nil, err
		}
	}
	rules, err := a.dir.store.TrustRules(ctx, workspaceID)
	if err != nil {
		return nil, err
	}
	out := make([]TrustRule, len(rules))
	for i, r := range rules {
		out[i] = trustRule(r)
	}
	return out, nil
}

// RemoveTrustRule deletes a trust rule. Tokens issued through it stay valid
// until they expire (an hour at most); "serve token revoke" ends one sooner.
func (a *Admin) RemoveTrustRule(ctx context.Context, id string) error {
	err := a.dir.store.RemoveTrustRule(ctx, strings.TrimSpace(id))
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("trust rule %q not found: \"runtime-action serve trust list\" shows the ids", id)
	}
	return err
}
