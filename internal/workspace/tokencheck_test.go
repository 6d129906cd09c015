package workspace

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestAuthTokenWarning: a configuration file holding [runtime] auth_token,
// in any TOML spelling, is named in a warning that says where the token
// belongs and never holds its value; other files are not.
func TestAuthTokenWarning(t *testing.T) {
	const value = "eyJhbGciOiJIUzI1NiJ9.c2VjcmV0LXZhbHVl.sig"
	for _, tc := range []struct {
		name, file, content string
		warn                bool
	}{
		{"table", "secrets.toml", "[runtime]\nauth_token = \"" + value + "\"\n", true},
		{"dotted key", "config.toml", "runtime.auth_token = \"" + value + "\"\n", true},
		{"inline table", "prod.secrets.toml", "runtime = { auth_token = \"" + value + "\" }\n", true},
		{"nested folder", "extra/dev.secrets.toml", "[runtime]\napi_base_url = \"http://x\"\nauth_token = '" + value + "'\n", true},
		{"other runtime keys", "config.toml", "[runtime]\napi_base_url = \"http://127.0.0.1:30000\"\nworkspace_id = \"w\"\n", false},
		{"another section's auth_token", "secrets.toml", "[sources.api]\nauth_token = \"" + value + "\"\n", false},
		{"a comment", "secrets.toml", "# [runtime] auth_token = \"" + value + "\"\n", false},
		{"not TOML", "secrets.toml", "[runtime\nauth_token = \n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			writeFile(t, filepath.Join(root, ".dlt", ".workspace"), "")
			writeFile(t, filepath.Join(root, ".dlt", filepath.FromSlash(tc.file)), tc.content)
			sel, err := SelectConfiguration(root)
			if err != nil {
				t.Fatal(err)
			}
			all := strings.Join(sel.Warnings, "\n")
			want := ".dlt/" + tc.file + " holds [runtime] auth_token"
			if got := strings.Contains(all, want); got != tc.warn {
				t.Errorf("warnings %q: contains %q = %v, want %v", sel.Warnings, want, got, tc.warn)
			}
			if tc.warn && !strings.Contains(all, "~/.dlt/secrets.toml") || tc.warn && !strings.Contains(all, "RUNTIME__AUTH_TOKEN") {
				t.Errorf("the warning does not say where the token belongs: %q", all)
			}
			if strings.Contains(all, value) || strings.Contains(all, "c2VjcmV0") {
				t.Errorf("the warning holds the token: %q", all)
			}
		})
	}
}
