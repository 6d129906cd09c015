package server

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestAdmin(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	a, err := OpenAdmin(ctx, e.dir)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if a.Initialized() {
		t.Error("an admin of a started data dir says it initialized it")
	}
	ws, err := a.CreateWorkspace(ctx, "  analytics ")
	if err != nil || ws.Name != "analytics" || ws.ID == "" {
		t.Fatalf("create workspace: %+v %v", ws, err)
	}
	all, err := a.Workspaces(ctx)
	if err != nil || len(all) != 2 || all[0].ID != e.ws || all[1].ID != ws.ID {
		t.Fatalf("workspaces: %+v %v", all, err)
	}
	// the admin token sees the new workspace (the admin is a member)
	if r := e.get(t, "/v1/workspaces/"+ws.ID); r.status != http.StatusOK {
		t.Errorf("admin on the new workspace: %d", r.status)
	}

	tok, err := a.CreateToken(ctx, TokenOptions{WorkspaceID: ws.ID, Email: "ci@example.com", TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	var c claims
	if _, _, err := jwt.NewParser().ParseUnverified(tok, &c); err != nil {
		t.Fatal(err)
	}
	if c.Audience != "cli" || c.Email != "ci@example.com" || c.WorkspaceID != ws.ID || c.ID == "" || c.Subject == "" ||
		c.ExpiresAt.Sub(c.IssuedAt.Time) != time.Hour {
		t.Errorf("claims: %+v", c)
	}
	if r := e.do(t, "GET", "/v1/workspaces/"+ws.ID, tok, nil, ""); r.status != http.StatusOK {
		t.Errorf("restricted token on its workspace: %d", r.status)
	}
	jti, err := a.RevokeToken(ctx, c.ID)
	if err != nil || jti != c.ID {
		t.Fatalf("revoke by jti: %q %v", jti, err)
	}
	if r := e.do(t, "GET", "/v1/workspaces/"+ws.ID, tok, nil, ""); r.status != http.StatusUnauthorized {
		t.Errorf("revoked token: %d", r.status)
	}
	if _, err := a.RevokeToken(ctx, tok); err != nil {
		t.Errorf("revoking twice: %v", err)
	}

	foreign, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"jti": "x", "sub": "y"}).SignedString([]byte("another key, long enough for HS256"))
	for _, tc := range []struct {
		name string
		fn   func() error
		want string
	}{
		{"unknown jti", func() error { _, err := a.RevokeToken(ctx, "00000000-0000-0000-0000-000000000000"); return err }, "no token with jti"},
		{"not a jti", func() error { _, err := a.RevokeToken(ctx, "hello"); return err }, "expected a token or its jti"},
		{"foreign token", func() error { _, err := a.RevokeToken(ctx, foreign); return err }, "not issued with this data dir's key"},
		{"unknown workspace", func() error {
			_, err := a.CreateToken(ctx, TokenOptions{WorkspaceID: "nope"})
			return err
		}, `workspace "nope" not found`},
		{"bad email", func() error { _, err := a.CreateToken(ctx, TokenOptions{Email: "nobody"}); return err }, `invalid email "nobody"`},
		{"negative ttl", func() error { _, err := a.CreateToken(ctx, TokenOptions{TTL: -time.Hour}); return err }, "must be positive"},
		{"empty workspace name", func() error { _, err := a.CreateWorkspace(ctx, " "); return err }, "invalid workspace name"},
		{"bad github login", func() error { return a.AllowGitHub(ctx, "bad login", "") }, `invalid GitHub login "bad login"`},
		{"github unknown workspace", func() error { return a.AllowGitHub(ctx, "alice", "nope") }, `workspace "nope" not found`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.fn()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), foreign) {
				t.Error("the token is in the error")
			}
		})
	}
}

func TestOpenAdminInitializes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a, err := OpenAdmin(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if !a.Initialized() {
		t.Error("not initialized")
	}
	tok, err := a.CreateToken(context.Background(), TokenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	e := newEnv(t, func(c *Config) { c.DataDir = dir })
	if e.srv.FirstStart() {
		t.Error("the server bootstrapped again")
	}
	if r := e.do(t, "GET", "/v1/me", tok, nil, ""); r.status != http.StatusOK {
		t.Errorf("token made before the first start: %d %s", r.status, r.body)
	}
}
