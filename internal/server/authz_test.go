package server

import (
	"context"
	"encoding/json"
	"hash/crc32"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dlthub/runtime-action/internal/api"
)

// TestWorkspaceIsolation: tokens of workspace B see nothing of workspace A,
// and get the same 404 as for things that do not exist.
func TestWorkspaceIsolation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	scriptA := e.deploy(t, map[string]string{"a.py": "print('a')\n"}, "a.py")
	runA := e.startRun(t, "a.py")
	e.waitRun(t, runA.ID, 10*time.Second, terminal)
	var depA, confA api.PackageInfo
	e.get(t, e.wsPath("/deployments/latest")).decode(t, &depA)
	e.get(t, e.wsPath("/configurations/latest")).decode(t, &confA)
	var scA api.Script
	e.get(t, e.wsPath("/scripts/a.py")).decode(t, &scA)

	admin := e.srv.Admin()
	b, err := admin.CreateWorkspace(ctx, "B")
	if err != nil {
		t.Fatal(err)
	}
	// a user of B only, and the admin restricted to B
	memberB, err := admin.CreateToken(ctx, TokenOptions{WorkspaceID: b.ID, Email: "bob@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	restricted, err := admin.CreateToken(ctx, TokenOptions{WorkspaceID: b.ID})
	if err != nil {
		t.Fatal(err)
	}
	var me api.Me
	e.get(t, "/v1/me").decode(t, &me)

	a := "/v1/workspaces/" + e.ws
	bp := "/v1/workspaces/" + b.ID
	paths := []struct{ method, path string }{
		{"GET", a}, {"GET", a + "/deployments"}, {"GET", a + "/deployments/latest"}, {"GET", a + "/deployments/1"},
		{"GET", a + "/configurations"}, {"GET", a + "/configurations/" + confA.ID}, {"GET", a + "/scripts"},
		{"GET", a + "/scripts/a.py"}, {"GET", a + "/scripts/a.py/versions"}, {"GET", a + "/runs"}, {"GET", a + "/runs/latest"},
		{"GET", a + "/runs/" + runA.ID}, {"GET", a + "/runs/" + runA.ID + "/logs"}, {"POST", a + "/runs/" + runA.ID + "/cancel"},
		{"POST", a + "/runs"}, {"POST", a + "/scripts"}, {"POST", a + "/deployments"},
		// A's objects through B's path
		{"GET", bp + "/deployments/" + depA.ID}, {"GET", bp + "/configurations/" + confA.ID}, {"GET", bp + "/scripts/" + scriptA},
		{"GET", bp + "/scripts/a.py"}, {"GET", bp + "/runs/" + runA.ID}, {"GET", bp + "/runs/" + runA.ID + "/logs"},
		{"POST", bp + "/runs/" + runA.ID + "/cancel"},
	}
	for name, tok := range map[string]string{"member of B": memberB, "admin restricted to B": restricted} {
		t.Run(name, func(t *testing.T) {
			for _, p := range paths {
				var body *strings.Reader
				ct := ""
				if p.method == "POST" {
					body, ct = strings.NewReader(`{"script_id_or_name": "a.py", "name": "a.py"}`), "application/json"
				} else {
					body = strings.NewReader("")
				}
				r := e.do(t, p.method, p.path, tok, body, ct)
				if r.status != http.StatusNotFound {
					t.Errorf("%s %s: %d %s", p.method, p.path, r.status, r.body)
					continue
				}
				if strings.Contains(string(r.body), "a.py") && !strings.Contains(p.path, "a.py") {
					t.Errorf("%s %s leaks: %s", p.method, p.path, r.body)
				}
			}
			if r := e.do(t, "GET", "/v1/organizations/"+me.DefaultOrganization.ID, tok, nil, ""); r.status != http.StatusOK {
				t.Errorf("own organization: %d", r.status)
			}
			var page api.Page[api.Run]
			e.do(t, "GET", bp+"/runs", tok, nil, "").decode(t, &page)
			if page.Total != 0 {
				t.Errorf("B lists %d runs", page.Total)
			}
		})
	}
	// the unrestricted admin sees both
	if r := e.get(t, bp); r.status != http.StatusOK {
		t.Errorf("admin on B: %d", r.status)
	}
}

// fakeGitHub answers GET /user as GitHub does: 200 with the user for a
// known token, 401 {"message":"Bad credentials"} otherwise.
func fakeGitHub(t *testing.T, tokens map[string]string) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var calls atomic.Int32
	gh := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if r.Method != http.MethodGet || r.URL.Path != "/user" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		user, known := tokens[tok]
		if !ok || !known {
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"message":"Bad credentials","documentation_url":"https://docs.github.com/rest","status":"401"}`))
			return
		}
		login, email, _ := strings.Cut(user, " ")
		// "login#id" gives the account's numeric id; else one of its own
		// per login (case-insensitive, as GitHub's logins are).
		login, idText, hasID := strings.Cut(login, "#")
		id := int64(crc32.ChecksumIEEE([]byte(strings.ToLower(login))))
		if hasID {
			id, _ = strconv.ParseInt(idText, 10, 64)
		}
		var em any
		if email != "" {
			em = email
		}
		json.NewEncoder(w).Encode(map[string]any{"login": login, "id": id, "type": "User", "email": em, "name": nil})
	}))
	t.Cleanup(gh.Close)
	return gh, &calls
}

func TestTokenExchange(t *testing.T) {
	t.Parallel()
	gh, calls := fakeGitHub(t, map[string]string{"ghp_alice": "alice alice@example.com", "ghp_bob": "bob", "ghp_eve": "eve"})
	e := newEnv(t, func(c *Config) { c.GitHubAPIURL = gh.URL })
	ctx := context.Background()
	if err := e.srv.Admin().AllowGitHub(ctx, "alice", ""); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.Admin().AllowGitHub(ctx, "Bob", ""); err != nil {
		t.Fatal(err)
	}
	exchange := func(body any) resp { return e.postJSON(t, "/auth/v1/github/token-exchange", body) }
	for _, tc := range []struct {
		name, token, email string
	}{
		{"public email", "ghp_alice", "alice@example.com"},
		{"no public email, login case differs", "ghp_bob", "bob@users.noreply.github.com"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := exchange(map[string]any{"access_token": tc.token})
			var lr api.LoginResponse
			r.decode(t, &lr)
			if r.status != http.StatusCreated || lr.Email != tc.email || lr.ID == "" || lr.JWT == "" {
				t.Fatalf("exchange: %d %s", r.status, r.body)
			}
			var me api.Me
			r = e.do(t, "GET", "/v1/me", lr.JWT, nil, "")
			r.decode(t, &me)
			if r.status != http.StatusOK || me.UserID != lr.ID || me.Email != tc.email || me.DefaultWorkspace.ID != e.ws {
				t.Errorf("me with the exchanged token: %d %s", r.status, r.body)
			}
		})
	}
	for _, tc := range []struct {
		name   string
		body   any
		status int
		want   string
	}{
		// the contract lists 400 as this operation's only refusal
		{"refused by github", map[string]any{"access_token": "ghp_wrong"}, 400, "github token refused"},
		{"not allowed", map[string]any{"access_token": "ghp_eve"}, 400,
			"github user \"eve\" is not allowed on this Runtime: an admin runs `runtime-action serve workspace allow --github eve`"},
		{"missing token", map[string]any{}, 400, `field "access_token" is required`},
		{"empty token", map[string]any{"access_token": ""}, 400, `field "access_token" must not be empty`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := exchange(tc.body)
			if r.status != tc.status || !strings.Contains(r.detail(t), tc.want) {
				t.Errorf("got %d %s, want %d %q", r.status, r.body, tc.status, tc.want)
			}
			if strings.Contains(string(r.body), "ghp_") {
				t.Errorf("the GitHub token is in the answer: %s", r.body)
			}
		})
	}
	if calls.Load() != 4 {
		t.Errorf("GitHub asked %d times, want 4", calls.Load())
	}
	for _, path := range []string{"/auth/v1/github/device-flow/code", "/auth/v1/github/device-flow/token"} {
		r := e.postJSON(t, path, `{"device_code": "x"}`)
		if r.status != http.StatusBadRequest || !strings.Contains(r.detail(t), "device flow login is not enabled on this Runtime: start serve with --github-client-id") {
			t.Errorf("%s: %d %s", path, r.status, r.body)
		}
	}
}

func TestTokenExchangeGitHubDown(t *testing.T) {
	t.Parallel()
	gh := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	}))
	e := newEnv(t, func(c *Config) { c.GitHubAPIURL = gh.URL })
	if r := e.postJSON(t, "/auth/v1/github/token-exchange", map[string]any{"access_token": "x"}); r.status != http.StatusBadGateway {
		t.Errorf("github 500: %d %s", r.status, r.body)
	}
	gh.Close()
	if r := e.postJSON(t, "/auth/v1/github/token-exchange", map[string]any{"access_token": "x"}); r.status != http.StatusBadGateway ||
		!strings.Contains(r.detail(t), "cannot reach github") {
		t.Errorf("github down: %d %s", r.status, r.body)
	}
}

// TestTokenExchangeByGitHubID: the exchange keys users by GitHub's numeric
// id: another account that now holds an allowed login (renamed away and
// taken) gets no token of the first account's user; the renamed account
// keeps its user.
func TestTokenExchangeByGitHubID(t *testing.T) {
	t.Parallel()
	gh, _ := fakeGitHub(t, map[string]string{"ghp_alice": "alice#101", "ghp_taker": "alice#202", "ghp_renamed": "alice-2#101"})
	e := newEnv(t, func(c *Config) { c.GitHubAPIURL = gh.URL })
	if err := e.srv.Admin().AllowGitHub(context.Background(), "alice", ""); err != nil {
		t.Fatal(err)
	}
	exchange := func(tok string) (int, api.LoginResponse, string) {
		r := e.postJSON(t, "/auth/v1/github/token-exchange", map[string]any{"access_token": tok})
		var lr api.LoginResponse
		if r.status != http.StatusCreated {
			return r.status, lr, r.detail(t)
		}
		r.decode(t, &lr)
		return r.status, lr, ""
	}
	status, first, _ := exchange("ghp_alice")
	if status != http.StatusCreated {
		t.Fatalf("allowed account: %d", status)
	}
	if status, lr, detail := exchange("ghp_taker"); status != http.StatusBadRequest || !strings.Contains(detail, `github user "alice" is not allowed`) {
		t.Errorf("another account with the same login: %d user %q %q, want 400 not allowed", status, lr.ID, detail)
	}
	if status, lr, _ := exchange("ghp_renamed"); status != http.StatusCreated || lr.ID != first.ID {
		t.Errorf("the allowed account, renamed: %d user %q, want user %q", status, lr.ID, first.ID)
	}
}
