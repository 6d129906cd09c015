//go:build unix

package executor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dlthub/runtime-action/internal/api"
)

// appScript is an http.server app on $PORT that answers GET with its PORT
// and argv.
const appScript = `import os, sys, http.server
port = int(os.environ["PORT"])
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = ("port=%d argv=%s" % (port, " ".join(sys.argv[1:]))).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
print("app starting on", port, flush=True)
http.server.HTTPServer(("127.0.0.1", port), H).serve_forever()
`

// freePort is a loopback port nobody listens on right now.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func appJob(t testing.TB, runID, script string, extra map[string]string) Job {
	t.Helper()
	j := newJob(t, runID, script, extra)
	j.Interactive = true
	j.Port = freePort(t)
	j.ReadyTimeout = 10 * time.Second
	return j
}

func httpGet(t testing.TB, url string) string {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestAppRunningOnceListening: an app is reported running only once its
// port accepts connections; the run timeout does not stop it; an idle stop
// ends it completed with its reason as the log's last line.
func TestAppRunningOnceListening(t *testing.T) {
	t.Parallel()
	e := newExecutor(t)
	// A run timeout that has passed as soon as it is armed: were it
	// applied to apps, this one would be stopped at once, before the
	// request below, and would end timed out rather than idle.
	e.Timeout = time.Nanosecond
	// The app waits before it listens, so "running" too early would show.
	j := appJob(t, "app-ok", "import time; time.sleep(0.2)\n"+appScript, nil)
	j.Env = []string{"PORT=1"} // the job's port wins
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	running := make(chan error, 1)
	h := Hooks{OnStatus: func(s api.RunStatus) {
		if s == api.StatusRunning {
			c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(j.Port)))
			if err == nil {
				c.Close()
			}
			running <- err
		}
	}}
	done := make(chan Result, 1)
	go func() { done <- e.Run(ctx, j, h) }()
	select {
	case err := <-running:
		if err != nil {
			t.Fatalf("running reported before the port listened: %v", err)
		}
	case res := <-done:
		t.Fatalf("run ended before running: %+v\n%s", res, readFile(t, j.LogPath))
	}
	if body := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/", j.Port)); body != fmt.Sprintf("port=%d argv=", j.Port) {
		t.Errorf("app answered %q", body)
	}
	cancel(&AppIdleError{Idle: time.Hour})
	res := <-done
	if res.Status != api.StatusCompleted || res.Reason != "stopped after 1h0m0s without requests" {
		t.Errorf("result %+v, want completed, stopped after 1h0m0s without requests", res)
	}
	log := readFile(t, j.LogPath)
	if !strings.Contains(log, "app starting on "+strconv.Itoa(j.Port)) {
		t.Errorf("log lacks the app's output:\n%s", log)
	}
	if got := lastLine(log); got != "stopped after 1h0m0s without requests" {
		t.Errorf("last log line %q", got)
	}
}

// TestAppDoesNotStart: an app that exits before listening fails with its
// output in the log, one that never listens fails after ReadyTimeout, and
// one cancelled while starting is cancelled; none is ever running.
func TestAppDoesNotStart(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		script   string
		ready    time.Duration
		cancel   error // cause to cancel with once started
		status   api.RunStatus
		exitCode int
		logHas   string
		lastLine string // %d is the port
	}{
		{name: "exits at once", script: "import sys\nprint('missing dependency: streamlit', file=sys.stderr)\nsys.exit(3)\n",
			ready: 10 * time.Second, status: api.StatusFailed, exitCode: 3, logHas: "missing dependency: streamlit",
			lastLine: "app exited with code 3 before listening on port %d"},
		{name: "exits 0 without listening", script: "print('nothing to serve')\n",
			ready: 10 * time.Second, status: api.StatusFailed, exitCode: 0, logHas: "nothing to serve",
			lastLine: "app exited with code 0 before listening on port %d"},
		{name: "never listens", script: "import time\nprint('thinking', flush=True)\ntime.sleep(60)\n",
			// (no output expected: on a loaded machine the interpreter may
			// not get to its print in time)
			ready: 500 * time.Millisecond, status: api.StatusFailed, exitCode: -1,
			lastLine: "app did not listen on port %d within 500ms"},
		{name: "cancelled while starting", script: "import time\nprint('up', flush=True)\ntime.sleep(60)\n",
			ready: 10 * time.Second, cancel: ErrCancelled, status: api.StatusCancelled, exitCode: -1,
			logHas: "up", lastLine: "run cancelled"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newExecutor(t)
			j := appJob(t, "app-bad-"+strconv.Itoa(i), tt.script, nil)
			j.ReadyTimeout = tt.ready
			rec := newRecorder()
			ctx, cancel := context.WithCancelCause(context.Background())
			defer cancel(nil)
			if tt.cancel != nil {
				go func() {
					<-rec.started
					// Cancel once the app's process is up (it says so),
					// still not listening.
					if !logHolds(j.LogPath, "up", 10*time.Second) {
						t.Error("the app never said it was up")
					}
					cancel(tt.cancel)
				}()
			}
			res := e.Run(ctx, j, rec.hooks())
			want := tt.lastLine
			if strings.Contains(want, "%d") {
				want = fmt.Sprintf(want, j.Port)
			}
			if res.Status != tt.status || res.ExitCode != tt.exitCode || res.Reason != want {
				t.Errorf("result %+v, want %s, exit %d, %q", res, tt.status, tt.exitCode, want)
			}
			log := readFile(t, j.LogPath)
			if !strings.Contains(log, tt.logHas) || lastLine(log) != want {
				t.Errorf("log:\n%s\nwant %q and last line %q", log, tt.logHas, want)
			}
			statuses, pgids := rec.seen()
			if slices.Contains(statuses, api.StatusRunning) {
				t.Errorf("statuses %v: an app that never listened was running", statuses)
			}
			for _, pg := range pgids {
				assertGroupGone(t, pg)
			}
		})
	}
}

