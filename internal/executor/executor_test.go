//go:build unix

package executor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dlthub/runtime-action/internal/api"
)

// assertGroupGone checks that no process of group pgid exists, zombies
// included.
func assertGroupGone(t testing.TB, pgid int) {
	t.Helper()
	if err := syscall.Kill(-pgid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("process group %d: kill(-pgid, 0) = %v, want ESRCH", pgid, err)
	}
}

func TestRunCompleted(t *testing.T) {
	t.Setenv("RUNTIME__AUTH_TOKEN", "server-secret-token")
	t.Setenv("SERVER_ONLY", "x")
	e := newExecutor(t)
	// The environment the script sees is checked entirely: no wrapper.
	e.Python = realPython(t)
	script := `import os, sys
print("out1")
print("err1", file=sys.stderr)
print("out2")
sys.stderr.write("err2\n")
print("profile=" + repr(open(".dlt/profile-name").read()))
print("workspace=" + repr(open(".dlt/.workspace").read()))
print("cwd=" + os.getcwd())
print("helper=" + open("helpers/util.txt").read())
print("secrets=" + open(".dlt/secrets.toml").read().strip())
for name in ["secrets.toml", "config.toml", "prod.secrets.toml", "extra/dev.config.toml"]:
    print(name + " mode=" + oct(os.stat(".dlt/" + name).st_mode & 0o777))
for k in ["RUNTIME__RUN_ID", "RUNTIME__WORKSPACE_ID", "RUNTIME__PROFILE", "PYTHONUNBUFFERED", "MY_VAR", "RUNTIME__AUTH_TOKEN", "SERVER_ONLY"]:
    print(k + "=" + os.environ.get(k, "<unset>"))
allowed = {"PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "PYTHONUNBUFFERED", "MY_VAR",
           "RUNTIME__RUN_ID", "RUNTIME__WORKSPACE_ID", "RUNTIME__PROFILE"}
print("unexpected env=" + repr(sorted(set(os.environ) - allowed)))
`
	j := newJob(t, "run-ok", script, map[string]string{"helpers/util.txt": "util"})
	j.Configuration = writePackage(t, map[string]string{
		"config.toml":           "[runtime]\n",
		"secrets.toml":          "token = \"abc\"\n",
		"prod.secrets.toml":     "x = 1\n",
		"extra/dev.config.toml": "y = 2\n",
	})
	// The run's identity cannot be overridden by the job's variables.
	j.Env = []string{"MY_VAR=hello", "RUNTIME__RUN_ID=evil"}
	if err := os.WriteFile(j.LogPath, []byte("earlier line\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()

	res := e.Run(context.Background(), j, rec.hooks())

	if want := (Result{Status: api.StatusCompleted}); res != want {
		t.Fatalf("Run = %+v, want %+v", res, want)
	}
	runDir := filepath.Join(e.RunsDir, j.RunID)
	want := `earlier line
out1
err1
out2
err2
profile='prod\n'
workspace=''
cwd=` + runDir + `
helper=util
secrets=token = "abc"
secrets.toml mode=0o600
config.toml mode=0o644
prod.secrets.toml mode=0o600
extra/dev.config.toml mode=0o644
RUNTIME__RUN_ID=run-ok
RUNTIME__WORKSPACE_ID=ws-1
RUNTIME__PROFILE=prod
PYTHONUNBUFFERED=1
MY_VAR=hello
RUNTIME__AUTH_TOKEN=<unset>
SERVER_ONLY=<unset>
unexpected env=[]
`
	if got := readFile(t, j.LogPath); got != want {
		t.Errorf("log:\n%s\nwant:\n%s", got, want)
	}
	statuses, pgids := rec.seen()
	if w := []api.RunStatus{api.StatusStarting, api.StatusRunning, api.StatusFinalizing}; !slices.Equal(statuses, w) {
		t.Errorf("statuses = %v, want %v", statuses, w)
	}
	if len(pgids) != 1 || pgids[0] <= 1 {
		t.Fatalf("OnStarted got %v, want one process group id", pgids)
	}
	assertGroupGone(t, pgids[0])
	if _, err := os.Stat(runDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("run folder left behind: stat = %v", err)
	}
}

func TestRunKeepDirs(t *testing.T) {
	e := newExecutor(t)
	e.KeepDirs = true
	j := newJob(t, "run-keep", "print('hi')\n", nil)
	res := e.Run(context.Background(), j, Hooks{})
	if res.Status != api.StatusCompleted {
		t.Fatalf("Run = %+v, want completed", res)
	}
	if got := readFile(t, filepath.Join(e.RunsDir, j.RunID, ".dlt", "profile-name")); got != "prod\n" {
		t.Errorf("profile-name = %q, want %q", got, "prod\n")
	}
	if got := readFile(t, filepath.Join(e.RunsDir, j.RunID, "main.py")); got != "print('hi')\n" {
		t.Errorf("main.py = %q", got)
	}
}

func TestRunFails(t *testing.T) {
	notGzip := filepath.Join(t.TempDir(), "bad.tar.gz")
	if err := os.WriteFile(notGzip, []byte("not a package"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		change     func(*Executor, *Job)
		script     string
		wantCode   int
		wantReason string // exact, or a prefix when it ends with "*"
		wantLog    string // whole log, when set
		wantStart  bool
	}{
		{
			name:       "exit code 3",
			script:     "import sys\nsys.stdout.write('partial')\nsys.exit(3)\n",
			wantCode:   3,
			wantReason: "process exited with code 3",
			wantLog:    "partial\nprocess exited with code 3\n",
			wantStart:  true,
		},
		{
			name:       "killed by a signal",
			script:     "import os, signal\nprint('bye')\nos.kill(os.getpid(), signal.SIGKILL)\n",
			wantCode:   -1,
			wantReason: "process killed by signal killed",
			wantLog:    "bye\nprocess killed by signal killed\n",
			wantStart:  true,
		},
		{
			name:       "missing entry point",
			change:     func(_ *Executor, j *Job) { j.EntryPoint = "x.py" },
			wantCode:   -1,
			wantReason: `entry point "x.py" not found in the deployment`,
			wantLog:    "entry point \"x.py\" not found in the deployment\n",
		},
		{
			name:       "entry point is a folder",
			change:     func(_ *Executor, j *Job) { j.EntryPoint = "pkg" },
			wantCode:   -1,
			wantReason: `entry point "pkg" not found in the deployment`,
		},
		{
			name:       "entry point outside the deployment",
			change:     func(_ *Executor, j *Job) { j.EntryPoint = "../main.py" },
			wantCode:   -1,
			wantReason: `entry point "../main.py" is not a relative path inside the deployment`,
		},
		{
			name:       "python missing",
			change:     func(e *Executor, _ *Job) { e.Python = "/nonexistent/python3" },
			wantCode:   -1,
			wantReason: "start /nonexistent/python3: fork/exec /nonexistent/python3: no such file or directory",
		},
		{
			name:       "deployment not a package",
			change:     func(_ *Executor, j *Job) { j.Deployment = notGzip },
			wantCode:   -1,
			wantReason: "extract deployment: *",
		},
		{
			name:       "deployment missing",
			change:     func(_ *Executor, j *Job) { j.Deployment = "/nonexistent/dep.tar.gz" },
			wantCode:   -1,
			wantReason: "extract deployment: open /nonexistent/dep.tar.gz: no such file or directory",
		},
		{
			name:       "configuration not a package",
			change:     func(_ *Executor, j *Job) { j.Configuration = notGzip },
			wantCode:   -1,
			wantReason: "extract configuration: *",
		},
		{
			name:       "invalid profile",
			change:     func(_ *Executor, j *Job) { j.Profile = "../x" },
			wantCode:   -1,
			wantReason: `invalid profile "../x"`,
		},
		{
			name:       "invalid run id",
			change:     func(_ *Executor, j *Job) { j.RunID = ".." },
			wantCode:   -1,
			wantReason: `invalid run id "..": it must be usable as a folder name`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newExecutor(t)
			script := tt.script
			if script == "" {
				script = "print('never runs')\n"
			}
			j := newJob(t, "run-fail", script, map[string]string{"pkg/mod.py": ""})
			if tt.change != nil {
				tt.change(e, &j)
			}
			rec := newRecorder()

			res := e.Run(context.Background(), j, rec.hooks())

			if res.Status != api.StatusFailed || res.ExitCode != tt.wantCode {
				t.Errorf("Run = %+v, want failed with exit code %d", res, tt.wantCode)
			}
			if p, ok := strings.CutSuffix(tt.wantReason, "*"); ok {
				if !strings.HasPrefix(res.Reason, p) || len(res.Reason) == len(p) {
					t.Errorf("reason = %q, want %q followed by a cause", res.Reason, p)
				}
			} else if res.Reason != tt.wantReason {
				t.Errorf("reason = %q, want %q", res.Reason, tt.wantReason)
			}
			log := readFile(t, j.LogPath)
			if tt.wantLog != "" && log != tt.wantLog {
				t.Errorf("log = %q, want %q", log, tt.wantLog)
			}
			if lastLine(log) != res.Reason {
				t.Errorf("last log line = %q, want the reason %q", lastLine(log), res.Reason)
			}
			statuses, pgids := rec.seen()
			wantStatuses := []api.RunStatus{api.StatusStarting}
			if tt.wantStart {
				wantStatuses = append(wantStatuses, api.StatusRunning)
				if len(pgids) != 1 {
					t.Fatalf("OnStarted got %v, want one call", pgids)
				}
				assertGroupGone(t, pgids[0])
			} else if len(pgids) != 0 {
				t.Errorf("OnStarted got %v, want no call", pgids)
			}
			if !slices.Equal(statuses, wantStatuses) {
				t.Errorf("statuses = %v, want %v", statuses, wantStatuses)
			}
			if ents, _ := os.ReadDir(e.RunsDir); len(ents) != 0 {
				t.Errorf("runs folder not empty: %v", ents)
			}
		})
	}
}

// stubbornScript starts a child that ignores SIGTERM, so stopping the group
// takes the SIGKILL after the grace period, and the group outlives the
// leader, which dies on SIGTERM.
const stubbornScript = `import subprocess, sys, time
child = "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nprint('child ready', flush=True)\ntime.sleep(60)\n"
subprocess.Popen([sys.executable, "-c", child])
time.sleep(60)
`

func TestRunStopped(t *testing.T) {
	tests := []struct {
		name    string
		cause   error
		timeout time.Duration
		want    Result
	}{
		{"cancelled by the user", ErrCancelled, 0,
			Result{Status: api.StatusCancelled, ExitCode: -1, Reason: "run cancelled"}},
		{"stopped by the server", errors.New("server shutting down"), 0,
			Result{Status: api.StatusFailed, ExitCode: -1, Reason: "run stopped: server shutting down"}},
		// Long enough for the child to be ready before it strikes, even
		// with two interpreters to start on a busy machine.
		{"timed out", nil, 3 * time.Second,
			Result{Status: api.StatusFailed, ExitCode: -1, Reason: "timed out after 3s"}},
	}
	t.Parallel()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newExecutor(t)
			e.Python = realPython(t)
			e.Timeout = tt.timeout
			j := newJob(t, "run-stop", stubbornScript, nil)
			ctx, cancel := context.WithCancelCause(context.Background())
			defer cancel(nil)
			rec := newRecorder()
			done := make(chan Result, 1)
			go func() { done <- e.Run(ctx, j, rec.hooks()) }()

			pgid := <-rec.started
			waitForLog(t, j.LogPath, "child ready")
			if tt.cause != nil {
				cancel(tt.cause)
			}
			var res Result
			select {
			case res = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("Run did not return after the run was stopped")
			}

			if res != tt.want {
				t.Errorf("Run = %+v, want %+v", res, tt.want)
			}
			assertGroupGone(t, pgid)
			log := readFile(t, j.LogPath)
			if want := "child ready\n" + tt.want.Reason + "\n"; log != want {
				t.Errorf("log = %q, want %q", log, want)
			}
			statuses, _ := rec.seen()
			if w := []api.RunStatus{api.StatusStarting, api.StatusRunning}; !slices.Equal(statuses, w) {
				t.Errorf("statuses = %v, want %v", statuses, w)
			}
			if _, err := os.Stat(filepath.Join(e.RunsDir, j.RunID)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("run folder left behind: stat = %v", err)
			}
		})
	}
}

