package main

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// sharedDir is the project's shared folder, next to the repository: the
// specs and test vectors that docs/ and testdata/ copy.
const sharedDir = "../shared"

// TestSpecCopiesAreCurrent fails when a spec or vector in the shared folder
// changed and its copy in this repository was not updated (or the other way
// round). Without the shared folder it skips, except in CI (CI=true), where a
// skip would hide a stale copy: there it fails.
func TestSpecCopiesAreCurrent(t *testing.T) {
	if _, err := os.Stat(sharedDir); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true but the shared folder is missing (%v): the copies in docs/ and testdata/ cannot be checked", err)
		}
		t.Skipf("no shared folder here: %v", err)
	}
	copies := []struct {
		local, shared string // files, or folders compared file by file
	}{
		{"docs/PACKAGING.md", "api/PACKAGING.md"},
		{"docs/runtime-v1.openapi.yaml", "api/runtime-v1.openapi.yaml"},
		{"testdata/packaging", "vectors/packaging"},
		{"testdata/packaging-legacy", "vectors/packaging-legacy"},
	}
	for _, c := range copies {
		t.Run(c.local, func(t *testing.T) {
			want := readTree(t, filepath.Join(sharedDir, c.shared))
			got := readTree(t, c.local)
			for _, name := range sortedKeys(want) {
				g, ok := got[name]
				switch {
				case !ok:
					t.Errorf("%s is missing: copy it from %s", filepath.Join(c.local, name), filepath.Join(sharedDir, c.shared, name))
				case !bytes.Equal(g, want[name]):
					t.Errorf("%s differs from %s: copy it again", filepath.Join(c.local, name), filepath.Join(sharedDir, c.shared, name))
				}
			}
			for _, name := range sortedKeys(got) {
				if _, ok := want[name]; !ok {
					t.Errorf("%s is not in %s: remove it or add it there", filepath.Join(c.local, name), filepath.Join(sharedDir, c.shared))
				}
			}
		})
	}
}

// readTree reads a file (under the name ".") or every regular file below a
// folder (under its slash-separated relative path).
func readTree(t *testing.T, root string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		files[filepath.ToSlash(rel)] = b
		return nil
	})
	if err != nil {
		t.Fatalf("read %s: %v", root, err)
	}
	return files
}

func sortedKeys(m map[string][]byte) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
