// Package store is the persistence of the self-hosted Runtime: organizations,
// workspaces, users, tokens, packages, scripts and runs. Store is the
// interface the server consumes; sqlite/ implements it so that a second
// backend can come later without touching the server.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/dlthub/runtime-action/internal/api"
)

// Errors a Store returns; callers test them with errors.Is.
var (
	// ErrNotFound is an id, name or version that does not exist (in that workspace).
	ErrNotFound = errors.New("not found")
	// ErrNoDeployment is a run asked for before the workspace has a deployment.
	ErrNoDeployment = errors.New("the workspace has no deployment yet")
	// ErrNoConfiguration is a run asked for before the workspace has a configuration.
	ErrNoConfiguration = errors.New("the workspace has no configuration yet")
	// ErrTerminal is a change asked of a run that is in a terminal state.
	ErrTerminal = errors.New("the run is in a terminal state")
)

// Page selects a slice of a list, newest first.
type Page struct {
	Limit  int
	Offset int
}

// Organization is an organization.
type Organization struct {
	ID          string
	Name        string
	Description *string
	Created     time.Time
	Updated     time.Time
}

// Workspace is a workspace of an organization.
type Workspace struct {
	ID             string
	OrganizationID string
	Name           string
	Description    *string
	Created        time.Time
	Updated        time.Time
}

// User is a person or machine that holds tokens.
type User struct {
	ID                 string
	IdentityID         string
	Email              string
	GitHubLogin        string // "" when none is mapped
	GitHubID           int64  // GitHub's numeric user id, 0 until the first token exchange
	DefaultWorkspaceID string
	Created            time.Time
	Updated            time.Time
}

// UserInput finds or creates a user and makes it a member of a workspace.
type UserInput struct {
	Email       string // used to find the user when GitHubLogin is empty
	GitHubLogin string // when set, the user is found by it (case-insensitive)
	WorkspaceID string // the workspace the user must be a member of
}

// Token is an issued JWT, recorded so it can be revoked by its jti.
type Token struct {
	JTI         string
	UserID      string
	WorkspaceID string // "" when the token is not restricted to one workspace
	Expires     time.Time
}

// Bootstrap names what the first start of an empty data dir creates.
type Bootstrap struct {
	OrganizationName string
	WorkspaceName    string
	AdminEmail       string
}

// BootstrapResult is what exists after Bootstrap, created now or before.
type BootstrapResult struct {
	Organization Organization
	Workspace    Workspace
	Admin        User
}

// PackageKind tells deployments from configurations; they share a table and
// their version numbers count separately.
type PackageKind string

// The package kinds.
const (
	KindDeployment    PackageKind = "deployment"
	KindConfiguration PackageKind = "configuration"
)

// Package is a stored deployment or configuration.
type Package struct {
	ID          string
	Kind        PackageKind
	WorkspaceID string
	Version     int
	ContentHash string
	Blob        string // name of the stored tarball (hex SHA3-256 of its bytes)
	CreatedBy   string
	FileCount   int
	FileNames   string
	Size        int64
	Profiles    string // configurations only
	Created     time.Time
	Updated     time.Time
}

// ScriptInput creates or updates a script.
type ScriptInput struct {
	WorkspaceID      string
	Name             string
	Description      string
	EntryPoint       string
	ScriptType       api.ScriptType
	Active           bool
	Profile          *string
	Schedule         *string
	NextScheduledRun *time.Time // kept as given when the script changes
	CreatedBy        string
}

// Script is a script with the fields of its latest version.
type Script struct {
	ID               string
	WorkspaceID      string
	Name             string
	Version          int
	VersionID        string // id of the latest version
	Description      string
	EntryPoint       string
	ScriptType       api.ScriptType
	Active           bool
	Profile          *string
	Schedule         *string
	NextScheduledRun *time.Time
	CreatedBy        string
	Created          time.Time
	Updated          time.Time
}

