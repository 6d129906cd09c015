package workspace

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dlthub/runtime-action/internal/pack"
)

func paths(items []pack.Item) []string {
	var out []string
	for _, it := range items {
		out = append(out, it.RelativePath)
	}
	return out
}

func TestSelectDeployment(t *testing.T) {
	tests := []struct {
		name       string
		files      map[string]string
		symlinks   map[string]string
		want       []string
		secretLike []string
		warnings   []string // substrings, one per warning, in order
	}{
		{
			name: "settings and git folders are left out",
			files: map[string]string{
				".gitignore": "", "main.py": "x", ".dlt/config.toml": "", ".git/HEAD": "ref",
				"vendor/lib/.git/HEAD": "ref", "vendor/lib/x.py": "y", "sub/.dlt/config.toml": "nested",
			},
			want: []string{".gitignore", "main.py", "sub/.dlt/config.toml", "vendor/lib/x.py"},
		},
		{
			name: "an ignored folder cannot be re-included",
			files: map[string]string{
				".gitignore":    "data/\n!data/keep.csv\nlogs/*\n!logs/keep.log\n",
				"data/keep.csv": "k", "data/x.csv": "x", "logs/keep.log": "k", "logs/x.log": "x",
			},
			want: []string{".gitignore", "logs/keep.log"},
		},
		{
			name: "files that look like secrets",
			files: map[string]string{
				".gitignore": "", ".env.local": "A=1", "certs/server.pem": "p", "server.key": "k",
				"id_rsa": "r", "id_rsa.pub": "r", "conf/prod.secrets.toml": "s", "main.py": "x",
				"keyboard.py": "fine", ".dlt/secrets.toml": "not deployed",
			},
			want:       []string{".env.local", ".gitignore", "certs/server.pem", "conf/prod.secrets.toml", "id_rsa", "id_rsa.pub", "keyboard.py", "main.py", "server.key"},
			secretLike: []string{".env.local", "certs/server.pem", "conf/prod.secrets.toml", "id_rsa", "id_rsa.pub", "server.key"},
		},
		{
			name:  "symlinks the Runtime would refuse are skipped",
			files: map[string]string{".gitignore": "", "main.py": "x", "sub/util.py": "u"},
			symlinks: map[string]string{
				"abs.py":      "ABS/main.py", // ABS is replaced by the root: inside, but absolute
				"loop1":       "loop2",
				"loop2":       "loop1",
				"sub/twisty":  "../sub/../main.py",
				"sub/good.py": "util.py",
				"sub/up.py":   "./../main.py",
			},
			want: []string{".gitignore", "main.py", "sub/good.py", "sub/up.py", "sub/util.py"},
			warnings: []string{
				`skipped symlink "abs.py": symlink target is absolute`,
				`skipped symlink "loop1": its target "loop2" is missing or loops`,
				`skipped symlink "loop2": its target "loop1" is missing or loops`,
				`skipped symlink "sub/twisty": symlink target has ".." after a folder name`,
			},
		},
		{
			name:  "names a package cannot carry",
			files: map[string]string{".gitignore": "", "main.py": "x", `back\slash.py`: "b", "bad\xffname.py": "b"},
			want:  []string{".gitignore", "main.py"},
			warnings: []string{
				`skipped "back\\slash.py": path contains a backslash`,
				`skipped "bad\xffname.py": its name is not valid UTF-8`,
			},
		},
		{
			name:     "ignored links are not even looked at",
			files:    map[string]string{".gitignore": "*.lnk\n", "main.py": "x"},
			symlinks: map[string]string{"out.lnk": "/etc/passwd"},
			want:     []string{".gitignore", "main.py"},
		},
		{
			name:  "empty workspace",
			files: map[string]string{".dlt/config.toml": ""},
			want:  nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := vectorCase{Files: tt.files, Symlinks: map[string]string{}}
			root := materialize(t, c)
			for p, target := range tt.symlinks {
				abs := filepath.Join(root, filepath.FromSlash(p))
				os.MkdirAll(filepath.Dir(abs), 0o755)
				if err := os.Symlink(strings.ReplaceAll(target, "ABS", root), abs); err != nil {
					t.Fatal(err)
				}
			}
			sel, err := SelectDeployment(root)
			if err != nil {
				t.Fatal(err)
			}
			if got := paths(sel.Files); !slices.Equal(got, tt.want) {
				t.Errorf("files = %q, want %q", got, tt.want)
			}
			if sel.Files == nil {
				t.Error("Files is nil; want an empty list")
			}
			if !slices.Equal(sel.SecretLike, tt.secretLike) {
				t.Errorf("SecretLike = %q, want %q", sel.SecretLike, tt.secretLike)
			}
			if len(sel.Warnings) != len(tt.warnings) {
				t.Fatalf("warnings = %q, want %d", sel.Warnings, len(tt.warnings))
			}
			for i, w := range tt.warnings {
				if !strings.Contains(sel.Warnings[i], w) {
					t.Errorf("warning %d = %q, want it to contain %q", i, sel.Warnings[i], w)
				}
			}
			if len(tt.want) == 0 && sel.ContentHash() != pack.EmptyHash {
				t.Errorf("empty selection hash %q", sel.ContentHash())
			}
		})
	}
}