func TestRunCancelledBeforeStart(t *testing.T) {
	e := newExecutor(t)
	j := newJob(t, "run-early", "print('never')\n", nil)
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(ErrCancelled)
	rec := newRecorder()
	res := e.Run(ctx, j, rec.hooks())
	if want := (Result{Status: api.StatusCancelled, ExitCode: -1, Reason: "run cancelled"}); res != want {
		t.Errorf("Run = %+v, want %+v", res, want)
	}
	if _, pgids := rec.seen(); len(pgids) != 0 {
		t.Errorf("a process was started: %v", pgids)
	}
	if got := readFile(t, j.LogPath); got != "run cancelled\n" {
		t.Errorf("log = %q", got)
	}
}

func TestRunLeftoverChildKilled(t *testing.T) {
	e := newExecutor(t)
	// The child keeps the log pipe open too: Run must not wait for its EOF.
	script := "import subprocess\np = subprocess.Popen(['sleep', '60'])\nprint(p.pid)\n"
	j := newJob(t, "run-daemon", script, nil)
	rec := newRecorder()

	res := e.Run(context.Background(), j, rec.hooks())

	if res.Status != api.StatusCompleted {
		t.Fatalf("Run = %+v, want completed", res)
	}
	var child int
	if _, err := fmt.Sscan(readFile(t, j.LogPath), &child); err != nil || child <= 1 {
		t.Fatalf("no child pid in the log: %v", err)
	}
	if err := syscall.Kill(child, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("child %d: kill(pid, 0) = %v, want ESRCH", child, err)
	}
	_, pgids := rec.seen()
	assertGroupGone(t, pgids[0])
}

