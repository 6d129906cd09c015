package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/dlthub/runtime-action/internal/store"
)

const pkgCols = `id, kind, workspace_id, version, content_hash, blob, created_by, file_count, file_names, size, profiles, date_added, date_updated`

func scanPackage(row interface{ Scan(...any) error }) (store.Package, error) {
	var p store.Package
	var added, updated int64
	if err := row.Scan(&p.ID, &p.Kind, &p.WorkspaceID, &p.Version, &p.ContentHash, &p.Blob, &p.CreatedBy,
		&p.FileCount, &p.FileNames, &p.Size, &p.Profiles, &added, &updated); err != nil {
		return p, notFound(err)
	}
	p.Created, p.Updated = fromMicros(added), fromMicros(updated)
	return p, nil
}

func latestPackage(ctx context.Context, q querier, kind store.PackageKind, workspaceID string) (store.Package, error) {
	return scanPackage(q.QueryRowContext(ctx, `SELECT `+pkgCols+` FROM packages WHERE workspace_id = ? AND kind = ?
		ORDER BY version DESC LIMIT 1`, workspaceID, kind))
}

// CreatePackage stores the next version of a package unless the latest has
// the same content hash.
func (s *Store) CreatePackage(ctx context.Context, p store.Package, commit func(store.Package) error) (store.Package, bool, error) {
	var out store.Package
	created := false
	err := s.tx(ctx, func(tx *sql.Tx) error {
		latest, err := latestPackage(ctx, tx, p.Kind, p.WorkspaceID)
		switch {
		case err == nil && latest.ContentHash == p.ContentHash:
			out = latest
			return nil
		case err == nil:
			p.Version = latest.Version + 1
		case errors.Is(err, store.ErrNotFound):
			p.Version = 1
		default:
			return err
		}
		now := s.now().UTC()
		p.ID, p.Created, p.Updated = newID(), now, now
		if _, err := tx.ExecContext(ctx, `INSERT INTO packages (`+pkgCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			p.ID, p.Kind, p.WorkspaceID, p.Version, p.ContentHash, p.Blob, p.CreatedBy, p.FileCount, p.FileNames,
			p.Size, p.Profiles, micros(now), micros(now)); err != nil {
			return err
		}
		if commit != nil {
			if err := commit(p); err != nil {
				return err
			}
		}
		out, created = p, true
		return nil
	})
	if err != nil {
		return store.Package{}, false, fmt.Errorf("create %s: %w", p.Kind, err)
	}
	return out, created, nil
}

// LatestPackage returns the newest package of a kind.
func (s *Store) LatestPackage(ctx context.Context, kind store.PackageKind, workspaceID string) (store.Package, error) {
	return latestPackage(ctx, reader{s}, kind, workspaceID)
}

// PackageByID returns a package by id.
func (s *Store) PackageByID(ctx context.Context, kind store.PackageKind, workspaceID, id string) (store.Package, error) {
	return scanPackage(s.queryRow(ctx, `SELECT `+pkgCols+` FROM packages WHERE id = ? AND workspace_id = ? AND kind = ?`,
		id, workspaceID, kind))
}

// PackageByVersion returns a package by version number.
func (s *Store) PackageByVersion(ctx context.Context, kind store.PackageKind, workspaceID string, version int) (store.Package, error) {
	return scanPackage(s.queryRow(ctx, `SELECT `+pkgCols+` FROM packages WHERE workspace_id = ? AND kind = ? AND version = ?`,
		workspaceID, kind, version))
}

// Packages lists packages of a kind, newest first.
func (s *Store) Packages(ctx context.Context, kind store.PackageKind, workspaceID string, p store.Page) ([]store.Package, int, error) {
	var total int
	if err := s.queryRow(ctx, `SELECT count(*) FROM packages WHERE workspace_id = ? AND kind = ?`, workspaceID, kind).Scan(&total); err != nil {
		return nil, 0, err
	}
	rows, err := s.query(ctx, `SELECT `+pkgCols+` FROM packages WHERE workspace_id = ? AND kind = ?
		ORDER BY version DESC LIMIT ? OFFSET ?`, workspaceID, kind, p.Limit, p.Offset)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	out := []store.Package{}
	for rows.Next() {
		pk, err := scanPackage(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, pk)
	}
	return out, total, rows.Err()
}

// BlobInUse reports whether a package references the blob.
func (s *Store) BlobInUse(ctx context.Context, blob string) (bool, error) {
	var n int
	// read through the writer so that a row committed a moment ago is seen
	err := s.w.QueryRowContext(ctx, `SELECT count(*) FROM packages WHERE blob = ?`, blob).Scan(&n)
	return n > 0, err
}
