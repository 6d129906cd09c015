// Package sqlite implements store.Store on SQLite through modernc.org/sqlite,
// a pure-Go driver (no cgo), in WAL mode so that readers never wait for the
// writer and a second process (the admin commands) can use the same file.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/dlthub/runtime-action/internal/api"
	"github.com/dlthub/runtime-action/internal/store"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Options configure a Store.
type Options struct {
	// Now is the clock (default time.Now).
	Now func() time.Time
	// ReadConns is the number of connections that serve reads (default 8).
	ReadConns int
	// BusyTimeout is how long a statement waits for another process's write
	// lock (default 5s).
	BusyTimeout time.Duration
}

// Store is a store.Store in one SQLite file. Writes go through a single
// connection so that they queue in Go rather than spin on SQLITE_BUSY; reads
// use a pool of read-only connections.
type Store struct {
	w   *sql.DB
	r   *sql.DB
	now func() time.Time

	// Read statements are prepared once: parsing SQL costs more than
	// running the point queries the API makes.
	mu    sync.Mutex
	stmts map[string]*sql.Stmt
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the database at file and applies the
// migrations it has not seen yet.
func Open(ctx context.Context, file string, o Options) (*Store, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.ReadConns <= 0 {
		o.ReadConns = 8
	}
	if o.BusyTimeout <= 0 {
		o.BusyTimeout = 5 * time.Second
	}
	// The database holds users and tokens' ids: readable by the owner only.
	// SQLite gives its -wal and -shm files the mode of the database file.
	if f, err := os.OpenFile(file, os.O_RDWR|os.O_CREATE, 0o600); err == nil {
		f.Close()
	}
	busy := strconv.FormatInt(o.BusyTimeout.Milliseconds(), 10)
	q := url.Values{}
	q.Add("_pragma", "busy_timeout("+busy+")")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	// IMMEDIATE takes the write lock at BEGIN: a read-then-write transaction
	// can then never fail half-way with SQLITE_BUSY on lock upgrade.
	q.Set("_txlock", "immediate")
	w, err := sql.Open("sqlite", "file:"+file+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open database %q: %w", file, err)
	}
	w.SetMaxOpenConns(1)
	w.SetConnMaxIdleTime(0)
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("open database %q: %w", file, err)
	}
	s := &Store{w: w, now: o.Now, stmts: map[string]*sql.Stmt{}}
	if err := s.migrate(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("migrate database %q: %w", file, err)
	}
	rq := url.Values{}
	rq.Add("_pragma", "busy_timeout("+busy+")")
	rq.Add("_pragma", "foreign_keys(1)")
	rq.Add("_pragma", "query_only(1)")
	r, err := sql.Open("sqlite", "file:"+file+"?"+rq.Encode())
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open database %q: %w", file, err)
	}
	r.SetMaxOpenConns(o.ReadConns)
	r.SetMaxIdleConns(o.ReadConns)
	s.r = r
	return s, nil
}

// Close closes both connection pools.
func (s *Store) Close() error {
	s.mu.Lock()
	var errs []error
	for _, st := range s.stmts {
		errs = append(errs, st.Close())
	}
	s.stmts = map[string]*sql.Stmt{}
	s.mu.Unlock()
	return errors.Join(append(errs, s.r.Close(), s.w.Close())...)
}

// stmt returns the prepared read statement of query.
func (s *Store) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st, ok := s.stmts[query]; ok {
		return st, nil
	}
	st, err := s.r.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	s.stmts[query] = st
	return st, nil
}

// queryRow runs a read query of one row through a prepared statement.
func (s *Store) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	st, err := s.stmt(ctx, query)
	if err != nil {
		return s.r.QueryRowContext(ctx, query, args...) // reports the error
	}
	return st.QueryRowContext(ctx, args...)
}

// reader is the querier of the read pool, through prepared statements.
type reader struct{ s *Store }

var _ querier = reader{}

// QueryRowContext runs a one-row query through a prepared statement.
func (r reader) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return r.s.queryRow(ctx, query, args...)
}

// QueryContext runs a query through a prepared statement.
func (r reader) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return r.s.query(ctx, query, args...)
}

// query runs a read query through a prepared statement.
func (s *Store) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := s.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// migrate applies the embedded migrations in order, each in its own
// transaction together with its row in schema_migrations, so that two
// processes opening the same new file apply each one once.
func (s *Store) migrate(ctx context.Context) error {
	if _, err := s.w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied INTEGER NOT NULL)`); err != nil {
		return err
	}
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return err
	}
	type mig struct {
		version int
		name    string
	}
	var migs []mig
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return fmt.Errorf("migration file %q is not named NNNN_name.sql", e.Name())
		}
		migs = append(migs, mig{v, e.Name()})
	}
	sort.Slice(migs, func(i, j int) bool { return migs[i].version < migs[j].version })
	for _, m := range migs {
		body, err := migrationFiles.ReadFile(path.Join("migrations", m.name))
		if err != nil {
			return err
		}
		err = s.tx(ctx, func(tx *sql.Tx) error {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, m.version).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			if _, err := tx.ExecContext(ctx, string(body)); err != nil {
				return fmt.Errorf("apply %q: %w", m.name, err)
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied) VALUES (?, ?, ?)`,
				m.version, m.name, micros(s.now()))
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// tx runs fn in a write transaction, committed when fn returns nil.
func (s *Store) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func micros(t time.Time) int64 { return t.UTC().UnixMicro() }

func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

func nullMicros(t *time.Time) sql.NullInt64 {
	if t == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: micros(*t), Valid: true}
}

func timePtr(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMicros(v.Int64)
	return &t
}

func nullString(p *string) sql.NullString {
	if p == nil {
		return sql.NullString{}
	}
	return sql.NullString{String: *p, Valid: true}
}

func stringPtr(v sql.NullString) *string {
	if !v.Valid {
		return nil
	}
	s := v.String
	return &s
}

func notFound(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrNotFound
	}
	return err
}

func newID() string { return uuid.NewString() }

// ---------------------------------------------------------------- organizations, workspaces, users

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

const userCols = `id, identity_id, email, github_login, default_workspace_id, date_added, date_updated`

func scanUser(row interface{ Scan(...any) error }) (store.User, error) {
	var u store.User
	var login, def sql.NullString
	var added, updated int64
	if err := row.Scan(&u.ID, &u.IdentityID, &u.Email, &login, &def, &added, &updated); err != nil {
		return u, notFound(err)
	}
	u.GitHubLogin, u.DefaultWorkspaceID = login.String, def.String
	u.Created, u.Updated = fromMicros(added), fromMicros(updated)
	return u, nil
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

// User returns a user by id.
func (s *Store) User(ctx context.Context, id string) (store.User, error) {
	return scanUser(s.queryRow(ctx, `SELECT `+userCols+` FROM users WHERE id = ?`, id))
}

// UserByGitHubLogin returns the user mapped to a GitHub login.
func (s *Store) UserByGitHubLogin(ctx context.Context, login string) (store.User, error) {
	return scanUser(s.queryRow(ctx, `SELECT `+userCols+` FROM users WHERE github_login = ?`, login))
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

func nullIfEmpty(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

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

// ---------------------------------------------------------------- tokens

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

// ---------------------------------------------------------------- packages

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

// ---------------------------------------------------------------- scripts

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

// ---------------------------------------------------------------- runs

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
