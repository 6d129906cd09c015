package workspace

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

func TestSetKey(t *testing.T) {
	tests := []struct {
		name, in, section, key, value, want string
	}{
		{
			name:    "replace keeps comments and order",
			in:      "# top comment\n[runtime]  # settings\nworkspace_id = \"old\" # the id\napi_base_url = \"http://x\"\n\n[other]\nworkspace_id = \"other\"\n",
			section: "runtime", key: "workspace_id", value: "new",
			want: "# top comment\n[runtime]  # settings\nworkspace_id = \"new\" # the id\napi_base_url = \"http://x\"\n\n[other]\nworkspace_id = \"other\"\n",
		},
		{
			name:    "spaces in the header",
			in:      "[ runtime ]  # x\n  workspace_id   =   'literal'\n",
			section: "runtime", key: "workspace_id", value: "v",
			want: "[ runtime ]  # x\n  workspace_id   =   \"v\"\n",
		},
		{
			name:    "add at the end of the section",
			in:      "[runtime]\napi_base_url = \"http://x\"\n# about other\n\n[other]\nk = 1\n",
			section: "runtime", key: "workspace_id", value: "id",
			want: "[runtime]\napi_base_url = \"http://x\"\nworkspace_id = \"id\"\n# about other\n\n[other]\nk = 1\n",
		},
		{
			name:    "add to an empty section",
			in:      "[runtime]\n[other]\n",
			section: "runtime", key: "workspace_id", value: "id",
			want: "[runtime]\nworkspace_id = \"id\"\n[other]\n",
		},
		{
			name:    "add the section at the end",
			in:      "[other]\nk = 1",
			section: "runtime", key: "auth_token", value: "t",
			want: "[other]\nk = 1\n\n[runtime]\nauth_token = \"t\"\n",
		},
		{
			name:    "empty file",
			in:      "",
			section: "runtime", key: "auth_token", value: "t",
			want: "[runtime]\nauth_token = \"t\"\n",
		},
		{
			name:    "sub-table is another section",
			in:      "[runtime.sub]\nworkspace_id = \"sub\"\n",
			section: "runtime", key: "workspace_id", value: "id",
			want: "[runtime.sub]\nworkspace_id = \"sub\"\n\n[runtime]\nworkspace_id = \"id\"\n",
		},
		{
			name:    "escaping",
			in:      "[runtime]\nauth_token = \"x\"\n",
			section: "runtime", key: "auth_token", value: "a\"b\\c\nd\te\x01é",
			want: "[runtime]\nauth_token = \"a\\\"b\\\\c\\nd\\te\\u0001é\"\n",
		},
		{
			name:    "multi-line value replaced whole",
			in:      "[runtime]\nauth_token = \"\"\"\nline1\n[runtime]\nline2\"\"\" # c\nworkspace_id = \"w\"\n",
			section: "runtime", key: "auth_token", value: "t",
			want: "[runtime]\nauth_token = \"t\" # c\nworkspace_id = \"w\"\n",
		},
		{
			name:    "value with a hash inside",
			in:      "[runtime]\napi_base_url = \"http://x/#frag\" # comment\n",
			section: "runtime", key: "api_base_url", value: "http://y",
			want: "[runtime]\napi_base_url = \"http://y\" # comment\n",
		},
		{
			name:    "multi-line array before the key",
			in:      "[runtime]\nlist = [\n  \"a\", # x\n  \"b]\",\n]\nworkspace_id = \"w\"\n",
			section: "runtime", key: "workspace_id", value: "v",
			want: "[runtime]\nlist = [\n  \"a\", # x\n  \"b]\",\n]\nworkspace_id = \"v\"\n",
		},
		{
			name:    "quoted key",
			in:      "[runtime]\n\"workspace_id\" = \"w\"\n",
			section: "runtime", key: "workspace_id", value: "v",
			want: "[runtime]\n\"workspace_id\" = \"v\"\n",
		},
		{
			name:    "CRLF line endings",
			in:      "[other]\r\nk = 1\r\n",
			section: "runtime", key: "workspace_id", value: "v",
			want: "[other]\r\nk = 1\r\n\r\n[runtime]\r\nworkspace_id = \"v\"\r\n",
		},
		{
			name:    "CRLF replace",
			in:      "[runtime]\r\nworkspace_id = \"w\"\r\n",
			section: "runtime", key: "workspace_id", value: "v",
			want: "[runtime]\r\nworkspace_id = \"v\"\r\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "config.toml")
			if tt.in != "" {
				writeFile(t, p, tt.in)
			}
			if err := SetKey(p, tt.section, tt.key, tt.value); err != nil {
				t.Fatal(err)
			}
			b, _ := os.ReadFile(p)
			if string(b) != tt.want {
				t.Errorf("got\n%q\nwant\n%q", b, tt.want)
			}
			var doc map[string]any
			if _, err := toml.Decode(string(b), &doc); err != nil {
				t.Fatalf("result is not TOML: %v", err)
			}
		})
	}
}

