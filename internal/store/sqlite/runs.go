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

const runCols = `id, workspace_id, script_id, script_version_id, deployment_id, configuration_id, number, status,
	trigger_type, triggered_by, profile, pgid, time_started, time_ended, duration, date_added, date_updated`

func scanRun(row interface{ Scan(...any) error }) (store.Run, error) {
	var r store.Run
	var by sql.NullString
	var started, ended, duration sql.NullInt64
	var added, updated int64
	if err := row.Scan(&r.ID, &r.WorkspaceID, &r.ScriptID, &r.ScriptVersionID, &r.DeploymentID, &r.ConfigurationID,
		&r.Number, &r.Status, &r.Trigger, &by, &r.Profile, &r.PGID, &started, &ended, &duration, &added, &updated); err != nil {
		return r, notFound(err)
	}
	r.TriggeredBy, r.TimeStarted, r.TimeEnded = stringPtr(by), timePtr(started), timePtr(ended)
	if duration.Valid {
		d := duration.Int64
		r.Duration = &d
	}
	r.Created, r.Updated = fromMicros(added), fromMicros(updated)
	return r, nil
}

func getRun(ctx context.Context, q querier, id string) (store.Run, error) {
	return scanRun(q.QueryRowContext(ctx, `SELECT `+runCols+` FROM runs WHERE id = ?`, id))
}

// CreateRun creates a pending run.
func (s *Store) CreateRun(ctx context.Context, in store.NewRun) (store.Run, error) {
	var r store.Run
	err := s.tx(ctx, func(tx *sql.Tx) error {
		sc, err := scanScript(tx.QueryRowContext(ctx, `SELECT `+scriptCols+` FROM scripts WHERE id = ? AND workspace_id = ?`,
			in.ScriptID, in.WorkspaceID))
		if err != nil {
			return fmt.Errorf("script %q: %w", in.ScriptID, err)
		}
		dep, err := latestPackage(ctx, tx, store.KindDeployment, in.WorkspaceID)
		if errors.Is(err, store.ErrNotFound) {
			return store.ErrNoDeployment
		} else if err != nil {
			return err
		}
		conf, err := latestPackage(ctx, tx, store.KindConfiguration, in.WorkspaceID)
		if errors.Is(err, store.ErrNotFound) {
			return store.ErrNoConfiguration
		} else if err != nil {
			return err
		}
		var number int
		if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(number), 0) + 1 FROM runs WHERE script_id = ?`, sc.ID).Scan(&number); err != nil {
			return err
		}
		now := s.now().UTC()
		r = store.Run{ID: newID(), WorkspaceID: in.WorkspaceID, ScriptID: sc.ID, ScriptVersionID: sc.VersionID,
			DeploymentID: dep.ID, ConfigurationID: conf.ID, Number: number, Status: api.StatusPending, Trigger: in.Trigger,
			TriggeredBy: in.TriggeredBy, Profile: in.Profile, Created: now, Updated: now}
		_, err = tx.ExecContext(ctx, `INSERT INTO runs (id, workspace_id, script_id, script_version_id, deployment_id,
			configuration_id, number, status, trigger_type, triggered_by, profile, date_added, date_updated)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			r.ID, r.WorkspaceID, r.ScriptID, r.ScriptVersionID, r.DeploymentID, r.ConfigurationID, r.Number, r.Status,
			r.Trigger, nullString(r.TriggeredBy), r.Profile, micros(now), micros(now))
		return err
	})
	if err != nil {
		return store.Run{}, fmt.Errorf("create run: %w", err)
	}
	return r, nil
}

// Run returns a run by id.
func (s *Store) Run(ctx context.Context, id string) (store.Run, error) {
	return getRun(ctx, reader{s}, id)
}

func runWhere(f store.RunFilter) (string, []any) {
	where := `workspace_id = ?`
	args := []any{f.WorkspaceID}
	if f.ScriptID != "" {
		where += ` AND script_id = ?`
		args = append(args, f.ScriptID)
	}
	if f.Status != "" {
		where += ` AND status = ?`
		args = append(args, f.Status)
	}
	return where, args
}

// LatestRun returns the newest run matching f.
func (s *Store) LatestRun(ctx context.Context, f store.RunFilter) (store.Run, error) {
	where, args := runWhere(f)
	return scanRun(s.queryRow(ctx, `SELECT `+runCols+` FROM runs WHERE `+where+` ORDER BY seq DESC LIMIT 1`, args...))
}

// Runs lists runs matching f, newest first.
func (s *Store) Runs(ctx context.Context, f store.RunFilter, p store.Page) ([]store.Run, int, error) {
	where, args := runWhere(f)
	var total int
	if err := s.queryRow(ctx, `SELECT count(*) FROM runs WHERE `+where, args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	rows, err := s.query(ctx, `SELECT `+runCols+` FROM runs WHERE `+where+` ORDER BY seq DESC LIMIT ? OFFSET ?`,
		append(args, p.Limit, p.Offset)...)
	if err != nil {
		return nil, 0, err
	}
	return collectRuns(rows, total)
}

func collectRuns(rows *sql.Rows, total int) ([]store.Run, int, error) {
	defer rows.Close()
	out := []store.Run{}
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, r)
	}
	return out, total, rows.Err()
}

// PendingRuns returns pending runs, oldest first.
func (s *Store) PendingRuns(ctx context.Context, limit int) ([]store.Run, error) {
	rows, err := s.query(ctx, `SELECT `+runCols+` FROM runs WHERE status = 'pending' ORDER BY seq LIMIT ?`, limit)
	if err != nil {
		return nil, err
	}
	runs, _, err := collectRuns(rows, 0)
	return runs, err
}

