package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"
)

// answers makes an inject func that answers GET /v1/me with the given
// statuses in turn (0 lets the fake answer normally), then normally.
func answers(t *testing.T, statuses []int, header http.Header) func(http.ResponseWriter, *http.Request) bool {
	t.Helper()
	i := 0
	return func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != "/v1/me" || i >= len(statuses) {
			return false
		}
		st := statuses[i]
		i++
		if st == 0 {
			return false
		}
		for k, v := range header {
			w.Header()[k] = v
		}
		writeErr(w, st, fmt.Sprintf("busy %d", st))
		return true
	}
}

func TestRetries(t *testing.T) {
	base := 500 * time.Millisecond
	retryDate := time.Date(2026, 1, 2, 3, 4, 17, 0, time.UTC) // 12s after the test clock's start
	tests := []struct {
		name       string
		statuses   []int
		header     http.Header
		wantCalls  int
		wantSleeps []time.Duration
		wantErr    string
	}{
		{name: "503 then ok", statuses: []int{503, 0}, wantCalls: 2, wantSleeps: []time.Duration{base}},
		{name: "502, 504 then ok, backoff doubles", statuses: []int{502, 504, 0}, wantCalls: 3, wantSleeps: []time.Duration{base, 2 * base}},
		{name: "429 honours Retry-After seconds", statuses: []int{429, 0}, header: http.Header{"Retry-After": {"7"}}, wantCalls: 2, wantSleeps: []time.Duration{7 * time.Second}},
		{name: "429 honours Retry-After date", statuses: []int{429, 0}, header: http.Header{"Retry-After": {retryDate.Format(http.TimeFormat)}}, wantCalls: 2, wantSleeps: []time.Duration{12 * time.Second}},
		{name: "Retry-After is capped", statuses: []int{503, 0}, header: http.Header{"Retry-After": {"86400"}}, wantCalls: 2, wantSleeps: []time.Duration{time.Minute}},
		{name: "400 is not retried", statuses: []int{400}, wantCalls: 1, wantErr: "GET /v1/me: busy 400 (HTTP 400)"},
		{name: "404 is not retried", statuses: []int{404}, wantCalls: 1, wantErr: "GET /v1/me: busy 404 (HTTP 404)"},
		{name: "500 is not retried", statuses: []int{500}, wantCalls: 1, wantErr: "GET /v1/me: busy 500 (HTTP 500)"},
		{name: "gives up after 5 attempts", statuses: []int{503, 503, 503, 503, 503, 503}, wantCalls: 5,
			wantSleeps: []time.Duration{base, 2 * base, 4 * base, 8 * base}, wantErr: "GET /v1/me: busy 503 (HTTP 503); gave up after 5 attempts"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			f.inject = answers(t, tt.statuses, tt.header)
			c, clk := newTestClient(t, f.srv.URL)
			me, err := c.Me(context.Background())
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("Me error = %v, want %q", err, tt.wantErr)
				}
			} else if err != nil || me.UserID != "user-1" {
				t.Fatalf("Me = %+v, %v", me, err)
			}
			if got := f.countCalls("GET /v1/me"); got != tt.wantCalls {
				t.Errorf("calls = %d, want %d", got, tt.wantCalls)
			}
			if got := clk.slept(); !reflect.DeepEqual(got, tt.wantSleeps) && !(len(got) == 0 && len(tt.wantSleeps) == 0) {
				t.Errorf("sleeps = %v, want %v", got, tt.wantSleeps)
			}
		})
	}
}

func TestBackoffJitterAndCap(t *testing.T) {
	c := New(Options{APIBaseURL: "http://x", Rand: func() float64 { return 0.5 }, Retry: RetryPolicy{Base: time.Second, Max: 3 * time.Second}})
	var got []time.Duration
	for attempt := 1; attempt <= 4; attempt++ {
		got = append(got, c.backoff(attempt, outcome{}))
	}
	want := []time.Duration{500 * time.Millisecond, time.Second, 1500 * time.Millisecond, 1500 * time.Millisecond}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("backoffs = %v, want %v", got, want)
	}
}

// deadURL returns a loopback URL nothing listens on.
func deadURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := "http://" + l.Addr().String()
	l.Close()
	return u
}

