package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dlthub/runtime-action/internal/api"
)

// sse writes events the way the contract describes the stream extension.
type sse struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

func startSSE(w http.ResponseWriter) *sse {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(200)
	s := &sse{w: w, rc: http.NewResponseController(w)}
	s.flush()
	return s
}

func (s *sse) flush() { s.rc.Flush() }

// log sends a chunk ending at byte offset end, one data line per line.
func (s *sse) log(text string, end int) {
	var b strings.Builder
	fmt.Fprintf(&b, "event: log\nid: %d\n", end)
	for _, line := range strings.Split(text, "\n") {
		b.WriteString("data: " + line + "\n")
	}
	b.WriteString("\n")
	s.w.Write([]byte(b.String()))
	s.flush()
}

func (s *sse) status(data string) {
	fmt.Fprintf(s.w, ": a comment\nevent: status\ndata: %s\n\n", data)
	s.flush()
}

// drop cuts the connection in the middle of the stream.
func (s *sse) drop() { panic(http.ErrAbortHandler) }

// resumeOffset is where a reconnecting client asks the stream to resume.
func resumeOffset(t *testing.T, r *http.Request) (header string, query string) {
	t.Helper()
	return r.Header.Get("Last-Event-ID"), r.URL.Query().Get("offset")
}

// recorder collects what Follow hands out.
type recorder struct {
	mu       sync.Mutex
	logs     []string
	statuses []api.RunStatus
}

func (r *recorder) handler() FollowHandler {
	return FollowHandler{
		OnLog: func(text string) { r.mu.Lock(); r.logs = append(r.logs, text); r.mu.Unlock() },
		OnStatus: func(run *api.DetailedRun) {
			r.mu.Lock()
			r.statuses = append(r.statuses, run.Status)
			r.mu.Unlock()
		},
	}
}

func (r *recorder) text() string { return strings.Join(r.logs, "") }

