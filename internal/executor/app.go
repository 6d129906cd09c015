package executor

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/dlthub/runtime-action/internal/api"
)

// Defaults of interactive runs (apps), used when the field is zero.
const (
	// DefaultReadyTimeout is how long an app may take to listen on its port.
	DefaultReadyTimeout = 30 * time.Second
	// DefaultAppPollInterval is how often a starting app's port is tried.
	DefaultAppPollInterval = 50 * time.Millisecond
)

// marimoSniff is how much of an entry point is read to tell a marimo
// notebook: its imports and App are at the top.
const marimoSniff = 64 << 10

// AppIdleError is the cause to cancel an interactive run's context with when
// its app got no request for Idle. Nothing went wrong, so the run ends
// completed, and its log's last line says why it stopped.
type AppIdleError struct{ Idle time.Duration }

// Error is the log line: "stopped after 1h0m0s without requests".
func (e *AppIdleError) Error() string {
	return fmt.Sprintf("stopped after %s without requests", e.Idle)
}

// appStopped is the result of an app stopped for being idle.
func appStopped(cause error) (Result, bool) {
	var idle *AppIdleError
	if errors.As(cause, &idle) {
		return Result{Status: api.StatusCompleted, ExitCode: -1, Reason: idle.Error()}, true
	}
	return Result{}, false
}

// validateApp checks the fields of an interactive job.
func validateApp(j Job) error {
	if j.Interactive && (j.Port < 1 || j.Port > 65535) {
		return fmt.Errorf("interactive run %q has no port to listen on (got %d): the server allocates one", j.RunID, j.Port)
	}
	return nil
}

// scriptArgs are the interpreter's arguments for j, run in dir: the entry
// point, or for a marimo notebook marimo's own server on j.Port.
func scriptArgs(j Job, dir string) []string {
	if j.Interactive && isMarimo(filepath.Join(dir, j.EntryPoint)) {
		return []string{"-m", "marimo", "run", j.EntryPoint, "--headless", "--host", "127.0.0.1", "--port", strconv.Itoa(j.Port)}
	}
	return []string{j.EntryPoint}
}

// isMarimo reports whether the file at path looks like a marimo notebook:
// it imports marimo or makes a marimo.App in its first 64 KiB.
func isMarimo(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, marimoSniff))
	if err != nil {
		return false
	}
	return bytes.Contains(b, []byte("import marimo")) || bytes.Contains(b, []byte("marimo.App("))
}

// appEnv is what an interactive job adds to the environment: PORT. It goes
// after Job.Env, which cannot change it.
func appEnv(j Job) []string {
	if !j.Interactive {
		return nil
	}
	return []string{"PORT=" + strconv.Itoa(j.Port)}
}

// awaitApp returns once an interactive job's app accepts TCP connections on
// 127.0.0.1:Port (nil), or with the result of a start that did not get there:
// the app exited first, ctx ended, or ReadyTimeout passed. It returns nil at
// once for batch jobs. A leader exit it receives from exited is sent back,
// so that Run still reads it.
func (e *Executor) awaitApp(ctx context.Context, j Job, exited chan leaderExit) *Result {
	if !j.Interactive {
		return nil
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(j.Port))
	limit := cmp.Or(j.ReadyTimeout, DefaultReadyTimeout)
	poll := cmp.Or(e.AppPollInterval, DefaultAppPollInterval)
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	tick := time.NewTicker(poll)
	defer tick.Stop()
	d := net.Dialer{Timeout: poll}
	dial := func() (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) }
	if e.appNet(j) {
		dial = func() (net.Conn, error) {
			c, cancel := context.WithTimeout(ctx, poll)
			defer cancel()
			return DialApp(c, j.AppSocket)
		}
	}
	for {
		if conn, err := dial(); err == nil {
			conn.Close()
			return nil
		}
		select {
		case le := <-exited:
			exited <- le
			r := failed(appExitReason(le, j.Port))
			if le.known && le.exited {
				r.ExitCode = le.code
			}
			return &r
		case <-ctx.Done():
			r := stopped(context.Cause(ctx))
			return &r
		case <-deadline.C:
			r := failed(fmt.Sprintf("app did not listen on port %d within %s", j.Port, limit))
			return &r
		case <-tick.C:
		}
	}
}

// appExitReason says how an app that never listened ended.
func appExitReason(le leaderExit, port int) string {
	switch {
	case le.known && le.exited:
		return fmt.Sprintf("app exited with code %d before listening on port %d", le.code, port)
	case le.known:
		return fmt.Sprintf("app was killed by a signal before listening on port %d", port)
	}
	return fmt.Sprintf("app exited before listening on port %d", port)
}
