//go:build unix

package executor

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dlthub/runtime-action/internal/api"
)

// recorder records what the hooks report.
type recorder struct {
	mu       sync.Mutex
	statuses []api.RunStatus
	pgids    []int
	started  chan int // gets the pgid
}

func newRecorder() *recorder { return &recorder{started: make(chan int, 1)} }

func (r *recorder) hooks() Hooks {
	return Hooks{
		OnStatus: func(s api.RunStatus) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.statuses = append(r.statuses, s)
		},
		OnStarted: func(pgid int) {
			r.mu.Lock()
			r.pgids = append(r.pgids, pgid)
			r.mu.Unlock()
			r.started <- pgid
		},
	}
}

func (r *recorder) seen() ([]api.RunStatus, []int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.statuses), slices.Clone(r.pgids)
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	return lines[len(lines)-1]
}

// waitForLog polls the log at path until it holds want.
func waitForLog(t testing.TB, path, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if b, _ := os.ReadFile(path); strings.Contains(string(b), want) {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("log %s never held %q", path, want)
}

// logHolds polls the log at path until it holds want (true), or timeout
// passed (false). Unlike waitForLog it may be called from any goroutine.
func logHolds(path, want string, timeout time.Duration) bool {
	return waitFor(timeout, func() bool {
		b, _ := os.ReadFile(path)
		return strings.Contains(string(b), want)
	})
}

// waitFor polls cond until it is true (true), or timeout passed (false).
func waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}

// realPython is the interpreter python3 stands for: a wrapper like pyenv's
// shim adds variables of its own to the environment, and takes time.
func realPython(t testing.TB) string {
	t.Helper()
	out, err := exec.Command("python3", "-c", "import sys; print(sys.executable)").Output()
	if err != nil {
		t.Fatalf("find python3: %v", err)
	}
	return strings.TrimSpace(string(out))
}
