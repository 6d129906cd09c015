package action

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dlthub/runtime-action/internal/api"
	"github.com/dlthub/runtime-action/internal/client"
	"github.com/dlthub/runtime-action/internal/deploy"
)

var _ deploy.RunCanceller = (*client.Client)(nil)

// fakeRuntime stands in for dltHub's hosted Runtime API (which cannot run
// here), speaking the contract's wire format for the two run endpoints the
// post step uses, and recording the calls.
type fakeRuntime struct {
	t     *testing.T
	srv   *httptest.Server
	mu    sync.Mutex
	runs  map[string]*api.DetailedRun
	calls []string
	block chan struct{} // when set, cancel waits on it
}

const fakeWS = "ws-1"

func newFakeRuntime(t *testing.T) *fakeRuntime {
	t.Helper()
	f := &fakeRuntime{t: t, runs: map[string]*api.DetailedRun{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/workspaces/{ws}/runs/{id}", func(w http.ResponseWriter, r *http.Request) {
		f.record(r)
		run := f.find(w, r)
		if run == nil {
			return
		}
		f.mu.Lock()
		out := *run
		f.mu.Unlock()
		writeJSON(w, http.StatusOK, out)
	})
	mux.HandleFunc("POST /v1/workspaces/{ws}/runs/{id}/cancel", func(w http.ResponseWriter, r *http.Request) {
		f.record(r)
		if f.block != nil {
			select {
			case <-f.block:
			case <-r.Context().Done():
				return
			}
		}
		run := f.find(w, r)
		if run == nil {
			return
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		switch {
		case run.Status.Terminal():
			writeJSON(w, http.StatusBadRequest, api.ErrorResponse{StatusCode: 400, Detail: "Run " + run.ID + " is already in a terminal state"})
			return
		case run.Status == api.StatusPending:
			run.Status = api.StatusCancelled
		default:
			run.Status = api.StatusCancelling
		}
		writeJSON(w, http.StatusCreated, *run)
	})
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeRuntime) record(r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer rt-jwt" {
		f.t.Errorf("%s %s without the bearer token", r.Method, r.URL.Path)
	}
	f.mu.Lock()
	f.calls = append(f.calls, r.Method+" "+r.URL.Path)
	f.mu.Unlock()
}

func (f *fakeRuntime) find(w http.ResponseWriter, r *http.Request) *api.DetailedRun {
	f.mu.Lock()
	defer f.mu.Unlock()
	run := f.runs[r.PathValue("id")]
	if run == nil || r.PathValue("ws") != fakeWS {
		writeJSON(w, http.StatusNotFound, api.ErrorResponse{StatusCode: 404, Detail: "run not found"})
	}
	return run
}

func (f *fakeRuntime) addRun(id string, n int, st api.RunStatus) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.runs[id] = &api.DetailedRun{Run: api.Run{ID: id, Number: n, Status: st, WorkspaceID: fakeWS}}
}

func (f *fakeRuntime) status(id string) api.RunStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.runs[id].Status
}

func (f *fakeRuntime) callList() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (f *fakeRuntime) connect(_ context.Context, st runState) (deploy.RunCanceller, error) {
	if st.APIURL != f.srv.URL {
		f.t.Errorf("connect to %q, want the saved %q", st.APIURL, f.srv.URL)
	}
	return client.New(client.Options{APIBaseURL: st.APIURL, Token: "rt-jwt",
		Sleep: func(context.Context, time.Duration) error { return nil }}), nil
}

