package auth

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

const (
	testRequestToken = "runner-request-token-s3cr3t"
	testIDToken      = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJyZXBvOm8vciJ9.c2ln"
)

// fakeRunner stands in for the Actions runtime's token service, which only
// exists inside a GitHub Actions job.
type fakeRunner struct {
	status int
	body   string
	// seen records the query and auth header of the last request.
	query, authz string
}

func (f *fakeRunner) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.query, f.authz = r.URL.RawQuery, r.Header.Get("Authorization")
	if f.authz != "Bearer "+testRequestToken {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(f.status)
	w.Write([]byte(f.body))
}

func TestFetchGitHubOIDC(t *testing.T) {
	okBody, _ := json.Marshal(map[string]string{"value": testIDToken, "count": "1"})
	tests := []struct {
		name      string
		status    int
		body      string
		path      string // appended to the server URL
		audience  string
		reqToken  string
		wantQuery string
		wantErr   string
	}{
		{name: "url with query gets &audience", status: 200, body: string(okBody), path: "/token?api-version=2.0", audience: "https://runtime.example/api v1", reqToken: testRequestToken,
			wantQuery: "api-version=2.0&audience=https%3A%2F%2Fruntime.example%2Fapi+v1"},
		{name: "url without query gets ?audience", status: 200, body: string(okBody), path: "/token", audience: "cli", reqToken: testRequestToken, wantQuery: "audience=cli"},
		{name: "url ending in ? gets audience", status: 200, body: string(okBody), path: "/token?", audience: "cli", reqToken: testRequestToken, wantQuery: "audience=cli"},
		{name: "no audience leaves the query alone", status: 200, body: string(okBody), path: "/token?api-version=2.0", reqToken: testRequestToken, wantQuery: "api-version=2.0"},
		{name: "wrong request token", status: 200, body: string(okBody), path: "/token", reqToken: "other-token-xyz", wantErr: "HTTP 401 (check that the job has \"permissions: id-token: write\")"},
		{name: "server error echoing the token is scrubbed", status: 500, body: `{"message":"bad token ` + testRequestToken + `"}`, path: "/token", reqToken: testRequestToken, wantErr: "HTTP 500: bad token ***"},
		{name: "answer not JSON", status: 200, body: "<html>", path: "/token", reqToken: testRequestToken, wantErr: "not JSON"},
		{name: "answer without value", status: 200, body: `{"count":0}`, path: "/token", reqToken: testRequestToken, wantErr: `it holds no "value"`},
		{name: "empty request token", status: 200, body: string(okBody), path: "/token", reqToken: "", wantErr: "ACTIONS_ID_TOKEN_REQUEST_TOKEN is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeRunner{status: tt.status, body: tt.body}
			srv := httptest.NewServer(f)
			defer srv.Close()
			got, err := FetchGitHubOIDC(context.Background(), OIDCRequest{URL: srv.URL + tt.path, RequestToken: tt.reqToken, Audience: tt.audience, HTTP: srv.Client()})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("FetchGitHubOIDC error = %v, want one containing %q", err, tt.wantErr)
				}
				for _, secret := range []string{testRequestToken, tt.reqToken, testIDToken} {
					if secret != "" && strings.Contains(err.Error(), secret) {
						t.Fatalf("error %q contains a token", err)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("FetchGitHubOIDC: %v", err)
			}
			if got != testIDToken {
				t.Fatalf("token = %q, want %q", got, testIDToken)
			}
			if f.query != tt.wantQuery {
				t.Fatalf("query = %q, want %q", f.query, tt.wantQuery)
			}
		})
	}
}

func TestFetchGitHubOIDCBadURLs(t *testing.T) {
	// A port nothing listens on: taken and released at once.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + l.Addr().String() + "/token?sig=" + testRequestToken
	l.Close()
	tests := []struct {
		name, url, wantErr string
	}{
		{name: "empty", url: "", wantErr: "ACTIONS_ID_TOKEN_REQUEST_URL is empty"},
		{name: "not http", url: "file:///etc/passwd", wantErr: "is not an http(s) URL"},
		{name: "no host", url: "http:///x", wantErr: "is not an http(s) URL"},
		{name: "nothing listening, query not echoed", url: dead, wantErr: "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := FetchGitHubOIDC(context.Background(), OIDCRequest{URL: tt.url, RequestToken: testRequestToken, Audience: "cli"})
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), testRequestToken) {
				t.Fatalf("error %q contains the request token", err)
			}
		})
	}
}
