package server

import (
	"context"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/dlthub/runtime-action/internal/api"
	"github.com/dlthub/runtime-action/internal/store"
)

// cronTicker starts the runs of scripts' schedules. Every ScheduleInterval
// (and once at start) it asks the store for the scripts whose
// next_scheduled_run has come by the server's clock, and fires each one
// tick: ticks missed while the server was down make one run, not one each.
// The store fires a tick at most once (FireSchedule remembers the last
// tick fired in the transaction that records its run), so neither two
// checks at once nor a restart start a tick twice.
type cronTicker struct {
	srv      *Server
	interval time.Duration
	kick     chan struct{}
	stop     context.CancelFunc
	done     chan struct{}
}

func newCronTicker(s *Server) *cronTicker {
	return &cronTicker{srv: s, interval: s.cfg.ScheduleInterval, kick: make(chan struct{}, 1), done: make(chan struct{})}
}

func (ct *cronTicker) start() {
	ctx, stop := context.WithCancel(context.Background())
	ct.stop = stop
	go ct.loop(ctx)
}

// wake makes the ticker check at once; it never blocks.
func (ct *cronTicker) wake() {
	select {
	case ct.kick <- struct{}{}:
	default:
	}
}

func (ct *cronTicker) loop(ctx context.Context) {
	defer close(ct.done)
	t := time.NewTicker(ct.interval)
	defer t.Stop()
	for {
		if err := ct.srv.checkSchedules(ctx); err != nil && ctx.Err() == nil {
			ct.srv.log.Error("check schedules", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-ct.kick:
		}
	}
}

func (ct *cronTicker) close() {
	if ct.stop != nil {
		ct.stop()
		<-ct.done
	}
}

// checkSchedules fires the due ticks of every scheduled script once.
func (s *Server) checkSchedules(ctx context.Context) error {
	now := s.cfg.Now().UTC()
	due, err := s.dir.store.DueScripts(ctx, now)
	if err != nil {
		return err
	}
	started := false
	for _, sc := range due {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		sched, err := parseSchedule(*sc.Schedule)
		if err != nil {
			// Only a database edited by hand gets here: the API checks.
			s.log.Error("invalid schedule: the script is not run on schedule", "script", sc.ID, "schedule", *sc.Schedule, "error", err)
			continue
		}
		t := store.ScheduleTick{
			WorkspaceID: sc.WorkspaceID, ScriptID: sc.ID, Version: sc.Version, Due: sc.NextScheduledRun,
			Next: sched.Next(now).UTC(), Profile: scheduledProfile(sc),
		}
		if sc.NextScheduledRun != nil {
			t.Tick = latestTick(sched, sc.NextScheduledRun.UTC(), now)
		}
		run, outcome, err := s.dir.store.FireSchedule(ctx, t)
		if err != nil {
			return err
		}
		switch outcome {
		case store.ScheduleFired:
			started = true
			s.log.Info("scheduled run", "run", run.ID, "script", sc.Name, "workspace", sc.WorkspaceID, "tick", t.Tick, "next", t.Next)
		case store.ScheduleSkipped:
			s.log.Info("scheduled run skipped: the script's previous run is still active", "run", run.ID, "script", sc.Name,
				"workspace", sc.WorkspaceID, "tick", t.Tick, "next", t.Next)
		case store.ScheduleNoPackages:
			s.log.Warn("scheduled run not started: the workspace has no deployment or configuration yet", "script", sc.Name,
				"workspace", sc.WorkspaceID, "tick", t.Tick, "next", t.Next)
		}
	}
	if started && s.sched != nil {
		s.sched.wake()
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
