package action

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestIDTokenRetries: the token service's transient failures are retried,
// a refusal is not, and the request token never reaches an error.
func TestIDTokenRetries(t *testing.T) {
	for _, tc := range []struct {
		name     string
		answers  []int // status per attempt; 0 drops the connection
		wantErr  string
		wantCall int
	}{
		{"503 then ok", []int{503, 502, 200}, "", 3},
		{"429 then ok", []int{429, 200}, "", 2},
		{"dropped connection then ok", []int{0, 200}, "", 2},
		{"refused", []int{403, 200}, "the token service answered 403", 1},
		{"down for good", []int{500, 500, 500, 500, 500}, "answered 500: boom (4 attempts)", 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			calls := 0
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				i := calls
				calls++
				mu.Unlock()
				if r.Header.Get("Authorization") != "Bearer req-secret" || r.URL.Query().Get("audience") != "dlt-runtime" || r.URL.Query().Get("api-version") != "2.0" {
					t.Errorf("request %s with %q", r.URL, r.Header.Get("Authorization"))
				}
				switch st := tc.answers[min(i, len(tc.answers)-1)]; st {
				case 0:
					hj, _ := w.(http.Hijacker)
					c, _, _ := hj.Hijack()
					c.Close()
				case 200:
					w.Write([]byte(`{"value":"id-token"}`))
				default:
					w.WriteHeader(st)
					w.Write([]byte("boom"))
				}
			}))
			defer srv.Close()
			var slept []time.Duration
			f := idTokenFetch{HTTP: srv.Client(), Attempts: 4, Backoff: time.Second,
				Sleep: func(_ context.Context, d time.Duration) error { slept = append(slept, d); return nil }}
			tok, err := f.fetch(context.Background(), oidcRequest{URL: srv.URL + "/token?api-version=2.0", RequestToken: "req-secret"}, "dlt-runtime")
			if tc.wantErr == "" {
				if err != nil || tok != "id-token" {
					t.Fatalf("fetch = %q, %v", tok, err)
				}
			} else if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), "req-secret") {
				t.Errorf("the request token is in the error: %v", err)
			}
			if calls != tc.wantCall {
				t.Errorf("%d requests, want %d", calls, tc.wantCall)
			}
			for i, d := range slept {
				if d != time.Second<<i {
					t.Errorf("wait %d = %s, want %s", i, d, time.Second<<i)
				}
			}
		})
	}
}
