package pack

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

type vectorCase struct {
	Expected map[string]struct {
		Files        []Item `json:"files"`
		ContentHash  string `json:"content_hash"`
		ManifestYAML string `json:"manifest_yaml"`
	} `json:"expected"`
}

// TestVectors checks the manifests and content hashes of the shared vectors,
// without any workspace: the lists are given, the printing must match dlt's.
func TestVectors(t *testing.T) {
	files, err := filepath.Glob("../../testdata/packaging/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no vectors found: %v", err)
	}
	n := 0
	for _, f := range files {
		if filepath.Base(f) == "cases.json" {
			continue
		}
		var vc vectorCase
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &vc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for kind, exp := range vc.Expected {
			t.Run(filepath.Base(f)+"/"+kind, func(t *testing.T) {
				n++
				m := Manifest{EngineVersion: EngineVersion, Files: exp.Files}
				if got := string(MarshalManifest(m)); got != exp.ManifestYAML {
					t.Errorf("MarshalManifest:\n got %q\nwant %q", got, exp.ManifestYAML)
				}
				if got := ContentHash(exp.Files); got != exp.ContentHash {
					t.Errorf("ContentHash = %q, want %q", got, exp.ContentHash)
				}
				parsed, err := ParseManifest([]byte(exp.ManifestYAML))
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(parsed.Files, exp.Files) || parsed.EngineVersion != 1 {
					t.Errorf("ParseManifest = %+v, want %+v", parsed, exp.Files)
				}
			})
		}
	}
	if n < 10 {
		t.Errorf("only %d vector manifests checked", n)
	}
}

func TestEmptyHash(t *testing.T) {
	if got := ContentHash(nil); got != EmptyHash {
		t.Errorf("ContentHash(nil) = %q, want %q", got, EmptyHash)
	}
	if got := Digest(nil); got != EmptyHash {
		t.Errorf("Digest(nil) = %q, want %q", got, EmptyHash)
	}
}

func TestContentHashOrderIndependent(t *testing.T) {
	items := []Item{
		{RelativePath: "b", SHA3256: Digest([]byte("b"))},
		{RelativePath: "a", SHA3256: Digest([]byte("a"))},
		{RelativePath: "a/b", SHA3256: Digest([]byte("ab"))},
	}
	orig := slices.Clone(items)
	h := ContentHash(items)
	if !slices.Equal(items, orig) {
		t.Error("ContentHash reordered the caller's slice")
	}
	Sort(items)
	if items[0].RelativePath != "a" || items[1].RelativePath != "a/b" {
		t.Errorf("Sort = %v", items)
	}
	if got := ContentHash(items); got != h {
		t.Errorf("hash depends on order: %q != %q", got, h)
	}
	items[0].SHA3256 = Digest([]byte("changed"))
	if ContentHash(items) == h {
		t.Error("hash ignores content")
	}
}

// manifestValue returns how MarshalManifest prints path as relative_path.
func manifestValue(t *testing.T, path string) string {
	t.Helper()
	out := string(MarshalManifest(Manifest{EngineVersion: 1, Files: []Item{{RelativePath: path, SHA3256: "x"}}}))
	v, ok := strings.CutPrefix(out, "engine_version: 1\nfiles:\n- relative_path:")
	if !ok {
		t.Fatalf("unexpected manifest %q", out)
	}
	v, _, _ = strings.Cut(v, "\n  size_in_bytes:")
	return v
}

