package server

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/dlthub/runtime-action/internal/api"
	"github.com/dlthub/runtime-action/internal/oidc"
	"github.com/dlthub/runtime-action/internal/oidctest"
)

// testClock is a settable clock shared by the server and the token service.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *testClock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// logBuffer collects the server's log lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string { b.mu.Lock(); defer b.mu.Unlock(); return b.buf.String() }

// oidcEnv is a server that trusts a stand-in GitHub token service, with a
// second workspace ("other") and a third without rules ("bare").
type oidcEnv struct {
	*testEnv
	p     *oidctest.Provider
	clk   *testClock
	log   *logBuffer
	other string
	bare  string
}

func newOIDCEnv(t *testing.T, mod ...func(*Config)) *oidcEnv {
	t.Helper()
	clk := &testClock{t: time.Now().UTC().Truncate(time.Second)}
	p, err := oidctest.Start(oidctest.Options{Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	logs := &logBuffer{}
	e := newEnv(t, append([]func(*Config){func(c *Config) {
		c.Now = clk.now
		c.OIDC.Issuer = p.URL
		c.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}}, mod...)...)
	ctx := context.Background()
	other, err := e.srv.Admin().CreateWorkspace(ctx, "other")
	if err != nil {
		t.Fatal(err)
	}
	bare, err := e.srv.Admin().CreateWorkspace(ctx, "bare")
	if err != nil {
		t.Fatal(err)
	}
	return &oidcEnv{testEnv: e, p: p, clk: clk, log: logs, other: other.ID, bare: bare.ID}
}

func (e *oidcEnv) trust(t *testing.T, in TrustRuleInput) TrustRule {
	t.Helper()
	r, _, err := e.srv.Admin().AddTrustRule(context.Background(), in)
	if err != nil {
		t.Fatalf("add trust rule: %v", err)
	}
	return r
}

// exchange posts an ID token, with workspaceID when not empty.
func (e *oidcEnv) exchange(t *testing.T, tok, workspaceID string) resp {
	t.Helper()
	body := map[string]string{"token": tok}
	if workspaceID != "" {
		body["workspace_id"] = workspaceID
	}
	b, _ := json.Marshal(body)
	return e.do(t, http.MethodPost, "/auth/v1/github/oidc-exchange", "", bytes.NewReader(b), "application/json")
}

// sign signs c with the provider's key.
func (e *oidcEnv) sign(t *testing.T, c jwt.MapClaims) string {
	t.Helper()
	tok, err := e.p.Sign(c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// claims are GitHub-shaped claims of repository id repo (owner 7).
func (e *oidcEnv) claims(repo string) jwt.MapClaims {
	c := e.p.Claims(oidc.DefaultAudience)
	c["repository_id"] = repo
	return c
}

func unsignedJWT(header, claims any) string {
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	return base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c) + "."
}

func TestOIDCExchange(t *testing.T) {
	e := newOIDCEnv(t)
	ws := e.ws
	e.trust(t, TrustRuleInput{WorkspaceID: ws, RepositoryID: "42", RepositoryOwnerID: "7"})
	strictWF := "octo/strict/.github/workflows/deploy.yml@refs/heads/main"
	e.trust(t, TrustRuleInput{WorkspaceID: ws, RepositoryID: "100", RepositoryOwnerID: "7", Ref: "refs/heads/main", Environment: "prod", WorkflowRef: strictWF})
	e.trust(t, TrustRuleInput{WorkspaceID: ws, RepositoryID: "200", RepositoryOwnerID: "7"})
	e.trust(t, TrustRuleInput{WorkspaceID: e.other, RepositoryID: "200", RepositoryOwnerID: "7"})
	now := e.clk.now()
	other, err := oidctest.Start(oidctest.Options{Now: e.clk.now})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()

	strict := func(mod func(jwt.MapClaims)) jwt.MapClaims {
		c := e.claims("100")
		c["repository"], c["environment"], c["job_workflow_ref"] = "octo/strict", "prod", strictWF
		if mod != nil {
			mod(c)
		}
		return c
	}
	with := func(repo string, mod func(jwt.MapClaims)) func() string {
		return func() string {
			c := e.claims(repo)
			if mod != nil {
				mod(c)
			}
			return e.sign(t, c)
		}
	}
	for _, tc := range []struct {
		name   string
		token  func() string
		ws     string
		status int
		detail string // a part of the detail; for 403 the whole of it
		// wantWS is the workspace a 201's token is for
		wantWS string
	}{
		{name: "valid", token: with("42", nil), status: 201, wantWS: ws},
		{name: "valid with its workspace_id", token: with("42", nil), ws: ws, status: 201, wantWS: ws},
		{name: "expired within the leeway", token: with("42", func(c jwt.MapClaims) {
			c["iat"], c["exp"] = now.Add(-10*time.Minute).Unix(), now.Add(-29*time.Second).Unix()
		}), status: 201, wantWS: ws},
		{name: "nbf within the leeway", token: with("42", func(c jwt.MapClaims) { c["nbf"] = now.Add(29 * time.Second).Unix() }), status: 201, wantWS: ws},
		{name: "all optional claims match", token: func() string { return e.sign(t, strict(nil)) }, status: 201, wantWS: ws},
		{name: "several workspaces, one chosen", token: with("200", nil), ws: e.other, status: 201, wantWS: e.other},

		{name: "wrong audience", token: with("42", func(c jwt.MapClaims) { c["aud"] = "https://github.com/octo" }), status: 401, detail: `audience "https://github.com/octo" is not "dlt-runtime"`},
		{name: "several audiences", token: with("42", func(c jwt.MapClaims) { c["aud"] = []string{"dlt-runtime", "other"} }), status: 401, detail: "exactly one audience"},
		{name: "no audience", token: with("42", func(c jwt.MapClaims) { delete(c, "aud") }), status: 401, detail: "exactly one audience"},
		{name: "unknown issuer", token: with("42", func(c jwt.MapClaims) { c["iss"] = "https://token.example.com" }), status: 401, detail: "is not the trusted issuer"},
		{name: "another issuer's own token", token: func() string {
			tok, err := other.Sign(other.Claims(oidc.DefaultAudience))
			if err != nil {
				t.Fatal(err)
			}
			return tok
		}, status: 401, detail: "is not the trusted issuer"},
		{name: "alg none", token: func() string {
			return unsignedJWT(map[string]string{"alg": "none", "typ": "JWT", "kid": "k1"}, e.claims("42"))
		}, status: 401, detail: `signed with "none": only RS256`},
		{name: "HS256 keyed with the public key", token: func() string {
			tk := jwt.NewWithClaims(jwt.SigningMethodHS256, e.claims("42"))
			tk.Header["kid"] = "k1"
			s, err := tk.SignedString(e.p.PublicKeyPEM())
			if err != nil {
				t.Fatal(err)
			}
			return s
		}, status: 401, detail: `signed with "HS256": only RS256`},
		{name: "RS512", token: func() string {
			tk := jwt.NewWithClaims(jwt.SigningMethodRS512, e.claims("42"))
			tk.Header["kid"] = "k1"
			s, err := tk.SignedString(e.p.SigningKey().Private)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}, status: 401, detail: `signed with "RS512"`},
		{name: "bad signature", token: func() string {
			k, err := e.p.NewKey("k1", false) // not published, same kid
			if err != nil {
				t.Fatal(err)
			}
			s, err := oidctest.SignWith(k, e.claims("42"))
			if err != nil {
				t.Fatal(err)
			}
			return s
		}, status: 401, detail: "bad signature"},
		{name: "no kid", token: func() string {
			tk := jwt.NewWithClaims(jwt.SigningMethodRS256, e.claims("42"))
			s, err := tk.SignedString(e.p.SigningKey().Private)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}, status: 401, detail: "no key (kid)"},
		{name: "expired", token: with("42", func(c jwt.MapClaims) {
			c["iat"], c["exp"] = now.Add(-10*time.Minute).Unix(), now.Add(-31*time.Second).Unix()
		}), status: 401, detail: "expired"},
		{name: "no exp", token: with("42", func(c jwt.MapClaims) { delete(c, "exp") }), status: 401, detail: "no expiry"},
		{name: "nbf in the future", token: with("42", func(c jwt.MapClaims) { c["nbf"] = now.Add(31 * time.Second).Unix() }), status: 401, detail: "not valid yet"},
		{name: "iat in the future", token: with("42", func(c jwt.MapClaims) { c["iat"] = now.Add(time.Minute).Unix() }), status: 401, detail: "issued in the future"},
		{name: "no iat", token: with("42", func(c jwt.MapClaims) { delete(c, "iat") }), status: 401, detail: "no issue time"},
		{name: "missing jti", token: with("42", func(c jwt.MapClaims) { delete(c, "jti") }), status: 401, detail: "no token id (jti)"},
		{name: "repository_id as a number", token: with("42", func(c jwt.MapClaims) { c["repository_id"] = 42 }), status: 401, detail: "malformed claims"},
		{name: "not a JWT", token: func() string { return "not-a-jwt" }, status: 401, detail: "not a JWT"},

		{name: "same name, other repository id", token: with("4242", func(c jwt.MapClaims) { c["repository"] = "octo/app" }), status: 403, detail: errNoTrustRule},
		{name: "same owner name, other owner id", token: with("42", func(c jwt.MapClaims) { c["repository_owner_id"] = "8" }), status: 403, detail: errNoTrustRule},
		{name: "id with a leading zero", token: with("042", nil), status: 403, detail: errNoTrustRule},
		{name: "ref mismatch", token: func() string { return e.sign(t, strict(func(c jwt.MapClaims) { c["ref"] = "refs/heads/dev" })) }, status: 403, detail: errNoTrustRule},
		{name: "environment mismatch", token: func() string {
			return e.sign(t, strict(func(c jwt.MapClaims) { c["environment"] = "staging" }))
		}, status: 403, detail: errNoTrustRule},
		{name: "environment missing", token: func() string { return e.sign(t, strict(func(c jwt.MapClaims) { delete(c, "environment") })) }, status: 403, detail: errNoTrustRule},
		{name: "workflow_ref mismatch", token: func() string {
			return e.sign(t, strict(func(c jwt.MapClaims) {
				c["job_workflow_ref"] = "octo/strict/.github/workflows/other.yml@refs/heads/main"
			}))
		}, status: 403, detail: errNoTrustRule},
		{name: "workspace without a matching rule", token: with("42", nil), ws: e.other, status: 403, detail: errNoTrustRule},
		{name: "several workspaces, none chosen", token: with("200", nil), status: 400, detail: "pass workspace_id"},
		{name: "workspace_id not a UUID", token: with("42", nil), ws: "default", status: 400, detail: `"workspace_id"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(e.log.String())
			tok := tc.token()
			r := e.exchange(t, tok, tc.ws)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			logged := e.log.String()[before:]
			if strings.Contains(e.log.String(), tok) {
				t.Fatal("the ID token is in the server's log")
			}
			if tc.status != 201 {
				d := r.detail(t)
				if tc.status == 403 && d != errNoTrustRule {
					t.Errorf("403 detail %q, want only %q", d, errNoTrustRule)
				}
				if !strings.Contains(d, tc.detail) {
					t.Errorf("detail %q, want it to hold %q", d, tc.detail)
				}
				if !strings.Contains(logged, "oidc exchange refused") || !strings.Contains(logged, "level=INFO") {
					t.Errorf("no info log line for the refusal: %q", logged)
				}
				return
			}
			var lr api.LoginResponse
			r.decode(t, &lr)
			c, _, err := jwt.NewParser().ParseUnverified(lr.JWT, &claims{})
			if err != nil {
				t.Fatal(err)
			}
			got := c.Claims.(*claims)
			if got.WorkspaceID != tc.wantWS {
				t.Errorf("token for workspace %q, want %q", got.WorkspaceID, tc.wantWS)
			}
			if ttl := got.ExpiresAt.Sub(got.IssuedAt.Time); ttl <= 0 || ttl > time.Hour {
				t.Errorf("token lifetime %s, want at most an hour", ttl)
			}
			if !strings.Contains(logged, "oidc exchange") || !strings.Contains(logged, "workspace="+tc.wantWS) {
				t.Errorf("no log line for the exchange: %q", logged)
			}
		})
	}
}

// TestOIDCTokenScope: the Runtime token works in its workspace only, as a
// service user of that workspace named after the repository.
func TestOIDCTokenScope(t *testing.T) {
	e := newOIDCEnv(t)
	e.trust(t, TrustRuleInput{WorkspaceID: e.ws, RepositoryID: "42", RepositoryOwnerID: "7"})
	e.trust(t, TrustRuleInput{WorkspaceID: e.other, RepositoryID: "42", RepositoryOwnerID: "7", Ref: "refs/heads/main"})
	r := e.exchange(t, e.sign(t, e.claims("42")), e.ws)
	if r.status != 201 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	var lr api.LoginResponse
	r.decode(t, &lr)
	if lr.Email != "repo:octo/app@github-actions" {
		t.Errorf("email %q", lr.Email)
	}
	for _, tc := range []struct {
		path   string
		status int
	}{
		{"/v1/workspaces/" + e.ws, 200},
		{"/v1/workspaces/" + e.ws + "/runs", 200},
		{"/v1/workspaces/" + e.other, 404},
		{"/v1/workspaces/" + e.other + "/runs", 404},
		{"/v1/workspaces/" + e.bare, 404},
	} {
		if got := e.do(t, http.MethodGet, tc.path, lr.JWT, nil, ""); got.status != tc.status {
			t.Errorf("GET %s: %d, want %d: %s", tc.path, got.status, tc.status, got.body)
		}
	}
	var me api.Me
	e.do(t, http.MethodGet, "/v1/me", lr.JWT, nil, "").decode(t, &me)
	if me.DefaultWorkspace.ID != e.ws || me.UserID != lr.ID {
		t.Errorf("me %+v", me)
	}
	// The same repository in the other workspace logs in as another user,
	// who is not a member of the first.
	r2 := e.exchange(t, e.sign(t, e.claims("42")), e.other)
	var lr2 api.LoginResponse
	r2.decode(t, &lr2)
	if r2.status != 201 || lr2.ID == lr.ID {
		t.Fatalf("other workspace: %d %+v", r2.status, lr2)
	}
	if _, err := e.srv.dir.store.MemberWorkspace(context.Background(), lr2.ID, e.ws); err == nil {
		t.Error("the other workspace's service user is a member of the first")
	}
	// A second login of the same repository is the same user.
	r3 := e.exchange(t, e.sign(t, e.claims("42")), e.ws)
	var lr3 api.LoginResponse
	r3.decode(t, &lr3)
	if lr3.ID != lr.ID {
		t.Errorf("second login as user %s, first as %s", lr3.ID, lr.ID)
	}
}

func TestOIDCReplay(t *testing.T) {
	e := newOIDCEnv(t)
	e.trust(t, TrustRuleInput{WorkspaceID: e.ws, RepositoryID: "42", RepositoryOwnerID: "7"})

	t.Run("sequential", func(t *testing.T) {
		tok := e.sign(t, e.claims("42"))
		if r := e.exchange(t, tok, ""); r.status != 201 {
			t.Fatalf("first: %d %s", r.status, r.body)
		}
		r := e.exchange(t, tok, "")
		if r.status != 401 || !strings.Contains(r.detail(t), "exchanged before") {
			t.Fatalf("replay: %d %s", r.status, r.body)
		}
	})
	t.Run("a refused token is not used up", func(t *testing.T) {
		e.trust(t, TrustRuleInput{WorkspaceID: e.other, RepositoryID: "42", RepositoryOwnerID: "7"})
		tok := e.sign(t, e.claims("42"))
		if r := e.exchange(t, tok, ""); r.status != 400 {
			t.Fatalf("without workspace_id: %d %s", r.status, r.body)
		}
		if r := e.exchange(t, tok, e.other); r.status != 201 {
			t.Fatalf("with workspace_id: %d %s", r.status, r.body)
		}
	})
	t.Run("concurrent", func(t *testing.T) {
		tok := e.sign(t, e.claims("42"))
		var ok, refused atomic.Int32
		var wg sync.WaitGroup
		for range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				switch r := e.exchange(t, tok, e.ws); r.status {
				case 201:
					ok.Add(1)
				case 401:
					refused.Add(1)
				default:
					t.Errorf("status %d: %s", r.status, r.body)
				}
			}()
		}
		wg.Wait()
		if ok.Load() != 1 || refused.Load() != 5 {
			t.Fatalf("%d exchanged, %d refused; want 1 and 5", ok.Load(), refused.Load())
		}
	})
}

// TestOIDCKeyRefresh: an unknown kid makes one fetch of the issuer's keys;
// more unknown kids within the refresh interval make none.
func TestOIDCKeyRefresh(t *testing.T) {
	e := newOIDCEnv(t)
	e.trust(t, TrustRuleInput{WorkspaceID: e.ws, RepositoryID: "42", RepositoryOwnerID: "7"})
	want := func(t *testing.T, tok string, status, fetches int) {
		t.Helper()
		r := e.exchange(t, tok, "")
		if r.status != status {
			t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
		}
		if got := e.p.JWKSFetches(); got != fetches {
			t.Fatalf("%d JWKS fetches, want %d", got, fetches)
		}
	}
	want(t, e.sign(t, e.claims("42")), 201, 1)
	want(t, e.sign(t, e.claims("42")), 201, 1) // cached

	// The issuer rotates to k2: one refresh finds it.
	k2, err := e.p.NewKey("k2", true)
	if err != nil {
		t.Fatal(err)
	}
	e.p.SetSigningKey(k2)
	e.clk.add(oidc.DefaultKeyRefresh)
	want(t, e.sign(t, e.claims("42")), 201, 2)

	// k3 appears right after: within the interval, no fetch, however many
	// tokens with unknown kids arrive.
	k3, err := e.p.NewKey("k3", true)
	if err != nil {
		t.Fatal(err)
	}
	e.clk.add(5 * time.Second)
	for range 3 {
		r := e.exchange(t, mustSign(t, k3, e.claims("42")), "")
		if r.status != 401 || !strings.Contains(r.detail(t), `unknown key "k3"`) {
			t.Fatalf("k3 within the interval: %d %s", r.status, r.body)
		}
	}
	bogus := oidctest.Key{ID: "made-up", Private: k3.Private}
	want(t, mustSign(t, bogus, e.claims("42")), 401, 2)

	// Once the interval has passed, the next unknown kid fetches again.
	e.clk.add(oidc.DefaultKeyRefresh)
	want(t, mustSign(t, k3, e.claims("42")), 201, 3)

	// Keys older than the max age are fetched again even when known.
	e.clk.add(oidc.DefaultKeyMaxAge)
	want(t, mustSign(t, k3, e.claims("42")), 201, 4)
}

func mustSign(t *testing.T, k oidctest.Key, c jwt.MapClaims) string {
	t.Helper()
	s, err := oidctest.SignWith(k, c)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestOIDCIssuerDown: an issuer that fails gets 502 (not 500), and is not
// asked again within the refresh interval.
func TestOIDCIssuerDown(t *testing.T) {
	var hits atomic.Int32
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.Error(w, "maintenance", http.StatusServiceUnavailable)
	}))
	defer down.Close()
	e := newOIDCEnv(t, func(c *Config) { c.OIDC.Issuer = down.URL })
	e.trust(t, TrustRuleInput{WorkspaceID: e.ws, RepositoryID: "42", RepositoryOwnerID: "7"})
	for i := range 2 {
		c := e.claims("42")
		c["iss"] = down.URL
		r := e.exchange(t, e.sign(t, c), "")
		if r.status != http.StatusBadGateway || !strings.Contains(r.detail(t), "signing keys of the OIDC issuer") {
			t.Fatalf("try %d: %d %s", i, r.status, r.body)
		}
	}
	if hits.Load() != 1 {
		t.Fatalf("the issuer was asked %d times, want 1", hits.Load())
	}
}

func TestOIDCBadRequests(t *testing.T) {
	e := newOIDCEnv(t)
	for _, tc := range []struct {
		name, body string
		status     int
		detail     string
	}{
		{"no body", "", 400, "body is empty"},
		{"no token", `{"workspace_id": null}`, 400, `field "token" is required`},
		{"empty token", `{"token": " "}`, 400, `"token" must not be empty`},
		{"token not a string", `{"token": 5}`, 400, `field "token": expected a string`},
		{"not an object", `["x"]`, 400, "expected an object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(t, http.MethodPost, "/auth/v1/github/oidc-exchange", "", strings.NewReader(tc.body), "application/json")
			if r.status != tc.status || !strings.Contains(r.detail(t), tc.detail) {
				t.Fatalf("%d %s, want %d with %q", r.status, r.body, tc.status, tc.detail)
			}
		})
	}
}

func TestOIDCConfig(t *testing.T) {
	if c := (Config{OIDCTokenTTL: 2 * time.Hour}).withDefaults(); c.OIDCTokenTTL != time.Hour || c.OIDC.Issuer != oidc.DefaultIssuer {
		t.Errorf("defaults: OIDC token TTL %s, issuer %q", c.OIDCTokenTTL, c.OIDC.Issuer)
	}
	if _, err := Open(context.Background(), Config{DataDir: t.TempDir(), OIDC: oidc.Config{Issuer: "ftp://x"}}); err == nil || !strings.Contains(err.Error(), "invalid OIDC issuer") {
		t.Errorf("open with a bad issuer: %v", err)
	}
}

func TestTrustRuleAdmin(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	a := e.srv.Admin()
	for _, tc := range []struct {
		name  string
		in    TrustRuleInput
		field string
	}{
		{"repository name for id", TrustRuleInput{RepositoryID: "octo/app", RepositoryOwnerID: "7"}, "repository-id"},
		{"owner name for id", TrustRuleInput{RepositoryID: "42", RepositoryOwnerID: "octo"}, "repository-owner-id"},
		{"missing id", TrustRuleInput{RepositoryOwnerID: "7"}, "repository-id"},
		{"negative id", TrustRuleInput{RepositoryID: "-42", RepositoryOwnerID: "7"}, "repository-id"},
		{"zero id", TrustRuleInput{RepositoryID: "0", RepositoryOwnerID: "7"}, "repository-id"},
		{"id too large", TrustRuleInput{RepositoryID: "99999999999999999999", RepositoryOwnerID: "7"}, "repository-id"},
		{"short ref", TrustRuleInput{RepositoryID: "42", RepositoryOwnerID: "7", Ref: "main"}, "ref"},
		{"environment with newline", TrustRuleInput{RepositoryID: "42", RepositoryOwnerID: "7", Environment: "prod\n"}, "environment"},
		{"workflow ref without ref", TrustRuleInput{RepositoryID: "42", RepositoryOwnerID: "7", WorkflowRef: "octo/app/.github/workflows/d.yml"}, "workflow-ref"},
		{"no workspace", TrustRuleInput{WorkspaceID: "-", RepositoryID: "42", RepositoryOwnerID: "7"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			if in.WorkspaceID == "" {
				in.WorkspaceID = e.ws
			}
			_, _, err := a.AddTrustRule(ctx, in)
			var te *TrustInputError
			switch {
			case err == nil:
				t.Fatal("accepted")
			case tc.field == "" && !strings.Contains(err.Error(), "not found"):
				t.Fatalf("error %v, want workspace not found", err)
			case tc.field != "" && (!errors.As(err, &te) || te.Field != tc.field):
				t.Fatalf("error %v, want one naming %s", err, tc.field)
			}
			if rules, _ := a.TrustRules(ctx, ""); len(rules) != 0 {
				t.Fatalf("a rule was stored: %+v", rules)
			}
		})
	}
	r1, created, err := a.AddTrustRule(ctx, TrustRuleInput{WorkspaceID: e.ws, RepositoryID: "42", RepositoryOwnerID: "7", Ref: "refs/heads/main"})
	if err != nil || !created {
		t.Fatal(created, err)
	}
	r2, created, err := a.AddTrustRule(ctx, TrustRuleInput{WorkspaceID: e.ws, RepositoryID: "42", RepositoryOwnerID: "7", Ref: "refs/heads/main"})
	if err != nil || created || r2.ID != r1.ID {
		t.Fatalf("same rule again: %+v %v %v", r2, created, err)
	}
	if err := a.RemoveTrustRule(ctx, r1.ID); err != nil {
		t.Fatal(err)
	}
	if err := a.RemoveTrustRule(ctx, r1.ID); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("remove twice: %v", err)
	}
}