func TestPost(t *testing.T) {
	f := newFakeRuntime(t)
	f.addRun("run-running", 3, api.StatusRunning)
	f.addRun("run-pending", 4, api.StatusPending)
	f.addRun("run-done", 5, api.StatusCompleted)
	f.addRun("run-settled", 6, api.StatusRunning)

	for _, tc := range []struct {
		name       string
		runID      string
		settle     bool
		save       bool
		wantCalls  []string
		wantStatus api.RunStatus
		wantOut    string
	}{
		{"running run is cancelled", "run-running", false, true,
			[]string{"GET /v1/workspaces/ws-1/runs/run-running", "POST /v1/workspaces/ws-1/runs/run-running/cancel"},
			api.StatusCancelling, "::notice title=Run cancelled::The job ended while run run-running (#3) was running: the post step cancelled it (now cancelling)."},
		{"pending run is cancelled", "run-pending", false, true,
			[]string{"GET /v1/workspaces/ws-1/runs/run-pending", "POST /v1/workspaces/ws-1/runs/run-pending/cancel"},
			api.StatusCancelled, "the post step cancelled it (now cancelled)"},
		{"terminal run is left alone", "run-done", false, true,
			[]string{"GET /v1/workspaces/ws-1/runs/run-done"}, api.StatusCompleted, "run run-done is completed, nothing to cancel"},
		{"settled run is left alone", "run-settled", true, true, nil, api.StatusRunning, "no run left to clean up"},
		{"nothing saved", "run-settled", false, false, nil, api.StatusRunning, "no run left to clean up"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.mu.Lock()
			f.calls = nil
			f.mu.Unlock()
			e := withFiles(t, env{})
			main, _ := newAction(t, e)
			if tc.save {
				if ok, err := saveRunState(main, runState{RunID: tc.runID, WorkspaceID: fakeWS, APIURL: f.srv.URL}); !ok || err != nil {
					t.Fatal(ok, err)
				}
			}
			if tc.settle {
				if err := settleRunState(main); err != nil {
					t.Fatal(err)
				}
			}
			pe := env{}
			for k, v := range readFileCommands(t, e["GITHUB_STATE"]) {
				pe["STATE_"+k] = v
			}
			postAction, out := newAction(t, pe)
			if err := post(context.Background(), postAction, f.connect, time.Second); err != nil {
				t.Fatal(err)
			}
			if got := f.callList(); strings.Join(got, "\n") != strings.Join(tc.wantCalls, "\n") {
				t.Errorf("calls = %q, want %q", got, tc.wantCalls)
			}
			if got := f.status(tc.runID); got != tc.wantStatus {
				t.Errorf("run status = %s, want %s", got, tc.wantStatus)
			}
			if !strings.Contains(out.String(), tc.wantOut) {
				t.Errorf("stdout = %q, want %q", out.String(), tc.wantOut)
			}
		})
	}
}

func TestPostRunEndsMeanwhile(t *testing.T) {
	f := newFakeRuntime(t)
	f.addRun("r", 1, api.StatusRunning)
	f.block = make(chan struct{})
	go func() {
		// The run completes between the post step's look and its cancel.
		for len(f.callList()) < 2 {
			time.Sleep(time.Millisecond)
		}
		f.mu.Lock()
		f.runs["r"].Status = api.StatusCompleted
		f.mu.Unlock()
		close(f.block)
	}()
	postAction, _ := newAction(t, env{"STATE_run_id": "r", "STATE_workspace_id": fakeWS, "STATE_api_url": f.srv.URL, "STATE_run_settled": "false"})
	if err := post(context.Background(), postAction, f.connect, 2*time.Second); err != nil {
		t.Fatalf("a run that ended by itself is not a failure: %v", err)
	}
}

// TestCancelDetached: the signal has cancelled ctx already; the run is
// cancelled all the same, and a Runtime that does not answer is given up on
// within the limit.
func TestCancelDetached(t *testing.T) {
	f := newFakeRuntime(t)
	f.addRun("r", 1, api.StatusRunning)
	c, _ := f.connect(context.Background(), runState{APIURL: f.srv.URL})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	run, err := deploy.CancelDetached(ctx, c, fakeWS, "r", time.Second)
	if err != nil || run.Status != api.StatusCancelling {
		t.Fatalf("CancelDetached() = %v, %v; want cancelling", run, err)
	}

	f.block = make(chan struct{})
	defer close(f.block)
	f.addRun("slow", 2, api.StatusRunning)
	start := time.Now()
	_, err = deploy.CancelDetached(ctx, c, fakeWS, "slow", 150*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), `cancel run "slow"`) {
		t.Errorf("err = %v, want the cancel to fail naming the run", err)
	}
	// Not a speed check: without the limit the call would wait for the
	// client's 60s request timeout (the fake never answers). 10s tells the
	// two apart on however busy a machine.
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("CancelDetached took %v, past its limit", d)
	}
}

func TestIsPostStep(t *testing.T) {
	for argv0, want := range map[string]bool{
		"/runtime-action-post": true, "runtime-action-post": true, "/runtime-action": false, "./runtime-action": false,
	} {
		if got := IsPostStep(argv0); got != want {
			t.Errorf("IsPostStep(%q) = %v", argv0, got)
		}
	}
}
