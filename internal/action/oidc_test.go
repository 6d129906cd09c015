package action

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// tokenService stands in for GitHub's OIDC token service (which cannot run
// here): the runner's ID token request endpoint, and the issuer's discovery
// document and JWKS, signing its own RS256 ID tokens with GitHub's claims.
type tokenService struct {
	srv      *httptest.Server
	key      *rsa.PrivateKey
	requests atomic.Int32
	failWith int // when set, the token endpoint answers this status
}

const requestToken = "runner-request-token-abc"

func newTokenService(t *testing.T) *tokenService {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 1024) // small: fast, and signing strength is not under test
	if err != nil {
		t.Fatal(err)
	}
	ts := &tokenService{key: key}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /token", func(w http.ResponseWriter, r *http.Request) {
		ts.requests.Add(1)
		if ts.failWith != 0 {
			http.Error(w, `{"message":"nope"}`, ts.failWith)
			return
		}
		if r.Header.Get("Authorization") != "Bearer "+requestToken {
			http.Error(w, `{"message":"bad request token"}`, http.StatusUnauthorized)
			return
		}
		now := time.Now()
		claims := jwt.MapClaims{
			"iss": ts.srv.URL, "aud": r.URL.Query().Get("audience"), "sub": "repo:octo/app:ref:refs/heads/main",
			"repository": "octo/app", "repository_id": "42", "repository_owner": "octo", "repository_owner_id": "7",
			"ref": "refs/heads/main", "event_name": "push", "jti": "j1",
			"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
		}
		tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
		tok.Header["kid"] = "k1"
		s, err := tok.SignedString(ts.key)
		if err != nil {
			t.Error(err)
		}
		writeJSON(w, http.StatusOK, map[string]string{"count": "1", "value": s})
	})
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"issuer": ts.srv.URL, "jwks_uri": ts.srv.URL + "/.well-known/jwks",
			"id_token_signing_alg_values_supported": []string{"RS256"}})
	})
	mux.HandleFunc("GET /.well-known/jwks", func(w http.ResponseWriter, r *http.Request) {
		pub := ts.key.PublicKey
		writeJSON(w, http.StatusOK, map[string]any{"keys": []map[string]string{{
			"kty": "RSA", "alg": "RS256", "use": "sig", "kid": "k1",
			"n": base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
			"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
		}}})
	})
	ts.srv = httptest.NewServer(mux)
	t.Cleanup(ts.srv.Close)
	return ts
}

// verify checks tok against the service's published JWKS, as a relying
// party (the Runtime's exchange) does.
func (ts *tokenService) verify(t *testing.T, tok, audience string) jwt.MapClaims {
	t.Helper()
	var conf struct {
		JWKSURI string `json:"jwks_uri"`
	}
	getJSON(t, ts.srv.URL+"/.well-known/openid-configuration", &conf)
	var set struct {
		Keys []struct{ Kid, N, E string } `json:"keys"`
	}
	getJSON(t, conf.JWKSURI, &set)
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(tok, claims, func(tk *jwt.Token) (any, error) {
		for _, k := range set.Keys {
			if k.Kid == tk.Header["kid"] {
				n, _ := base64.RawURLEncoding.DecodeString(k.N)
				e, _ := base64.RawURLEncoding.DecodeString(k.E)
				return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}, nil
			}
		}
		return nil, errors.New("unknown kid")
	}, jwt.WithValidMethods([]string{"RS256"}), jwt.WithIssuer(ts.srv.URL), jwt.WithAudience(audience))
	if err != nil {
		t.Fatalf("the ID token does not verify: %v", err)
	}
	return claims
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