func TestConnectionRefused(t *testing.T) {
	base := deadURL(t)
	c, clk := newTestClient(t, base+"/")
	_, err := c.Me(context.Background())
	var ce *ConnError
	if !errors.As(err, &ce) {
		t.Fatalf("Me error = %v (%T), want *ConnError", err, err)
	}
	want := "cannot reach the Runtime at " + base + ": connection refused (5 attempts)"
	if err.Error() != want {
		t.Fatalf("error = %q, want %q", err, want)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("error does not wrap ECONNREFUSED")
	}
	if n := len(clk.slept()); n != 4 {
		t.Errorf("slept %d times, want 4", n)
	}
	// The auth service names itself.
	_, err = c.TokenExchange(context.Background(), "ghp_secret")
	if err == nil || !strings.HasPrefix(err.Error(), "cannot reach the Runtime auth service at "+base+"/auth: connection refused") {
		t.Fatalf("TokenExchange error = %v", err)
	}
}

func TestContextCancelStopsRetrying(t *testing.T) {
	f := newFake(t)
	f.inject = answers(t, []int{503, 503, 503}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	c, _ := newTestClient(t, f.srv.URL, func(o *Options) {
		o.Sleep = func(context.Context, time.Duration) error { cancel(); return context.Canceled }
	})
	_, err := c.Me(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Me error = %v, want context.Canceled", err)
	}
	if n := f.countCalls("GET /v1/me"); n != 1 {
		t.Fatalf("calls = %d, want 1", n)
	}
}

func TestRequestTimeout(t *testing.T) {
	f := newFake(t)
	release := make(chan struct{})
	defer close(release)
	f.inject = func(w http.ResponseWriter, r *http.Request) bool {
		select {
		case <-release:
		case <-r.Context().Done():
		}
		return true
	}
	// Long enough for each attempt to reach the server on a loaded machine
	// (with 20ms, an attempt could time out before the server saw it).
	c, _ := newTestClient(t, f.srv.URL, func(o *Options) {
		o.RequestTimeout = 250 * time.Millisecond
		o.Retry.MaxAttempts = 2
	})
	_, err := c.Me(context.Background())
	var ce *ConnError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "no answer within 250ms") {
		t.Fatalf("Me error = %v, want a ConnError about the timeout", err)
	}
	if n := f.countCalls("GET /v1/me"); n != 2 {
		t.Fatalf("calls = %d, want 2", n)
	}
}

func TestNotTheAPI(t *testing.T) {
	tests := []struct {
		name        string
		status      int
		contentType string
		body        string
		call        func(*Client) error
		wantErr     string
	}{
		{name: "HTML page with 200", status: 200, contentType: "text/html; charset=utf-8", body: "<html>login</html>",
			call:    func(c *Client) error { _, err := c.Me(context.Background()); return err },
			wantErr: "GET /v1/me: the server answered something that is not the Runtime API (HTTP 200, content-type text/html)"},
		{name: "JSON of the wrong shape", status: 200, contentType: "application/json", body: `{"hello":"world"}`,
			call:    func(c *Client) error { _, err := c.Me(context.Background()); return err },
			wantErr: `GET /v1/me: the server answered something that is not the Runtime API (HTTP 200, content-type application/json): the answer has no "user_id"`},
		{name: "JSON array instead of object", status: 200, contentType: "application/json", body: `[1,2]`,
			call:    func(c *Client) error { _, err := c.Me(context.Background()); return err },
			wantErr: `GET /v1/me: the server answered something that is not the Runtime API (HTTP 200, content-type application/json): the body is a JSON array`},
		{name: "list without items", status: 200, contentType: "application/json", body: `{"hello":"world"}`,
			call:    func(c *Client) error { _, err := c.ListDeployments(context.Background(), testWS, 0, 0); return err },
			wantErr: `GET /v1/workspaces/ws-0001/deployments: the server answered something that is not the Runtime API (HTTP 200, content-type application/json): the list has no "items"`},
		{name: "HTML 404 is not 'nothing deployed'", status: 404, contentType: "text/html", body: "<h1>Not Found</h1>",
			call:    func(c *Client) error { d, err := c.LatestDeployment(context.Background(), testWS); _ = d; return err },
			wantErr: "GET /v1/workspaces/ws-0001/deployments/latest: the server answered something that is not the Runtime API (HTTP 404, content-type text/html)"},
		{name: "plain text 401", status: 401, contentType: "text/plain", body: "Unauthorized",
			call:    func(c *Client) error { _, err := c.Me(context.Background()); return err },
			wantErr: "GET /v1/me: the server answered something that is not the Runtime API (HTTP 401, content-type text/plain)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newRawServer(t, tt.status, tt.contentType, tt.body)
			c, _ := newTestClient(t, srv)
			err := tt.call(c)
			if err == nil || err.Error() != tt.wantErr {
				t.Fatalf("error = %v, want %q", err, tt.wantErr)
			}
			if IsNotFound(err) {
				t.Fatalf("IsNotFound(%v) = true for an answer that is not the API", err)
			}
			var e *Error
			if !errors.As(err, &e) || !e.NotAPI || e.Status != tt.status {
				t.Fatalf("error is %#v, want *Error with NotAPI and status %d", err, tt.status)
			}
		})
	}
}

