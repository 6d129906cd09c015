package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/dlthub/runtime-action/internal/api"
)

func TestCreateRun(t *testing.T) {
	prod := "prod"
	tests := []struct {
		name string
		// before runs exist before the call.
		before int
		// fail is called for each POST of a run with its attempt number; it
		// may answer itself (returning true).
		fail func(t *testing.T, f *fakeRuntime, attempt int, w http.ResponseWriter, r *http.Request) bool
		// scriptID passed to CreateRun ("" makes it look the script up).
		scriptID   string
		profile    *string
		wantPosts  int
		wantLists  int
		wantNumber int
		wantRuns   int
		wantErr    string
		wantSleeps int
	}{
		{name: "plain", scriptID: "script-1", wantPosts: 1, wantNumber: 1, wantRuns: 1},
		{name: "script looked up by name", before: 2, wantPosts: 1, wantNumber: 3, wantRuns: 3},
		{
			name: "created, then the connection is cut: the run is found, not posted again", before: 1, scriptID: "script-1", profile: &prod,
			fail: func(t *testing.T, f *fakeRuntime, attempt int, w http.ResponseWriter, r *http.Request) bool {
				var req api.CreateRunRequest
				json.NewDecoder(r.Body).Decode(&req)
				f.createRun(req.Profile)
				hijackClose(t, w)
				return true
			},
			wantPosts: 1, wantLists: 1, wantNumber: 2, wantRuns: 2, wantSleeps: 1,
		},
		{
			name: "created, answer lost, another run started just after: ours is the older one", before: 1, scriptID: "script-1",
			fail: func(t *testing.T, f *fakeRuntime, attempt int, w http.ResponseWriter, r *http.Request) bool {
				f.createRun(nil) // ours
				f.createRun(nil) // someone else's, started meanwhile
				hijackClose(t, w)
				return true
			},
			wantPosts: 1, wantLists: 1, wantNumber: 2, wantRuns: 3, wantSleeps: 1,
		},
		{
			name: "cut before the server created it: looked for, then posted again", scriptID: "script-1",
			fail: func(t *testing.T, f *fakeRuntime, attempt int, w http.ResponseWriter, r *http.Request) bool {
				if attempt == 1 {
					hijackClose(t, w)
					return true
				}
				return false
			},
			wantPosts: 2, wantLists: 1, wantNumber: 1, wantRuns: 1, wantSleeps: 1,
		},
		{
			name: "502 from a proxy that did forward: found", before: 3, scriptID: "script-1",
			fail: func(t *testing.T, f *fakeRuntime, attempt int, w http.ResponseWriter, r *http.Request) bool {
				f.createRun(nil)
				w.Header().Set("Content-Type", "text/html")
				w.WriteHeader(502)
				w.Write([]byte("<h1>Bad Gateway</h1>"))
				return true
			},
			wantPosts: 1, wantLists: 1, wantNumber: 4, wantRuns: 4, wantSleeps: 1,
		},
		{
			name: "a run with another profile is not ours", before: 1, scriptID: "script-1", profile: &prod,
			fail: func(t *testing.T, f *fakeRuntime, attempt int, w http.ResponseWriter, r *http.Request) bool {
				if attempt == 1 {
					f.createRun(nil) // someone else's run, started meanwhile
					writeErr(w, 503, "overloaded")
					return true
				}
				return false
			},
			wantPosts: 2, wantLists: 1, wantNumber: 3, wantRuns: 3, wantSleeps: 1,
		},
		{
			name: "429 is retried directly, without looking", scriptID: "script-1",
			fail: func(t *testing.T, f *fakeRuntime, attempt int, w http.ResponseWriter, r *http.Request) bool {
				if attempt < 3 {
					w.Header().Set("Retry-After", "1")
					writeErr(w, 429, "slow down")
					return true
				}
				return false
			},
			wantPosts: 3, wantLists: 0, wantNumber: 1, wantRuns: 1, wantSleeps: 2,
		},
		{
			name: "400 is not retried", scriptID: "script-1",
			fail: func(t *testing.T, f *fakeRuntime, attempt int, w http.ResponseWriter, r *http.Request) bool {
				writeErr(w, 400, "workspace has no deployment yet")
				return true
			},
			wantPosts: 1, wantErr: "POST /v1/workspaces/ws-0001/runs: workspace has no deployment yet (HTTP 400)",
		},
		{
			name: "always cut and never created: gives up after the attempts", scriptID: "script-1",
			fail: func(t *testing.T, f *fakeRuntime, attempt int, w http.ResponseWriter, r *http.Request) bool {
				hijackClose(t, w)
				return true
			},
			wantPosts: 5, wantLists: 5, wantSleeps: 5,
			wantErr: "cannot reach the Runtime at URL: the connection was closed before the answer was complete (5 attempts)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			for range tt.before {
				f.createRun(nil)
			}
			var mu sync.Mutex
			attempt := 0
			f.inject = func(w http.ResponseWriter, r *http.Request) bool {
				if r.Method != http.MethodPost || r.URL.Path != "/v1/workspaces/ws-0001/runs" || tt.fail == nil {
					return false
				}
				mu.Lock()
				attempt++
				n := attempt
				mu.Unlock()
				return tt.fail(t, f, n, w, r)
			}
			c, clk := newTestClient(t, f.srv.URL)
			run, err := c.CreateRun(context.Background(), testWS, api.CreateRunRequest{ScriptIDOrName: "jobs/load.py", Profile: tt.profile}, tt.scriptID)
			if got := f.countCalls("POST /v1/workspaces/ws-0001/runs"); got != tt.wantPosts {
				t.Errorf("posts = %d, want %d", got, tt.wantPosts)
			}
			if got := f.countCalls("GET /v1/workspaces/ws-0001/runs"); got != tt.wantLists {
				t.Errorf("run lists = %d, want %d", got, tt.wantLists)
			}
			if got := len(clk.slept()); got != tt.wantSleeps {
				t.Errorf("sleeps = %d, want %d", got, tt.wantSleeps)
			}
			if got := f.runCount(); got != tt.wantRuns {
				t.Errorf("runs on the server = %d, want %d", got, tt.wantRuns)
			}
			if tt.wantErr != "" {
				want := strings.ReplaceAll(tt.wantErr, "URL", f.srv.URL)
				if err == nil || err.Error() != want {
					t.Fatalf("CreateRun error = %v, want %q", err, want)
				}
				return
			}
			if err != nil {
				t.Fatalf("CreateRun: %v", err)
			}
			if run.Number != tt.wantNumber || run.Status != api.StatusPending {
				t.Fatalf("run = #%d %s, want #%d pending", run.Number, run.Status, tt.wantNumber)
			}
		})
	}
}