func TestFollowStream(t *testing.T) {
	chunks := []string{"starting\n", "a\nb\n\n", "ünïcode ✓\n", "no newline", " end\n"}
	full := strings.Join(chunks, "")
	ends := make([]int, len(chunks))
	n := 0
	for i, c := range chunks {
		n += len(c)
		ends[i] = n
	}
	// sendFrom sends the chunks after byte offset from, starting with the
	// part of a chunk that holds it.
	sendFrom := func(s *sse, from, upto int) {
		for i := range upto {
			start := ends[i] - len(chunks[i])
			if ends[i] <= from {
				continue
			}
			text := chunks[i]
			if start < from {
				text = text[from-start:]
			}
			s.log(text, ends[i])
		}
	}
	tests := []struct {
		name string
		// conn answers the stream's n-th connection (from 1).
		conn         func(t *testing.T, f *fakeRuntime, runID string, n int, w http.ResponseWriter, r *http.Request)
		wantConns    int
		wantStatuses []api.RunStatus
	}{
		{
			name: "dropped and resumed by Last-Event-ID",
			conn: func(t *testing.T, f *fakeRuntime, runID string, n int, w http.ResponseWriter, r *http.Request) {
				switch n {
				case 1:
					if h, q := resumeOffset(t, r); h != "" || q != "" {
						t.Errorf("first connection asked to resume at %q/%q", h, q)
					}
					s := startSSE(w)
					s.status("running")
					sendFrom(s, 0, 2)
					s.drop()
				case 2:
					h, q := resumeOffset(t, r)
					if want := strconv.Itoa(ends[1]); h != want || q != want {
						t.Errorf("resumed at Last-Event-ID %q, offset %q; want %s", h, q, want)
					}
					from, _ := strconv.Atoi(h)
					s := startSSE(w)
					s.status("running") // repeated: must not be reported again
					sendFrom(s, from, len(chunks))
					f.setRun(runID, api.StatusCompleted, full)
					s.status("completed")
				}
			},
			wantConns: 2, wantStatuses: []api.RunStatus{api.StatusPending, api.StatusRunning, api.StatusCompleted},
		},
		{
			name: "server that resends from the start after a drop: nothing repeated",
			conn: func(t *testing.T, f *fakeRuntime, runID string, n int, w http.ResponseWriter, r *http.Request) {
				s := startSSE(w)
				switch n {
				case 1:
					sendFrom(s, 0, 3)
					s.drop()
				case 2:
					// Ignores the resume point, and chunks differently.
					s.log(full[:4], 4)
					s.log(full[4:ends[3]-3], ends[3]-3)
					s.status(`{"status":"finalizing"}`)
					s.log(full[ends[3]-3:], len(full))
					f.setRun(runID, api.StatusFailed, full)
					s.status(`"failed"`)
				}
			},
			wantConns: 2, wantStatuses: []api.RunStatus{api.StatusPending, api.StatusFinalizing, api.StatusFailed},
		},
		{
			name: "stream ends at terminal before the last text: the final read delivers it",
			conn: func(t *testing.T, f *fakeRuntime, runID string, n int, w http.ResponseWriter, r *http.Request) {
				s := startSSE(w)
				sendFrom(s, 0, 3)
				f.setRun(runID, api.StatusCompleted, full)
				run, _ := f.run(runID)
				b, _ := json.Marshal(run)
				s.status(string(b))
			},
			wantConns: 1, wantStatuses: []api.RunStatus{api.StatusPending, api.StatusCompleted},
		},
		{
			name: "stream skips ahead: the gap is filled from the whole log",
			conn: func(t *testing.T, f *fakeRuntime, runID string, n int, w http.ResponseWriter, r *http.Request) {
				s := startSSE(w)
				f.setRun(runID, api.StatusRunning, full[:ends[2]])
				s.status("running")
				s.log(chunks[0], ends[0])
				s.log(chunks[2], ends[2]) // chunk 1 never sent
				f.setRun(runID, api.StatusCompleted, full)
				s.log(full[ends[2]:], len(full))
				s.status("completed")
			},
			wantConns: 1, wantStatuses: []api.RunStatus{api.StatusPending, api.StatusRunning, api.StatusCompleted},
		},
		{
			name: "stream closes without a status while the run goes on, then it ends",
			conn: func(t *testing.T, f *fakeRuntime, runID string, n int, w http.ResponseWriter, r *http.Request) {
				s := startSSE(w)
				switch n {
				case 1:
					f.setRun(runID, api.StatusRunning, full[:ends[1]])
					sendFrom(s, 0, 2)
				case 2:
					f.setRun(runID, api.StatusCompleted, full)
					from, _ := strconv.Atoi(r.Header.Get("Last-Event-ID"))
					sendFrom(s, from, len(chunks))
				}
			},
			wantConns: 2, wantStatuses: []api.RunStatus{api.StatusPending, api.StatusRunning, api.StatusCompleted},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			run := f.createRun(nil)
			var mu sync.Mutex
			conns := 0
			f.inject = func(w http.ResponseWriter, r *http.Request) bool {
				if r.URL.Path != "/v1/workspaces/ws-0001/runs/"+run.ID+"/logs/stream" {
					return false
				}
				if r.Header.Get("Accept") != "text/event-stream" || r.Header.Get("Authorization") != "Bearer "+testToken {
					t.Errorf("stream request headers: %v", r.Header)
				}
				mu.Lock()
				conns++
				n := conns
				mu.Unlock()
				tt.conn(t, f, run.ID, n, w, r)
				return true
			}
			c, _ := newTestClient(t, f.srv.URL)
			rec := &recorder{}
			final, err := c.Follow(context.Background(), testWS, run.ID, rec.handler())
			if err != nil {
				t.Fatalf("Follow: %v", err)
			}
			if !final.Status.Terminal() || final.ID != run.ID {
				t.Fatalf("final run = %s %s", final.ID, final.Status)
			}
			if got := rec.text(); got != full {
				t.Errorf("log delivered = %q\nwant %q", got, full)
			}
			if !reflect.DeepEqual(rec.statuses, tt.wantStatuses) {
				t.Errorf("statuses = %v, want %v", rec.statuses, tt.wantStatuses)
			}
			if conns != tt.wantConns {
				t.Errorf("stream connections = %d, want %d", conns, tt.wantConns)
			}
		})
	}
}

func TestFollowPollFallback(t *testing.T) {
	// Each GET of the logs moves the run one step on.
	steps := []struct {
		status api.RunStatus
		log    string
	}{
		{api.StatusStarting, ""},
		{api.StatusRunning, "a\n"},
		{api.StatusRunning, "a\nb"},
		{api.StatusRunning, "a\nb"},
		{api.StatusRunning, "a\nb\nc\n"},
		{api.StatusCompleted, "a\nb\nc\nd\n"},
	}
	tests := []struct {
		name   string
		stream func(w http.ResponseWriter)
	}{
		{"404 from a server without the route", nil},
		{"405", func(w http.ResponseWriter) { writeErr(w, 405, "Method Not Allowed") }},
		{"200 that is not an event stream", func(w http.ResponseWriter) { writeJSON(w, 200, map[string]string{"hello": "x"}) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			run := f.createRun(nil)
			var mu sync.Mutex
			polls := 0
			f.inject = func(w http.ResponseWriter, r *http.Request) bool {
				switch r.URL.Path {
				case "/v1/workspaces/ws-0001/runs/" + run.ID + "/logs/stream":
					if tt.stream != nil {
						tt.stream(w)
						return true
					}
				case "/v1/workspaces/ws-0001/runs/" + run.ID + "/logs":
					mu.Lock()
					st := steps[min(polls, len(steps)-1)]
					polls++
					mu.Unlock()
					f.setRun(run.ID, st.status, st.log)
				}
				return false
			}
			c, clk := newTestClient(t, f.srv.URL, func(o *Options) { o.PollInterval = 3 * time.Second })
			rec := &recorder{}
			final, err := c.Follow(context.Background(), testWS, run.ID, rec.handler())
			if err != nil {
				t.Fatalf("Follow: %v", err)
			}
			if final.Status != api.StatusCompleted {
				t.Fatalf("final status = %s", final.Status)
			}
			if want := []string{"a\n", "b", "\nc\n", "d\n"}; !reflect.DeepEqual(rec.logs, want) {
				t.Errorf("log pieces = %q, want %q", rec.logs, want)
			}
			want := []api.RunStatus{api.StatusPending, api.StatusStarting, api.StatusRunning, api.StatusCompleted}
			if !reflect.DeepEqual(rec.statuses, want) {
				t.Errorf("statuses = %v, want %v", rec.statuses, want)
			}
			for _, d := range clk.slept() {
				if d != 3*time.Second {
					t.Errorf("slept %s between polls, want the poll interval", d)
				}
			}
			if n := f.countCalls("GET /v1/workspaces/ws-0001/runs/" + run.ID + "/logs/stream"); n != 1 {
				t.Errorf("stream asked %d times, want once", n)
			}
		})
	}
}

