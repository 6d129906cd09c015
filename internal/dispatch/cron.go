package dispatch

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/dlthub/runtime-action/internal/api"
	"github.com/dlthub/runtime-action/internal/store"
)

// Cron starts the runs of scripts' schedules. Every Interval
// (and once at start) it asks the store for the scripts whose
// next_scheduled_run has come by the server's clock, and fires each one
// tick: ticks missed while the server was down make one run, not one each.
// The store fires a tick at most once (FireSchedule remembers the last
// tick fired in the transaction that records its run), so neither two
// checks at once nor a restart start a tick twice.
type Cron struct {
	c    CronConfig
	stop context.CancelFunc
	done chan struct{}
	// checks counts the checks the ticker finished.
	checks atomic.Int64
}

// NewCron makes a Cron; Start starts it.
func NewCron(c CronConfig) *Cron {
	return &Cron{c: c, done: make(chan struct{})}
}

// CronConfig configures a Cron.
type CronConfig struct {
	Store store.Store
	Log   *slog.Logger
	// Now is the server's clock.
	Now func() time.Time
	// Interval is how often the schedules are checked.
	Interval time.Duration
	// Started is called after a check started a run (the dispatcher's Wake).
	Started func()
}

// Start starts checking, at once and then every Interval.
func (ct *Cron) Start() {
	ctx, stop := context.WithCancel(context.Background())
	ct.stop = stop
	go ct.loop(ctx)
}

func (ct *Cron) loop(ctx context.Context) {
	defer close(ct.done)
	t := time.NewTicker(ct.c.Interval)
	defer t.Stop()
	for {
		if err := ct.Check(ctx); err != nil && ctx.Err() == nil {
			ct.c.Log.Error("check schedules", "error", err)
		}
		ct.checks.Add(1)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Checks is how many checks the ticker has finished since Start, so that a
// caller (a test) can wait for one that began after a change.
func (ct *Cron) Checks() int64 { return ct.checks.Load() }

// Close stops the ticker and waits for a check in progress.
func (ct *Cron) Close() {
	if ct.stop != nil {
		ct.stop()
		<-ct.done
	}
}

// Check fires the due ticks of every scheduled script once.
func (ct *Cron) Check(ctx context.Context) error {
	now := ct.c.Now().UTC()
	due, err := ct.c.Store.DueScripts(ctx, now)
	if err != nil {
		return err
	}
	started := false
	for _, sc := range due {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		sched, err := ParseSchedule(*sc.Schedule)
		if err != nil {
			// Only a database edited by hand gets here: the API checks.
			ct.c.Log.Error("invalid schedule: the script is not run on schedule", "script", sc.ID, "schedule", *sc.Schedule, "error", err)
			continue
		}
		t := store.ScheduleTick{
			WorkspaceID: sc.WorkspaceID, ScriptID: sc.ID, Version: sc.Version, Due: sc.NextScheduledRun,
			Next: sched.Next(now).UTC(), Profile: scheduledProfile(sc),
		}
		if sc.NextScheduledRun != nil {
			t.Tick = latestTick(sched, sc.NextScheduledRun.UTC(), now)
		}
		run, outcome, err := ct.c.Store.FireSchedule(ctx, t)
		if err != nil {
			return err
		}
		switch outcome {
		case store.ScheduleFired:
			started = true
			ct.c.Log.Info("scheduled run", "run", run.ID, "script", sc.Name, "workspace", sc.WorkspaceID, "tick", t.Tick, "next", t.Next)
		case store.ScheduleSkipped:
			ct.c.Log.Info("scheduled run skipped: the script's previous run is still active", "run", run.ID, "script", sc.Name,
				"workspace", sc.WorkspaceID, "tick", t.Tick, "next", t.Next)
		case store.ScheduleNoPackages:
			ct.c.Log.Warn("scheduled run not started: the workspace has no deployment or configuration yet", "script", sc.Name,
				"workspace", sc.WorkspaceID, "tick", t.Tick, "next", t.Next)
		}
	}
	if started && ct.c.Started != nil {
		ct.c.Started()
	}
	return nil
}

// latestTick is the last tick of sched at or before now, given due, a tick
// at or before now. It walks forward from due, or, after a long downtime,
// from a day back when a tick falls in that day, so that it stays quick.
func latestTick(sched cron.Schedule, due, now time.Time) time.Time {
	t := due
	if now.Sub(due) > 24*time.Hour {
		if c := sched.Next(now.Add(-24 * time.Hour)); c.After(due) && !c.After(now) {
			t = c
		}
	}
	for {
		n := sched.Next(t)
		if n.IsZero() || n.After(now) {
			return t
		}
		t = n
	}
}

// scheduledProfile is the profile of a scheduled run: the script's, else
// the default of its type (as for a run started without one).
func scheduledProfile(sc store.Script) string {
	switch {
	case sc.Profile != nil:
		return *sc.Profile
	case sc.ScriptType == api.ScriptInteractive:
		return "access"
	default:
		return "prod"
	}
}
