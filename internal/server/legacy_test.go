package server

import (
	"archive/tar"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dlthub/runtime-action/internal/api"
	"github.com/dlthub/runtime-action/internal/pack"
)

// legacyDir holds the packages made by dlt's own package builder of late
// 2025 (a copy of shared/vectors/packaging-legacy).
const legacyDir = "../../testdata/packaging-legacy"

type legacyCase struct {
	Package     string   `json:"package"`
	ContentHash string   `json:"content_hash"`
	Files       []string `json:"files"`
}

func legacyCases(t *testing.T) map[string]map[string]*legacyCase {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(legacyDir, "cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]struct {
		Deployment    *legacyCase `json:"deployment"`
		Configuration *legacyCase `json:"configuration"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatalf("cases.json: %v", err)
	}
	cases := map[string]map[string]*legacyCase{}
	for name, c := range raw {
		cases[name] = map[string]*legacyCase{"deployment": c.Deployment, "configuration": c.Configuration}
	}
	return cases
}

func legacyTarball(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(legacyDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestLegacyVectors uploads every package of dlt's 2025 builder through the
// HTTP API: each gets exactly the content_hash dlt computed for it, so dlt's
// client finds "nothing changed" on its next deploy, and a second upload of
// the same tarball makes no second version.
func TestLegacyVectors(t *testing.T) {
	t.Parallel()
	n := 0
	for name, kinds := range legacyCases(t) {
		for _, kind := range []string{"deployment", "configuration"} {
			c := kinds[kind]
			if c == nil {
				continue
			}
			n++
			t.Run(name+"/"+kind, func(t *testing.T) {
				t.Parallel()
				e := newEnv(t)
				tarball := legacyTarball(t, c.Package)
				path := e.wsPath("/", kind, "s")
				var first api.PackageInfo
				r := e.upload(t, path, tarball)
				r.decode(t, &first)
				if r.status != http.StatusCreated {
					t.Fatalf("upload: %d %s", r.status, r.body)
				}
				if first.ContentHash != c.ContentHash {
					t.Errorf("content_hash %q, want dlt's %q", first.ContentHash, c.ContentHash)
				}
				if want := strings.Join(c.Files, ", "); first.FileNames != want || first.FileCount != len(c.Files) || first.Version != 1 {
					t.Errorf("stored %d files %q version %d, want %d files %q version 1", first.FileCount, first.FileNames, first.Version, len(c.Files), want)
				}
				before := e.packageFiles(t)
				var again api.PackageInfo
				r = e.upload(t, path, tarball)
				r.decode(t, &again)
				if r.status != http.StatusCreated || again.ID != first.ID || again.Version != 1 {
					t.Errorf("second upload: %d %+v, want the first package back", r.status, again)
				}
				if after := e.packageFiles(t); !slices.Equal(before, after) {
					t.Errorf("second upload changed packages/: %v -> %v", before, after)
				}
				var latest api.PackageInfo
				e.get(t, path+"/latest").decode(t, &latest)
				if latest.ContentHash != c.ContentHash {
					t.Errorf("latest's content_hash %q, want %q", latest.ContentHash, c.ContentHash)
				}
			})
		}
	}
	if n != 8 {
		t.Errorf("%d legacy vectors, want 8", n)
	}
}

// TestLegacyRuns: a script of a legacy deployment runs as any other, links
// included (link_inside.py is a symlink to pipeline.py), with a legacy
// configuration beside it.
func TestLegacyRuns(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for path, file := range map[string]string{"/deployments": "symlinks.deployment.tar.gz", "/configurations": "basic.configuration.tar.gz"} {
		if r := e.upload(t, e.wsPath(path), legacyTarball(t, file)); r.status != http.StatusCreated {
			t.Fatalf("upload %s: %d %s", file, r.status, r.body)
		}
	}
	r := e.postJSON(t, e.wsPath("/scripts"), map[string]any{"name": "link", "entry_point": "link_inside.py", "description": "", "script_type": "batch"})
	if r.status != http.StatusCreated {
		t.Fatalf("upsert script: %d %s", r.status, r.body)
	}
	run := e.startRun(t, "link")
	done := e.waitRun(t, run.ID, 30*time.Second, terminal)
	var logs api.LogsResponse
	e.get(t, e.wsPath("/runs/", run.ID, "/logs")).decode(t, &logs)
	if done.Status != api.StatusCompleted || logs.Logs == nil || !strings.Contains(*logs.Logs, "target") {
		t.Errorf("run of a legacy package: %s, logs %v", done.Status, logs.Logs)
	}
}

// TestLegacyRefused: a package without digests gets every check a package
// gets, and the sizes it does carry must agree; nothing is stored.
func TestLegacyRefused(t *testing.T) {
	t.Parallel()
	manifest := func(lines ...string) member {
		return member{hdr: tar.Header{Name: pack.ManifestName}, body: []byte("engine_version: 1\nfiles:\n" + strings.Join(lines, "\n") + "\n")}
	}
	file := func(name, body string) member {
		return member{hdr: tar.Header{Name: "files/" + name}, body: []byte(body)}
	}
	link := func(name, target string) member {
		return member{hdr: tar.Header{Name: "files/" + name, Typeflag: tar.TypeSymlink, Linkname: target}}
	}
	item := func(p, size string) string { return "- relative_path: " + p + "\n  size_in_bytes: " + size }
	for _, tc := range []struct {
		name    string
		members []member
		want    string
	}{
		{"size disagrees", []member{file("a.py", "print(1)\n"), manifest(item("a.py", "8"))},
			`member "files/a.py": size 9 does not match size_in_bytes 8 in manifest.yaml`},
		{"link size disagrees", []member{file("a.py", "print(1)\n"), link("l.py", "a.py"), manifest(item("a.py", "9"), item("l.py", "0"))},
			`member "files/l.py": size of the linked file 9 does not match size_in_bytes 0 in manifest.yaml`},
		{"digests for some files only", []member{file("a.py", "x"), file("b.py", "y"),
			manifest(item("a.py", "1"), item("b.py", "1")+"\n  sha3_256: "+pack.Digest([]byte("y")))},
			`relative_path "a.py" has no sha3_256 while other files have one`},
		{"unlisted member", []member{file("a.py", "x"), file("b.py", "y"), manifest(item("a.py", "1"))},
			`member "files/b.py": not listed in manifest.yaml`},
		{"listed but missing", []member{file("a.py", "x"), manifest(item("a.py", "1"), item("b.py", "1"))},
			`member "files/b.py": listed in manifest.yaml but not in the archive`},
		{"path escapes", []member{file("../x.py", "x"), manifest(item("../x.py", "1"))},
			`member "files/../x.py": path contains ".."`},
		{"link escapes", []member{link("l.py", "../../etc/passwd"), manifest(item("l.py", "1"))},
			`symlink target points outside the package`},
		{"hard link", []member{file("a.py", "x"), {hdr: tar.Header{Name: "files/h.py", Typeflag: tar.TypeLink, Linkname: "files/a.py"}},
			manifest(item("a.py", "1"), item("h.py", "1"))}, `hard links are not allowed`},
		{"out of name order", []member{file("b.py", "y"), file("a.py", "x"), manifest(item("a.py", "1"), item("b.py", "1"))},
			`must come in name order`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			r := e.upload(t, e.wsPath("/deployments"), rawPackage(t, tc.members))
			if r.status != http.StatusBadRequest || !strings.Contains(r.detail(t), tc.want) {
				t.Errorf("got %d %q, want 400 with %q", r.status, r.detail(t), tc.want)
			}
			if r := e.get(t, e.wsPath("/deployments/latest")); r.status != http.StatusNotFound {
				t.Errorf("a refused package was stored: %d %s", r.status, r.body)
			}
			if files := e.packageFiles(t); len(files) != 0 {
				t.Errorf("packages/ holds %v after a refusal", files)
			}
		})
	}
}

// TestLegacyBomb: the decompressed size limit holds for a package without
// digests too.
func TestLegacyBomb(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.MaxUnpacked = 1 << 20 })
	big := strings.Repeat("0", 2<<20)
	tarball := rawPackage(t, []member{{hdr: tar.Header{Name: "files/big.txt"}, body: []byte(big)},
		{hdr: tar.Header{Name: pack.ManifestName}, body: []byte("engine_version: 1\nfiles:\n- relative_path: big.txt\n  size_in_bytes: 2097152\n")}})
	r := e.upload(t, e.wsPath("/deployments"), tarball)
	if r.status != http.StatusBadRequest || !strings.Contains(r.detail(t), "when decompressed") {
		t.Errorf("got %d %q, want 400 naming the decompressed limit", r.status, r.detail(t))
	}
}