func TestFollowErrors(t *testing.T) {
	t.Run("unknown run", func(t *testing.T) {
		f := newFake(t)
		c, _ := newTestClient(t, f.srv.URL)
		_, err := c.Follow(context.Background(), testWS, "run-404", FollowHandler{})
		if !IsNotFound(err) {
			t.Fatalf("Follow error = %v, want not found", err)
		}
	})
	t.Run("stream refuses the token", func(t *testing.T) {
		f := newFake(t)
		run := f.createRun(nil)
		f.inject = func(w http.ResponseWriter, r *http.Request) bool {
			if strings.HasSuffix(r.URL.Path, "/logs/stream") {
				writeErr(w, 401, "token expired")
				return true
			}
			return false
		}
		c, _ := newTestClient(t, f.srv.URL)
		final, err := c.Follow(context.Background(), testWS, run.ID, FollowHandler{})
		if !IsStatus(err, 401) || final == nil || final.ID != run.ID {
			t.Fatalf("Follow = %v, %v; want the run and a 401", final, err)
		}
	})
	t.Run("context ends while polling", func(t *testing.T) {
		f := newFake(t)
		run := f.createRun(nil)
		ctx, cancel := context.WithCancel(context.Background())
		polls := 0
		c, _ := newTestClient(t, f.srv.URL, func(o *Options) {
			o.Sleep = func(ctx context.Context, d time.Duration) error {
				polls++
				if polls == 3 {
					cancel()
				}
				return ctx.Err()
			}
		})
		final, err := c.Follow(ctx, testWS, run.ID, FollowHandler{})
		if err != context.Canceled || final == nil || final.Status != api.StatusPending {
			t.Fatalf("Follow = %v, %v; want the pending run and context.Canceled", final, err)
		}
	})
	t.Run("already terminal: whole log at once", func(t *testing.T) {
		f := newFake(t)
		run := f.createRun(nil)
		f.setRun(run.ID, api.StatusFailed, "boom\n")
		c, _ := newTestClient(t, f.srv.URL)
		rec := &recorder{}
		final, err := c.Follow(context.Background(), testWS, run.ID, rec.handler())
		if err != nil || final.Status != api.StatusFailed || rec.text() != "boom\n" || len(rec.statuses) != 1 {
			t.Fatalf("Follow = %v, %v; log %q, statuses %v", final, err, rec.text(), rec.statuses)
		}
		if n := f.countCalls("GET /v1/workspaces/ws-0001/runs/" + run.ID + "/logs/stream"); n != 0 {
			t.Fatalf("opened the stream of an ended run")
		}
	})
}

func TestFollowIdleStreamIsResumed(t *testing.T) {
	f := newFake(t)
	run := f.createRun(nil)
	var mu sync.Mutex
	conns := 0
	f.inject = func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.HasSuffix(r.URL.Path, "/logs/stream") {
			return false
		}
		mu.Lock()
		conns++
		n := conns
		mu.Unlock()
		s := startSSE(w)
		if n == 1 {
			s.log("first\n", 6)
			<-r.Context().Done() // then silence, as a dead connection would be
			return true
		}
		if r.Header.Get("Last-Event-ID") != "6" {
			t.Errorf("Last-Event-ID = %q, want 6", r.Header.Get("Last-Event-ID"))
		}
		f.setRun(run.ID, api.StatusCompleted, "first\nsecond\n")
		s.log("second\n", 13)
		s.status("completed")
		return true
	}
	// The idle timer runs from the request on: it must outlast connecting and
	// the first event on a loaded machine, or the first connection is given
	// up before "first" arrives and the next one has no Last-Event-ID.
	c, _ := newTestClient(t, f.srv.URL, func(o *Options) { o.StreamIdleTimeout = 300 * time.Millisecond })
	rec := &recorder{}
	final, err := c.Follow(context.Background(), testWS, run.ID, rec.handler())
	if err != nil || final.Status != api.StatusCompleted || rec.text() != "first\nsecond\n" {
		t.Fatalf("Follow = %v, %v; log %q", final, err, rec.text())
	}
}
