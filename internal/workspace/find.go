package workspace

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ErrNoWorkspace is wrapped by FindRoot's error when no workspace is found.
var ErrNoWorkspace = errors.New("no dlt workspace")

// FindRoot returns the workspace around start: the nearest folder upward
// holding .dlt/. The folder holding the global settings folder globalDir
// (~/.dlt, where "dlt runtime login" keeps its token) is not a workspace:
// taking it for one would deploy the home folder and the global secrets.
// The error wraps ErrNoWorkspace and says what was searched; callers add
// what to do, which differs between the command line and the Action.
func FindRoot(start, globalDir string) (string, error) {
	abs, err := filepath.Abs(start)
	if err != nil {
		return "", fmt.Errorf("find the workspace from %q: %w", start, err)
	}
	root, err := Find(abs)
	if err != nil {
		return "", fmt.Errorf("%w (a folder holding .dlt/) in %q or any folder above it", ErrNoWorkspace, abs)
	}
	if globalDir != "" && sameDir(filepath.Join(root, SettingsDir), globalDir) {
		return "", fmt.Errorf("%w (a folder holding .dlt/) in %q or any folder above it: %s holds dlt's global settings, not a workspace", ErrNoWorkspace, abs, globalDir)
	}
	return root, nil
}

func sameDir(a, b string) bool {
	fa, err := os.Stat(a)
	if err != nil {
		return false
	}
	fb, err := os.Stat(b)
	return err == nil && os.SameFile(fa, fb)
}

// ScriptName turns a script path into its name on the Runtime: the path
// relative to the workspace root, with forward slashes. The file must exist
// inside the workspace.
func ScriptName(root, cwd, path string) (string, error) {
	if strings.TrimSpace(path) == "" {
		return "", fmt.Errorf("no script given: name the script's file, e.g. pipelines/load.py")
	}
	abs := path
	if !filepath.IsAbs(abs) {
		abs = filepath.Join(cwd, path)
	}
	abs = filepath.Clean(abs)
	rel, err := filepath.Rel(root, abs)
	if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", fmt.Errorf("script %q is outside the workspace %q", path, root)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return "", fmt.Errorf("script %q not found in the workspace: there is no file %s", path, abs)
	}
	if fi.IsDir() {
		return "", fmt.Errorf("script %q is a folder, not a file", path)
	}
	name := filepath.ToSlash(rel)
	for _, dir := range []string{SettingsDir + "/", ".git/"} {
		if strings.HasPrefix(name, dir) {
			return "", fmt.Errorf("script %q is in %s, which is never deployed", path, strings.TrimSuffix(dir, "/"))
		}
	}
	return name, nil
}
