package workspace

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeTestFiles(tb testing.TB, root string, files map[string]string) {
	tb.Helper()
	for p, content := range files {
		full := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
}

func TestScriptName(t *testing.T) {
	root := t.TempDir()
	writeTestFiles(t, root, map[string]string{".dlt/.workspace": "", "jobs/load.py": "", "top.py": "", ".dlt/config.toml": ""})
	outside := filepath.Join(filepath.Dir(root), "outside.py")
	os.WriteFile(outside, nil, 0o644)
	tests := []struct {
		cwd, path, want, wantErr string
	}{
		{root, "top.py", "top.py", ""},
		{root, "jobs/load.py", "jobs/load.py", ""},
		{root, "./jobs/../jobs/load.py", "jobs/load.py", ""},
		{filepath.Join(root, "jobs"), "load.py", "jobs/load.py", ""},
		{filepath.Join(root, "jobs"), "../top.py", "top.py", ""},
		{root, filepath.Join(root, "top.py"), "top.py", ""},
		{root, "missing.py", "", `script "missing.py" not found in the workspace`},
		{root, "", "", `no script given`},
		{root, ".dlt/config.toml", "", `script ".dlt/config.toml" is in .dlt, which is never deployed`},
		{root, "jobs", "", `script "jobs" is a folder`},
		{root, "../outside.py", "", `script "../outside.py" is outside the workspace`},
		{root, ".", "", `is outside the workspace`},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			got, err := ScriptName(root, tt.cwd, tt.path)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestFindRoot(t *testing.T) {
	home := t.TempDir()
	writeTestFiles(t, home, map[string]string{
		".dlt/secrets.toml": "[runtime]\nauth_token = \"t\"\n", "project/job.py": "",
		"ws/.dlt/.workspace": "", "ws/jobs/load.py": "",
	})
	global := filepath.Join(home, ".dlt")
	for _, tc := range []struct {
		start, want, wantErr string
	}{
		{"ws/jobs", "ws", ""},
		{"ws", "ws", ""},
		// The home folder holds the global settings: not a workspace.
		{"project", "", "holds dlt's global settings, not a workspace"},
		{".", "", "holds dlt's global settings, not a workspace"},
	} {
		t.Run(tc.start, func(t *testing.T) {
			got, err := FindRoot(filepath.Join(home, tc.start), global)
			if tc.wantErr != "" {
				if !errors.Is(err, ErrNoWorkspace) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %q, %v; want error %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != filepath.Join(home, tc.want) {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
	// Without the global folder in the way, the same folder is a workspace.
	if got, err := FindRoot(filepath.Join(home, "project"), ""); err != nil || got != home {
		t.Errorf("no global dir: %q, %v", got, err)
	}
	if _, err := FindRoot(t.TempDir(), global); !errors.Is(err, ErrNoWorkspace) {
		t.Errorf("no workspace at all: %v", err)
	}
}
