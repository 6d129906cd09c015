package client

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/dlthub/runtime-action/internal/api"
)

// testToken is a JWT-shaped token; tests check it never shows in errors.
const testToken = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyLTEiLCJhdWQiOiJjbGkifQ.c2VjcmV0LXNpZ25hdHVyZQ"

const testWS = "ws-0001"

// fakeRuntime stands in for dltHub's Runtime service, which tests cannot
// reach: it keeps a little state and speaks the contract's wire format,
// error bodies included. inject runs first and may answer instead.
type fakeRuntime struct {
	t      *testing.T
	mu     sync.Mutex
	now    time.Time
	srv    *httptest.Server
	calls  []string
	runs   []api.DetailedRun // in creation order
	logs   map[string]string
	script api.Script
	deps   []api.Deployment
	// inject may answer a request itself (returning true) to simulate failures.
	inject func(w http.ResponseWriter, r *http.Request) bool
}

func newFake(t *testing.T) *fakeRuntime {
	t.Helper()
	f := &fakeRuntime{t: t, now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), logs: map[string]string{}}
	f.script = api.Script{ScriptFields: api.ScriptFields{ID: "script-1", Name: "jobs/load.py", EntryPoint: "jobs/load.py", ScriptType: api.ScriptBatch, Version: 1, Active: true}, WorkspaceID: testWS}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/ping", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, api.PingResponse{Message: "pong", Service: "api"})
	})
	mux.HandleFunc("GET /v1/me", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, api.Me{UserID: "user-1", Email: "a@example.com", DefaultWorkspace: api.Workspace{ID: testWS, Name: "main"}})
	})
	mux.HandleFunc("GET /v1/workspaces/{ws}/deployments/latest", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if len(f.deps) == 0 {
			writeErr(w, 404, "no deployment yet")
			return
		}
		writeJSON(w, 200, f.deps[len(f.deps)-1])
	})
	mux.HandleFunc("POST /v1/workspaces/{ws}/deployments", f.upload)
	mux.HandleFunc("GET /v1/workspaces/{ws}/scripts/{name}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("name") != f.script.Name && r.PathValue("name") != f.script.ID {
			writeErr(w, 404, fmt.Sprintf("script %q not found", r.PathValue("name")))
			return
		}
		writeJSON(w, 200, api.DetailedScript{Script: f.script})
	})
	mux.HandleFunc("GET /v1/workspaces/{ws}/scripts/{name}/versions/latest", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, api.ScriptVersion{ScriptFields: api.ScriptFields{ID: "sv-1", Name: r.PathValue("name"), Version: 1}, ScriptID: f.script.ID})
	})
	mux.HandleFunc("POST /v1/workspaces/{ws}/runs", func(w http.ResponseWriter, r *http.Request) {
		var req api.CreateRunRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.ScriptIDOrName == "" {
			writeErr(w, 400, "script_id_or_name is required")
			return
		}
		if req.ScriptIDOrName != f.script.Name && req.ScriptIDOrName != f.script.ID {
			writeErr(w, 404, "script not found")
			return
		}
		writeJSON(w, 201, f.createRun(req.Profile).Run)
	})
	mux.HandleFunc("GET /v1/workspaces/{ws}/runs", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		items := []api.DetailedRun{}
		for i := len(f.runs) - 1; i >= 0; i-- {
			if sid := r.URL.Query().Get("script_id"); sid == "" || f.runs[i].Script.ID == sid {
				items = append(items, f.runs[i])
			}
		}
		writeJSON(w, 200, api.Page[api.DetailedRun]{Items: items, Limit: 100, Total: len(items)})
	})
	mux.HandleFunc("GET /v1/workspaces/{ws}/runs/latest", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if len(f.runs) == 0 {
			writeErr(w, 404, "no runs")
			return
		}
		writeJSON(w, 200, f.runs[len(f.runs)-1])
	})
	mux.HandleFunc("GET /v1/workspaces/{ws}/runs/{id}", func(w http.ResponseWriter, r *http.Request) {
		run, ok := f.run(r.PathValue("id"))
		if !ok {
			writeErr(w, 404, "run not found")
			return
		}
		writeJSON(w, 200, run)
	})
	mux.HandleFunc("GET /v1/workspaces/{ws}/runs/{id}/logs", func(w http.ResponseWriter, r *http.Request) {
		run, ok := f.run(r.PathValue("id"))
		if !ok {
			writeErr(w, 404, "run not found")
			return
		}
		f.mu.Lock()
		l := f.logs[run.ID]
		f.mu.Unlock()
		writeJSON(w, 200, api.LogsResponse{Run: run, Logs: &l})
	})
	mux.HandleFunc("POST /v1/workspaces/{ws}/runs/{id}/cancel", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		for i := range f.runs {
			if f.runs[i].ID == r.PathValue("id") {
				if f.runs[i].Status.Terminal() {
					writeErr(w, 400, "run is already in a terminal state")
					return
				}
				f.runs[i].Status = api.StatusCancelled
				writeJSON(w, 201, f.runs[i])
				return
			}
		}
		writeErr(w, 404, "run not found")
	})
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.calls = append(f.calls, r.Method+" "+r.URL.EscapedPath())
		inject := f.inject
		f.mu.Unlock()
		if inject != nil && inject(w, r) {
			return
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// setInject replaces the inject func once the server has been used.
func (f *fakeRuntime) setInject(fn func(w http.ResponseWriter, r *http.Request) bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.inject = fn
}

func (f *fakeRuntime) createRun(profile *string) api.DetailedRun {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := len(f.runs) + 1
	f.now = f.now.Add(time.Second)
	run := api.DetailedRun{Run: api.Run{ID: fmt.Sprintf("run-%d", n), Number: n, Status: api.StatusPending, Trigger: api.TriggerManual,
		WorkspaceID: testWS, Profile: profile, Timestamps: api.Timestamps{DateAdded: api.NewTime(f.now), DateUpdated: api.NewTime(f.now)}}, Script: f.script}
	f.runs = append(f.runs, run)
	return run
}

func (f *fakeRuntime) run(id string) (api.DetailedRun, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.runs {
		if r.ID == id {
			return r, true
		}
	}
	return api.DetailedRun{}, false
}

func (f *fakeRuntime) setRun(id string, status api.RunStatus, log string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.runs {
		if f.runs[i].ID == id {
			f.runs[i].Status = status
		}
	}
	f.logs[id] = log
}

func (f *fakeRuntime) runCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.runs)
}

