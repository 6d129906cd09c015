package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/dlthub/runtime-action/internal/store"
)

const orgCols = `id, name, description, date_added, date_updated`

func scanOrg(row interface{ Scan(...any) error }) (store.Organization, error) {
	var o store.Organization
	var desc sql.NullString
	var added, updated int64
	if err := row.Scan(&o.ID, &o.Name, &desc, &added, &updated); err != nil {
		return o, notFound(err)
	}
	o.Description, o.Created, o.Updated = stringPtr(desc), fromMicros(added), fromMicros(updated)
	return o, nil
}

const wsCols = `id, organization_id, name, description, date_added, date_updated`

func scanWorkspace(row interface{ Scan(...any) error }) (store.Workspace, error) {
	var w store.Workspace
	var desc sql.NullString
	var added, updated int64
	if err := row.Scan(&w.ID, &w.OrganizationID, &w.Name, &desc, &added, &updated); err != nil {
		return w, notFound(err)
	}
	w.Description, w.Created, w.Updated = stringPtr(desc), fromMicros(added), fromMicros(updated)
	return w, nil
}

// Bootstrap creates the first organization, workspace and admin user.
func (s *Store) Bootstrap(ctx context.Context, b store.Bootstrap) (store.BootstrapResult, bool, error) {
	var res store.BootstrapResult
	created := false
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		res.Organization, err = scanOrg(tx.QueryRowContext(ctx, `SELECT `+orgCols+` FROM organizations ORDER BY seq LIMIT 1`))
		if err == nil {
			if res.Workspace, err = scanWorkspace(tx.QueryRowContext(ctx,
				`SELECT `+wsCols+` FROM workspaces WHERE organization_id = ? ORDER BY seq LIMIT 1`, res.Organization.ID)); err != nil {
				return fmt.Errorf("find the first workspace: %w", err)
			}
			if res.Admin, err = scanUser(tx.QueryRowContext(ctx,
				`SELECT `+userCols+` FROM users WHERE email = ? ORDER BY seq LIMIT 1`, b.AdminEmail)); err != nil {
				return fmt.Errorf("find the admin user %q: %w", b.AdminEmail, err)
			}
			return nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		now := s.now()
		created = true
		res.Organization = store.Organization{ID: newID(), Name: b.OrganizationName, Created: now, Updated: now}
		if _, err := tx.ExecContext(ctx, `INSERT INTO organizations (id, name, date_added, date_updated) VALUES (?, ?, ?, ?)`,
			res.Organization.ID, res.Organization.Name, micros(now), micros(now)); err != nil {
			return err
		}
		if res.Workspace, err = insertWorkspace(ctx, tx, res.Organization.ID, b.WorkspaceName, now); err != nil {
			return err
		}
		res.Admin, err = ensureUser(ctx, tx, store.UserInput{Email: b.AdminEmail, WorkspaceID: res.Workspace.ID}, now)
		return err
	})
	if err != nil {
		return store.BootstrapResult{}, false, fmt.Errorf("bootstrap: %w", err)
	}
	return res, created, nil
}

func insertWorkspace(ctx context.Context, tx *sql.Tx, orgID, name string, now time.Time) (store.Workspace, error) {
	w := store.Workspace{ID: newID(), OrganizationID: orgID, Name: name, Created: now.UTC(), Updated: now.UTC()}
	_, err := tx.ExecContext(ctx, `INSERT INTO workspaces (id, organization_id, name, date_added, date_updated) VALUES (?, ?, ?, ?, ?)`,
		w.ID, orgID, name, micros(now), micros(now))
	if err != nil {
		return w, notFound(err)
	}
	return w, nil
}

// Organization returns an organization by id.
func (s *Store) Organization(ctx context.Context, id string) (store.Organization, error) {
	return scanOrg(s.queryRow(ctx, `SELECT `+orgCols+` FROM organizations WHERE id = ?`, id))
}

// MemberOrganization returns an organization holding a workspace of the user.
func (s *Store) MemberOrganization(ctx context.Context, userID, orgID string) (store.Organization, error) {
	return scanOrg(s.queryRow(ctx, `SELECT `+orgCols+` FROM organizations o WHERE o.id = ? AND EXISTS (
		SELECT 1 FROM memberships m JOIN workspaces w ON w.id = m.workspace_id
		WHERE m.user_id = ? AND w.organization_id = o.id)`, orgID, userID))
}

// CreateWorkspace creates a workspace with its members.
func (s *Store) CreateWorkspace(ctx context.Context, orgID, name string, memberIDs ...string) (store.Workspace, error) {
	var w store.Workspace
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := scanOrg(tx.QueryRowContext(ctx, `SELECT `+orgCols+` FROM organizations WHERE id = ?`, orgID)); err != nil {
			return fmt.Errorf("organization %q: %w", orgID, err)
		}
		now := s.now()
		var err error
		if w, err = insertWorkspace(ctx, tx, orgID, name, now); err != nil {
			return err
		}
		for _, u := range memberIDs {
			if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO memberships (user_id, workspace_id, date_added) VALUES (?, ?, ?)`,
				u, w.ID, micros(now)); err != nil {
				return fmt.Errorf("add member %q: %w", u, err)
			}
		}
		return nil
	})
	if err != nil {
		return store.Workspace{}, fmt.Errorf("create workspace %q: %w", name, err)
	}
	return w, nil
}

// Workspace returns a workspace by id.
func (s *Store) Workspace(ctx context.Context, id string) (store.Workspace, error) {
	return scanWorkspace(s.queryRow(ctx, `SELECT `+wsCols+` FROM workspaces WHERE id = ?`, id))
}

// Workspaces lists all workspaces, oldest first.
func (s *Store) Workspaces(ctx context.Context) ([]store.Workspace, error) {
	rows, err := s.query(ctx, `SELECT `+wsCols+` FROM workspaces ORDER BY seq`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Workspace
	for rows.Next() {
		w, err := scanWorkspace(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, w)
	}
	return out, rows.Err()
}

// MemberWorkspace returns a workspace the user is a member of.
func (s *Store) MemberWorkspace(ctx context.Context, userID, workspaceID string) (store.Workspace, error) {
	return scanWorkspace(s.queryRow(ctx, `SELECT w.id, w.organization_id, w.name, w.description, w.date_added, w.date_updated
		FROM memberships m JOIN workspaces w ON w.id = m.workspace_id
		WHERE m.user_id = ? AND m.workspace_id = ?`, userID, workspaceID))
}