// TestSetKeyRefuses covers files the line editor cannot change safely: they
// are left exactly as they were.
func TestSetKeyRefuses(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"array of tables of that name", "[[runtime]]\nworkspace_id = \"w\"\n", "the change would make the file invalid TOML; edit it by hand"},
		{"dotted key", "runtime.workspace_id = \"w\"\n", "the change would make the file invalid TOML; edit it by hand"},
		{"unterminated string", "[runtime]\nworkspace_id = \"w\n", "line 2: unterminated string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "config.toml")
			writeFile(t, p, tt.in)
			err := SetKey(p, "runtime", "workspace_id", "v")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tt.want)
			}
			if b, _ := os.ReadFile(p); string(b) != tt.in {
				t.Errorf("file changed to %q", b)
			}
		})
	}
}

func TestSetKeyRoundTripsThroughLoad(t *testing.T) {
	root := t.TempDir()
	p := filepath.Join(root, ".dlt", "secrets.toml")
	value := "tok\"en\\with\nodd\tbytes é"
	if err := SetKey(p, "runtime", "auth_token", value); err != nil {
		t.Fatal(err)
	}
	s, err := Load(root, func(string) string { return "" }, "")
	if err != nil || s.AuthToken != value {
		t.Fatalf("Load = %q, %v", s.AuthToken, err)
	}
}

func TestSetKeyModes(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		path string
		want os.FileMode
	}{
		{filepath.Join(dir, "new", ".dlt", "secrets.toml"), 0o600},
		{filepath.Join(dir, "new", ".dlt", "prod.secrets.toml"), 0o600},
		{filepath.Join(dir, "new", ".dlt", "config.toml"), 0o644},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.path), func(t *testing.T) {
			if err := SetKey(tt.path, "runtime", "k", "v"); err != nil {
				t.Fatal(err)
			}
			fi, err := os.Stat(tt.path)
			if err != nil || fi.Mode().Perm() != tt.want {
				t.Fatalf("mode %v, %v; want %v", fi.Mode().Perm(), err, tt.want)
			}
		})
	}
	t.Run("existing mode kept", func(t *testing.T) {
		p := filepath.Join(dir, "kept.toml")
		writeFile(t, p, "[runtime]\nk = \"a\"\n")
		if err := os.Chmod(p, 0o640); err != nil {
			t.Fatal(err)
		}
		if err := SetKey(p, "runtime", "k", "b"); err != nil {
			t.Fatal(err)
		}
		fi, _ := os.Stat(p)
		if fi.Mode().Perm() != 0o640 {
			t.Errorf("mode %v", fi.Mode().Perm())
		}
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if filepath.Ext(e.Name()) != ".toml" && e.Name() != "new" {
				t.Errorf("left behind %q", e.Name())
			}
		}
	})
}

func TestDeleteKey(t *testing.T) {
	tests := []struct {
		name, in, key string
		found         bool
		want          string
	}{
		{"present", "# c\n[runtime]\nworkspace_id = \"w\" # id\nauth_token = \"t\"\n[other]\nworkspace_id = \"o\"\n", "workspace_id", true, "# c\n[runtime]\nauth_token = \"t\"\n[other]\nworkspace_id = \"o\"\n"},
		{"absent", "[runtime]\nauth_token = \"t\"\n", "workspace_id", false, "[runtime]\nauth_token = \"t\"\n"},
		{"only in another section", "[other]\nworkspace_id = \"o\"\n", "workspace_id", false, "[other]\nworkspace_id = \"o\"\n"},
		{"multi-line", "[runtime]\nauth_token = '''\na\nb'''\nx = 1\n", "auth_token", true, "[runtime]\nx = 1\n"},
		{"missing file", "", "auth_token", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "secrets.toml")
			if tt.in != "" {
				writeFile(t, p, tt.in)
			}
			found, err := DeleteKey(p, "runtime", tt.key)
			if err != nil || found != tt.found {
				t.Fatalf("DeleteKey = %v, %v; want %v", found, err, tt.found)
			}
			b, err := os.ReadFile(p)
			if tt.in == "" {
				if !os.IsNotExist(err) {
					t.Errorf("DeleteKey created the file")
				}
				return
			}
			if string(b) != tt.want {
				t.Errorf("got %q, want %q", b, tt.want)
			}
		})
	}
}
