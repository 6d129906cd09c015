package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/dlthub/runtime-action/internal/store"
)

// ---------------------------------------------------------------- GitHub OIDC trust

const ruleCols = `id, workspace_id, repository_id, repository_owner_id, ref, environment, workflow_ref, date_added`

func scanRule(row interface{ Scan(...any) error }) (store.TrustRule, error) {
	var r store.TrustRule
	var added int64
	if err := row.Scan(&r.ID, &r.WorkspaceID, &r.RepositoryID, &r.RepositoryOwnerID, &r.Ref, &r.Environment, &r.WorkflowRef, &added); err != nil {
		return r, notFound(err)
	}
	r.Created = fromMicros(added)
	return r, nil
}

func scanRules(rows *sql.Rows, err error) ([]store.TrustRule, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.TrustRule
	for rows.Next() {
		r, err := scanRule(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// AddTrustRule stores a rule unless the workspace has the same one.
func (s *Store) AddTrustRule(ctx context.Context, r store.TrustRule) (store.TrustRule, bool, error) {
	var out store.TrustRule
	created := false
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := scanWorkspace(tx.QueryRowContext(ctx, `SELECT `+wsCols+` FROM workspaces WHERE id = ?`, r.WorkspaceID)); err != nil {
			return fmt.Errorf("workspace %q: %w", r.WorkspaceID, err)
		}
		old, err := scanRule(tx.QueryRowContext(ctx, `SELECT `+ruleCols+` FROM oidc_trust_rules
			WHERE workspace_id = ? AND repository_id = ? AND repository_owner_id = ? AND ref = ? AND environment = ? AND workflow_ref = ?`,
			r.WorkspaceID, r.RepositoryID, r.RepositoryOwnerID, r.Ref, r.Environment, r.WorkflowRef))
		if err == nil {
			out = old
			return nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		now := s.now().UTC()
		r.ID, r.Created = newID(), now
		if _, err := tx.ExecContext(ctx, `INSERT INTO oidc_trust_rules (`+ruleCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			r.ID, r.WorkspaceID, r.RepositoryID, r.RepositoryOwnerID, r.Ref, r.Environment, r.WorkflowRef, micros(now)); err != nil {
			return err
		}
		out, created = r, true
		return nil
	})
	if err != nil {
		return store.TrustRule{}, false, fmt.Errorf("add trust rule: %w", err)
	}
	return out, created, nil
}

// TrustRules lists the rules of a workspace, or all of them.
func (s *Store) TrustRules(ctx context.Context, workspaceID string) ([]store.TrustRule, error) {
	var rules []store.TrustRule
	var err error
	if workspaceID == "" {
		rules, err = scanRules(s.query(ctx, `SELECT `+ruleCols+` FROM oidc_trust_rules ORDER BY seq`))
	} else {
		rules, err = scanRules(s.query(ctx, `SELECT `+ruleCols+` FROM oidc_trust_rules WHERE workspace_id = ? ORDER BY seq`, workspaceID))
	}
	if err != nil {
		return nil, fmt.Errorf("list trust rules: %w", err)
	}
	return rules, nil
}

// TrustRulesFor lists the rules for a repository and owner id.
func (s *Store) TrustRulesFor(ctx context.Context, repositoryID, ownerID int64) ([]store.TrustRule, error) {
	rules, err := scanRules(s.query(ctx, `SELECT `+ruleCols+` FROM oidc_trust_rules
		WHERE repository_id = ? AND repository_owner_id = ? ORDER BY seq`, repositoryID, ownerID))
	if err != nil {
		return nil, fmt.Errorf("find trust rules: %w", err)
	}
	return rules, nil
}

// RemoveTrustRule deletes a rule.
func (s *Store) RemoveTrustRule(ctx context.Context, id string) error {
	res, err := s.w.ExecContext(ctx, `DELETE FROM oidc_trust_rules WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("remove trust rule %q: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return store.ErrNotFound
	}
	return nil
}

// UseJTI records an exchanged ID token id, refusing one seen before.
func (s *Store) UseJTI(ctx context.Context, issuer, jti string, expires time.Time) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		// The ids of expired tokens can go: such a token fails its exp check.
		if _, err := tx.ExecContext(ctx, `DELETE FROM oidc_used_jtis WHERE expires < ?`, micros(s.now())); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO oidc_used_jtis (issuer, jti, expires) VALUES (?, ?, ?)
			ON CONFLICT (issuer, jti) DO NOTHING`, issuer, jti, micros(expires))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return store.ErrJTIUsed
		}
		return nil
	})
	if err != nil && !errors.Is(err, store.ErrJTIUsed) {
		return fmt.Errorf("record token id: %w", err)
	}
	return err
}

// EnsureServiceUser finds or creates a workspace's service user.
func (s *Store) EnsureServiceUser(ctx context.Context, in store.ServiceUserInput) (store.User, error) {
	var u store.User
	err := s.tx(ctx, func(tx *sql.Tx) error {
		now := s.now()
		var err error
		u, err = scanUser(tx.QueryRowContext(ctx, `SELECT u.id, u.identity_id, u.email, u.github_login, u.github_id, u.default_workspace_id, u.date_added, u.date_updated
			FROM service_users su JOIN users u ON u.id = su.user_id WHERE su.workspace_id = ? AND su.key = ?`, in.WorkspaceID, in.Key))
		switch {
		case err == nil:
			if u.Email != in.Email {
				if _, err := tx.ExecContext(ctx, `UPDATE users SET email = ?, date_updated = ? WHERE id = ?`, in.Email, micros(now), u.ID); err != nil {
					return err
				}
				u.Email, u.Updated = in.Email, now.UTC()
			}
			return nil
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
		u = store.User{ID: newID(), IdentityID: newID(), Email: in.Email, DefaultWorkspaceID: in.WorkspaceID, Created: now.UTC(), Updated: now.UTC()}
		if _, err := tx.ExecContext(ctx, `INSERT INTO users (id, identity_id, email, default_workspace_id, date_added, date_updated)
			VALUES (?, ?, ?, ?, ?, ?)`, u.ID, u.IdentityID, u.Email, u.DefaultWorkspaceID, micros(now), micros(now)); err != nil {
			return notFound(err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO memberships (user_id, workspace_id, date_added) VALUES (?, ?, ?)`,
			u.ID, in.WorkspaceID, micros(now)); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO service_users (workspace_id, key, user_id, date_added) VALUES (?, ?, ?, ?)`,
			in.WorkspaceID, in.Key, u.ID, micros(now))
		return err
	})
	if err != nil {
		return store.User{}, fmt.Errorf("ensure service user: %w", err)
	}
	return u, nil
}
