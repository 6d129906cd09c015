package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/dlthub/runtime-action/internal/store"
)

const scriptCols = `id, workspace_id, name, version, version_id, description, entry_point, script_type, active, profile,
	schedule, next_scheduled_run, created_by, date_added, date_updated`

func scanScript(row interface{ Scan(...any) error }) (store.Script, error) {
	var sc store.Script
	var profile, schedule sql.NullString
	var next sql.NullInt64
	var added, updated int64
	if err := row.Scan(&sc.ID, &sc.WorkspaceID, &sc.Name, &sc.Version, &sc.VersionID, &sc.Description, &sc.EntryPoint,
		&sc.ScriptType, &sc.Active, &profile, &schedule, &next, &sc.CreatedBy, &added, &updated); err != nil {
		return sc, notFound(err)
	}
	sc.Profile, sc.Schedule, sc.NextScheduledRun = stringPtr(profile), stringPtr(schedule), timePtr(next)
	sc.Created, sc.Updated = fromMicros(added), fromMicros(updated)
	return sc, nil
}

func eqPtr(a, b *string) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}

// UpsertScript creates a script or makes a new version of it.
func (s *Store) UpsertScript(ctx context.Context, in store.ScriptInput) (store.Script, bool, error) {
	var out store.Script
	changed := false
	err := s.tx(ctx, func(tx *sql.Tx) error {
		now := s.now().UTC()
		cur, err := scanScript(tx.QueryRowContext(ctx, `SELECT `+scriptCols+` FROM scripts WHERE workspace_id = ? AND name = ?`,
			in.WorkspaceID, in.Name))
		switch {
		case errors.Is(err, store.ErrNotFound):
			cur = store.Script{ID: newID(), WorkspaceID: in.WorkspaceID, Name: in.Name, CreatedBy: in.CreatedBy, Created: now}
		case err != nil:
			return err
		case cur.Description == in.Description && cur.EntryPoint == in.EntryPoint && cur.ScriptType == in.ScriptType &&
			cur.Active == in.Active && eqPtr(cur.Profile, in.Profile) && eqPtr(cur.Schedule, in.Schedule):
			out = cur
			return nil
		}
		next := cur
		next.Version++
		next.VersionID = newID()
		next.Description, next.EntryPoint, next.ScriptType, next.Active = in.Description, in.EntryPoint, in.ScriptType, in.Active
		next.Profile, next.Schedule, next.NextScheduledRun = in.Profile, in.Schedule, in.NextScheduledRun
		next.Updated = now
		if next.Version == 1 {
			_, err = tx.ExecContext(ctx, `INSERT INTO scripts (`+scriptCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				next.ID, next.WorkspaceID, next.Name, next.Version, next.VersionID, next.Description, next.EntryPoint,
				next.ScriptType, next.Active, nullString(next.Profile), nullString(next.Schedule), nullMicros(next.NextScheduledRun),
				next.CreatedBy, micros(next.Created), micros(now))
		} else {
			_, err = tx.ExecContext(ctx, `UPDATE scripts SET version = ?, version_id = ?, description = ?, entry_point = ?,
				script_type = ?, active = ?, profile = ?, schedule = ?, next_scheduled_run = ?, date_updated = ? WHERE id = ?`,
				next.Version, next.VersionID, next.Description, next.EntryPoint, next.ScriptType, next.Active,
				nullString(next.Profile), nullString(next.Schedule), nullMicros(next.NextScheduledRun), micros(now), next.ID)
		}
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO script_versions (id, script_id, version, name, description, entry_point,
			script_type, active, profile, schedule, created_by, date_added, date_updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			next.VersionID, next.ID, next.Version, next.Name, next.Description, next.EntryPoint, next.ScriptType, next.Active,
			nullString(next.Profile), nullString(next.Schedule), in.CreatedBy, micros(now), micros(now)); err != nil {
			return err
		}
		out, changed = next, true
		return nil
	})
	if err != nil {
		return store.Script{}, false, fmt.Errorf("save script %q: %w", in.Name, err)
	}
	return out, changed, nil
}

// ScriptByID returns a script by id.
func (s *Store) ScriptByID(ctx context.Context, workspaceID, id string) (store.Script, error) {
	return scanScript(s.queryRow(ctx, `SELECT `+scriptCols+` FROM scripts WHERE id = ? AND workspace_id = ?`, id, workspaceID))
}

// ScriptByName returns a script by name.
func (s *Store) ScriptByName(ctx context.Context, workspaceID, name string) (store.Script, error) {
	return scanScript(s.queryRow(ctx, `SELECT `+scriptCols+` FROM scripts WHERE workspace_id = ? AND name = ?`, workspaceID, name))
}

// Scripts lists scripts, newest first.
func (s *Store) Scripts(ctx context.Context, workspaceID string, p store.Page) ([]store.Script, int, error) {
	var total int
	if err := s.queryRow(ctx, `SELECT count(*) FROM scripts WHERE workspace_id = ?`, workspaceID).Scan(&total); err != nil {
		return nil, 0, err
	}
	rows, err := s.query(ctx, `SELECT `+scriptCols+` FROM scripts WHERE workspace_id = ? ORDER BY seq DESC LIMIT ? OFFSET ?`,
		workspaceID, p.Limit, p.Offset)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	out := []store.Script{}
	for rows.Next() {
		sc, err := scanScript(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, sc)
	}
	return out, total, rows.Err()
}

const versionCols = `id, script_id, version, name, description, entry_point, script_type, active, profile, schedule,
	created_by, date_added, date_updated`

func scanVersion(row interface{ Scan(...any) error }) (store.ScriptVersion, error) {
	var v store.ScriptVersion
	var profile, schedule sql.NullString
	var added, updated int64
	if err := row.Scan(&v.ID, &v.ScriptID, &v.Version, &v.Name, &v.Description, &v.EntryPoint, &v.ScriptType, &v.Active,
		&profile, &schedule, &v.CreatedBy, &added, &updated); err != nil {
		return v, notFound(err)
	}
	v.Profile, v.Schedule = stringPtr(profile), stringPtr(schedule)
	v.Created, v.Updated = fromMicros(added), fromMicros(updated)
	return v, nil
}

// ScriptVersions lists a script's versions, newest first.
func (s *Store) ScriptVersions(ctx context.Context, scriptID string, p store.Page) ([]store.ScriptVersion, int, error) {
	var total int
	if err := s.queryRow(ctx, `SELECT count(*) FROM script_versions WHERE script_id = ?`, scriptID).Scan(&total); err != nil {
		return nil, 0, err
	}
	rows, err := s.query(ctx, `SELECT `+versionCols+` FROM script_versions WHERE script_id = ?
		ORDER BY version DESC LIMIT ? OFFSET ?`, scriptID, p.Limit, p.Offset)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	out := []store.ScriptVersion{}
	for rows.Next() {
		v, err := scanVersion(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, v)
	}
	return out, total, rows.Err()
}

// ScriptVersionByID returns a version by id.
func (s *Store) ScriptVersionByID(ctx context.Context, scriptID, id string) (store.ScriptVersion, error) {
	return scanVersion(s.queryRow(ctx, `SELECT `+versionCols+` FROM script_versions WHERE id = ? AND script_id = ?`, id, scriptID))
}

// ScriptVersionByNumber returns a version by number.
func (s *Store) ScriptVersionByNumber(ctx context.Context, scriptID string, version int) (store.ScriptVersion, error) {
	return scanVersion(s.queryRow(ctx, `SELECT `+versionCols+` FROM script_versions WHERE script_id = ? AND version = ?`,
		scriptID, version))
}
