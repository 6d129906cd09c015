//go:build unix

package workspace

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestSelectSkipsSpecialFiles(t *testing.T) {
	root := materialize(t, vectorCase{Files: map[string]string{".gitignore": "", "main.py": "x"}})
	if err := syscall.Mkfifo(filepath.Join(root, "pipe"), 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	sel, err := SelectDeployment(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(sel.Files) != 2 || len(sel.Warnings) != 1 || !strings.HasPrefix(sel.Warnings[0], `skipped "pipe": not a regular file`) {
		t.Errorf("files %v, warnings %q", paths(sel.Files), sel.Warnings)
	}
}
