package server

import (
	"bytes"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dlthub/runtime-action/internal/api"
)

func TestRunEndToEnd(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	script := e.deploy(t, map[string]string{
		"hello.py": "import os, sys\nprint('hello from', os.environ['RUNTIME__PROFILE'])\nprint(open('.dlt/profile-name').read().strip())\nprint('err line', file=sys.stderr)\n",
	}, "hello.py")
	run := e.startRun(t, "hello.py")
	if run.Status != api.StatusPending || run.Number != 1 || *run.Profile != "prod" || run.Trigger != api.TriggerManual {
		t.Fatalf("new run: %+v", run)
	}
	done := e.waitRun(t, run.ID, 10*time.Second, terminal)
	if done.Status != api.StatusCompleted {
		t.Fatalf("run ended %s", done.Status)
	}
	if done.TimeStarted == nil || done.TimeEnded == nil || done.Duration == nil {
		t.Errorf("times not set: %+v", done.Run)
	}
	if done.Script.ID != script {
		t.Errorf("run's script %q, want %q", done.Script.ID, script)
	}
	var logs api.LogsResponse
	e.get(t, e.wsPath("/runs/", run.ID, "/logs")).decode(t, &logs)
	for _, want := range []string{"hello from prod\n", "prod\n", "err line\n"} {
		if logs.Logs == nil || !strings.Contains(*logs.Logs, want) {
			t.Errorf("logs %q lack %q", *logs.Logs, want)
		}
	}
	if logs.Run.ID != run.ID || logs.Run.Status != api.StatusCompleted {
		t.Errorf("logs' run: %+v", logs.Run.Run)
	}
	// the second run of the script is number 2, and a failing script fails
	e.upload(t, e.wsPath("/deployments"), buildPackage(t, map[string]string{"hello.py": "raise SystemExit(3)\n"}))
	run2 := e.startRun(t, script)
	if run2.Number != 2 {
		t.Errorf("second run number %d", run2.Number)
	}
	if got := e.waitRun(t, run2.ID, 10*time.Second, terminal); got.Status != api.StatusFailed {
		t.Errorf("failing script ended %s", got.Status)
	}
	e.get(t, e.wsPath("/runs/", run2.ID, "/logs")).decode(t, &logs)
	if !strings.Contains(*logs.Logs, "exited with code 3") {
		t.Errorf("failed run's log %q lacks the reason", *logs.Logs)
	}
	r := e.get(t, e.wsPath("/runs/latest"))
	var latest api.DetailedRun
	r.decode(t, &latest)
	if r.status != http.StatusOK || latest.ID != run2.ID {
		t.Errorf("latest run %s, want %s", latest.ID, run2.ID)
	}
}