func TestRunEscapedChildDoesNotHoldRun(t *testing.T) {
	e := newExecutor(t)
	// A new session leaves the process group, so the run cannot stop it;
	// it keeps the log pipe open, and Run must still return.
	script := "import subprocess\np = subprocess.Popen(['sleep', '60'], start_new_session=True)\nprint(p.pid)\n"
	j := newJob(t, "run-escape", script, nil)
	done := make(chan Result, 1)
	go func() { done <- e.Run(context.Background(), j, Hooks{}) }()
	var res Result
	select {
	case res = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run waited for a process outside its group")
	}
	var child int
	if _, err := fmt.Sscan(readFile(t, j.LogPath), &child); err != nil || child <= 1 {
		t.Fatalf("no child pid in the log: %v", err)
	}
	_ = syscall.Kill(child, syscall.SIGKILL)
	var ws syscall.WaitStatus
	_, _ = syscall.Wait4(child, &ws, 0, nil) // ours, as subreaper
	if res.Status != api.StatusCompleted {
		t.Errorf("Run = %+v, want completed", res)
	}
}

func TestRunLogLimit(t *testing.T) {
	line := strings.Repeat("x", 99) + "\n"
	tests := []struct {
		name   string
		script string
		want   Result
		after  string // what follows the marker
	}{
		{"completed", "import sys\nfor _ in range(2000):\n    sys.stdout.write('x' * 99 + '\\n')\n",
			Result{Status: api.StatusCompleted}, ""},
		{"failed", "import sys\nfor _ in range(2000):\n    sys.stdout.write('x' * 99 + '\\n')\nsys.exit(1)\n",
			Result{Status: api.StatusFailed, ExitCode: 1, Reason: "process exited with code 1"}, "process exited with code 1\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newExecutor(t)
			e.LogLimit = 1050
			j := newJob(t, "run-big", tt.script, nil)

			res := e.Run(context.Background(), j, Hooks{})

			if res != tt.want {
				t.Errorf("Run = %+v, want %+v", res, tt.want)
			}
			want := strings.Repeat(line, 10) + strings.Repeat("x", 50) +
				"\n[log truncated: limit of 1050 bytes reached]\n" + tt.after
			if got := readFile(t, j.LogPath); got != want {
				t.Errorf("log (%d bytes) = %q\nwant (%d bytes) %q", len(got), got, len(want), want)
			}
		})
	}
}

