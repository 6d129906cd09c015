package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/dlthub/runtime-action/internal/api"
	"github.com/dlthub/runtime-action/internal/store"
)

var (
	_ store.ScheduleStore = (*Store)(nil)
	_ store.KeyStore      = (*Store)(nil)
)

// DueScripts returns the active scheduled scripts that are due.
func (s *Store) DueScripts(ctx context.Context, now time.Time) ([]store.Script, error) {
	rows, err := s.query(ctx, `SELECT `+scriptCols+` FROM scripts
		WHERE active = 1 AND schedule IS NOT NULL AND (next_scheduled_run IS NULL OR next_scheduled_run <= ?)
		ORDER BY next_scheduled_run, seq`, micros(now))
	if err != nil {
		return nil, fmt.Errorf("find due scripts: %w", err)
	}
	defer rows.Close()
	var out []store.Script
	for rows.Next() {
		sc, err := scanScript(rows)
		if err != nil {
			return nil, fmt.Errorf("find due scripts: %w", err)
		}
		out = append(out, sc)
	}
	return out, rows.Err()
}

func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return micros(*a) == micros(*b)
}

// FireSchedule records one check of a script's schedule.
func (s *Store) FireSchedule(ctx context.Context, t store.ScheduleTick) (store.Run, store.ScheduleOutcome, error) {
	var run store.Run
	outcome := store.ScheduleChanged
	err := s.tx(ctx, func(tx *sql.Tx) error {
		sc, err := scanScript(tx.QueryRowContext(ctx, `SELECT `+scriptCols+` FROM scripts WHERE id = ? AND workspace_id = ?`,
			t.ScriptID, t.WorkspaceID))
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if sc.Version != t.Version || !sc.Active || sc.Schedule == nil || !sameTime(sc.NextScheduledRun, t.Due) {
			return nil
		}
		now := s.now().UTC()
		if _, err := tx.ExecContext(ctx, `UPDATE scripts SET next_scheduled_run = ? WHERE id = ?`, micros(t.Next), sc.ID); err != nil {
			return err
		}
		if t.Tick.IsZero() {
			outcome = store.ScheduleRescheduled
			return nil
		}
		var last int64
		err = tx.QueryRowContext(ctx, `SELECT last_tick FROM schedule_ticks WHERE script_id = ?`, sc.ID).Scan(&last)
		switch {
		case err == nil && last >= micros(t.Tick):
			outcome = store.ScheduleAlreadyFired
			return nil
		case err != nil && !errors.Is(err, sql.ErrNoRows):
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schedule_ticks (script_id, last_tick, date_updated) VALUES (?, ?, ?)
			ON CONFLICT (script_id) DO UPDATE SET last_tick = excluded.last_tick, date_updated = excluded.date_updated`,
			sc.ID, micros(t.Tick), micros(now)); err != nil {
			return err
		}
		dep, err := latestPackage(ctx, tx, store.KindDeployment, sc.WorkspaceID)
		if errors.Is(err, store.ErrNotFound) {
			outcome = store.ScheduleNoPackages
			return nil
		} else if err != nil {
			return err
		}
		conf, err := latestPackage(ctx, tx, store.KindConfiguration, sc.WorkspaceID)
		if errors.Is(err, store.ErrNotFound) {
			outcome = store.ScheduleNoPackages
			return nil
		} else if err != nil {
			return err
		}
		var active bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM runs WHERE script_id = ?
			AND status IN ('pending', 'starting', 'running', 'finalizing', 'cancelling'))`, sc.ID).Scan(&active); err != nil {
			return err
		}
		var number int
		if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(number), 0) + 1 FROM runs WHERE script_id = ?`, sc.ID).Scan(&number); err != nil {
			return err
		}
		run = store.Run{ID: newID(), WorkspaceID: sc.WorkspaceID, ScriptID: sc.ID, ScriptVersionID: sc.VersionID,
			DeploymentID: dep.ID, ConfigurationID: conf.ID, Number: number, Status: api.StatusPending,
			Trigger: api.TriggerSchedule, Profile: t.Profile, Created: now, Updated: now}
		outcome = store.ScheduleFired
		if active {
			// Recorded, so that the skip shows in the script's runs, but
			// terminal at once: it never holds a process.
			run.Status, run.TimeEnded = api.StatusSkipped, &now
			outcome = store.ScheduleSkipped
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO runs (id, workspace_id, script_id, script_version_id, deployment_id,
			configuration_id, number, status, trigger_type, triggered_by, profile, time_ended, date_added, date_updated)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?, ?)`,
			run.ID, run.WorkspaceID, run.ScriptID, run.ScriptVersionID, run.DeploymentID, run.ConfigurationID, run.Number,
			run.Status, run.Trigger, run.Profile, nullMicros(run.TimeEnded), micros(now), micros(now))
		return err
	})
	if err != nil {
		return store.Run{}, store.ScheduleChanged, fmt.Errorf("fire schedule of script %q: %w", t.ScriptID, err)
	}
	if outcome != store.ScheduleFired && outcome != store.ScheduleSkipped {
		run = store.Run{}
	}
	return run, outcome, nil
}

// EncryptionKeys lists the known keys, oldest first.
func (s *Store) EncryptionKeys(ctx context.Context) ([]store.EncryptionKey, error) {
	// through the writer: a key added a moment ago by another process (the
	// rotate command) is seen
	rows, err := s.w.QueryContext(ctx, `SELECT id, check_value, date_added FROM encryption_keys ORDER BY date_added, id`)
	if err != nil {
		return nil, fmt.Errorf("list encryption keys: %w", err)
	}
	defer rows.Close()
	var out []store.EncryptionKey
	for rows.Next() {
		var k store.EncryptionKey
		var added int64
		if err := rows.Scan(&k.ID, &k.CheckValue, &added); err != nil {
			return nil, fmt.Errorf("list encryption keys: %w", err)
		}
		k.Created = fromMicros(added)
		out = append(out, k)
	}
	return out, rows.Err()
}

// AddEncryptionKey records a key unless its id is known.
func (s *Store) AddEncryptionKey(ctx context.Context, k store.EncryptionKey) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO encryption_keys (id, check_value, date_added) VALUES (?, ?, ?)
		ON CONFLICT (id) DO NOTHING`, k.ID, k.CheckValue, micros(s.now()))
	if err != nil {
		return fmt.Errorf("record encryption key %q: %w", k.ID, err)
	}
	return nil
}

// PackageBlobs lists the distinct blobs of a kind's packages.
func (s *Store) PackageBlobs(ctx context.Context, kind store.PackageKind) ([]string, error) {
	rows, err := s.w.QueryContext(ctx, `SELECT DISTINCT blob FROM packages WHERE kind = ? ORDER BY blob`, kind)
	if err != nil {
		return nil, fmt.Errorf("list %s blobs: %w", kind, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var b string
		if err := rows.Scan(&b); err != nil {
			return nil, fmt.Errorf("list %s blobs: %w", kind, err)
		}
		out = append(out, b)
	}
	return out, rows.Err()
}