// ScriptVersion is one version of a script.
type ScriptVersion struct {
	ID          string
	ScriptID    string
	Name        string
	Version     int
	Description string
	EntryPoint  string
	ScriptType  api.ScriptType
	Active      bool
	Profile     *string
	Schedule    *string
	CreatedBy   string
	Created     time.Time
	Updated     time.Time
}

// NewRun creates a run of a script's latest version with the workspace's
// latest deployment and configuration.
type NewRun struct {
	WorkspaceID string
	ScriptID    string
	Profile     string
	Trigger     api.TriggerType
	TriggeredBy *string
}

// Run is a run.
type Run struct {
	ID              string
	WorkspaceID     string
	ScriptID        string
	ScriptVersionID string
	DeploymentID    string
	ConfigurationID string
	Number          int
	Status          api.RunStatus
	Trigger         api.TriggerType
	TriggeredBy     *string
	Profile         string
	PGID            int // process group of the run's process, 0 before it starts
	TimeStarted     *time.Time
	TimeEnded       *time.Time
	Duration        *int64 // seconds
	Created         time.Time
	Updated         time.Time
}

// RunFilter selects the runs of a workspace.
type RunFilter struct {
	WorkspaceID string
	ScriptID    string        // "" for all scripts
	Status      api.RunStatus // "" for all statuses
}

