package action

import (
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

func TestMaskSecrets(t *testing.T) {
	root := t.TempDir()
	writeFiles(t, root, map[string]string{
		".dlt/.workspace":          "",
		".dlt/secrets.toml":        "[destination.postgres.credentials]\npassword = \"pg-pass-123\"\nport = 54321\nenabled = true\n",
		".dlt/prod.secrets.toml":   "[sources.api]\nkeys = [\"key-one-aaa\", \"key-two-bbb\"]\n[[sources.api.extra]]\nname = \"tbl-secret-ccc\"\n",
		".dlt/team/x.secrets.toml": "nested = { deep = { value = \"deep-secret-ddd\" } }\n",
		".dlt/broken.secrets.toml": "this is [not toml\nraw_key = \"broken-secret-eee\"\n",
		".dlt/config.toml":         "[runtime]\nname = \"not-a-secret-fff\"\n",
		".dlt/secrets.toml.bak":    "old = \"not-selected-ggg\"\n",
		"pipelines/secrets.toml":   "outside = \"not-in-dlt-hhh\"\n",
	})
	if err := os.Symlink("missing-target", filepath.Join(root, ".dlt", "dangling.secrets.toml")); err != nil {
		t.Fatal(err)
	}
	in := inputs{
		Token:       "rt-token-xyz",
		GitHubToken: "ghp_abcdefgh",
		RepoToken:   "ghs_12345678",
		SecretsTOML: "[sources.gcp]\nprivate_key = \"\"\"\n-----BEGIN KEY-----\nline-one-aaaa\n  line-two-bbbb  \n\n-----END KEY-----\n\"\"\"\npin = \"42\"\nratio = 3.25\n",
	}
	a, out := newAction(t, env{})
	m, err := maskSecrets(a, in, root)
	if err != nil {
		t.Fatal(err)
	}
	cmds, text := runnerView(t, out.String())
	if len(text) != 0 {
		t.Errorf("MaskSecrets printed plain text: %q", text)
	}
	var masked []string
	for _, c := range cmds {
		if c.Name != "add-mask" {
			t.Errorf("unexpected command %+v", c)
		}
		masked = append(masked, c.Message)
	}
	sort.Strings(masked)
	want := []string{
		"rt-token-xyz", "ghp_abcdefgh", "ghs_12345678",
		"-----BEGIN KEY-----", "line-one-aaaa", "line-two-bbbb", "-----END KEY-----", "3.25",
		"pg-pass-123", "54321", "key-one-aaa", "key-two-bbb", "tbl-secret-ccc", "deep-secret-ddd",
		// the file that is not TOML: every line, and the text after '='
		"this is [not toml", `raw_key = "broken-secret-eee"`, "broken-secret-eee",
	}
	sort.Strings(want)
	if !slices.Equal(masked, want) {
		t.Errorf("masked:\n  %q\nwant:\n  %q", masked, want)
	}
	// Short values ("42", "true") are not masked, each value only once.
	if got := m.Redact("pin 42 pg-pass-123 and line-two-bbbb"); got != "pin 42 *** and ***" {
		t.Errorf("Redact() = %q", got)
	}
}

func TestMaskSecretsNoWorkspace(t *testing.T) {
	a, out := newAction(t, env{})
	if _, err := maskSecrets(a, inputs{Token: "tok-123"}, filepath.Join(t.TempDir(), "none")); err != nil {
		t.Fatalf("a workspace without .dlt must not fail: %v", err)
	}
	if out.String() != "::add-mask::tok-123\n" {
		t.Errorf("stdout = %q", out.String())
	}
}

func TestMaskSecretsUnreadableFile(t *testing.T) {
	t.Run("no read permission", func(t *testing.T) {
		if os.Geteuid() == 0 {
			t.Skip("root reads files whatever their mode; the other case runs as root too")
		}
		root := t.TempDir()
		writeFiles(t, root, map[string]string{".dlt/secrets.toml": "a = \"b\"\n"})
		if err := os.Chmod(filepath.Join(root, ".dlt", "secrets.toml"), 0); err != nil {
			t.Fatal(err)
		}
		a, _ := newAction(t, env{})
		if _, err := maskSecrets(a, inputs{}, root); err == nil {
			t.Error("an unreadable secrets file must fail: it cannot be masked")
		}
	})
	// A link to a folder cannot be read by anyone, root included.
	t.Run("link to a folder", func(t *testing.T) {
		root := t.TempDir()
		writeFiles(t, root, map[string]string{".dlt/dev/x.txt": ""})
		if err := os.Symlink("dev", filepath.Join(root, ".dlt", "dev.secrets.toml")); err != nil {
			t.Fatal(err)
		}
		a, _ := newAction(t, env{})
		if _, err := maskSecrets(a, inputs{}, root); err == nil || !strings.Contains(err.Error(), "dev.secrets.toml") {
			t.Errorf("MaskSecrets error = %v, want one naming the secrets file that cannot be read", err)
		}
	})
}

func TestMaskerRedactLongestFirst(t *testing.T) {
	a, _ := newAction(t, env{})
	m := newMasker(a)
	m.Add("abc")
	m.Add("abcdef")
	if got := m.Redact("x abcdef y abc"); got != "x *** y ***" {
		t.Errorf("Redact() = %q, want the longer value hidden whole", got)
	}
}