// TestAppNeedsPort: an interactive job without a port fails before it starts.
func TestAppNeedsPort(t *testing.T) {
	t.Parallel()
	e := newExecutor(t)
	j := newJob(t, "app-noport", appScript, nil)
	j.Interactive = true
	rec := newRecorder()
	res := e.Run(context.Background(), j, rec.hooks())
	if res.Status != api.StatusFailed || !strings.Contains(res.Reason, "has no port") {
		t.Errorf("result %+v", res)
	}
	if _, pgids := rec.seen(); len(pgids) != 0 {
		t.Errorf("a process was started: %v", pgids)
	}
}

// TestMarimoCommand: a marimo notebook is run with marimo's own server on
// the job's port. The deployment carries a stand-in marimo package, which
// python -m finds in the run folder.
func TestMarimoCommand(t *testing.T) {
	t.Parallel()
	e := newExecutor(t)
	// python -m marimo run ... --port N: serve server.py on N, with that argv.
	fake := `import os, sys
os.environ["PORT"] = sys.argv[sys.argv.index("--port") + 1]
exec(open("server.py").read())
`
	j := appJob(t, "app-marimo", "import marimo\n\napp = marimo.App()\n", map[string]string{
		"marimo/__init__.py": "class App:\n    pass\n",
		"marimo/__main__.py": fake,
		"server.py":          appScript,
	})
	j.Env = nil
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	ready := make(chan struct{})
	done := make(chan Result, 1)
	go func() {
		done <- e.Run(ctx, j, Hooks{OnStatus: func(s api.RunStatus) {
			if s == api.StatusRunning {
				close(ready)
			}
		}})
	}()
	select {
	case <-ready:
	case res := <-done:
		t.Fatalf("ended: %+v\n%s", res, readFile(t, j.LogPath))
	}
	want := fmt.Sprintf("port=%d argv=run main.py --headless --host 127.0.0.1 --port %d", j.Port, j.Port)
	if body := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/", j.Port)); body != want {
		t.Errorf("marimo stand-in answered %q, want %q", body, want)
	}
	cancel(ErrCancelled)
	if res := <-done; res.Status != api.StatusCancelled {
		t.Errorf("result %+v", res)
	}
}

func TestScriptArgs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	files := map[string]string{
		"nb.py":        "import marimo\n\n__generated_with = \"0.9\"\napp = marimo.App(width=\"medium\")\n",
		"nb_as.py":     "import marimo as mo\n",
		"nb_app.py":    "from x import marimo\napp = marimo.App()\n",
		"plain.py":     "import http.server\n",
		"late.py":      strings.Repeat("#\n", 40<<10) + "import marimo\n", // past 64 KiB
		"sub/nb.py":    "import marimo\n",
		"streamlit.py": "import streamlit as st\n",
	}
	for p, c := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, p), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	marimo := func(entry string) []string {
		return []string{"-m", "marimo", "run", entry, "--headless", "--host", "127.0.0.1", "--port", "4242"}
	}
	tests := []struct {
		entry       string
		interactive bool
		want        []string
	}{
		{"nb.py", true, marimo("nb.py")},
		{"nb_as.py", true, marimo("nb_as.py")},
		{"nb_app.py", true, marimo("nb_app.py")},
		{"sub/nb.py", true, marimo("sub/nb.py")},
		{"nb.py", false, []string{"nb.py"}}, // a batch run of a notebook runs it as a script
		{"plain.py", true, []string{"plain.py"}},
		{"streamlit.py", true, []string{"streamlit.py"}},
		{"late.py", true, []string{"late.py"}},
		{"missing.py", true, []string{"missing.py"}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%v", tt.entry, tt.interactive), func(t *testing.T) {
			got := scriptArgs(Job{EntryPoint: tt.entry, Interactive: tt.interactive, Port: 4242}, dir)
			if !slices.Equal(got, tt.want) {
				t.Errorf("scriptArgs = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestAppIdleErrorIsCompleted(t *testing.T) {
	t.Parallel()
	cause := fmt.Errorf("stop: %w", &AppIdleError{Idle: 90 * time.Minute})
	r := stopped(cause)
	if r.Status != api.StatusCompleted || r.Reason != "stopped after 1h30m0s without requests" {
		t.Errorf("stopped(%v) = %+v", cause, r)
	}
	if r := stopped(errors.New("the server stopped")); r.Status != api.StatusFailed {
		t.Errorf("other causes fail: %+v", r)
	}
}