// Store keeps the Runtime's state. Every method that changes something does
// it in one transaction; a failed call changes nothing.
type Store interface {
	// TrustStore keeps GitHub OIDC trust rules (trust.go).
	TrustStore
	// ScheduleStore fires schedules, KeyStore knows the encryption keys
	// (schedule.go).
	ScheduleStore
	KeyStore

	// Close releases the store.
	Close() error

	// Bootstrap creates the first organization, workspace and admin user
	// unless an organization exists; created tells which happened.
	Bootstrap(ctx context.Context, b Bootstrap) (res BootstrapResult, created bool, err error)

	// Organization returns an organization by id.
	Organization(ctx context.Context, id string) (Organization, error)
	// MemberOrganization returns an organization that holds a workspace the user is a member of.
	MemberOrganization(ctx context.Context, userID, orgID string) (Organization, error)
	// CreateWorkspace creates a workspace in an organization with the given members.
	CreateWorkspace(ctx context.Context, orgID, name string, memberIDs ...string) (Workspace, error)
	// Workspace returns a workspace by id.
	Workspace(ctx context.Context, id string) (Workspace, error)
	// Workspaces lists all workspaces, oldest first.
	Workspaces(ctx context.Context) ([]Workspace, error)
	// MemberWorkspace returns a workspace the user is a member of, ErrNotFound otherwise.
	MemberWorkspace(ctx context.Context, userID, workspaceID string) (Workspace, error)

	// User returns a user by id.
	User(ctx context.Context, id string) (User, error)
	// UserByGitHubLogin returns the user mapped to a GitHub login (case-insensitive).
	UserByGitHubLogin(ctx context.Context, login string) (User, error)
	// UserForGitHub returns the user of a GitHub account, found by its
	// numeric id (its login follows a rename). Else the user an admin
	// allowed by login, when it is bound to no account yet: it is bound to
	// this one. A login bound to another account (renamed, then taken by
	// this one) is released from its user and ErrNotFound returned, as
	// when no user matches.
	UserForGitHub(ctx context.Context, githubID int64, login string) (User, error)
	// EnsureUser finds or creates a user and makes it a member of in.WorkspaceID.
	EnsureUser(ctx context.Context, in UserInput) (User, error)
	// SetUserEmail changes a user's email.
	SetUserEmail(ctx context.Context, userID, email string) error

	// RecordToken records an issued token.
	RecordToken(ctx context.Context, t Token) error
	// TokenRevoked reports whether the token with this jti was revoked.
	TokenRevoked(ctx context.Context, jti string) (bool, error)
	// RevokeToken revokes a recorded token; ErrNotFound when the jti is unknown.
	RevokeToken(ctx context.Context, jti string) error

	// CreatePackage stores p as the workspace's next version of its kind,
	// unless the latest has the same content hash: then it returns the latest
	// and created is false. commit runs inside the transaction after the row
	// is written (to put the tarball in place); an error from it, or a failed
	// commit, leaves no row.
	CreatePackage(ctx context.Context, p Package, commit func(Package) error) (res Package, created bool, err error)
	// LatestPackage returns the newest package of a kind.
	LatestPackage(ctx context.Context, kind PackageKind, workspaceID string) (Package, error)
	// PackageByID returns a package of a workspace by id.
	PackageByID(ctx context.Context, kind PackageKind, workspaceID, id string) (Package, error)
	// PackageByVersion returns a package of a workspace by version number.
	PackageByVersion(ctx context.Context, kind PackageKind, workspaceID string, version int) (Package, error)
	// Packages lists packages of a kind, newest first, and their total.
	Packages(ctx context.Context, kind PackageKind, workspaceID string, p Page) ([]Package, int, error)
	// BlobInUse reports whether any package references the blob.
	BlobInUse(ctx context.Context, blob string) (bool, error)

	// UpsertScript creates the script named in.Name or makes a new version
	// of it when a field changed; changed is false when nothing did.
	UpsertScript(ctx context.Context, in ScriptInput) (s Script, changed bool, err error)
	// ScriptByID returns a script of a workspace by id.
	ScriptByID(ctx context.Context, workspaceID, id string) (Script, error)
	// ScriptByName returns a script of a workspace by name.
	ScriptByName(ctx context.Context, workspaceID, name string) (Script, error)
	// Scripts lists a workspace's scripts, newest first, and their total.
	Scripts(ctx context.Context, workspaceID string, p Page) ([]Script, int, error)
	// ScriptVersions lists a script's versions, newest first, and their total.
	ScriptVersions(ctx context.Context, scriptID string, p Page) ([]ScriptVersion, int, error)
	// ScriptVersionByID returns a version of a script by id.
	ScriptVersionByID(ctx context.Context, scriptID, id string) (ScriptVersion, error)
	// ScriptVersionByNumber returns a version of a script by number.
	ScriptVersionByNumber(ctx context.Context, scriptID string, version int) (ScriptVersion, error)

	// CreateRun creates a pending run numbered after the script's last one,
	// with the latest deployment, configuration and script version;
	// ErrNoDeployment or ErrNoConfiguration when one is missing.
	CreateRun(ctx context.Context, in NewRun) (Run, error)
	// Run returns a run by id (of any workspace: callers check it).
	Run(ctx context.Context, id string) (Run, error)
	// LatestRun returns the newest run matching f.
	LatestRun(ctx context.Context, f RunFilter) (Run, error)
	// Runs lists runs matching f, newest first, and their total.
	Runs(ctx context.Context, f RunFilter, p Page) ([]Run, int, error)
	// PendingRuns returns up to limit pending runs, oldest first.
	PendingRuns(ctx context.Context, limit int) ([]Run, error)
	// ActiveRuns returns every run in starting, running, finalizing or cancelling.
	ActiveRuns(ctx context.Context) ([]Run, error)
	// ClaimRun moves a pending run to starting and sets its start time;
	// ok is false when the run was not pending any more.
	ClaimRun(ctx context.Context, id string) (ok bool, err error)
	// AdvanceRun moves an active run to running or finalizing, unless it is
	// cancelling or terminal (then nothing changes).
	AdvanceRun(ctx context.Context, id string, status api.RunStatus) error
	// SetRunPGID records the process group of a run's process.
	SetRunPGID(ctx context.Context, id string, pgid int) error
	// CancelRun cancels a pending run at once and marks an active one
	// cancelling; ErrTerminal when it is terminal already.
	CancelRun(ctx context.Context, id string) (Run, error)
	// FinishRun puts a run in a terminal status with its end time and
	// duration; a cancelling run always ends cancelled. ErrTerminal when it
	// is terminal already.
	FinishRun(ctx context.Context, id string, status api.RunStatus) (Run, error)
}
