package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/dlthub/runtime-action/internal/store"
	"github.com/dlthub/runtime-action/internal/store/sqlite"
)

// Names in the data dir.
const (
	dbFile         = "runtime.db"
	keyFile        = "signing.key"
	adminTokenFile = "admin.token"
	lockFile       = "lock"
	packagesDir    = "packages"
	logsDir        = "logs"
	runsDir        = "runs"
	tmpDir         = "tmp"
)

// What the first start of an empty data dir creates.
const (
	bootstrapOrganization = "default"
	bootstrapWorkspace    = "default"
	// AdminEmail is the email of the admin user the first start creates.
	AdminEmail = "admin@localhost"
)

// dataDir is an opened data dir: its store, signing key and the objects of
// the bootstrap.
type dataDir struct {
	path       string
	store      store.Store
	tokens     *tokens
	boot       store.BootstrapResult
	firstStart bool
}

func (d *dataDir) join(elem ...string) string {
	return filepath.Join(append([]string{d.path}, elem...)...)
}

// openDataDir makes the data dir's folders, opens its store (applying
// migrations), loads or makes the signing key and bootstraps an empty store:
// an organization, a workspace and an admin user whose token goes to
// admin.token. It takes no lock: the admin commands use it beside a server.
func openDataDir(ctx context.Context, path string, now func() time.Time) (*dataDir, error) {
	if path == "" {
		return nil, errors.New("no data dir given: pass --data-dir or set RUNTIME_SERVER_DATA_DIR")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("data dir %q: %w", path, err)
	}
	if err := checkPrivate("data dir", abs); err != nil {
		return nil, err
	}
	for _, sub := range []string{"", packagesDir, logsDir, runsDir, tmpDir} {
		if err := os.MkdirAll(filepath.Join(abs, sub), 0o700); err != nil {
			return nil, fmt.Errorf("make data dir %q: %w", filepath.Join(abs, sub), err)
		}
	}
	d := &dataDir{path: abs}
	for _, f := range []struct{ what, name string }{
		{"folder of the data dir", packagesDir}, {"folder of the data dir", logsDir}, {"folder of the data dir", runsDir},
		{"folder of the data dir", tmpDir}, {"signing key file", keyFile}, {"admin token file", adminTokenFile},
		{"database", dbFile}, {"encryption key file", encryptionKeyFile},
	} {
		if err := checkPrivate(f.what, d.join(f.name)); err != nil {
			return nil, err
		}
	}
	key, err := loadOrCreateKey(d.join(keyFile))
	if err != nil {
		return nil, err
	}
	d.tokens = &tokens{key: key, now: now}
	st, err := sqlite.Open(ctx, d.join(dbFile), sqlite.Options{Now: now})
	if err != nil {
		return nil, err
	}
	d.store = st
	d.boot, d.firstStart, err = st.Bootstrap(ctx, store.Bootstrap{
		OrganizationName: bootstrapOrganization, WorkspaceName: bootstrapWorkspace, AdminEmail: AdminEmail})
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("data dir %q: %w", abs, err)
	}
	if d.firstStart {
		tok, err := d.tokens.issue(ctx, st, d.boot.Admin, "", DefaultAdminTokenTTL)
		if err != nil {
			st.Close()
			return nil, fmt.Errorf("make admin token: %w", err)
		}
		if err := writeFileAtomic(d.join(adminTokenFile), []byte(tok+"\n"), 0o600); err != nil {
			st.Close()
			return nil, fmt.Errorf("write admin token: %w", err)
		}
	}
	return d, nil
}

// adminToken reads admin.token ("" when it is gone).
func (d *dataDir) adminToken() string {
	b, err := os.ReadFile(d.join(adminTokenFile))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// loadOrCreateKey reads the HS256 signing key, making a random one the
// first time. O_EXCL makes two processes starting at once agree on one key.
func loadOrCreateKey(path string) ([]byte, error) {
	for range 3 {
		b, err := os.ReadFile(path)
		if err == nil {
			key, derr := hex.DecodeString(strings.TrimSpace(string(b)))
			if derr != nil || len(key) < 32 {
				if len(bytes.TrimSpace(b)) == 0 {
					// being written by the process that made it
					time.Sleep(10 * time.Millisecond)
					continue
				}
				return nil, fmt.Errorf("signing key %q is damaged: remove it to make a new one (tokens issued so far stop working)", path)
			}
			return key, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("read signing key: %w", err)
		}
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("make signing key: %w", err)
		}
		if err := writeFileAtomic(path, []byte(hex.EncodeToString(key)+"\n"), 0o600); err != nil {
			if errors.Is(err, fs.ErrExist) {
				continue
			}
			return nil, fmt.Errorf("write signing key: %w", err)
		}
		return key, nil
	}
	return nil, fmt.Errorf("read signing key %q: it stays empty: remove it to make a new one", path)
}

// writeFileAtomic writes b to a temporary file and links it into place, so
// a reader sees the whole file or none; it fails with fs.ErrExist when path
// exists already.
func writeFileAtomic(path string, b []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Link(f.Name(), path)
}

// errLocked is tryLock's error when another process holds the lock
// (lock_unix.go, lock_windows.go).
var errLocked = errors.New("locked by another process")

// dirLock is the exclusive lock of a data dir held by a server.
type dirLock struct{ f *os.File }

// lockDataDir takes a non-blocking flock on <dir>/lock and writes our pid
// into it, so a second process can say who holds it.
func lockDataDir(dir string) (*dirLock, error) {
	path := filepath.Join(dir, lockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock data dir %q: %w", dir, err)
	}
	if err := tryLock(f); err != nil {
		f.Close()
		if errors.Is(err, errLocked) {
			pid := "unknown"
			if b, err := os.ReadFile(path); err == nil && len(bytes.TrimSpace(b)) > 0 {
				pid = string(bytes.TrimSpace(b))
			}
			return nil, fmt.Errorf("data dir %q is in use by another runtime-action process (pid %s): stop it or pass another --data-dir", dir, pid)
		}
		return nil, fmt.Errorf("lock data dir %q: %w", dir, err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &dirLock{f: f}, nil
}

func (l *dirLock) unlock() error {
	if l == nil || l.f == nil {
		return nil
	}
	_ = l.f.Truncate(0)
	err := unlock(l.f)
	return errors.Join(err, l.f.Close())
}