// ActiveRuns returns the runs that hold or are about to hold a process.
func (s *Store) ActiveRuns(ctx context.Context) ([]store.Run, error) {
	rows, err := s.query(ctx, `SELECT `+runCols+` FROM runs
		WHERE status IN ('starting', 'running', 'finalizing', 'cancelling') ORDER BY seq`)
	if err != nil {
		return nil, err
	}
	runs, _, err := collectRuns(rows, 0)
	return runs, err
}

// ClaimRun moves a pending run to starting.
func (s *Store) ClaimRun(ctx context.Context, id string) (bool, error) {
	now := micros(s.now())
	res, err := s.w.ExecContext(ctx, `UPDATE runs SET status = 'starting', time_started = ?, date_updated = ?
		WHERE id = ? AND status = 'pending'`, now, now, id)
	if err != nil {
		return false, fmt.Errorf("claim run %q: %w", id, err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// AdvanceRun moves an active run forward unless it is cancelling.
func (s *Store) AdvanceRun(ctx context.Context, id string, status api.RunStatus) error {
	_, err := s.w.ExecContext(ctx, `UPDATE runs SET status = ?, date_updated = ?
		WHERE id = ? AND status IN ('starting', 'running', 'finalizing')`, status, micros(s.now()), id)
	if err != nil {
		return fmt.Errorf("set status of run %q to %q: %w", id, status, err)
	}
	return nil
}

// SetRunPGID records a run's process group.
func (s *Store) SetRunPGID(ctx context.Context, id string, pgid int) error {
	_, err := s.w.ExecContext(ctx, `UPDATE runs SET pgid = ?, date_updated = ? WHERE id = ?`, pgid, micros(s.now()), id)
	if err != nil {
		return fmt.Errorf("record process group of run %q: %w", id, err)
	}
	return nil
}

// CancelRun cancels a pending run and marks an active one cancelling.
func (s *Store) CancelRun(ctx context.Context, id string) (store.Run, error) {
	var r store.Run
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		if r, err = getRun(ctx, tx, id); err != nil {
			return err
		}
		now := s.now().UTC()
		switch {
		case r.Status.Terminal():
			return store.ErrTerminal
		case r.Status == api.StatusPending:
			r.Status, r.TimeEnded = api.StatusCancelled, &now
			_, err = tx.ExecContext(ctx, `UPDATE runs SET status = ?, time_ended = ?, date_updated = ? WHERE id = ?`,
				r.Status, micros(now), micros(now), id)
		case r.Status == api.StatusCancelling:
			return nil
		default:
			r.Status = api.StatusCancelling
			_, err = tx.ExecContext(ctx, `UPDATE runs SET status = ?, date_updated = ? WHERE id = ?`, r.Status, micros(now), id)
		}
		r.Updated = now
		return err
	})
	if err != nil {
		return store.Run{}, fmt.Errorf("cancel run %q: %w", id, err)
	}
	return r, nil
}

// FinishRun puts a run in a terminal status.
func (s *Store) FinishRun(ctx context.Context, id string, status api.RunStatus) (store.Run, error) {
	var r store.Run
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		if r, err = getRun(ctx, tx, id); err != nil {
			return err
		}
		if r.Status.Terminal() {
			return store.ErrTerminal
		}
		if r.Status == api.StatusCancelling {
			// The contract: a cancelling run becomes cancelled once its
			// process is gone, however the process ended.
			status = api.StatusCancelled
		}
		now := s.now().UTC()
		r.Status, r.TimeEnded, r.Updated = status, &now, now
		if r.TimeStarted != nil {
			d := int64(now.Sub(*r.TimeStarted).Round(time.Second) / time.Second)
			r.Duration = &d
		}
		var dur sql.NullInt64
		if r.Duration != nil {
			dur = sql.NullInt64{Int64: *r.Duration, Valid: true}
		}
		_, err = tx.ExecContext(ctx, `UPDATE runs SET status = ?, time_ended = ?, duration = ?, date_updated = ? WHERE id = ?`,
			status, micros(now), dur, micros(now), id)
		return err
	})
	if err != nil {
		return store.Run{}, fmt.Errorf("finish run %q: %w", id, err)
	}
	return r, nil
}

// ImportRuns inserts runs as they are, in one transaction: for bulk loads
// (benchmarks, a copy from another backend). Ids and (script, number) pairs
// must be new; a run with no Created time gets the clock's.
func (s *Store) ImportRuns(ctx context.Context, runs []store.Run) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO runs (`+runCols+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		now := s.now()
		for _, r := range runs {
			if r.Created.IsZero() {
				r.Created, r.Updated = now, now
			}
			var dur sql.NullInt64
			if r.Duration != nil {
				dur = sql.NullInt64{Int64: *r.Duration, Valid: true}
			}
			if _, err := stmt.ExecContext(ctx, r.ID, r.WorkspaceID, r.ScriptID, r.ScriptVersionID, r.DeploymentID,
				r.ConfigurationID, r.Number, r.Status, r.Trigger, nullString(r.TriggeredBy), r.Profile, r.PGID,
				nullMicros(r.TimeStarted), nullMicros(r.TimeEnded), dur, micros(r.Created), micros(r.Updated)); err != nil {
				return fmt.Errorf("import run %q: %w", r.ID, err)
			}
		}
		return nil
	})
}
