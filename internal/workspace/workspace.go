// Package workspace is the client's view of a dlt workspace: finding it,
// reading its [runtime] settings, editing them without losing comments, and
// choosing the files of its deployment and configuration packages
// (docs/PACKAGING.md).
package workspace

import (
	"fmt"
	"os"
	"path/filepath"
)

// SettingsDir is the workspace's settings folder; its presence marks a
// workspace root.
const SettingsDir = ".dlt"

// Find returns the nearest folder upward from start holding a .dlt/ folder.
func Find(start string) (string, error) {
	abs, err := filepath.Abs(start)
	if err != nil {
		return "", fmt.Errorf("find workspace from %q: %w", start, err)
	}
	for dir := abs; ; {
		if fi, err := os.Stat(filepath.Join(dir, SettingsDir)); err == nil && fi.IsDir() {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	return "", fmt.Errorf("no dlt workspace found in %q or any parent folder: run it inside a workspace (a folder with .dlt/) or pass -C DIR", start)
}
