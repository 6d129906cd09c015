package action

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

func TestWriteProfileFiles(t *testing.T) {
	withUmask(t, 0o077) // the modes must not depend on the umask

	for _, tc := range []struct {
		name     string
		existing map[string]string
		config   string
		secrets  string
	}{
		{"fresh", nil, "[a]\nx = 1\n", "[a]\ny = \"s\"\n"},
		{"replaces and restores", map[string]string{".dlt/prod.config.toml": "orig config", ".dlt/prod.secrets.toml": "orig secrets"}, "c = 1\n", "s = 2\n"},
		{"only secrets", map[string]string{".dlt/prod.config.toml": "orig config"}, "", "s = 2\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			writeFiles(t, root, map[string]string{".dlt/.workspace": "", ".dlt/config.toml": "base"})
			writeFiles(t, root, tc.existing)
			before := snapshot(t, root)

			cleanup, err := writeProfileFiles(root, "prod", tc.config, tc.secrets)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range []struct {
				name, content string
				mode          os.FileMode
			}{{"prod.config.toml", tc.config, 0o644}, {"prod.secrets.toml", tc.secrets, 0o600}} {
				p := filepath.Join(root, ".dlt", f.name)
				if f.content == "" {
					if got, want := readOr(p), tc.existing[".dlt/"+f.name]; got != want {
						t.Errorf("%s = %q, want it untouched (%q)", f.name, got, want)
					}
					continue
				}
				fi, err := os.Stat(p)
				if err != nil {
					t.Fatal(err)
				}
				if fi.Mode().Perm() != f.mode {
					t.Errorf("%s has mode %v, want %v", f.name, fi.Mode().Perm(), f.mode)
				}
				if got := readOr(p); got != f.content {
					t.Errorf("%s = %q, want %q", f.name, got, f.content)
				}
			}
			// Nothing a configuration package would select besides the
			// profile files (backups end in .bak).
			for name := range snapshot(t, root) {
				if strings.HasSuffix(name, ".bak") && (strings.HasSuffix(name, "config.toml") || strings.HasSuffix(name, "secrets.toml")) {
					t.Errorf("backup %q would be packaged", name)
				}
			}
			if err := cleanup(); err != nil {
				t.Fatal(err)
			}
			if err := cleanup(); err != nil {
				t.Fatalf("second cleanup: %v", err)
			}
			if after := snapshot(t, root); !equalMaps(before, after) {
				t.Errorf("after cleanup:\n%v\nwant as before:\n%v", after, before)
			}
		})
	}
}

func TestWriteProfileFilesErrors(t *testing.T) {
	root := t.TempDir()
	if _, err := writeProfileFiles(root, "prod", "a = 1", ""); err == nil || !strings.Contains(err.Error(), "no .dlt folder") {
		t.Errorf("err = %v, want no .dlt folder", err)
	}
	writeFiles(t, root, map[string]string{".dlt/.workspace": ""})
	if _, err := writeProfileFiles(root, "../../etc/x", "a = 1", ""); err == nil || !strings.Contains(err.Error(), "not a profile name") {
		t.Errorf("err = %v, want a bad profile refused", err)
	}
}

func snapshot(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			rel, _ := filepath.Rel(root, p)
			out[filepath.ToSlash(rel)] = readOr(p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func readOr(p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		return ""
	}
	return string(b)
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	keys := make([]string, 0, len(a))
	for k := range a {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if bv, ok := b[k]; !ok || bv != a[k] {
			return false
		}
	}
	return true
}