func newRawServer(t *testing.T, status int, contentType, body string) string {
	t.Helper()
	f := newFake(t)
	f.inject = func(w http.ResponseWriter, r *http.Request) bool {
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(status)
		w.Write([]byte(body))
		return true
	}
	return f.srv.URL
}

func TestErrorBodyAndSecrets(t *testing.T) {
	f := newFake(t)
	f.inject = func(w http.ResponseWriter, r *http.Request) bool {
		// A careless server echoing what it got, as FastAPI validation errors do.
		authz := r.Header.Get("Authorization")
		writeJSON(w, 403, map[string]any{"status_code": 403, "detail": "token " + authz + " may not see this",
			"extra": map[string]any{"token": strings.TrimPrefix(authz, "Bearer "), "list": []any{authz, 3}}})
		return true
	}
	c, _ := newTestClient(t, f.srv.URL+"/?token=abc")
	_, err := c.GetWorkspace(context.Background(), testWS)
	want := "GET /v1/workspaces/ws-0001: token Bearer *** may not see this (HTTP 403)"
	if err == nil || err.Error() != want {
		t.Fatalf("error = %v, want %q", err, want)
	}
	var e *Error
	if !errors.As(err, &e) || fmt.Sprint(e.Extra) != "map[list:[Bearer *** 3] token:***]" {
		t.Fatalf("extra = %v", e.Extra)
	}
	if strings.Contains(fmt.Sprintf("%+v %#v", err, e), testToken) {
		t.Fatal("the token shows in the error")
	}
	if !IsStatus(err, 403) || IsStatus(err, 404) || IsNotFound(err) {
		t.Fatal("IsStatus/IsNotFound disagree with the status")
	}
	// A 404 of the API is "not found"; Latest* make it (nil, nil).
	f.setInject(nil)
	d, err := c.LatestDeployment(context.Background(), testWS)
	if d != nil || err != nil {
		t.Fatalf("LatestDeployment = %v, %v; want nil, nil", d, err)
	}
	_, err = c.GetRun(context.Background(), testWS, "nope")
	if !IsNotFound(err) || err.Error() != "GET /v1/workspaces/ws-0001/runs/nope: run not found (HTTP 404)" {
		t.Fatalf("GetRun error = %v", err)
	}
}

func TestBaseURLs(t *testing.T) {
	f := newFake(t)
	f.inject = func(w http.ResponseWriter, r *http.Request) bool {
		if strings.HasPrefix(r.URL.Path, "/api/") {
			r.URL.Path = strings.TrimPrefix(r.URL.Path, "/api")
			r.URL.RawPath = ""
		}
		return false
	}
	tests := []struct{ name, base string }{
		{"plain", f.srv.URL},
		{"trailing slash", f.srv.URL + "/"},
		{"path prefix with slash", f.srv.URL + "/api/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := newTestClient(t, tt.base)
			p, err := c.Ping(context.Background())
			if err != nil || p.Message != "pong" {
				t.Fatalf("Ping = %v, %v", p, err)
			}
		})
	}
	for _, bad := range []string{"", "ftp://host", "not a url", "http://"} {
		c, _ := newTestClient(t, bad)
		if _, err := c.Ping(context.Background()); err == nil || !strings.Contains(err.Error(), "URL") {
			t.Errorf("Ping with base %q: error = %v, want one about the URL", bad, err)
		}
	}
}

func TestEmptyIdentifiers(t *testing.T) {
	f := newFake(t)
	c, _ := newTestClient(t, f.srv.URL)
	ctx := context.Background()
	tests := []struct {
		name    string
		call    func() error
		wantErr string
	}{
		{"workspace", func() error { _, err := c.GetWorkspace(ctx, " "); return err }, "get workspace: workspace id is empty"},
		{"script", func() error { _, err := c.GetScript(ctx, testWS, ""); return err }, "get script: script id or name is empty"},
		{"run", func() error { _, err := c.GetRun(ctx, testWS, ""); return err }, "get run: run id is empty"},
		{"upload", func() error { _, err := c.UploadDeployment(ctx, testWS, nil); return err }, "upload deployment: the package is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); err == nil || err.Error() != tt.wantErr {
				t.Fatalf("error = %v, want %q", err, tt.wantErr)
			}
		})
	}
	if n := len(f.callList()); n != 0 {
		t.Fatalf("%d requests were sent for empty identifiers", n)
	}
}