func TestOIDCToken(t *testing.T) {
	ts := newTokenService(t)
	// The runner's URL already carries a query: the audience is appended.
	e := env{"ACTIONS_ID_TOKEN_REQUEST_URL": ts.srv.URL + "/token?api-version=2.0", "ACTIONS_ID_TOKEN_REQUEST_TOKEN": requestToken}
	a, out := newAction(t, e)
	m := newMasker(a)
	gh, _ := loadContext(a)
	if !gh.OIDCAvailable {
		t.Fatal("OIDCAvailable = false with the runner's variables set")
	}
	tok, err := oidcToken(context.Background(), a, m, gh, "dlt-runtime")
	if err != nil {
		t.Fatal(err)
	}
	claims := ts.verify(t, tok, "dlt-runtime")
	if claims["repository_id"] != "42" || claims["sub"] != "repo:octo/app:ref:refs/heads/main" {
		t.Errorf("claims = %v", claims)
	}
	if out.String() != "::add-mask::"+tok+"\n" {
		t.Errorf("the ID token must be masked before anything else is printed; stdout %q", out.String())
	}
}

func TestOIDCTokenErrors(t *testing.T) {
	ts := newTokenService(t)
	dir := t.TempDir()
	forkEvent := filepath.Join(dir, "fork.json")
	if err := os.WriteFile(forkEvent, []byte(`{"number": 9, "pull_request": {"number": 9,
		"head": {"repo": {"full_name": "mallory/app"}}, "base": {"repo": {"full_name": "octo/app"}}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		env       env
		failWith  int
		wantTitle string
		want      []string
	}{
		{"no permission", env{}, 0, "GitHub OIDC is not available",
			[]string{"ACTIONS_ID_TOKEN_REQUEST_URL is not set", "permissions:\n  id-token: write\n  contents: read", "token: ${{ secrets.RUNTIME_TOKEN }}"}},
		{"fork pull request", env{"GITHUB_EVENT_NAME": "pull_request", "GITHUB_EVENT_PATH": forkEvent}, 0, "No credentials for a pull request from a fork",
			[]string{`pull request #9 comes from the fork "mallory/app"`, "github.event.pull_request.head.repo.full_name == github.repository"}},
		{"token service refuses", env{"ACTIONS_ID_TOKEN_REQUEST_URL": ts.srv.URL + "/token", "ACTIONS_ID_TOKEN_REQUEST_TOKEN": requestToken}, http.StatusForbidden,
			"GitHub OIDC token request failed", []string{`request a GitHub ID token for audience "aud"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts.failWith = tc.failWith
			a, out := newAction(t, tc.env)
			gh, err := loadContext(a)
			if err != nil {
				t.Fatal(err)
			}
			_, err = oidcToken(context.Background(), a, newMasker(a), gh, "aud")
			var f *failure
			if !errors.As(err, &f) || f.Title != tc.wantTitle {
				t.Fatalf("err = %#v, want a Failure titled %q", err, tc.wantTitle)
			}
			annotate(a, nil, err)
			cmds, _ := runnerView(t, out.String())
			errs := commandsNamed(cmds, "error")
			if len(errs) != 1 || errs[0].Props != "title="+escapeTitle(tc.wantTitle) {
				t.Fatalf("annotations = %+v", cmds)
			}
			for _, w := range tc.want {
				if !strings.Contains(errs[0].Message, w) {
					t.Errorf("annotation %q lacks %q", errs[0].Message, w)
				}
			}
			if strings.Contains(out.String(), requestToken) {
				t.Error("the request token was printed")
			}
		})
	}
}

func escapeTitle(s string) string {
	return strings.NewReplacer("%", "%25", ":", "%3A", ",", "%2C").Replace(s)
}

func TestOIDCNotOfferedAndNoRuntimeURL(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{oidcNotOffered("https://auth.example.com"), "token: ${{ secrets.RUNTIME_TOKEN }}"},
		{noRuntimeURL(), "api-url: ${{ vars.RUNTIME_API_URL }}"},
	} {
		a, out := newAction(t, env{})
		annotate(a, nil, tc.err)
		cmds, _ := runnerView(t, out.String())
		if len(cmds) != 1 || cmds[0].Name != "error" || !strings.Contains(cmds[0].Message, tc.want) {
			t.Errorf("annotation %+v lacks %q", cmds, tc.want)
		}
	}
}
