package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/dlthub/runtime-action/internal/store"
)

// RecordToken records an issued token.
func (s *Store) RecordToken(ctx context.Context, t store.Token) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO tokens (jti, user_id, workspace_id, expires, date_added) VALUES (?, ?, ?, ?, ?)`,
		t.JTI, t.UserID, nullIfEmpty(t.WorkspaceID), micros(t.Expires), micros(s.now()))
	if err != nil {
		return fmt.Errorf("record token: %w", err)
	}
	return nil
}

// TokenRevoked reports whether a token was revoked. A jti that was never
// recorded is not revoked: the signature is what makes a token valid.
func (s *Store) TokenRevoked(ctx context.Context, jti string) (bool, error) {
	var revoked sql.NullInt64
	err := s.queryRow(ctx, `SELECT revoked FROM tokens WHERE jti = ?`, jti).Scan(&revoked)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("check token: %w", err)
	}
	return revoked.Valid, nil
}

// RevokeToken revokes a recorded token.
func (s *Store) RevokeToken(ctx context.Context, jti string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		var revoked sql.NullInt64
		if err := tx.QueryRowContext(ctx, `SELECT revoked FROM tokens WHERE jti = ?`, jti).Scan(&revoked); err != nil {
			return notFound(err)
		}
		if revoked.Valid {
			return nil
		}
		_, err := tx.ExecContext(ctx, `UPDATE tokens SET revoked = ? WHERE jti = ?`, micros(s.now()), jti)
		return err
	})
}
