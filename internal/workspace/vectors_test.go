package workspace

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/dlthub/runtime-action/internal/pack"
)

type vectorCase struct {
	Description string            `json:"description"`
	Files       map[string]string `json:"files"`
	Symlinks    map[string]string `json:"symlinks"`
}

type vectorExpected struct {
	Files        []pack.Item `json:"files"`
	ContentHash  string      `json:"content_hash"`
	ManifestYAML string      `json:"manifest_yaml"`
}

// materialize writes a case's files and symlinks below a new folder.
func materialize(t testing.TB, c vectorCase) string {
	t.Helper()
	root := t.TempDir()
	for p, content := range c.Files {
		writeFile(t, filepath.Join(root, filepath.FromSlash(p)), content)
	}
	for p, target := range c.Symlinks {
		abs := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, abs); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func writeFile(t testing.TB, p, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestVectors packages every case of testdata/packaging/cases.json and
// compares with the expected lists, hashes and manifests of its case file.
func TestVectors(t *testing.T) {
	dir := filepath.Join("..", "..", "testdata", "packaging")
	b, err := os.ReadFile(filepath.Join(dir, "cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cases map[string]vectorCase
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	if len(cases) < 5 {
		t.Fatalf("only %d cases", len(cases))
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join(dir, name+".json"))
			if err != nil {
				t.Fatalf("expected results of case %q: %v", name, err)
			}
			var exp struct {
				Expected map[string]vectorExpected `json:"expected"`
			}
			if err := json.Unmarshal(b, &exp); err != nil {
				t.Fatal(err)
			}
			root := materialize(t, c)
			for kind, sel := range map[string]func(string) (*Selection, error){
				"deployment":    SelectDeployment,
				"configuration": SelectConfiguration,
			} {
				want, ok := exp.Expected[kind]
				if !ok {
					t.Fatalf("no expected %s", kind)
				}
				s, err := sel(root)
				if err != nil {
					t.Fatalf("%s: %v", kind, err)
				}
				if !slices.Equal(s.Files, want.Files) {
					t.Errorf("%s files:\n got %+v\nwant %+v", kind, s.Files, want.Files)
				}
				if got := s.ContentHash(); got != want.ContentHash {
					t.Errorf("%s content hash = %q, want %q", kind, got, want.ContentHash)
				}
				if got := string(pack.MarshalManifest(s.Manifest())); got != want.ManifestYAML {
					t.Errorf("%s manifest:\n got %q\nwant %q", kind, got, want.ManifestYAML)
				}
				t.Logf("%s warnings: %q", kind, s.Warnings)
			}
		})
	}
}
