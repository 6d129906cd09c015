package server

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/dlthub/runtime-action/internal/api"
	"github.com/dlthub/runtime-action/internal/executor"
)

// schedClock is a settable clock shared by a test and its servers.
type schedClock struct {
	mu sync.Mutex
	t  time.Time
}

func newSchedClock(t time.Time) *schedClock { return &schedClock{t: t} }

func (c *schedClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *schedClock) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// schedEnv is a server on a data dir that outlives it, with a test clock
// and a ticker that never wakes by itself: tests call its Check.
type schedEnv struct {
	*testEnv
	clk *schedClock
}

func newSchedEnv(t *testing.T, clk *schedClock, dir string, mod ...func(*Config)) *schedEnv {
	t.Helper()
	e := newEnv(t, append([]func(*Config){func(c *Config) {
		c.Now = clk.now
		c.ScheduleInterval = time.Hour
		if dir != "" {
			c.DataDir = dir
		}
	}}, mod...)...)
	return &schedEnv{testEnv: e, clk: clk}
}

// check runs one schedule check, as a tick of the ticker does.
func (e *schedEnv) check(t *testing.T) {
	t.Helper()
	if err := e.srv.cron.Check(context.Background()); err != nil {
		t.Fatalf("check schedules: %v", err)
	}
}

// saveScript posts a script and returns it.
func (e *testEnv) saveScript(t *testing.T, body map[string]any) api.Script {
	t.Helper()
	r := e.postJSON(t, e.wsPath("/scripts"), body)
	if r.status != http.StatusCreated {
		t.Fatalf("upsert script: %d %s", r.status, r.body)
	}
	var sc api.Script
	r.decode(t, &sc)
	return sc
}

// runsOfScript lists the runs of a script, newest first.
func (e *testEnv) runsOfScript(t *testing.T, scriptID string) []api.Run {
	t.Helper()
	var page api.Page[api.Run]
	r := e.get(t, e.wsPath("/runs?limit=100&script_id="+scriptID))
	if r.status != http.StatusOK {
		t.Fatalf("list runs: %d %s", r.status, r.body)
	}
	r.decode(t, &page)
	return page.Items
}

func (e *testEnv) scriptByID(t *testing.T, id string) api.DetailedScript {
	t.Helper()
	var d api.DetailedScript
	e.get(t, e.wsPath("/scripts/", id)).decode(t, &d)
	return d
}

