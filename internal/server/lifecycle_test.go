package server

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dlthub/runtime-action/internal/api"
	"github.com/dlthub/runtime-action/internal/dispatch"
	"github.com/dlthub/runtime-action/internal/store/sqlite"
)

func TestDataDirLock(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, err := Open(context.Background(), Config{DataDir: e.dir})
	want := fmt.Sprintf("data dir %q is in use by another runtime-action process (pid %d)", e.dir, os.Getpid())
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("second Open: %v, want %q", err, want)
	}
	// the admin functions work beside the server
	a, err := OpenAdmin(context.Background(), e.dir)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if _, err := a.CreateWorkspace(context.Background(), "beside"); err != nil {
		t.Fatal(err)
	}
}

func TestFirstStart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv, err := Open(context.Background(), Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if !srv.FirstStart() || srv.AdminToken() == "" {
		t.Fatalf("first start %v, token %q", srv.FirstStart(), srv.AdminToken())
	}
	for _, f := range []string{adminTokenFile, keyFile} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v", f, fi.Mode(), err)
		}
	}
	tok := srv.AdminToken()
	ws := srv.DefaultWorkspaceID()
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	srv, err = Open(context.Background(), Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if srv.FirstStart() || srv.AdminToken() != tok || srv.DefaultWorkspaceID() != ws {
		t.Errorf("second start: first %v, token changed %v, workspace %s -> %s", srv.FirstStart(), srv.AdminToken() != tok, ws, srv.DefaultWorkspaceID())
	}
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	req, _ := http.NewRequest("GET", hs.URL+"/v1/me", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Errorf("the admin token after a restart: %d", res.StatusCode)
	}
}

// TestRestartRecovery leaves a run active in the store with a live process
// group of its own, as a killed server would, and opens the data dir again.
// It also checks Close: the active run fails, pending runs stay pending.
func TestRestartRecovery(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	srv, err := Open(ctx, Config{DataDir: dir, MaxConcurrentRuns: 1, CancelGrace: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	e := &testEnv{srv: srv, hs: hs, url: hs.URL, token: srv.AdminToken(), ws: srv.DefaultWorkspaceID(), dir: dir}
	e.deploy(t, map[string]string{"sleep.py": "import time\nprint('up', flush=True)\ntime.sleep(60)\n"}, "sleep.py")
	blocker := e.startRun(t, "sleep.py")
	e.waitRun(t, blocker.ID, 10*time.Second, func(s api.RunStatus) bool { return s == api.StatusRunning })
	orphan := e.startRun(t, "sleep.py")
	pending := e.startRun(t, "sleep.py")
	hs.Close()
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if pids := procsOfRun(t, blocker.ID); len(pids) > 0 {
		t.Errorf("processes of the run left after Close: %v", pids)
	}

	// What a server killed during the orphan's run leaves behind: the run
	// active in the store, with the process group of a live process.
	stray := exec.Command("sleep", "60")
	stray.Env = append(os.Environ(), "RUNTIME__RUN_ID="+orphan.ID)
	ownGroup(stray)
	if err := stray.Start(); err != nil {
		t.Fatal(err)
	}
	strayDone := make(chan error, 1)
	go func() { strayDone <- stray.Wait() }()
	t.Cleanup(func() { stray.Process.Kill() })
	st, err := sqlite.Open(ctx, filepath.Join(dir, dbFile), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := st.ClaimRun(ctx, orphan.ID); !ok || err != nil {
		t.Fatalf("claim: %v %v", ok, err)
	}
	if err := st.AdvanceRun(ctx, orphan.ID, api.StatusRunning); err != nil {
		t.Fatal(err)
	}
	if err := st.SetRunPGID(ctx, orphan.ID, stray.Process.Pid); err != nil {
		t.Fatal(err)
	}
	st.Close()
	os.WriteFile(filepath.Join(dir, logsDir, orphan.ID+".log"), []byte("up\npartial line"), 0o600)

	srv, err = Open(ctx, Config{DataDir: dir, MaxConcurrentRuns: 1, CancelGrace: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	hs = httptest.NewServer(srv.Handler())
	e = &testEnv{srv: srv, hs: hs, url: hs.URL, token: srv.AdminToken(), ws: srv.DefaultWorkspaceID(), dir: dir}
	t.Cleanup(func() { hs.Close(); srv.Close() })

	var got api.DetailedRun
	e.get(t, e.wsPath("/runs/", blocker.ID)).decode(t, &got)
	if got.Status != api.StatusFailed {
		t.Errorf("run active at Close: %s", got.Status)
	}
	e.waitLog(t, blocker.ID, 10*time.Second, "the server stopped")
	e.get(t, e.wsPath("/runs/", orphan.ID)).decode(t, &got)
	if got.Status != api.StatusFailed || got.TimeEnded == nil || got.Duration == nil {
		t.Errorf("orphan run: %+v", got.Run)
	}
	if log := e.waitLog(t, orphan.ID, 10*time.Second, dispatch.RestartLine); log != "up\npartial line\n"+dispatch.RestartLine+"\n" {
		t.Errorf("orphan's log: %q", log)
	}
	select {
	case err := <-strayDone:
		if ee, ok := err.(*exec.ExitError); !ok || ee.ProcessState.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Errorf("the stray process ended with %v, want SIGKILL", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("the stray process of the orphan run is alive")
	}
	// the pending run is dispatched by the new server
	e.waitRun(t, pending.ID, 10*time.Second, func(s api.RunStatus) bool { return s == api.StatusRunning })
}