func (f *fakeRuntime) callList() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func (f *fakeRuntime) countCalls(call string) int {
	n := 0
	for _, c := range f.callList() {
		if c == call {
			n++
		}
	}
	return n
}

// upload checks the multipart body as the contract describes it and, like
// the real service, makes no new version for the same content.
func (f *fakeRuntime) upload(w http.ResponseWriter, r *http.Request) {
	file, hdr, err := r.FormFile("file")
	if err != nil {
		writeErr(w, 400, "no file part: "+err.Error())
		return
	}
	defer file.Close()
	if hdr.Filename != "workspace.tar.gz" || hdr.Header.Get("Content-Type") != "application/x-tar" {
		writeErr(w, 400, fmt.Sprintf("unexpected part %q of type %q", hdr.Filename, hdr.Header.Get("Content-Type")))
		return
	}
	data, _ := io.ReadAll(file)
	sum := sha256.Sum256(data)
	hash := hex.EncodeToString(sum[:])
	f.mu.Lock()
	defer f.mu.Unlock()
	if n := len(f.deps); n > 0 && f.deps[n-1].ContentHash == hash {
		writeJSON(w, 201, f.deps[n-1])
		return
	}
	d := api.Deployment{ID: "dep-" + strconv.Itoa(len(f.deps)+1), Version: len(f.deps) + 1, ContentHash: hash, Size: int64(len(data)), WorkspaceID: testWS}
	f.deps = append(f.deps, d)
	writeJSON(w, 201, d)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, status int, detail string) {
	writeJSON(w, status, api.ErrorResponse{StatusCode: status, Detail: detail})
}

// hijackClose cuts the connection without an answer, as a crashing proxy would.
func hijackClose(t *testing.T, w http.ResponseWriter) {
	t.Helper()
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		t.Errorf("hijack: %v", err)
		return
	}
	conn.Close()
}

// clock records the sleeps a client asks for; they take no real time.
type clock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	c.sleeps = append(c.sleeps, d)
	c.now = c.now.Add(d)
	c.mu.Unlock()
	return ctx.Err()
}

func (c *clock) slept() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.sleeps...)
}

// newTestClient makes a client of base with a fake clock and jitter fixed at
// its maximum, so backoffs are predictable.
func newTestClient(t *testing.T, base string, mod ...func(*Options)) (*Client, *clock) {
	t.Helper()
	clk := &clock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	o := Options{APIBaseURL: base, AuthBaseURL: base + "/auth", Token: testToken, Now: clk.Now, Sleep: clk.Sleep,
		Rand: func() float64 { return 1 }, PollInterval: time.Millisecond, RequestTimeout: 5 * time.Second}
	for _, m := range mod {
		m(&o)
	}
	return New(o), clk
}
