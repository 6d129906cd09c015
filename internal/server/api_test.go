package server

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/dlthub/runtime-action/internal/api"
)

func TestPing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, tc := range []struct{ path, service string }{
		{"/v1/ping", "api"},
		{"/api/v1/ping", "api"},
		{"/auth/v1/ping", "auth"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			r := e.do(t, http.MethodGet, tc.path, "", nil, "")
			var p api.PingResponse
			r.decode(t, &p)
			if r.status != http.StatusOK || p.Message != "pong" || p.Service != tc.service {
				t.Errorf("got %d %+v", r.status, p)
			}
		})
	}
}

func TestUnauthorized(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	// tokens of the data dir made at another time, by the admin functions
	past, err := OpenAdminAt(ctx, e.dir, func() time.Time { return time.Now().Add(-2 * time.Hour) })
	if err != nil {
		t.Fatal(err)
	}
	defer past.Close()
	expired, err := past.CreateToken(ctx, TokenOptions{TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	revoked, err := e.srv.Admin().CreateToken(ctx, TokenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.srv.Admin().RevokeToken(ctx, revoked); err != nil {
		t.Fatal(err)
	}
	sign := func(key []byte, c jwt.MapClaims) string {
		s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	goodClaims := func() jwt.MapClaims {
		return jwt.MapClaims{"aud": "cli", "sub": "u", "jti": "j", "email": "a@b", "exp": time.Now().Add(time.Hour).Unix()}
	}
	otherKey := sign([]byte("another key that is long enough!"), goodClaims())
	wrongAud := goodClaims()
	wrongAud["aud"] = "web"
	noExp := goodClaims()
	delete(noExp, "exp")

	for _, tc := range []struct {
		name, header, want string
	}{
		{"missing", "", "missing bearer token"},
		{"not bearer", "Basic dXNlcjpwYXNz", "missing bearer token"},
		{"empty bearer", "Bearer ", "missing bearer token"},
		{"malformed", "Bearer not-a-jwt", "malformed token"},
		{"bad signature", "Bearer " + otherKey, "bad signature"},
		{"wrong audience", "Bearer " + sign(e.srv.dir.tokens.key, wrongAud), "audience"},
		{"no expiry", "Bearer " + sign(e.srv.dir.tokens.key, noExp), "invalid token"},
		{"expired", "Bearer " + expired, "token expired"},
		{"revoked", "Bearer " + revoked, "token revoked"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, path := range []string{"/v1/me", e.wsPath("/runs"), e.wsPath("/scripts/x.py")} {
				req, _ := http.NewRequest(http.MethodGet, e.url+path, nil)
				if tc.header != "" {
					req.Header.Set("Authorization", tc.header)
				}
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				r := resp{status: res.StatusCode}
				r.body = readAll(t, res)
				if r.status != http.StatusUnauthorized {
					t.Fatalf("%s: status %d %s", path, r.status, r.body)
				}
				if d := r.detail(t); !strings.Contains(d, tc.want) {
					t.Errorf("%s: detail %q lacks %q", path, d, tc.want)
				}
				if tc.header != "" && len(tc.header) > 20 && strings.Contains(string(r.body), tc.header[7:]) {
					t.Errorf("the token is repeated in the answer")
				}
			}
		})
	}
}

func TestMeOrganizationWorkspace(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var me api.Me
	r := e.get(t, "/v1/me")
	r.decode(t, &me)
	if r.status != http.StatusOK || me.Email != AdminEmail || me.DefaultWorkspace.ID != e.ws ||
		me.DefaultWorkspace.Name != "default" || me.DefaultOrganization.Name != "default" || me.UserID == "" || me.IdentityID == "" {
		t.Fatalf("me: %d %+v", r.status, me)
	}
	var org api.Organization
	r = e.get(t, "/v1/organizations/"+me.DefaultOrganization.ID)
	r.decode(t, &org)
	if r.status != http.StatusOK || org.ID != me.DefaultOrganization.ID || org.DateAdded.IsZero() {
		t.Errorf("organization: %d %+v", r.status, org)
	}
	var ws api.Workspace
	r = e.get(t, e.wsPath())
	r.decode(t, &ws)
	if r.status != http.StatusOK || ws.ID != e.ws || ws.Name != "default" {
		t.Errorf("workspace: %d %+v", r.status, ws)
	}
	for _, path := range []string{"/v1/organizations/00000000-0000-0000-0000-000000000000", "/v1/workspaces/nope", "/v1/workspaces/00000000-0000-0000-0000-000000000000/runs"} {
		if r := e.get(t, path); r.status != http.StatusNotFound || !strings.Contains(r.detail(t), "not found") {
			t.Errorf("%s: %d %s", path, r.status, r.body)
		}
	}

	// a token restricted to a second workspace has it as its default
	ctx := context.Background()
	b, err := e.srv.Admin().CreateWorkspace(ctx, "second")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := e.srv.Admin().CreateToken(ctx, TokenOptions{WorkspaceID: b.ID, Email: "b@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	e.do(t, http.MethodGet, "/v1/me", tok, nil, "").decode(t, &me)
	if me.DefaultWorkspace.ID != b.ID || me.Email != "b@example.com" {
		t.Errorf("restricted me: %+v", me)
	}
}

func TestUnknownRoutes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, tc := range []struct {
		method, path string
		status       int
	}{
		{http.MethodGet, "/v2/nothing", http.StatusNotFound},
		{http.MethodGet, "/auth/v1/nothing", http.StatusNotFound},
		{http.MethodGet, "/auth/v1/github/oidc-exchange", http.StatusMethodNotAllowed},
		{http.MethodDelete, e.wsPath("/runs"), http.StatusMethodNotAllowed},
		{http.MethodPut, "/v1/me", http.StatusMethodNotAllowed},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			r := e.do(t, tc.method, tc.path, e.token, nil, "")
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			if r.detail(t) == "" {
				t.Error("empty detail")
			}
		})
	}
}

func readAll(t *testing.T, res *http.Response) []byte {
	t.Helper()
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestEveryPathNeedsAToken: every path but ping and the auth service
// answers 401 without a token.
func TestEveryPathNeedsAToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ws := e.wsPath()
	run := ws + "/runs/00000000-0000-0000-0000-000000000000"
	for _, p := range []struct{ method, path string }{
		{"GET", "/v1/me"}, {"GET", "/v1/organizations/x"}, {"GET", ws},
		{"GET", ws + "/deployments"}, {"POST", ws + "/deployments"}, {"GET", ws + "/deployments/latest"}, {"GET", ws + "/deployments/1"},
		{"GET", ws + "/configurations"}, {"POST", ws + "/configurations"}, {"GET", ws + "/configurations/latest"}, {"GET", ws + "/configurations/1"},
		{"GET", ws + "/scripts"}, {"POST", ws + "/scripts"}, {"GET", ws + "/scripts/a.py"}, {"GET", ws + "/scripts/a.py/versions"},
		{"GET", ws + "/scripts/a.py/versions/latest"}, {"GET", ws + "/scripts/a.py/versions/1"},
		{"GET", ws + "/runs"}, {"POST", ws + "/runs"}, {"GET", ws + "/runs/latest"}, {"GET", run}, {"POST", run + "/cancel"},
		{"GET", run + "/logs"}, {"GET", run + "/logs/stream"}, {"GET", "/api" + ws + "/runs"},
	} {
		r := e.do(t, p.method, p.path, "", strings.NewReader("{}"), "application/json")
		if r.status != http.StatusUnauthorized || !strings.Contains(r.detail(t), "missing bearer token") {
			t.Errorf("%s %s: %d %s", p.method, p.path, r.status, r.body)
		}
	}
}