// procsOfRun lists the live processes whose environment names the run.
func procsOfRun(t *testing.T, runID string) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil {
			continue
		}
		for _, kv := range bytes.Split(b, []byte{0}) {
			if string(kv) == "RUNTIME__RUN_ID="+runID {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

// waitLog polls the run's log until it holds all of want.
func (e *testEnv) waitLog(t *testing.T, runID string, timeout time.Duration, want ...string) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var logs api.LogsResponse
		e.get(t, e.wsPath("/runs/", runID, "/logs")).decode(t, &logs)
		all := true
		for _, w := range want {
			all = all && strings.Contains(*logs.Logs, w)
		}
		if all {
			return *logs.Logs
		}
		if time.Now().After(deadline) {
			t.Fatalf("log of run %s lacks %q after %s: %q", runID, want, timeout, *logs.Logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

const stubbornScript = `import signal, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
subprocess.Popen([sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('child up', flush=True); time.sleep(60)"])
print('parent up', flush=True)
time.sleep(60)
`

func TestCancelRunningKillsTheGroup(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.CancelGrace = 200 * time.Millisecond })
	e.deploy(t, map[string]string{"stubborn.py": stubbornScript}, "stubborn.py")
	run := e.startRun(t, "stubborn.py")
	e.waitLog(t, run.ID, 10*time.Second, "parent up", "child up")
	if n := len(procsOfRun(t, run.ID)); n != 2 {
		t.Fatalf("%d processes of the run, want 2", n)
	}
	r := e.postJSON(t, e.wsPath("/runs/", run.ID, "/cancel"), "{}")
	var d api.DetailedRun
	r.decode(t, &d)
	if r.status != http.StatusCreated || (d.Status != api.StatusCancelling && d.Status != api.StatusCancelled) || d.Script.Name != "stubborn.py" {
		t.Fatalf("cancel: %d %+v", r.status, d)
	}
	done := e.waitRun(t, run.ID, 10*time.Second, terminal)
	if done.Status != api.StatusCancelled || done.TimeEnded == nil {
		t.Fatalf("run ended %s", done.Status)
	}
	if pids := procsOfRun(t, run.ID); len(pids) > 0 {
		t.Errorf("processes of the cancelled run left: %v", pids)
	}
	// cancelling again: terminal state
	r = e.postJSON(t, e.wsPath("/runs/", run.ID, "/cancel"), "{}")
	if r.status != http.StatusBadRequest || !strings.Contains(r.detail(t), "terminal state") {
		t.Errorf("cancel of a cancelled run: %d %s", r.status, r.body)
	}
}

func TestConcurrencyLimitAndPendingCancel(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.MaxConcurrentRuns = 1; c.CancelGrace = 200 * time.Millisecond })
	e.deploy(t, map[string]string{"sleep.py": "import time\nprint('up', flush=True)\ntime.sleep(60)\n"}, "sleep.py")
	first := e.startRun(t, "sleep.py")
	second := e.startRun(t, "sleep.py")
	third := e.startRun(t, "sleep.py")
	e.waitRun(t, first.ID, 10*time.Second, func(s api.RunStatus) bool { return s == api.StatusRunning })
	var page api.Page[api.DetailedRun]
	e.get(t, e.wsPath("/runs?status=pending")).decode(t, &page)
	if page.Total != 2 || page.Items[0].ID != third.ID || page.Items[1].ID != second.ID {
		t.Fatalf("pending runs: %+v", page)
	}
	// a pending run is cancelled at once
	r := e.postJSON(t, e.wsPath("/runs/", second.ID, "/cancel"), "{}")
	var d api.DetailedRun
	r.decode(t, &d)
	if r.status != http.StatusCreated || d.Status != api.StatusCancelled || d.TimeEnded == nil || d.TimeStarted != nil {
		t.Fatalf("cancel pending: %d %+v", r.status, d)
	}
	// the first ending lets the third start, not the cancelled second
	e.postJSON(t, e.wsPath("/runs/", first.ID, "/cancel"), "{}")
	e.waitRun(t, third.ID, 10*time.Second, func(s api.RunStatus) bool { return s == api.StatusRunning })
	if got := e.waitRun(t, first.ID, 10*time.Second, terminal); got.Status != api.StatusCancelled {
		t.Errorf("first ended %s", got.Status)
	}
	e.postJSON(t, e.wsPath("/runs/", third.ID, "/cancel"), "{}")
	e.waitRun(t, third.ID, 10*time.Second, terminal)
	e.get(t, e.wsPath("/runs?limit=2")).decode(t, &page)
	if page.Total != 3 || len(page.Items) != 2 || page.Items[0].ID != third.ID {
		t.Errorf("runs: %+v", page)
	}
}

func TestRunTimeout(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.RunTimeout = 300 * time.Millisecond; c.CancelGrace = 100 * time.Millisecond })
	e.deploy(t, map[string]string{"sleep.py": "import time\ntime.sleep(60)\n"}, "sleep.py")
	run := e.startRun(t, "sleep.py")
	if got := e.waitRun(t, run.ID, 10*time.Second, terminal); got.Status != api.StatusFailed {
		t.Fatalf("run ended %s", got.Status)
	}
	e.waitLog(t, run.ID, 10*time.Second, "timed out after")
}

func TestRunBadInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	script := map[string]any{"name": "a.py", "entry_point": "a.py", "description": "", "script_type": "batch"}
	e.postJSON(t, e.wsPath("/scripts"), script)
	create := func(body any) resp { return e.postJSON(t, e.wsPath("/runs"), body) }
	if r := create(map[string]any{"script_id_or_name": "a.py"}); r.status != http.StatusBadRequest ||
		r.detail(t) != "the workspace has no deployment yet: upload one first" {
		t.Errorf("no deployment: %d %s", r.status, r.body)
	}
	e.upload(t, e.wsPath("/deployments"), buildPackage(t, map[string]string{"a.py": "print(1)\n"}))
	if r := create(map[string]any{"script_id_or_name": "a.py"}); r.status != http.StatusBadRequest ||
		!strings.Contains(r.detail(t), "no configuration yet") {
		t.Errorf("no configuration: %d %s", r.status, r.body)
	}
	for _, tc := range []struct {
		name   string
		body   any
		status int
		want   string
	}{
		{"missing script", map[string]any{}, 400, `field "script_id_or_name" is required`},
		{"script not a string", map[string]any{"script_id_or_name": 1}, 400, `field "script_id_or_name": expected a string`},
		{"unknown script", map[string]any{"script_id_or_name": "b.py"}, 404, `script "b.py" not found`},
		{"unknown script id", map[string]any{"script_id_or_name": "00000000-0000-0000-0000-000000000000"}, 404, "not found"},
		{"bad profile", map[string]any{"script_id_or_name": "a.py", "profile": "a b"}, 400, `invalid profile "a b"`},
		{"malformed", `{"script_id_or_name"`, 400, "malformed JSON body"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := create(tc.body)
			if r.status != tc.status || !strings.Contains(r.detail(t), tc.want) {
				t.Errorf("got %d %s, want %d %q", r.status, r.body, tc.status, tc.want)
			}
		})
	}
	var page api.Page[api.Run]
	e.get(t, e.wsPath("/runs")).decode(t, &page)
	if page.Total != 0 {
		t.Errorf("bad input made %d runs", page.Total)
	}
	for _, tc := range []struct{ path, want string }{
		{"/runs?script_id=nope", `"script_id"`},
		{"/runs?status=done", `"status": invalid value "done", expected one of pending, starting`},
		{"/runs/latest?script_id=nope", `"script_id"`},
	} {
		if r := e.get(t, e.wsPath(tc.path)); r.status != http.StatusBadRequest || !strings.Contains(r.detail(t), tc.want) {
			t.Errorf("GET %s: %d %s", tc.path, r.status, r.body)
		}
	}
	for _, path := range []string{"/runs/latest", "/runs/00000000-0000-0000-0000-000000000000", "/runs/nope",
		"/runs/00000000-0000-0000-0000-000000000000/logs"} {
		if r := e.get(t, e.wsPath(path)); r.status != http.StatusNotFound {
			t.Errorf("GET %s: %d %s", path, r.status, r.body)
		}
	}
	if r := e.postJSON(t, e.wsPath("/runs/00000000-0000-0000-0000-000000000000/cancel"), "{}"); r.status != http.StatusNotFound {
		t.Errorf("cancel unknown: %d", r.status)
	}
}

func TestRunProfiles(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.MaxConcurrentRuns = 1 })
	e.deploy(t, map[string]string{"a.py": "print(1)\n"}, "a.py")
	e.postJSON(t, e.wsPath("/scripts"), map[string]any{"name": "app.py", "entry_point": "a.py", "description": "", "script_type": "interactive"})
	e.postJSON(t, e.wsPath("/scripts"), map[string]any{"name": "dev.py", "entry_point": "a.py", "description": "", "script_type": "batch", "profile": "dev"})
	for _, tc := range []struct {
		script  string
		profile any
		want    string
	}{
		{"a.py", nil, "prod"},
		{"app.py", nil, "access"},
		{"dev.py", nil, "dev"},
		{"dev.py", "staging", "staging"},
	} {
		body := map[string]any{"script_id_or_name": tc.script}
		if tc.profile != nil {
			body["profile"] = tc.profile
		}
		var run api.Run
		e.postJSON(t, e.wsPath("/runs"), body).decode(t, &run)
		if run.Profile == nil || *run.Profile != tc.want {
			t.Errorf("%s with %v: profile %v, want %s", tc.script, tc.profile, run.Profile, tc.want)
		}
		e.waitRun(t, run.ID, 10*time.Second, terminal)
		if !strings.Contains(e.waitLog(t, run.ID, 10*time.Second, "1\n"), "1\n") {
			t.Error("no output")
		}
	}
	var d api.DetailedScript
	e.get(t, e.wsPath("/scripts/dev.py")).decode(t, &d)
	if d.LastRun == nil || *d.LastRun.Profile != "staging" || d.LastRun.Number != 2 {
		t.Errorf("last run of dev.py: %+v", d.LastRun)
	}
}
