package workspace

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFind(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "ws", ".dlt", "config.toml"), "")
	deep := filepath.Join(root, "ws", "a", "b")
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	// A file named .dlt does not make a workspace.
	writeFile(t, filepath.Join(root, "ws", "a", ".dlt"), "")
	tests := []struct {
		start, want string
	}{
		{filepath.Join(root, "ws"), filepath.Join(root, "ws")},
		{deep, filepath.Join(root, "ws")},
	}
	for _, tt := range tests {
		t.Run(tt.start, func(t *testing.T) {
			got, err := Find(tt.start)
			if err != nil || got != tt.want {
				t.Errorf("Find = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	t.Run("none", func(t *testing.T) {
		_, err := Find(root)
		want := `no dlt workspace found in "` + root + `" or any parent folder: run it inside a workspace (a folder with .dlt/) or pass -C DIR`
		if err == nil || err.Error() != want {
			t.Errorf("error = %v, want %q", err, want)
		}
	})
}

func TestLoad(t *testing.T) {
	home := t.TempDir()
	root := t.TempDir()
	dataDir := t.TempDir()
	wsCfg := filepath.Join(root, ".dlt", "config.toml")
	wsSec := filepath.Join(root, ".dlt", "secrets.toml")
	homeCfg := filepath.Join(home, ".dlt", "config.toml")
	homeSec := filepath.Join(home, ".dlt", "secrets.toml")
	writeFile(t, wsCfg, "[runtime]\nworkspace_id = \"ws-from-config\"\napi_base_url = \"http://ws-config\"\n")
	writeFile(t, wsSec, "[runtime]\napi_base_url = \"http://ws-secrets\"\n[other]\nauth_token = \"not this\"\n")
	writeFile(t, homeCfg, "[runtime]\nauth_base_url = \"http://home-auth\"\nworkspace_id = \"home-ws\"\n")
	writeFile(t, homeSec, "[runtime]\nauth_token = \"home-token\"\n")
	writeFile(t, filepath.Join(dataDir, "secrets.toml"), "[runtime]\nauth_token = \"data-dir-token\"\n")

	tests := []struct {
		name   string
		root   string
		env    map[string]string
		want   Settings
		source map[string]string
	}{
		{
			name:   "files by precedence",
			root:   root,
			want:   Settings{APIBaseURL: "http://ws-secrets", AuthBaseURL: "http://home-auth", WorkspaceID: "ws-from-config", AuthToken: "home-token"},
			source: map[string]string{"api_base_url": wsSec, "auth_base_url": homeCfg, "workspace_id": wsCfg, "auth_token": homeSec},
		},
		{
			name:   "environment first",
			root:   root,
			env:    map[string]string{"RUNTIME__AUTH_TOKEN": "env-token", "RUNTIME__API_BASE_URL": "http://env"},
			want:   Settings{APIBaseURL: "http://env", AuthBaseURL: "http://home-auth", WorkspaceID: "ws-from-config", AuthToken: "env-token"},
			source: map[string]string{"api_base_url": "RUNTIME__API_BASE_URL", "auth_base_url": homeCfg, "workspace_id": wsCfg, "auth_token": "RUNTIME__AUTH_TOKEN"},
		},
		{
			name:   "DLT_DATA_DIR replaces the home folder",
			root:   root,
			env:    map[string]string{"DLT_DATA_DIR": dataDir},
			want:   Settings{APIBaseURL: "http://ws-secrets", WorkspaceID: "ws-from-config", AuthToken: "data-dir-token"},
			source: map[string]string{"api_base_url": wsSec, "workspace_id": wsCfg, "auth_token": filepath.Join(dataDir, "secrets.toml")},
		},
		{
			name:   "outside a workspace",
			root:   "",
			want:   Settings{AuthBaseURL: "http://home-auth", WorkspaceID: "home-ws", AuthToken: "home-token"},
			source: map[string]string{"auth_base_url": homeCfg, "workspace_id": homeCfg, "auth_token": homeSec},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Load(tt.root, func(k string) string { return tt.env[k] }, home)
			if err != nil {
				t.Fatal(err)
			}
			src := got.Source
			got.Source = nil
			if got.APIBaseURL != tt.want.APIBaseURL || got.AuthBaseURL != tt.want.AuthBaseURL ||
				got.WorkspaceID != tt.want.WorkspaceID || got.AuthToken != tt.want.AuthToken {
				t.Errorf("Load = %+v, want %+v", got, tt.want)
			}
			if len(src) != len(tt.source) {
				t.Errorf("Source = %v, want %v", src, tt.source)
			}
			for k, v := range tt.source {
				if src[k] != v {
					t.Errorf("Source[%q] = %q, want %q", k, src[k], v)
				}
			}
		})
	}
}

func TestLoadErrorsHideValues(t *testing.T) {
	tests := []struct {
		name, content, want string
	}{
		{"syntax error", "[runtime]\nauth_token = \"sup3rs3cret\n", "TOML syntax error on line 2"},
		{"bad escape", "[runtime]\nauth_token = \"sup3rs3cret\\q\"\n", "TOML syntax error on line 2"},
		{"not a string", "[runtime]\nworkspace_id = 12345678\n", "[runtime] workspace_id must be a string in quotes"},
		{"not a table", "runtime = \"sup3rs3cret\"\n", `"runtime" is not a table`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			p := filepath.Join(root, ".dlt", "secrets.toml")
			writeFile(t, p, tt.content)
			_, err := Load(root, func(string) string { return "" }, "")
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			if !strings.Contains(msg, p) || !strings.Contains(msg, tt.want) {
				t.Errorf("error %q does not name the file and %q", msg, tt.want)
			}
			if strings.Contains(msg, "sup3rs3cret") || strings.Contains(msg, "12345678") {
				t.Errorf("error %q reveals a value", msg)
			}
		})
	}
}

func TestGlobalDir(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	if got := GlobalDir(env(nil), "/home/u"); got != filepath.Join("/home/u", ".dlt") {
		t.Errorf("GlobalDir = %q", got)
	}
	if got := GlobalDir(env(map[string]string{"DLT_DATA_DIR": "/data"}), "/home/u"); got != "/data" {
		t.Errorf("GlobalDir = %q", got)
	}
	if got := GlobalDir(env(nil), ""); got != "" {
		t.Errorf("GlobalDir = %q", got)
	}
}
