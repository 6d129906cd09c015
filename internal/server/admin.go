package server

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/dlthub/runtime-action/internal/api"
	"github.com/dlthub/runtime-action/internal/store"
)

// Admin manages the tokens and workspaces of a data dir. It needs only the
// store, not the data dir's lock, so the admin commands work beside a
// running server (SQLite in WAL mode takes both).
type Admin struct {
	dir    *dataDir
	shared bool // the store belongs to a Server: Close leaves it open
}

// OpenAdmin opens the data dir at path for administration, initialising it
// (as a first server start would) when it is empty.
func OpenAdmin(ctx context.Context, path string) (*Admin, error) {
	return OpenAdminAt(ctx, path, time.Now)
}

// OpenAdminAt is OpenAdmin with a clock.
func OpenAdminAt(ctx context.Context, path string, now func() time.Time) (*Admin, error) {
	d, err := openDataDir(ctx, path, now)
	if err != nil {
		return nil, err
	}
	return &Admin{dir: d}, nil
}

// Close releases the store unless a Server shares it.
func (a *Admin) Close() error {
	if a.shared {
		return nil
	}
	return a.dir.store.Close()
}

// Initialized reports whether opening the Admin bootstrapped an empty data dir.
func (a *Admin) Initialized() bool { return a.dir.firstStart && !a.shared }

// AdminTokenPath is where the admin token of the data dir is kept.
func (a *Admin) AdminTokenPath() string { return a.dir.join(adminTokenFile) }

// TokenOptions describe a token to create.
type TokenOptions struct {
	// WorkspaceID restricts the token to one workspace, whose member the
	// user becomes; "" gives a token of all the user's workspaces (a new
	// user becomes a member of the first workspace).
	WorkspaceID string
	// Email names the user (default AdminEmail); a new email makes a new user.
	Email string
	// TTL is the token's lifetime (default 720h).
	TTL time.Duration
}

// CreateToken issues a token.
func (a *Admin) CreateToken(ctx context.Context, o TokenOptions) (string, error) {
	if o.Email == "" {
		o.Email = AdminEmail
	}
	if err := checkEmail(o.Email); err != nil {
		return "", err
	}
	if o.TTL == 0 {
		o.TTL = DefaultTokenTTL
	}
	if o.TTL < 0 {
		return "", fmt.Errorf("invalid token lifetime %s: it must be positive", o.TTL)
	}
	wsID := a.dir.boot.Workspace.ID
	if o.WorkspaceID != "" {
		ws, err := a.workspace(ctx, o.WorkspaceID)
		if err != nil {
			return "", err
		}
		wsID = ws.ID
	}
	u, err := a.dir.store.EnsureUser(ctx, store.UserInput{Email: o.Email, WorkspaceID: wsID})
	if err != nil {
		return "", fmt.Errorf("create token: %w", err)
	}
	tok, err := a.dir.tokens.issue(ctx, a.dir.store, u, o.WorkspaceID, o.TTL)
	if err != nil {
		return "", fmt.Errorf("create token: %w", err)
	}
	return tok, nil
}

// RevokeToken revokes a token given whole or by its jti, and returns the jti.
// Errors never repeat a whole token.
func (a *Admin) RevokeToken(ctx context.Context, tokenOrJTI string) (string, error) {
	jti := strings.TrimSpace(tokenOrJTI)
	if strings.Count(jti, ".") == 2 {
		c, err := a.dir.tokens.parse(jti, true)
		if err != nil {
			if errors.Is(err, jwt.ErrTokenSignatureInvalid) {
				return "", errors.New("revoke token: the token was not issued with this data dir's key")
			}
			return "", fmt.Errorf("revoke token: the token cannot be read: %v", err)
		}
		jti = c.ID
	} else if _, err := uuid.Parse(jti); err != nil {
		return "", errors.New("revoke token: expected a token or its jti (a UUID)")
	}
	if err := a.dir.store.RevokeToken(ctx, jti); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return "", fmt.Errorf("revoke token: no token with jti %q was issued with this data dir", jti)
		}
		return "", fmt.Errorf("revoke token %q: %w", jti, err)
	}
	return jti, nil
}

// CreateWorkspace creates a workspace in the first organization, with the
// admin user as its member.
func (a *Admin) CreateWorkspace(ctx context.Context, name string) (api.Workspace, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 200 || strings.ContainsFunc(name, unicode.IsControl) {
		return api.Workspace{}, fmt.Errorf("invalid workspace name %q: use 1 to 200 printable characters", name)
	}
	ws, err := a.dir.store.CreateWorkspace(ctx, a.dir.boot.Organization.ID, name, a.dir.boot.Admin.ID)
	if err != nil {
		return api.Workspace{}, err
	}
	return apiWorkspace(ws), nil
}

// Workspaces lists all workspaces, oldest first.
func (a *Admin) Workspaces(ctx context.Context) ([]api.Workspace, error) {
	wss, err := a.dir.store.Workspaces(ctx)
	if err != nil {
		return nil, fmt.Errorf("list workspaces: %w", err)
	}
	out := make([]api.Workspace, len(wss))
	for i, w := range wss {
		out[i] = apiWorkspace(w)
	}
	return out, nil
}

// AllowGitHub lets the GitHub account login exchange its GitHub tokens for
// tokens of a workspace ("" for the first one).
func (a *Admin) AllowGitHub(ctx context.Context, login, workspaceID string) error {
	if !validGitHubLogin(login) {
		return fmt.Errorf("invalid GitHub login %q: letters, digits and single hyphens, at most 39", login)
	}
	wsID := a.dir.boot.Workspace.ID
	if workspaceID != "" {
		ws, err := a.workspace(ctx, workspaceID)
		if err != nil {
			return err
		}
		wsID = ws.ID
	}
	if _, err := a.dir.store.EnsureUser(ctx, store.UserInput{GitHubLogin: login, WorkspaceID: wsID}); err != nil {
		return fmt.Errorf("allow github user %q: %w", login, err)
	}
	return nil
}

func (a *Admin) workspace(ctx context.Context, id string) (store.Workspace, error) {
	ws, err := a.dir.store.Workspace(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return ws, fmt.Errorf("workspace %q not found: \"runtime-action serve workspace list\" shows the ids", id)
	}
	return ws, err
}

func validGitHubLogin(s string) bool {
	if s == "" || len(s) > 39 || s[0] == '-' || s[len(s)-1] == '-' || strings.Contains(s, "--") {
		return false
	}
	for _, c := range s {
		if !(c == '-' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func checkEmail(e string) error {
	at := strings.IndexByte(e, '@')
	if at <= 0 || at == len(e)-1 || strings.ContainsFunc(e, unicode.IsSpace) || len(e) > 254 {
		return fmt.Errorf("invalid email %q: expected name@host", e)
	}
	return nil
}
