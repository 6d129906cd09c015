package client

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dlthub/runtime-action/internal/api"
)

const (
	githubPAT  = "ghp_personalaccesstoken123"
	oidcToken  = "eyJhbGciOiJSUzI1NiJ9.eyJyZXBvIjoibyJ9.sig-of-github"
	deviceCode = "device-code-abc"
	runtimeJWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1In0.runtime"
)

// fakeAuth stands in for dltHub's auth service. pending is how many device
// flow polls answer "authorization_pending" before one answers "slow_down"
// (when slowDown) and then success.
type fakeAuth struct {
	mu       sync.Mutex
	pending  int
	slowDown bool
	polls    int
	oidc     bool
	bodies   []string
}

func (a *fakeAuth) start(t *testing.T) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("POST /auth/v1/github/device-flow/code", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 201, api.GithubDeviceFlowStartResponse{DeviceCode: deviceCode, Interval: 5, UserCode: "ABCD-1234", VerificationURI: "https://github.com/login/device"})
	})
	mux.HandleFunc("POST /auth/v1/github/device-flow/token", func(w http.ResponseWriter, r *http.Request) {
		var req api.GithubDeviceFlowLoginRequest
		json.NewDecoder(r.Body).Decode(&req)
		a.mu.Lock()
		defer a.mu.Unlock()
		a.polls++
		switch {
		case req.DeviceCode != deviceCode:
			writeErr(w, 400, "expired_token: device code "+req.DeviceCode+" is not known")
		case a.pending > 0:
			a.pending--
			writeErr(w, 400, "authorization_pending")
		case a.slowDown:
			a.slowDown = false
			writeErr(w, 400, "slow_down")
		default:
			writeJSON(w, 201, api.LoginResponse{Email: "a@example.com", ID: "user-1", JWT: runtimeJWT})
		}
	})
	mux.HandleFunc("POST /auth/v1/github/token-exchange", func(w http.ResponseWriter, r *http.Request) {
		var req api.GithubOauthExchangeRequest
		json.NewDecoder(r.Body).Decode(&req)
		a.mu.Lock()
		a.bodies = append(a.bodies, req.AccessToken)
		a.mu.Unlock()
		if req.AccessToken != githubPAT {
			// Echoes the input, as FastAPI validation errors do.
			writeJSON(w, 400, map[string]any{"status_code": 400, "detail": "GitHub does not know token " + req.AccessToken,
				"extra": map[string]any{"input": req.AccessToken}})
			return
		}
		writeJSON(w, 201, api.LoginResponse{Email: "a@example.com", ID: "user-1", JWT: runtimeJWT})
	})
	mux.HandleFunc("POST /auth/v1/github/oidc-exchange", func(w http.ResponseWriter, r *http.Request) {
		if !a.oidc {
			http.NotFound(w, r)
			return
		}
		var req api.GithubOidcExchangeRequest
		json.NewDecoder(r.Body).Decode(&req)
		if req.Token != oidcToken || req.WorkspaceID != testWS {
			writeErr(w, 403, "token "+req.Token+" matches no trust rule")
			return
		}
		writeJSON(w, 201, api.LoginResponse{Email: "repo@github", ID: "user-2", JWT: runtimeJWT})
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestDeviceFlow(t *testing.T) {
	tests := []struct {
		name       string
		pending    int
		slowDown   bool
		code       string
		wantSleeps []time.Duration
		wantErr    string
	}{
		{name: "pending then success", pending: 2, code: deviceCode, wantSleeps: []time.Duration{5 * time.Second, 5 * time.Second}},
		{name: "slow_down adds five seconds", pending: 1, slowDown: true, code: deviceCode, wantSleeps: []time.Duration{5 * time.Second, 10 * time.Second}},
		{name: "another error ends it, device code scrubbed", code: "device-code-other", wantErr: "POST /v1/github/device-flow/token: expired_token: device code *** is not known (HTTP 400)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := &fakeAuth{pending: tt.pending, slowDown: tt.slowDown}
			base := a.start(t)
			c, clk := newTestClient(t, base)
			st, err := c.DeviceFlowStart(context.Background())
			if err != nil || st.UserCode != "ABCD-1234" || st.Interval != 5 {
				t.Fatalf("DeviceFlowStart = %+v, %v", st, err)
			}
			login, err := c.DeviceFlowPollEvery(context.Background(), tt.code, time.Duration(st.Interval)*time.Second)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("DeviceFlowPoll error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || login.JWT != runtimeJWT {
				t.Fatalf("DeviceFlowPoll = %+v, %v", login, err)
			}
			if got := clk.slept(); !reflect.DeepEqual(got, tt.wantSleeps) {
				t.Fatalf("sleeps = %v, want %v", got, tt.wantSleeps)
			}
		})
	}
	t.Run("context ends while pending", func(t *testing.T) {
		a := &fakeAuth{pending: 100}
		c, _ := newTestClient(t, a.start(t), func(o *Options) {
			o.Sleep = func(context.Context, time.Duration) error { return context.DeadlineExceeded }
		})
		_, err := c.DeviceFlowPoll(context.Background(), deviceCode)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("error = %v", err)
		}
	})
}

func TestTokenExchange(t *testing.T) {
	a := &fakeAuth{}
	c, _ := newTestClient(t, a.start(t))
	login, err := c.TokenExchange(context.Background(), " "+githubPAT+"\n")
	if err != nil || login.JWT != runtimeJWT {
		t.Fatalf("TokenExchange = %+v, %v", login, err)
	}
	if a.bodies[0] != githubPAT {
		t.Fatalf("server got %q", a.bodies[0])
	}
	_, err = c.TokenExchange(context.Background(), "ghp_wrongwrongwrong")
	want := "POST /v1/github/token-exchange: GitHub does not know token *** (HTTP 400)"
	if err == nil || err.Error() != want {
		t.Fatalf("error = %v, want %q", err, want)
	}
	var e *Error
	if !errors.As(err, &e) || e.Extra["input"] != "***" {
		t.Fatalf("extra = %v", e.Extra)
	}
	if _, err := c.TokenExchange(context.Background(), "  "); err == nil || err.Error() != "exchange GitHub token: the GitHub token is empty" {
		t.Fatalf("empty token error = %v", err)
	}
}

func TestOIDCExchange(t *testing.T) {
	t.Run("not offered", func(t *testing.T) {
		a := &fakeAuth{oidc: false}
		c, _ := newTestClient(t, a.start(t))
		_, err := c.OIDCExchange(context.Background(), oidcToken, testWS)
		if !errors.Is(err, ErrOIDCNotOffered) {
			t.Fatalf("error = %v, want ErrOIDCNotOffered", err)
		}
	})
	t.Run("exchanged", func(t *testing.T) {
		a := &fakeAuth{oidc: true}
		c, _ := newTestClient(t, a.start(t))
		login, err := c.OIDCExchange(context.Background(), oidcToken, testWS)
		if err != nil || login.ID != "user-2" {
			t.Fatalf("OIDCExchange = %+v, %v", login, err)
		}
	})
	t.Run("refused, token scrubbed", func(t *testing.T) {
		a := &fakeAuth{oidc: true}
		c, _ := newTestClient(t, a.start(t))
		_, err := c.OIDCExchange(context.Background(), oidcToken, "ws-other")
		if errors.Is(err, ErrOIDCNotOffered) || !IsStatus(err, 403) || strings.Contains(err.Error(), oidcToken) {
			t.Fatalf("error = %v", err)
		}
		if err.Error() != "POST /v1/github/oidc-exchange: token *** matches no trust rule (HTTP 403)" {
			t.Fatalf("error = %q", err)
		}
	})
}
