package server

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/dlthub/runtime-action/internal/api"
	"github.com/dlthub/runtime-action/internal/dispatch"
)

// binDir is the folder binary builds into, nil until a test asked for it.
var binDir atomic.Pointer[string]

// binary builds the runtime-action binary once for the tests that run
// `serve` as a process of its own.
var binary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "runtime-action-test-bin")
	if err != nil {
		return "", err
	}
	binDir.Store(&dir)
	bin := filepath.Join(dir, "runtime-action")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/dlthub/runtime-action").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// TestMain removes the binary's folder, whether the build worked or not;
// it builds nothing when no test needed the binary (a -run that picks none
// of them).
func TestMain(m *testing.M) {
	code := m.Run()
	if dir := binDir.Load(); dir != nil {
		os.RemoveAll(*dir)
	}
	os.Exit(code)
}

// serveProcess starts `runtime-action serve` on a free port and returns it
// with its URL once it listens.
func serveProcess(t *testing.T, dataDir string, args ...string) (*exec.Cmd, string) {
	t.Helper()
	return serveWithEnv(t, dataDir, nil, args...)
}

// serveWithEnv starts serve as serveProcess does, with env added to its
// environment; when serve ends before it listens, the test fails with what
// it printed.
func serveWithEnv(t *testing.T, dataDir string, env []string, args ...string) (*exec.Cmd, string) {
	t.Helper()
	bin, err := binary()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, append([]string{"serve", "--addr", "127.0.0.1:0", "--data-dir", dataDir}, args...)...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// What serve prints once it listens (its errors: a dropped client, a
	// run that failed to start) is kept, its last 64 KiB, and shown when
	// the test fails.
	tail := &tailBuffer{max: 64 << 10}
	copied := make(chan struct{})
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		<-copied
		if t.Failed() {
			t.Logf("serve printed:\n%s", tail.String())
		}
	})
	urlc := make(chan string, 1)
	var said strings.Builder
	go func() {
		defer close(copied)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			said.WriteString(sc.Text() + "\n")
			if rest, ok := strings.CutPrefix(sc.Text(), "Runtime API at "); ok {
				url, _, _ := strings.Cut(rest, ",")
				urlc <- url
				break
			}
		}
		close(urlc)
		io.Copy(tail, stderr)
	}()
	select {
	case url, ok := <-urlc:
		if !ok {
			t.Fatalf("serve ended: %s", said.String())
		}
		return cmd, url
	case <-time.After(60 * time.Second):
		t.Fatal("serve did not say where it listens")
	}
	return nil, ""
}

// serveProcessEnv starts serve as serveProcess does and returns a testEnv
// on its default workspace, with the admin token it wrote.
func serveProcessEnv(t *testing.T, dir string, args ...string) (*exec.Cmd, *testEnv) {
	t.Helper()
	cmd, url := serveProcess(t, dir, args...)
	tok, err := os.ReadFile(filepath.Join(dir, adminTokenFile))
	if err != nil {
		t.Fatal(err)
	}
	e := &testEnv{url: url, token: strings.TrimSpace(string(tok)), dir: dir}
	var me api.Me
	e.get(t, "/v1/me").decode(t, &me)
	e.ws = me.DefaultWorkspace.ID
	return cmd, e
}

// TestKilledServerRestart kills -9 a serve process during a run whose script
// started a child, starts serve again on the same data dir, and finds the
// run failed with the restart line and no process of it left.
func TestKilledServerRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// Unsandboxed: a sandbox takes every process of its run down with
	// the server (TestSandboxAttack).
	cmd, e := serveProcessEnv(t, dir, "--sandbox", "none")
	e.deploy(t, map[string]string{"stubborn.py": stubbornScript}, "stubborn.py")
	run := e.startRun(t, "stubborn.py")
	e.waitLog(t, run.ID, 10*time.Second, "parent up", "child up")
	if pids := procsOfRun(t, run.ID); len(pids) != 2 {
		t.Fatalf("processes of the run: %v", pids)
	}

	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	// the direct child dies with the server (Pdeathsig); its own child,
	// which ignores SIGTERM, is left behind
	if pids := procsOfRun(t, run.ID); len(pids) == 0 {
		t.Fatal("no process of the run outlived the server: nothing left for the restart to clean up")
	}

	_, e.url = serveProcess(t, dir, "--sandbox", "none")
	var got api.DetailedRun
	e.get(t, e.wsPath("/runs/", run.ID)).decode(t, &got)
	if got.Status != api.StatusFailed || got.TimeEnded == nil {
		t.Errorf("run after the restart: %s", got.Status)
	}
	log := e.waitLog(t, run.ID, 10*time.Second, dispatch.RestartLine)
	if !strings.HasSuffix(log, dispatch.RestartLine+"\n") {
		t.Errorf("the restart line is not last: %q", log)
	}
	if pids := procsOfRun(t, run.ID); len(pids) > 0 {
		t.Errorf("processes of the run left after the restart: %v", pids)
	}
	var list api.Page[api.Run]
	e.get(t, e.wsPath("/runs?status=running")).decode(t, &list)
	if list.Total != 0 {
		t.Errorf("%d runs still running", list.Total)
	}
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

// Write appends p, dropping the oldest bytes beyond max.
func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