func TestSelectConfigurationLinks(t *testing.T) {
	root := materialize(t, vectorCase{Files: map[string]string{
		".dlt/config.toml": "[runtime]\n", "shared.secrets.toml": "[x]\n", ".dlt/real.secrets.toml": "[y]\n",
	}})
	os.Symlink("../shared.secrets.toml", filepath.Join(root, ".dlt", "outside.secrets.toml"))
	os.Symlink("real.secrets.toml", filepath.Join(root, ".dlt", "alias.secrets.toml"))
	sel, err := SelectConfiguration(root)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := paths(sel.Files), []string{"alias.secrets.toml", "config.toml", "real.secrets.toml"}; !slices.Equal(got, want) {
		t.Errorf("files = %q, want %q", got, want)
	}
	if len(sel.Warnings) != 1 || !strings.Contains(sel.Warnings[0], `"outside.secrets.toml": its target "../shared.secrets.toml" is outside the settings folder .dlt`) {
		t.Errorf("warnings = %q", sel.Warnings)
	}
	if sel.Root != filepath.Join(root, ".dlt") {
		t.Errorf("Root = %q", sel.Root)
	}
}

// TestWriteTarGzRoundTrip packs a selection and checks it the way the
// server does; extraction gives back the same bytes and links.
func TestWriteTarGzRoundTrip(t *testing.T) {
	files := map[string]string{
		".gitignore": "", "pipeline.py": "import dlt\n", "big.txt": strings.Repeat("row,1,2,3\n", 300000),
		"a b/ünï.py": "x = 1\n", "empty.py": "",
	}
	root := materialize(t, vectorCase{Files: files, Symlinks: map[string]string{"link.py": "pipeline.py"}})
	sel, err := SelectDeployment(root)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := sel.WriteTarGz(&buf); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	v, err := pack.Extract(bytes.NewReader(buf.Bytes()), out, pack.Limits{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if v.ContentHash != sel.ContentHash() || !slices.Equal(v.Manifest.Files, sel.Files) {
		t.Errorf("server sees %q %v, client %q %v", v.ContentHash, v.Manifest.Files, sel.ContentHash(), sel.Files)
	}
	for p, c := range files {
		b, err := os.ReadFile(filepath.Join(out, p))
		if err != nil || string(b) != c {
			t.Errorf("%q: %v", p, err)
		}
	}
	if target, err := os.Readlink(filepath.Join(out, "link.py")); err != nil || target != "pipeline.py" {
		t.Errorf("link.py -> %q, %v", target, err)
	}
	var total int64
	for _, c := range files {
		total += int64(len(c))
	}
	if sel.Size() != total {
		t.Errorf("Size = %d, want %d", sel.Size(), total)
	}
	if got := paths(sel.Largest(2)); !slices.Equal(got, []string{"big.txt", "pipeline.py"}) {
		t.Errorf("Largest(2) = %q", got)
	}
	if got := sel.Largest(100); len(got) != len(sel.Files) {
		t.Errorf("Largest(100) gave %d items", len(got))
	}
}

func TestWriteTarGzFileChanged(t *testing.T) {
	tests := []struct {
		name, now, want string
	}{
		{"grew", "print('a much longer file')\n", `file "main.py" grew since it was selected (was 11 bytes): run the command again`},
		{"shrank", "x\n", `file "main.py" shrank from 11 to 2 bytes since it was selected: run the command again`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := materialize(t, vectorCase{Files: map[string]string{".gitignore": "", "main.py": "print('a')\n"}})
			sel, err := SelectDeployment(root)
			if err != nil {
				t.Fatal(err)
			}
			writeFile(t, filepath.Join(root, "main.py"), tt.now)
			err = sel.WriteTarGz(&bytes.Buffer{})
			if err == nil || err.Error() != tt.want {
				t.Errorf("error = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestSelectConfigurationSkipsEmbeddedRuntime(t *testing.T) {
	root := t.TempDir()
	for p, c := range map[string]string{
		".dlt/config.toml":                        "[a]\nb = 1\n",
		".dlt/extra/dev.config.toml":              "[a]\nb = 2\n",
		".dlt/.runtime/runs/r1/.dlt/secrets.toml": "[a]\nc = \"run folder\"\n",
		".dlt/.runtime/packages/x.secrets.toml":   "",
		".dlt/nested/.runtime/prod.secrets.toml":  "[a]\nc = \"kept: only the top .runtime is the Runtime's\"\n",
	} {
		full := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sel, err := SelectConfiguration(root)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, it := range sel.Files {
		got = append(got, it.RelativePath)
	}
	want := []string{"config.toml", "extra/dev.config.toml", "nested/.runtime/prod.secrets.toml"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("selected %q, want %q", got, want)
	}
}