func at(hhmmss string) time.Time {
	t, err := time.Parse("2006-01-02 15:04:05", "2026-03-01 "+hhmmss)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

func wantNext(t *testing.T, sc api.DetailedScript, want time.Time) {
	t.Helper()
	if sc.NextScheduledRun == nil || !sc.NextScheduledRun.Equal(want) {
		t.Errorf("next_scheduled_run %v, want %v", sc.NextScheduledRun, want)
	}
}

func TestScheduleFiresAndSkips(t *testing.T) {
	t.Parallel()
	clk := newSchedClock(at("10:02:00"))
	stop := filepath.Join(t.TempDir(), "stop")
	e := newSchedEnv(t, clk, "", func(c *Config) { c.RunEnv = append(executor.DefaultBaseEnv(), "STOP_FILE="+stop) })
	// The script runs until told to stop, so that the next tick finds it active.
	id := e.deploy(t, map[string]string{"job.py": "import os, time\nprint('tick', flush=True)\n" +
		"while not os.path.exists(os.environ['STOP_FILE']):\n    time.sleep(0.02)\n"}, "job.py")
	sc := e.saveScript(t, map[string]any{"name": "job.py", "entry_point": "job.py", "description": "", "script_type": "batch",
		"schedule": "*/5 * * * *"})
	if sc.ID != id || sc.NextScheduledRun == nil || !sc.NextScheduledRun.Equal(at("10:05:00")) {
		t.Fatalf("scheduled script %+v", sc)
	}

	clk.set(at("10:04:59"))
	e.check(t)
	if runs := e.runsOfScript(t, id); len(runs) != 0 {
		t.Fatalf("a run before the tick: %+v", runs)
	}

	clk.set(at("10:05:00"))
	e.check(t)
	e.check(t) // a second check of the same tick starts nothing more
	runs := e.runsOfScript(t, id)
	if len(runs) != 1 || runs[0].Trigger != api.TriggerSchedule || runs[0].TriggeredBy != nil || runs[0].Profile == nil || *runs[0].Profile != "prod" {
		t.Fatalf("runs after the tick: %+v", runs)
	}
	first := runs[0]
	wantNext(t, e.scriptByID(t, id), at("10:10:00"))
	e.waitRun(t, first.ID, 10*time.Second, func(s api.RunStatus) bool { return s == api.StatusRunning })

	// the next tick while the first run is active: a skipped run
	clk.set(at("10:10:30"))
	e.check(t)
	runs = e.runsOfScript(t, id)
	if len(runs) != 2 || runs[0].Status != api.StatusSkipped || runs[0].Trigger != api.TriggerSchedule ||
		runs[0].TimeEnded == nil || runs[0].TimeStarted != nil || runs[0].Number != 2 {
		t.Fatalf("runs after a tick during a run: %+v", runs)
	}
	if r := e.get(t, e.wsPath("/runs/", first.ID)); r.status != http.StatusOK {
		t.Fatal(r.status)
	} else {
		var d api.DetailedRun
		r.decode(t, &d)
		if d.Status != api.StatusRunning {
			t.Errorf("the first run is %s, want running still", d.Status)
		}
	}
	wantNext(t, e.scriptByID(t, id), at("10:15:00"))

	// once it is done, the next tick runs again
	if err := os.WriteFile(stop, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	e.waitRun(t, first.ID, 10*time.Second, terminal)
	clk.set(at("10:15:00"))
	e.check(t)
	runs = e.runsOfScript(t, id)
	if len(runs) != 3 || runs[0].Status == api.StatusSkipped {
		t.Fatalf("runs after the run ended: %+v", runs)
	}
	done := e.waitRun(t, runs[0].ID, 10*time.Second, terminal)
	if done.Status != api.StatusCompleted {
		t.Errorf("third run %s", done.Status)
	}
}

func TestScheduleStops(t *testing.T) {
	t.Parallel()
	clk := newSchedClock(at("10:02:00"))
	e := newSchedEnv(t, clk, "")
	id := e.deploy(t, map[string]string{"job.py": "print('tick')\n"}, "job.py")
	body := map[string]any{"name": "job.py", "entry_point": "job.py", "description": "", "script_type": "batch", "schedule": "* * * * *"}

	tests := []struct {
		name   string
		change func()
	}{
		{"inactive", func() { body["active"] = false }},
		{"null schedule", func() { body["active"] = true; body["schedule"] = nil }},
		{"no schedule field", func() { delete(body, "schedule") }},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.change()
			sc := e.saveScript(t, body)
			if sc.NextScheduledRun != nil {
				t.Errorf("next_scheduled_run %v, want none", sc.NextScheduledRun)
			}
			clk.set(at("10:02:00").Add(time.Duration(i+1) * time.Hour))
			e.check(t)
			if runs := e.runsOfScript(t, id); len(runs) != 0 {
				t.Fatalf("runs of a stopped schedule: %+v", runs)
			}
		})
	}
	// scheduled again, it runs at the next tick after now
	body["schedule"] = "* * * * *"
	sc := e.saveScript(t, body)
	now := clk.now()
	if want := now.Truncate(time.Minute).Add(time.Minute); sc.NextScheduledRun == nil || !sc.NextScheduledRun.Equal(want) {
		t.Fatalf("next after re-enabling %v, want %v", sc.NextScheduledRun, want)
	}
	clk.set(sc.NextScheduledRun.Time)
	e.check(t)
	if runs := e.runsOfScript(t, id); len(runs) != 1 {
		t.Fatalf("runs after re-enabling: %+v", runs)
	}
}