// TestMarshalQuoting pins PyYAML's choices (taken from PyYAML 6 output) for
// names that need care.
func TestMarshalQuoting(t *testing.T) {
	long := strings.Repeat("word ", 30)
	tests := []struct{ path, want string }{
		{"a b.py", " a b.py"},
		{"key: value.txt", " 'key: value.txt'"},
		{"#hash.py", " '#hash.py'"},
		{"a #b", " 'a #b'"},
		{"a#b", " a#b"},
		{"-dash", " -dash"},
		{"- dash", " '- dash'"},
		{"? x", " '? x'"},
		{":x", " :x"},
		{"x:", " 'x:'"},
		{"[a]", " '[a]'"},
		{"a[b]", " a[b]"},
		{"'q", " '''q'"},
		{"q'uote", " q'uote"},
		{`"dq`, ` '"dq'`},
		{"---x", " '---x'"},
		{"..x", " ..x"},
		{"yes", " 'yes'"},
		{"y", " y"},
		{"null", " 'null'"},
		{"~", " '~'"},
		{"<<", " '<<'"},
		{"=", " '='"},
		{"123", " '123'"},
		{"0o17", " 0o17"},
		{"0x1F", " '0x1F'"},
		{"1_000", " '1_000'"},
		{"1e3", " 1e3"},
		{"1.0e+3", " '1.0e+3'"},
		{"1:30", " '1:30'"},
		{".inf", " '.inf'"},
		{"2024-01-02", " '2024-01-02'"},
		{"2024-1-2 3:04:05", " '2024-1-2 3:04:05'"},
		{"ünïcödé", " ünïcödé"},
		{"😀.py", " 😀.py"},
		{"tab\there", ` "tab\there"`},
		{"cr\rhere", ` "cr\rhere"`},
		{"nl\nhere", " 'nl\n\n    here'"},
		{"lead ", " 'lead '"},
		{"bom\ufeff", ` "bom\uFEFF"`},
		{"a\x7f", ` "a\x7F"`},
		{"\U0010ffff", ` "\U0010FFFF"`},
		{"", " ''"},
		// PyYAML would single-quote these, but a NEL does not read back as
		// itself; double quotes with escapes do (a deliberate difference).
		{"a\u0085b", ` "a\Nb"`},
		{"a\u2028b", ` "a\Lb"`},
		{strings.Repeat("a", 70) + " b c d", " " + strings.Repeat("a", 70) + "\n    b c d"},
		{strings.TrimSpace(long), " word word word word word word word word word word word word word\n    word word word word word word word word word word word word word word word word\n    word"},
		{"'" + strings.Repeat("x ", 50), " '''x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x\n    x x x x x x x x x x x x x x x x x x x '"},
		{"tab\t" + strings.Repeat("x ", 50), " \"tab\\tx x x x x x x x x x x x x x x x x x x x x x x x x x x x x x\\\n    \\ x x x x x x x x x x x x x x x x x x x x \""},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			if got := manifestValue(t, tt.path); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			m := Manifest{EngineVersion: 1, Files: []Item{{RelativePath: tt.path, SHA3256: "x"}}}
			back, err := ParseManifest(MarshalManifest(m))
			if err != nil {
				t.Fatal(err)
			}
			if back.Files[0].RelativePath != tt.path {
				t.Errorf("read back %q", back.Files[0].RelativePath)
			}
		})
	}
}

// TestMarshalMatchesPyYAML prints many generated names with PyYAML (the
// writer dlt uses) and with MarshalManifest and compares the bytes. It needs
// python3 with PyYAML and is skipped without them.
func TestMarshalMatchesPyYAML(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not found")
	}
	if err := exec.Command(py, "-c", "import yaml").Run(); err != nil {
		t.Skip("PyYAML not installed")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []rune("ab yYnN01_.-:#'\"?!&*[]{},|>%@`~=<+eE\t\nüé😀\u00a0x ")
	var paths []string
	for range 1500 {
		n := rng.IntN(12) + 1
		if rng.IntN(10) == 0 {
			n = rng.IntN(150) + 60 // long enough to fold
		}
		var b strings.Builder
		for range n {
			b.WriteRune(alphabet[rng.IntN(len(alphabet))])
		}
		paths = append(paths, b.String())
	}
	in, _ := json.Marshal(paths)
	script := `
import json, sys, yaml
for p in json.load(sys.stdin):
    m = {"engine_version": 1, "files": [{"relative_path": p, "size_in_bytes": 0, "sha3_256": "x", "linkname": p}]}
    sys.stdout.write(json.dumps(yaml.dump(m, allow_unicode=True, sort_keys=False, default_flow_style=False)) + "\n")
`
	cmd := exec.Command(py, "-c", script)
	cmd.Stdin = bytes.NewReader(in)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python3: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != len(paths) {
		t.Fatalf("python3 printed %d manifests for %d paths", len(lines), len(paths))
	}
	bad := 0
	for i, p := range paths {
		var want string
		if err := json.Unmarshal([]byte(lines[i]), &want); err != nil {
			t.Fatal(err)
		}
		got := string(MarshalManifest(Manifest{EngineVersion: 1, Files: []Item{{RelativePath: p, SHA3256: "x", Linkname: p}}}))
		if got != want {
			bad++
			if bad <= 5 {
				t.Errorf("path %q:\n got %q\nwant %q", p, got, want)
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d manifests differ from PyYAML", bad, len(paths))
	}
}