func TestRunConcurrent(t *testing.T) {
	e := newExecutor(t)
	const n = 4
	script := "import os, time\ntime.sleep(0.1)\nprint(os.environ['RUNTIME__RUN_ID'])\nprint(open('.dlt/profile-name').read().strip())\n"
	jobs := make([]Job, n)
	for i := range jobs {
		jobs[i] = newJob(t, fmt.Sprintf("run-%d", i), script, nil)
		jobs[i].Profile = fmt.Sprintf("p%d", i)
	}
	results := make([]Result, n)
	var wg sync.WaitGroup
	for i := range jobs {
		wg.Go(func() { results[i] = e.Run(context.Background(), jobs[i], Hooks{}) })
	}
	wg.Wait()
	for i, j := range jobs {
		if results[i].Status != api.StatusCompleted {
			t.Errorf("%s: %+v, want completed", j.RunID, results[i])
		}
		if got, want := readFile(t, j.LogPath), fmt.Sprintf("run-%d\np%d\n", i, i); got != want {
			t.Errorf("%s: log = %q, want %q", j.RunID, got, want)
		}
	}
}

// group is a process group started by a test.
type group struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once the leader is reaped
	ws   syscall.WaitStatus
}

// startGroup starts argv as the leader of a new process group with the given
// run id in its environment.
func startGroup(t *testing.T, runID string, argv ...string) *group {
	t.Helper()
	g := &group{cmd: exec.Command(argv[0], argv[1:]...), done: make(chan struct{})}
	g.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "RUNTIME__RUN_ID=" + runID}
	g.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = g.cmd.Wait()
		g.ws = g.cmd.ProcessState.Sys().(syscall.WaitStatus)
		close(g.done)
	}()
	t.Cleanup(func() {
		_ = syscall.Kill(-g.cmd.Process.Pid, syscall.SIGKILL)
		<-g.done
	})
	return g
}

