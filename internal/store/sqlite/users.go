package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/dlthub/runtime-action/internal/store"
)

const userCols = `id, identity_id, email, github_login, github_id, default_workspace_id, date_added, date_updated`

func scanUser(row interface{ Scan(...any) error }) (store.User, error) {
	var u store.User
	var login, def sql.NullString
	var ghID sql.NullInt64
	var added, updated int64
	if err := row.Scan(&u.ID, &u.IdentityID, &u.Email, &login, &ghID, &def, &added, &updated); err != nil {
		return u, notFound(err)
	}
	u.GitHubLogin, u.GitHubID, u.DefaultWorkspaceID = login.String, ghID.Int64, def.String
	u.Created, u.Updated = fromMicros(added), fromMicros(updated)
	return u, nil
}

// User returns a user by id.
func (s *Store) User(ctx context.Context, id string) (store.User, error) {
	return scanUser(s.queryRow(ctx, `SELECT `+userCols+` FROM users WHERE id = ?`, id))
}

// UserByGitHubLogin returns the user mapped to a GitHub login.
func (s *Store) UserByGitHubLogin(ctx context.Context, login string) (store.User, error) {
	return scanUser(s.queryRow(ctx, `SELECT `+userCols+` FROM users WHERE github_login = ?`, login))
}

// UserForGitHub returns the user of a GitHub account (see store.Store).
func (s *Store) UserForGitHub(ctx context.Context, githubID int64, login string) (store.User, error) {
	if githubID <= 0 {
		return store.User{}, fmt.Errorf("user of github account %q: invalid id %d", login, githubID)
	}
	var u store.User
	recycled := false
	err := s.tx(ctx, func(tx *sql.Tx) error {
		now := micros(s.now())
		var err error
		u, err = scanUser(tx.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE github_id = ?`, githubID))
		if err == nil {
			if !strings.EqualFold(u.GitHubLogin, login) {
				// Renamed: the user follows, unless another user holds
				// the new login (an admin allowed it meanwhile).
				res, err := tx.ExecContext(ctx, `UPDATE users SET github_login = ?, date_updated = ?
					WHERE id = ? AND NOT EXISTS (SELECT 1 FROM users WHERE github_login = ? AND id != ?)`, login, now, u.ID, login, u.ID)
				if err != nil {
					return err
				}
				if n, _ := res.RowsAffected(); n > 0 {
					u.GitHubLogin = login
				}
			}
			return nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		u, err = scanUser(tx.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE github_login = ?`, login))
		if err != nil {
			return err
		}
		if u.GitHubID != 0 {
			// The login was another account's: it is that user's no more.
			if _, err := tx.ExecContext(ctx, `UPDATE users SET github_login = NULL, date_updated = ? WHERE id = ?`, now, u.ID); err != nil {
				return err
			}
			recycled = true
			return nil
		}
		if _, err := tx.ExecContext(ctx, `UPDATE users SET github_id = ?, date_updated = ? WHERE id = ?`, githubID, now, u.ID); err != nil {
			return err
		}
		u.GitHubID = githubID
		return nil
	})
	if err == nil && recycled {
		return store.User{}, store.ErrNotFound
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return store.User{}, fmt.Errorf("user of github account %q: %w", login, err)
	}
	return u, err
}

// EnsureUser finds or creates a user and makes it a member of a workspace.
func (s *Store) EnsureUser(ctx context.Context, in store.UserInput) (store.User, error) {
	var u store.User
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		u, err = ensureUser(ctx, tx, in, s.now())
		return err
	})
	if err != nil {
		return store.User{}, fmt.Errorf("ensure user: %w", err)
	}
	return u, nil
}

func ensureUser(ctx context.Context, tx *sql.Tx, in store.UserInput, now time.Time) (store.User, error) {
	var u store.User
	var err error
	if in.GitHubLogin != "" {
		u, err = scanUser(tx.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE github_login = ?`, in.GitHubLogin))
	} else {
		u, err = scanUser(tx.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE email = ? ORDER BY seq LIMIT 1`, in.Email))
	}
	if errors.Is(err, store.ErrNotFound) {
		u = store.User{ID: newID(), IdentityID: newID(), Email: in.Email, GitHubLogin: in.GitHubLogin,
			DefaultWorkspaceID: in.WorkspaceID, Created: now.UTC(), Updated: now.UTC()}
		if u.Email == "" && in.GitHubLogin != "" {
			u.Email = in.GitHubLogin + "@users.noreply.github.com"
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO users (id, identity_id, email, github_login, default_workspace_id, date_added, date_updated)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, u.ID, u.IdentityID, u.Email, nullIfEmpty(u.GitHubLogin), nullIfEmpty(u.DefaultWorkspaceID),
			micros(now), micros(now))
	}
	if err != nil {
		return store.User{}, err
	}
	if in.WorkspaceID == "" {
		return u, nil
	}
	if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO memberships (user_id, workspace_id, date_added) VALUES (?, ?, ?)`,
		u.ID, in.WorkspaceID, micros(now)); err != nil {
		return store.User{}, fmt.Errorf("add to workspace %q: %w", in.WorkspaceID, err)
	}
	if u.DefaultWorkspaceID == "" {
		u.DefaultWorkspaceID = in.WorkspaceID
		if _, err := tx.ExecContext(ctx, `UPDATE users SET default_workspace_id = ?, date_updated = ? WHERE id = ?`,
			in.WorkspaceID, micros(now), u.ID); err != nil {
			return store.User{}, err
		}
	}
	return u, nil
}

// SetUserEmail changes a user's email.
func (s *Store) SetUserEmail(ctx context.Context, userID, email string) error {
	res, err := s.w.ExecContext(ctx, `UPDATE users SET email = ?, date_updated = ? WHERE id = ?`, email, micros(s.now()), userID)
	if err != nil {
		return fmt.Errorf("set email of user %q: %w", userID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("set email of user %q: %w", userID, store.ErrNotFound)
	}
	return nil
}
