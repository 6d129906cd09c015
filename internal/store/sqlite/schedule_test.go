package sqlite

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/dlthub/runtime-action/internal/api"
	"github.com/dlthub/runtime-action/internal/store"
)

// scheduled upserts a script with a schedule and a next_scheduled_run.
func (f *fixture) scheduled(t *testing.T, name, expr string, next time.Time, active bool) store.Script {
	t.Helper()
	sc, _, err := f.st.UpsertScript(context.Background(), store.ScriptInput{WorkspaceID: f.ws, Name: name, EntryPoint: name,
		ScriptType: api.ScriptBatch, Active: active, Schedule: &expr, NextScheduledRun: &next, CreatedBy: f.admin})
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

func tickOf(sc store.Script, tick, next time.Time) store.ScheduleTick {
	return store.ScheduleTick{WorkspaceID: sc.WorkspaceID, ScriptID: sc.ID, Version: sc.Version, Due: sc.NextScheduledRun,
		Tick: tick, Next: next, Profile: "prod"}
}

func TestFireSchedule(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	t0 := f.clk.now().Truncate(time.Minute).Add(time.Minute)
	sc := f.scheduled(t, "a.py", "* * * * *", t0, true)
	f.scheduled(t, "off.py", "* * * * *", t0, false)

	// before it is due, nothing; at t0 it is
	if due, err := f.st.DueScripts(ctx, t0.Add(-time.Second)); err != nil || len(due) != 0 {
		t.Fatalf("due before t0: %v %v", due, err)
	}
	due, err := f.st.DueScripts(ctx, t0)
	if err != nil || len(due) != 1 || due[0].ID != sc.ID {
		t.Fatalf("due at t0: %+v %v", due, err)
	}

	// no packages yet: the tick is used up, no run
	_, out, err := f.st.FireSchedule(ctx, tickOf(due[0], t0, t0.Add(time.Minute)))
	if err != nil || out != store.ScheduleNoPackages {
		t.Fatalf("without packages: %v %v", out, err)
	}
	f.pkg(t, store.KindDeployment, "d1")
	f.pkg(t, store.KindConfiguration, "c1")

	// a stale read (the next_scheduled_run moved meanwhile) changes nothing
	if _, out, err := f.st.FireSchedule(ctx, tickOf(due[0], t0, t0.Add(time.Minute))); err != nil || out != store.ScheduleChanged {
		t.Fatalf("stale: %v %v", out, err)
	}

	t1 := t0.Add(time.Minute)
	sc, _ = f.st.ScriptByID(ctx, f.ws, sc.ID)
	run, out, err := f.st.FireSchedule(ctx, tickOf(sc, t1, t1.Add(time.Minute)))
	if err != nil || out != store.ScheduleFired || run.Status != api.StatusPending || run.Trigger != api.TriggerSchedule ||
		run.TriggeredBy != nil || run.Number != 1 || run.Profile != "prod" {
		t.Fatalf("fire: %v %+v %v", out, run, err)
	}
	got, _ := f.st.Run(ctx, run.ID)
	if got.Status != api.StatusPending || got.Trigger != api.TriggerSchedule {
		t.Errorf("stored run %+v", got)
	}
	sc, _ = f.st.ScriptByID(ctx, f.ws, sc.ID)
	if sc.NextScheduledRun == nil || !sc.NextScheduledRun.Equal(t1.Add(time.Minute)) {
		t.Errorf("next_scheduled_run %v", sc.NextScheduledRun)
	}

	// the next tick while that run is pending: skipped, terminal at once
	t2 := t1.Add(time.Minute)
	run2, out, err := f.st.FireSchedule(ctx, tickOf(sc, t2, t2.Add(time.Minute)))
	if err != nil || out != store.ScheduleSkipped || run2.Status != api.StatusSkipped || run2.TimeEnded == nil || run2.Number != 2 {
		t.Fatalf("skip: %v %+v %v", out, run2, err)
	}
	if got, _ := f.st.Run(ctx, run2.ID); got.Status != api.StatusSkipped || got.TimeEnded == nil || got.TimeStarted != nil {
		t.Errorf("stored skipped run %+v", got)
	}
	if pending, _ := f.st.PendingRuns(ctx, 10); len(pending) != 1 || pending[0].ID != run.ID {
		t.Errorf("pending runs %+v, want only the first", pending)
	}

	// a next_scheduled_run set back to a tick already fired (a script
	// upsert racing the ticker) does not fire it again
	sc, _ = f.st.ScriptByID(ctx, f.ws, sc.ID)
	back := t1
	if _, err := f.st.w.ExecContext(ctx, `UPDATE scripts SET next_scheduled_run = ? WHERE id = ?`, micros(back), sc.ID); err != nil {
		t.Fatal(err)
	}
	sc, _ = f.st.ScriptByID(ctx, f.ws, sc.ID)
	if _, out, err := f.st.FireSchedule(ctx, tickOf(sc, t2, t2.Add(time.Minute))); err != nil || out != store.ScheduleAlreadyFired {
		t.Fatalf("refire: %v %v", out, err)
	}
	if _, total, _ := f.st.Runs(ctx, store.RunFilter{WorkspaceID: f.ws}, store.Page{Limit: 10}); total != 2 {
		t.Errorf("%d runs, want 2", total)
	}

	// a script without next_scheduled_run gets one, and no run
	sc, _ = f.st.ScriptByID(ctx, f.ws, sc.ID)
	if _, err := f.st.w.ExecContext(ctx, `UPDATE scripts SET next_scheduled_run = NULL WHERE id = ?`, sc.ID); err != nil {
		t.Fatal(err)
	}
	sc, _ = f.st.ScriptByID(ctx, f.ws, sc.ID)
	if _, out, err := f.st.FireSchedule(ctx, tickOf(sc, time.Time{}, t2.Add(time.Hour))); err != nil || out != store.ScheduleRescheduled {
		t.Fatalf("reschedule: %v %v", out, err)
	}
	sc, _ = f.st.ScriptByID(ctx, f.ws, sc.ID)
	if sc.NextScheduledRun == nil || !sc.NextScheduledRun.Equal(t2.Add(time.Hour)) {
		t.Errorf("next after reschedule %v", sc.NextScheduledRun)
	}

	// a deactivated script is neither due nor fired
	stale := sc
	f.scheduled(t, "a.py", "* * * * *", t0, false)
	if due, _ := f.st.DueScripts(ctx, t2.Add(24*time.Hour)); len(due) != 0 {
		t.Errorf("due after deactivation: %+v", due)
	}
	if _, out, _ := f.st.FireSchedule(ctx, tickOf(stale, t2.Add(time.Hour), t2.Add(2*time.Hour))); out != store.ScheduleChanged {
		t.Errorf("fire of a deactivated script: %v", out)
	}
}

// TestFireScheduleSurvivesReopen checks the last tick fired is kept in the
// database, not in memory.
func TestFireScheduleSurvivesReopen(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.pkg(t, store.KindDeployment, "d1")
	f.pkg(t, store.KindConfiguration, "c1")
	t0 := f.clk.now().Truncate(time.Minute).Add(time.Minute)
	sc := f.scheduled(t, "a.py", "* * * * *", t0, true)
	if _, out, err := f.st.FireSchedule(ctx, tickOf(sc, t0, t0.Add(time.Minute))); err != nil || out != store.ScheduleFired {
		t.Fatalf("fire: %v %v", out, err)
	}
	path := filepath.Join(t.TempDir(), "copy.db")
	if _, err := f.st.w.ExecContext(ctx, `VACUUM INTO ?`, path); err != nil {
		t.Fatal(err)
	}
	st, err := Open(ctx, path, Options{Now: f.clk.now})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// the same tick, as a ticker that read the script before the fire would send it
	if _, out, err := st.FireSchedule(ctx, tickOf(sc, t0, t0.Add(time.Minute))); err != nil || out != store.ScheduleChanged {
		t.Fatalf("stale after reopen: %v %v", out, err)
	}
	sc2, _ := st.ScriptByID(ctx, f.ws, sc.ID)
	sc2.NextScheduledRun = &t0 // even with a matching read, the tick is used up
	if _, err := st.w.ExecContext(ctx, `UPDATE scripts SET next_scheduled_run = ? WHERE id = ?`, micros(t0), sc.ID); err != nil {
		t.Fatal(err)
	}
	if _, out, err := st.FireSchedule(ctx, tickOf(sc2, t0, t0.Add(time.Minute))); err != nil || out != store.ScheduleAlreadyFired {
		t.Fatalf("same tick after reopen: %v %v", out, err)
	}
}

func TestEncryptionKeys(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	if ks, err := f.st.EncryptionKeys(ctx); err != nil || len(ks) != 0 {
		t.Fatalf("keys of a new store: %v %v", ks, err)
	}
	for _, k := range []store.EncryptionKey{{ID: "a", CheckValue: "ca"}, {ID: "b", CheckValue: "cb"}, {ID: "a", CheckValue: "other"}} {
		if err := f.st.AddEncryptionKey(ctx, k); err != nil {
			t.Fatal(err)
		}
		f.clk.add(time.Second)
	}
	ks, err := f.st.EncryptionKeys(ctx)
	if err != nil || len(ks) != 2 || ks[0].ID != "a" || ks[0].CheckValue != "ca" || ks[1].ID != "b" {
		t.Fatalf("keys: %+v %v", ks, err)
	}
	f.pkg(t, store.KindConfiguration, "c1")
	f.pkg(t, store.KindConfiguration, "c2")
	f.pkg(t, store.KindDeployment, "d1")
	if blobs, err := f.st.PackageBlobs(ctx, store.KindConfiguration); err != nil || len(blobs) != 2 || blobs[0] != "blob-c1" {
		t.Errorf("configuration blobs %v %v", blobs, err)
	}
}