// TestScheduleMissedTicks stops the server for an hour of minute ticks: the
// start makes one run, by the ticker's own first check.
func TestScheduleMissedTicks(t *testing.T) {
	t.Parallel()
	clk := newSchedClock(at("10:02:00"))
	dir := t.TempDir()
	e := newSchedEnv(t, clk, dir)
	id := e.deploy(t, map[string]string{"job.py": "print('tick')\n"}, "job.py")
	e.saveScript(t, map[string]any{"name": "job.py", "entry_point": "job.py", "description": "", "script_type": "batch",
		"schedule": "* * * * *"})
	e.hs.Close()
	if err := e.srv.Close(); err != nil {
		t.Fatal(err)
	}

	clk.set(at("11:00:30"))
	e2 := newSchedEnv(t, clk, dir)
	deadline := time.Now().Add(10 * time.Second)
	var runs []api.Run
	for len(runs) == 0 && time.Now().Before(deadline) {
		runs = e2.runsOfScript(t, id)
		time.Sleep(5 * time.Millisecond)
	}
	e2.check(t)
	runs = e2.runsOfScript(t, id)
	if len(runs) != 1 || runs[0].Trigger != api.TriggerSchedule {
		t.Fatalf("runs after 58 missed ticks: %d %+v", len(runs), runs)
	}
	wantNext(t, e2.scriptByID(t, id), at("11:01:00"))
	e2.waitRun(t, runs[0].ID, 10*time.Second, terminal)
}

// TestScheduleNoDoubleFireAfterRestart turns the clock back across a
// restart, so that next_scheduled_run is set to a tick that fired already:
// the tick recorded in the store keeps it from firing twice.
func TestScheduleNoDoubleFireAfterRestart(t *testing.T) {
	t.Parallel()
	clk := newSchedClock(at("10:02:30"))
	dir := t.TempDir()
	e := newSchedEnv(t, clk, dir)
	id := e.deploy(t, map[string]string{"job.py": "print('tick')\n"}, "job.py")
	body := map[string]any{"name": "job.py", "entry_point": "job.py", "description": "", "script_type": "batch", "schedule": "* * * * *"}
	e.saveScript(t, body)
	clk.set(at("10:03:00"))
	e.check(t)
	runs := e.runsOfScript(t, id)
	if len(runs) != 1 {
		t.Fatalf("runs: %+v", runs)
	}
	e.waitRun(t, runs[0].ID, 10*time.Second, terminal)
	e.hs.Close()
	if err := e.srv.Close(); err != nil {
		t.Fatal(err)
	}

	clk.set(at("10:02:40")) // the clock stepped back while the server was down
	e2 := newSchedEnv(t, clk, dir)
	body["description"] = "changed"
	if sc := e2.saveScript(t, body); sc.NextScheduledRun == nil || !sc.NextScheduledRun.Equal(at("10:03:00")) {
		t.Fatalf("next after the upsert %v", sc.NextScheduledRun)
	}
	clk.set(at("10:03:10"))
	e2.check(t)
	if runs := e2.runsOfScript(t, id); len(runs) != 1 {
		t.Fatalf("the 10:03 tick fired twice: %+v", runs)
	}
	wantNext(t, e2.scriptByID(t, id), at("10:04:00"))
	clk.set(at("10:04:00"))
	e2.check(t)
	if runs := e2.runsOfScript(t, id); len(runs) != 2 {
		t.Fatalf("the 10:04 tick: %+v", runs)
	}
}

// TestScheduleTicker lets the ticker's own timer find the tick.
func TestScheduleTicker(t *testing.T) {
	t.Parallel()
	clk := newSchedClock(at("10:02:00"))
	e := newEnv(t, func(c *Config) { c.Now = clk.now; c.ScheduleInterval = 5 * time.Millisecond })
	id := e.deploy(t, map[string]string{"job.py": "print('tick')\n"}, "job.py")
	e.saveScript(t, map[string]any{"name": "job.py", "entry_point": "job.py", "description": "", "script_type": "batch",
		"schedule": "0 * * * *"})
	// Two more checks: the second began after the script was saved.
	for n, deadline := e.srv.cron.Checks(), time.Now().Add(10*time.Second); e.srv.cron.Checks() < n+2; {
		if time.Now().After(deadline) {
			t.Fatal("the ticker did not check within 10s")
		}
		time.Sleep(time.Millisecond) // poll interval of the wait
	}
	if runs := e.runsOfScript(t, id); len(runs) != 0 {
		t.Fatalf("runs before the tick: %+v", runs)
	}
	clk.set(at("11:00:00"))
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if runs := e.runsOfScript(t, id); len(runs) == 1 {
			e.waitRun(t, runs[0].ID, 10*time.Second, terminal)
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("the ticker never fired the 11:00 tick")
}
