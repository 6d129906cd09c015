//go:build unix

package server

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDataDirPermissions: Open refuses a data dir, key or token file that
// others may write or that another user owns, naming the path and the
// command that fixes it; fixed, the data dir opens again.
func TestDataDirPermissions(t *testing.T) {
	t.Parallel()
	givenKey := filepath.Join(t.TempDir(), "given.key")
	if err := os.WriteFile(givenKey, []byte("ynSrx/Dsl3AyELqpYhHLGdm7w4LOJEPmy5txOpdw1Ls=\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		path    func(dir string) string
		mode    os.FileMode // 0: chown instead
		keyFile bool
	}{
		{"data dir writable by group", func(d string) string { return d }, 0o770, false},
		{"data dir writable by others", func(d string) string { return d }, 0o703, false},
		{"signing key writable by group", func(d string) string { return filepath.Join(d, keyFile) }, 0o620, false},
		{"admin token writable by others", func(d string) string { return filepath.Join(d, adminTokenFile) }, 0o602, false},
		{"encryption key writable by group", func(d string) string { return filepath.Join(d, encryptionKeyFile) }, 0o660, false},
		{"packages folder writable by others", func(d string) string { return filepath.Join(d, packagesDir) }, 0o777, false},
		{"runs dir writable by others", func(d string) string { return DefaultRunsDir(d) }, 0o707, false},
		{"given encryption key file writable by group", func(string) string { return givenKey }, 0o620, true},
		{"signing key of another user", func(d string) string { return filepath.Join(d, keyFile) }, 0, false},
		{"data dir of another user", func(d string) string { return d }, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.mode == 0 && os.Geteuid() != 0 {
				t.Skip("giving a file to another user needs root")
			}
			dir := t.TempDir()
			cfg := Config{DataDir: dir}
			if tc.keyFile {
				cfg.EncryptionKeyFile = givenKey
			}
			open := func() error {
				srv, err := Open(context.Background(), cfg)
				if err == nil {
					srv.Close()
				}
				return err
			}
			if err := open(); err != nil {
				t.Fatal(err)
			}
			p := tc.path(dir)
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			fix := "chmod go-w " + p
			if tc.mode != 0 {
				if err := os.Chmod(p, tc.mode); err != nil {
					t.Fatal(err)
				}
				defer os.Chmod(p, fi.Mode().Perm())
			} else {
				if err := os.Chown(p, 65534, 65534); err != nil {
					t.Fatal(err)
				}
				defer os.Chown(p, os.Geteuid(), os.Getegid())
				fix = fmt.Sprintf("chown %d %s", os.Geteuid(), p)
			}
			err = open()
			if err == nil || !strings.Contains(err.Error(), `"`+p+`"`) || !strings.Contains(err.Error(), fix) {
				t.Fatalf("got %v, want a refusal naming %q and %q", err, p, fix)
			}
			if tc.mode != 0 {
				os.Chmod(p, fi.Mode().Perm())
			} else {
				os.Chown(p, os.Geteuid(), os.Getegid())
			}
			if err := open(); err != nil {
				t.Errorf("after the fix: %v", err)
			}
		})
	}
}
