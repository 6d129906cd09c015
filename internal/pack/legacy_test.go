package pack

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// legacy is a package of the given file members as dlt's runtime CLI of
// late 2025 makes it: a manifest of paths and sizes only (a link's size is
// its target's), members in name order, manifest last.
func legacy(files ...entry) []entry {
	files = slices.Clone(files)
	slices.SortFunc(files, func(a, b entry) int { return strings.Compare(a.name, b.name) })
	byPath := map[string]entry{}
	for _, f := range files {
		byPath[strings.TrimPrefix(f.name, FilesPrefix)] = f
	}
	var items []Item
	for _, f := range files {
		it := Item{RelativePath: strings.TrimPrefix(f.name, FilesPrefix), SizeInBytes: int64(len(f.body))}
		for t := f; t.typ == tar.TypeSymlink; { // tests link within one folder
			t = byPath[t.linkname]
			it.SizeInBytes = int64(len(t.body))
		}
		items = append(items, it)
	}
	return append(files, manifestOf(items...))
}

type legacyVector struct {
	Package     string   `json:"package"`
	ContentHash string   `json:"content_hash"`
	Files       []string `json:"files"`
}

func legacyVectors(t *testing.T) []legacyVector {
	t.Helper()
	b, err := os.ReadFile("../../testdata/packaging-legacy/cases.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases map[string]struct {
		Deployment    *legacyVector `json:"deployment"`
		Configuration *legacyVector `json:"configuration"`
	}
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	var out []legacyVector
	for _, c := range cases {
		for _, v := range []*legacyVector{c.Deployment, c.Configuration} {
			if v != nil {
				out = append(out, *v)
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("no legacy vectors")
	}
	return out
}

// TestLegacyVectorsPack checks each package of dlt's 2025 builder: Verify
// accepts it as legacy, Check gives exactly dlt's hash, our printer prints
// its manifest byte for byte, and it extracts (links as links).
func TestLegacyVectorsPack(t *testing.T) {
	for _, v := range legacyVectors(t) {
		t.Run(v.Package, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("../../testdata/packaging-legacy", v.Package))
			if err != nil {
				t.Fatal(err)
			}
			got, err := Check(func() (io.Reader, error) { return bytes.NewReader(b), nil }, Limits{})
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			if !got.Legacy || got.ContentHash != v.ContentHash {
				t.Errorf("Check: legacy %v hash %q, want legacy hash %q", got.Legacy, got.ContentHash, v.ContentHash)
			}
			if names := strings.Join(v.Files, ", "); got.FileNames() != names {
				t.Errorf("files %q, want %q", got.FileNames(), names)
			}
			if printed, raw := MarshalManifest(got.Manifest), memberBytes(t, b, ManifestName); !bytes.Equal(printed, raw) {
				t.Errorf("MarshalManifest:\n got %q\nwant %q", printed, raw)
			}
			dir := t.TempDir()
			if _, err := Extract(bytes.NewReader(b), dir, Limits{}, 0); err != nil {
				t.Fatalf("Extract: %v", err)
			}
			for _, f := range v.Files {
				if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
					t.Errorf("extracted: %v", err)
				}
			}
		})
	}
}

func memberBytes(t *testing.T, targz []byte, name string) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(targz))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	for {
		hdr, err := tr.Next()
		if err != nil {
			t.Fatalf("no member %q: %v", name, err)
		}
		if hdr.Name == name {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
}

// TestLegacyVerify: which manifests without digests pass, and what the
// refusals say.
func TestLegacyVerify(t *testing.T) {
	a, b := file("files/a.py", "print('a')\n"), file("files/sub/b.py", "b")
	for _, tc := range []struct {
		name          string
		entries       []entry
		member, check string // "" when accepted
	}{
		{name: "files", entries: legacy(a, b)},
		{name: "link to a file", entries: legacy(a, link("files/l.py", "a.py"))},
		{name: "link to a link", entries: legacy(a, link("files/l.py", "a.py"), link("files/m.py", "l.py"))},
		{name: "link to a file left out", entries: legacy(a, link("files/l.py", "gone.py"))},
		{name: "size disagrees", entries: append(legacy(a)[:1], manifestOf(Item{RelativePath: "a.py", SizeInBytes: 3})),
			member: "files/a.py", check: "size 11 does not match size_in_bytes 3 in manifest.yaml"},
		{name: "link size disagrees", entries: append(legacy(a, link("files/l.py", "a.py"))[:2],
			manifestOf(Item{RelativePath: "a.py", SizeInBytes: 11}, Item{RelativePath: "l.py", SizeInBytes: 1})),
			member: "files/l.py", check: "size of the linked file 11 does not match size_in_bytes 1 in manifest.yaml"},
		{name: "digest for one file only", entries: append([]entry{a, b},
			manifestOf(item(a), Item{RelativePath: "sub/b.py", SizeInBytes: 1})),
			member: ManifestName, check: `relative_path "sub/b.py" has no sha3_256 while other files have one: give every file a digest, or none (legacy form)`},
		{name: "members out of order", entries: []entry{b, a, manifestOf(Item{RelativePath: "a.py", SizeInBytes: 11}, Item{RelativePath: "sub/b.py", SizeInBytes: 1})},
			check: "members of a package without sha3_256 digests must come in name order, as dlt's package builder writes them"},
		{name: "linkname that disagrees", entries: append(legacy(a, link("files/l.py", "a.py"))[:2],
			manifestOf(Item{RelativePath: "a.py", SizeInBytes: 11}, Item{RelativePath: "l.py", SizeInBytes: 11, Linkname: "b.py"})),
			member: "files/l.py", check: "symlink target does not match linkname in manifest.yaml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := targz(t, tc.entries)
			v, err := Check(func() (io.Reader, error) { return bytes.NewReader(in), nil }, Limits{})
			if tc.check != "" {
				checkErr(t, err, tc.member, tc.check)
				return
			}
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !v.Legacy || v.ContentHash == "" || v.ContentHash == ContentHash(v.Manifest.Files) {
				t.Errorf("accepted as legacy %v with hash %q", v.Legacy, v.ContentHash)
			}
		})
	}
}

// TestLegacyHashDependsOnBytes: the legacy hash covers names, file bytes
// and the manifest, and nothing of gzip or tar headers.
func TestLegacyHashDependsOnBytes(t *testing.T) {
	hash := func(entries []entry) string {
		t.Helper()
		h, err := LegacyHash(bytes.NewReader(targz(t, entries)), Limits{})
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	base := hash(legacy(file("files/a.py", "x")))
	if again := hash(legacy(file("files/a.py", "x"))); again != base {
		t.Errorf("same package, other hash: %q %q", again, base)
	}
	for name, entries := range map[string][]entry{
		"content": legacy(file("files/a.py", "y")),
		"name":    legacy(file("files/b.py", "x")),
		"extra":   legacy(file("files/a.py", "x"), file("files/b.py", "")),
	} {
		if got := hash(entries); got == base {
			t.Errorf("changing the %s kept the hash %q", name, got)
		}
	}
	if _, err := LegacyHash(bytes.NewReader(targz(t, []entry{file("files/b", "b"), file("files/a", "a")})), Limits{}); err == nil ||
		!strings.Contains(err.Error(), "not in name order") {
		t.Errorf("unordered members: %v", err)
	}
}