func TestCreateRunConnectionRefused(t *testing.T) {
	c, clk := newTestClient(t, deadURL(t))
	_, err := c.CreateRun(context.Background(), testWS, api.CreateRunRequest{ScriptIDOrName: "x"}, "script-1")
	var ce *ConnError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "look up the latest run of script \"x\": cannot reach the Runtime") {
		t.Fatalf("CreateRun error = %v", err)
	}
	if len(clk.slept()) != 4 {
		t.Fatalf("sleeps = %v", clk.slept())
	}
}

// TestCreateRunNotSentIsRetried: the lookup before the attempt works, then the
// POST finds the port closed; nothing reached the server, so it is sent
// again at once without a lookup.
func TestCreateRunNotSentIsRetried(t *testing.T) {
	f := newFake(t)
	refused := 2
	var mu sync.Mutex
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		mu.Lock()
		defer mu.Unlock()
		if r.Method == http.MethodPost && refused > 0 {
			refused--
			// Dial a closed port, so the error is a real connection refusal.
			r2 := r.Clone(r.Context())
			r2.URL.Host = strings.TrimPrefix(deadURL(t), "http://")
			return tr.RoundTrip(r2)
		}
		return tr.RoundTrip(r)
	})
	c, clk := newTestClient(t, f.srv.URL, func(o *Options) { o.HTTP = &http.Client{Transport: rt} })
	run, err := c.CreateRun(context.Background(), testWS, api.CreateRunRequest{ScriptIDOrName: "jobs/load.py"}, "script-1")
	if err != nil || run.Number != 1 {
		t.Fatalf("CreateRun = %+v, %v", run, err)
	}
	if got := f.countCalls("GET /v1/workspaces/ws-0001/runs"); got != 0 {
		t.Fatalf("looked for the run %d times; nothing had been sent", got)
	}
	if got := len(clk.slept()); got != 2 {
		t.Fatalf("sleeps = %d, want 2", got)
	}
	if f.runCount() != 1 {
		t.Fatalf("runs = %d", f.runCount())
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestCreateRunLostAnswerAndLookupFails(t *testing.T) {
	f := newFake(t)
	f.inject = func(w http.ResponseWriter, r *http.Request) bool {
		switch {
		case r.Method == http.MethodPost:
			f.createRun(nil)
			hijackClose(t, w)
			return true
		case r.URL.Path == "/v1/workspaces/ws-0001/runs":
			writeErr(w, 500, "database is locked")
			return true
		}
		return false
	}
	var logged []string
	c, _ := newTestClient(t, f.srv.URL, func(o *Options) {
		o.Logf = func(format string, args ...any) { logged = append(logged, fmt.Sprintf(format, args...)) }
	})
	_, err := c.CreateRun(context.Background(), testWS, api.CreateRunRequest{ScriptIDOrName: "jobs/load.py"}, "script-1")
	want := `the answer to POST /v1/workspaces/ws-0001/runs was lost (cannot reach the Runtime at ` + f.srv.URL +
		`: the connection was closed before the answer was complete) and asking whether the run started failed: ` +
		`GET /v1/workspaces/ws-0001/runs: database is locked (HTTP 500); look at the latest runs of script "jobs/load.py" before starting it again`
	if err == nil || err.Error() != want {
		t.Fatalf("error = %v\nwant %s", err, want)
	}
	if f.runCount() != 1 || f.countCalls("POST /v1/workspaces/ws-0001/runs") != 1 {
		t.Fatalf("runs = %d; must not post again when it cannot tell", f.runCount())
	}
	if len(logged) == 0 {
		t.Fatal("the retry was not logged")
	}
	for _, l := range logged {
		if strings.Contains(l, testToken) {
			t.Fatalf("log line %q holds the token", l)
		}
	}
}