// wait returns how the leader ended.
func (g *group) wait(t *testing.T) syscall.WaitStatus {
	t.Helper()
	select {
	case <-g.done:
		return g.ws
	case <-time.After(5 * time.Second):
		t.Fatal("process did not end")
		return 0
	}
}

func TestKillGroup(t *testing.T) {
	t.Run("leader of the run", func(t *testing.T) {
		g := startGroup(t, "run-a", "sleep", "60")
		if err := KillGroup(g.cmd.Process.Pid, "run-a"); err != nil {
			t.Fatalf("KillGroup: %v", err)
		}
		if ws := g.wait(t); !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			t.Errorf("process ended with %v, want killed by SIGKILL", ws)
		}
	})
	t.Run("member left by a dead leader", func(t *testing.T) {
		// The shell exits at once, leaving its background sleep alone in
		// the group; as a subreaper, the test gets it as its child.
		cmd := exec.Command("sh", "-c", "sleep 60 >/dev/null 2>&1 & echo $!")
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "RUNTIME__RUN_ID=run-b"}
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		out, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		var sleeper int
		if _, err := fmt.Sscan(string(out), &sleeper); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = syscall.Kill(sleeper, syscall.SIGKILL) })
		if err := KillGroup(cmd.Process.Pid, "run-b"); err != nil {
			t.Fatalf("KillGroup: %v", err)
		}
		var ws syscall.WaitStatus
		if _, err := syscall.Wait4(sleeper, &ws, 0, nil); err != nil {
			t.Fatalf("wait for the sleeper: %v", err)
		}
		if !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			t.Errorf("sleeper ended with %v, want killed by SIGKILL", ws)
		}
	})
	t.Run("group of another run", func(t *testing.T) {
		for _, other := range []string{"run-c2", "run", "run-c "} {
			g := startGroup(t, "run-c", "sleep", "60")
			err := KillGroup(g.cmd.Process.Pid, other)
			if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("do not belong to run %q", other)) {
				t.Errorf("KillGroup(%q) = %v, want a refusal", other, err)
			}
			select {
			case <-g.done:
				t.Fatalf("process of run-c ended (%v) though KillGroup was for %q", g.ws, other)
			case <-time.After(50 * time.Millisecond):
			}
		}
	})
	t.Run("group gone", func(t *testing.T) {
		cmd := exec.Command("true")
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Run(); err != nil {
			t.Fatal(err)
		}
		if err := KillGroup(cmd.Process.Pid, "run-d"); err != nil {
			t.Errorf("KillGroup of a gone group = %v, want nil", err)
		}
	})
	t.Run("not a group id", func(t *testing.T) {
		for _, pgid := range []int{-3, 0, 1} {
			if err := KillGroup(pgid, "run-e"); err == nil {
				t.Errorf("KillGroup(%d) = nil, want an error", pgid)
			}
		}
	})
}

// BenchmarkStartToRunning measures the time from the Run call to
// OnStatus(running) for a trivial script: making the folder, extracting the
// packages and starting python. ns/op is the mean; median-ns and p90-ns are
// the median and the 90th percentile.
func BenchmarkStartToRunning(b *testing.B) {
	e := newExecutor(b)
	e.Python = realPython(b)
	j := newJob(b, "run-bench", "pass\n", nil)
	j.Configuration = writePackage(b, map[string]string{"config.toml": "[a]\n", "secrets.toml": "k = 1\n"})
	var times []time.Duration
	b.StopTimer()
	for range b.N {
		var start time.Time
		h := Hooks{OnStatus: func(s api.RunStatus) {
			if s == api.StatusRunning {
				b.StopTimer()
				times = append(times, time.Since(start))
			}
		}}
		start = time.Now()
		b.StartTimer()
		if res := e.Run(context.Background(), j, h); res.Status != api.StatusCompleted {
			b.Fatalf("Run = %+v", res)
		}
	}
	slices.Sort(times)
	if len(times) > 0 {
		b.ReportMetric(float64(times[len(times)/2].Nanoseconds()), "median-ns")
		b.ReportMetric(float64(times[len(times)*9/10].Nanoseconds()), "p90-ns")
	}
}
