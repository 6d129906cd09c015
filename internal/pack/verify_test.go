package pack

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// entry is one raw tar member of a hand-made (often hostile) archive.
type entry struct {
	name     string
	typ      byte
	body     string
	linkname string
	size     int64 // header size when it must differ from len(body)
}

func file(name, body string) entry { return entry{name: name, typ: tar.TypeReg, body: body} }
func link(name, target string) entry {
	return entry{name: name, typ: tar.TypeSymlink, linkname: target}
}

// item is the manifest entry that matches e.
func item(e entry) Item {
	rel := strings.TrimPrefix(e.name, FilesPrefix)
	if e.typ == tar.TypeSymlink {
		return Item{RelativePath: rel, SHA3256: Digest([]byte(e.linkname)), Linkname: e.linkname}
	}
	return Item{RelativePath: rel, SizeInBytes: int64(len(e.body)), SHA3256: Digest([]byte(e.body))}
}

// manifestOf is a manifest.yaml member listing items.
func manifestOf(items ...Item) entry {
	Sort(items)
	return file(ManifestName, string(MarshalManifest(Manifest{EngineVersion: 1, Files: items})))
}

// honest is a well-formed package of the given file members.
func honest(files ...entry) []entry {
	var items []Item
	for _, f := range files {
		items = append(items, item(f))
	}
	return append(slices.Clone(files), manifestOf(items...))
}

func tarBytes(t testing.TB, entries []entry) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range entries {
		size := int64(len(e.body))
		if e.size != 0 {
			size = e.size
		}
		if e.typ != tar.TypeReg {
			size = 0
		}
		hdr := &tar.Header{Name: e.name, Typeflag: e.typ, Size: size, Linkname: e.linkname, Mode: 0o644}
		if e.typ == tar.TypeXGlobalHeader {
			hdr = &tar.Header{Typeflag: e.typ, PAXRecords: map[string]string{"comment": "made by a test"}}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatalf("header %q: %v", e.name, err)
		}
		if e.typ == tar.TypeReg {
			if _, err := io.WriteString(tw, e.body); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func gz(t testing.TB, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	w := gzip.NewWriter(&out)
	w.Write(b)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func targz(t testing.TB, entries []entry) []byte { return gz(t, tarBytes(t, entries)) }

type verifyCase struct {
	name   string
	input  []byte
	lim    Limits
	member string // expected Error.Member
	check  string // expected Error.Check; "" means the package is valid
}

// oldTypeflags rewrites the typeflag of every regular file header of tb to
// NUL (TypeRegA), as old tar writers emit it, and fixes the checksums.
// archive/tar's writer never writes it, hence the byte surgery.
func oldTypeflags(t testing.TB, tb []byte) []byte {
	t.Helper()
	out := bytes.Clone(tb)
	n := 0
	for off := 0; off+512 <= len(out); {
		h := out[off : off+512]
		if bytes.Equal(h, make([]byte, 512)) {
			break
		}
		size, err := strconv.ParseInt(strings.Trim(string(h[124:136]), " \x00"), 8, 64)
		if err != nil {
			t.Fatalf("header at %d: size: %v", off, err)
		}
		if h[156] == tar.TypeReg {
			h[156] = 0
			copy(h[148:156], "        ")
			sum := 0
			for _, c := range h {
				sum += int(c)
			}
			copy(h[148:156], fmt.Sprintf("%06o\x00 ", sum))
			n++
		}
		off += 512 + int((size+511)/512*512)
	}
	if n == 0 {
		t.Fatal("no regular file header rewritten")
	}
	return out
}

func verifyCases(t *testing.T) []verifyCase {
	a := file("files/a.py", "print('a')\n")
	b := file("files/sub/b.py", "x = 1\n")
	zeros := make([]byte, 4<<20)
	bombTar := tarBytes(t, []entry{{name: "files/zeros", typ: tar.TypeReg, body: string(zeros)}})
	many := []entry{}
	for i := range 20 {
		many = append(many, file(fmt.Sprintf("files/f%02d", i), "x"))
	}
	truncated := targz(t, honest(a, b))
	truncated = truncated[:len(truncated)-12]
	badSize := item(a)
	badSize.SizeInBytes = 99
	badDigest := item(a)
	badDigest.SHA3256 = Digest([]byte("something else"))
	linkWrongName := item(link("files/l", "a.py"))
	linkWrongName.Linkname = "sub/b.py"
	return []verifyCase{
		{name: "valid from an old writer (typeflag NUL)", input: gz(t, oldTypeflags(t, tarBytes(t, honest(a, b))))},
		{name: "valid", input: targz(t, honest(a, b, link("files/l", "a.py"), link("files/sub/up", "../a.py")))},
		{name: "valid with directory members", input: targz(t, append([]entry{{name: "files/", typ: tar.TypeDir}, {name: "files/sub/", typ: tar.TypeDir}}, honest(a, b)...))},
		{name: "valid empty package", input: targz(t, honest())},
		{name: "manifest not last", input: targz(t, append([]entry{manifestOf(item(a))}, a))},
		{name: "path traversal", input: targz(t, honest(a, file("files/../x", "evil"))), member: "files/../x", check: `path contains ".."`},
		{name: "traversal at the end", input: targz(t, honest(file("files/sub/..", "evil"))), member: "files/sub/..", check: `path contains ".."`},
		{name: "absolute path", input: targz(t, honest(file("/etc/passwd", "root"))), member: "/etc/passwd", check: "absolute path"},
		{name: "backslash", input: targz(t, honest(file(`files/..\x`, "evil"))), member: `files/..\x`, check: "path contains a backslash"},
		{name: "empty segment", input: targz(t, honest(file("files/a//b", "x"))), member: "files/a//b", check: "empty path segment"},
		{name: "dot segment", input: targz(t, honest(file("files/./b", "x"))), member: "files/./b", check: `path contains "."`},
		{name: "directory escaping", input: targz(t, append([]entry{{name: "files/../../x/", typ: tar.TypeDir}}, honest(a)...)), member: "files/../../x/", check: `path contains ".."`},
		{name: "unexpected member", input: targz(t, append(honest(a), file("README", "hi"))), member: "README", check: "unexpected member: a package holds only files/... and manifest.yaml"},
		{name: "symlink escaping", input: targz(t, honest(link("files/a", "../../etc/passwd"))), member: "files/a", check: "symlink target points outside the package"},
		{name: "symlink escaping from a folder", input: targz(t, honest(link("files/x/a", "../../y"))), member: "files/x/a", check: "symlink target points outside the package"},
		{name: "absolute symlink", input: targz(t, honest(link("files/a", "/etc/passwd"))), member: "files/a", check: "symlink target is absolute"},
		{name: "symlink climbing after a name", input: targz(t, honest(link("files/x/a", "../s/../b"))), member: "files/x/a", check: `symlink target has ".." after a folder name`},
		{name: "symlink to the root", input: targz(t, honest(link("files/x/a", ".."))), member: "files/x/a", check: "symlink target points to a folder, not a file"},
		{name: "write through a symlink", input: targz(t, honest(link("files/l", "sub"), b, file("files/l/c", "x"))), member: "files/l/c", check: `folder "l" is also a file member`},
		{name: "file where a folder was", input: targz(t, honest(b, file("files/sub", "x"))), member: "files/sub", check: "path is also a folder of another member"},
		{name: "hard link", input: targz(t, append(honest(a), entry{name: "files/h", typ: tar.TypeLink, linkname: "files/a.py"})), member: "files/h", check: "hard links are not allowed"},
		{name: "char device", input: targz(t, append(honest(a), entry{name: "files/tty", typ: tar.TypeChar})), member: "files/tty", check: "device files are not allowed"},
		{name: "block device", input: targz(t, append(honest(a), entry{name: "files/sda", typ: tar.TypeBlock})), member: "files/sda", check: "device files are not allowed"},
		{name: "fifo", input: targz(t, append(honest(a), entry{name: "files/p", typ: tar.TypeFifo})), member: "files/p", check: "fifos are not allowed"},
		{name: "duplicate member", input: targz(t, append([]entry{a}, honest(a)...)), member: "files/a.py", check: "duplicate member"},
		{name: "duplicate manifest", input: targz(t, append(honest(a), manifestOf(item(a)))), member: ManifestName, check: "duplicate member"},
		{name: "symlink manifest", input: targz(t, append([]entry{a}, link(ManifestName, "files/a.py"))), member: ManifestName, check: "must be a regular file"},
		{name: "missing manifest", input: targz(t, []entry{a, b}), member: ManifestName, check: "missing: a package ends with manifest.yaml"},
		{name: "manifest lists an extra file", input: targz(t, []entry{a, manifestOf(item(a), item(b))}), member: "files/sub/b.py", check: "listed in manifest.yaml but not in the archive"},
		{name: "member not in manifest", input: targz(t, []entry{a, b, manifestOf(item(a))}), member: "files/sub/b.py", check: "not listed in manifest.yaml"},
		{name: "digest mismatch", input: targz(t, []entry{a, manifestOf(badDigest)}), member: "files/a.py", check: "sha3_256 in manifest.yaml does not match the member's content"},
		{name: "size mismatch", input: targz(t, []entry{a, manifestOf(badSize)}), member: "files/a.py", check: "size 11 does not match size_in_bytes 99 in manifest.yaml"},
		{name: "symlink listed as file", input: targz(t, []entry{link("files/l", "a.py"), a, manifestOf(item(a), Item{RelativePath: "l", SHA3256: Digest([]byte("a.py"))})}), member: "files/l", check: "is a symlink but manifest.yaml gives no linkname"},
		{name: "file listed as symlink", input: targz(t, []entry{a, manifestOf(Item{RelativePath: "a.py", SHA3256: Digest([]byte("b")), Linkname: "b"})}), member: "files/a.py", check: "is a regular file but manifest.yaml gives a linkname"},
		{name: "symlink target differs", input: targz(t, []entry{a, b, link("files/l", "a.py"), manifestOf(item(a), item(b), linkWrongName)}), member: "files/l", check: "symlink target does not match linkname in manifest.yaml"},
		{name: "manifest path listed twice", input: targz(t, []entry{a, manifestOf(item(a), item(a))}), member: ManifestName, check: `relative_path "a.py" is listed more than once`},
		{name: "manifest path traversal", input: targz(t, []entry{a, manifestOf(item(a), Item{RelativePath: "../x"})}), member: ManifestName, check: `relative_path "../x": path contains ".."`},
		{name: "manifest engine version", input: targz(t, []entry{file(ManifestName, "engine_version: 2\nfiles: []\n")}), member: ManifestName, check: "engine_version 2 is not supported: expected 1"},
		{name: "manifest not YAML", input: targz(t, []entry{file(ManifestName, "engine_version: [\n")}), member: ManifestName},
		{name: "manifest without files", input: targz(t, []entry{file(ManifestName, "engine_version: 1\n")}), member: ManifestName, check: "files is missing"},
		{name: "gzip bomb", input: gz(t, bombTar), lim: Limits{MaxUnpacked: 64 << 10}, check: "more than 65536 bytes when decompressed"},
		{name: "exactly at the size limit", input: targz(t, honest(a)), lim: Limits{MaxUnpacked: int64(len(tarBytes(t, honest(a))))}},
		{name: "too many members", input: targz(t, honest(many...)), lim: Limits{MaxMembers: 20}, check: "more than 20 members"},
		{name: "garbage bytes", input: []byte("this is not a package at all"), check: "not a gzip-compressed tar archive"},
		{name: "empty input", input: nil, check: "not a gzip-compressed tar archive"},
		{name: "gzip but not tar", input: gz(t, bytes.Repeat([]byte("garbage "), 200)), check: "not a gzip-compressed tar archive"},
		{name: "truncated gzip", input: truncated, check: "corrupt or truncated gzip stream"},
		{name: "plain tar without gzip", input: tarBytes(t, honest(a)), check: "not a gzip-compressed tar archive"},
	}
}

func checkErr(t *testing.T, err error, member, check string) {
	t.Helper()
	if check == "" && member == "" {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	var pe *Error
	if !errors.As(err, &pe) {
		t.Fatalf("error = %v (%T), want *pack.Error", err, err)
	}
	if pe.Member != member || (check != "" && pe.Check != check) {
		t.Fatalf("error = {Member: %q, Check: %q}, want {Member: %q, Check: %q}", pe.Member, pe.Check, member, check)
	}
}

func TestVerify(t *testing.T) {
	for _, tt := range verifyCases(t) {
		t.Run(tt.name, func(t *testing.T) {
			v, err := Verify(bytes.NewReader(tt.input), tt.lim)
			checkErr(t, err, tt.member, tt.check)
			if err == nil && v.ContentHash != ContentHash(v.Manifest.Files) {
				t.Errorf("content hash %q", v.ContentHash)
			}
		})
	}
}

// TestExtractRefusesAndCleansUp runs every case through Extract: a refused
// package leaves the folder empty and nothing beside it.
func TestExtractRefusesAndCleansUp(t *testing.T) {
	for _, tt := range verifyCases(t) {
		t.Run(tt.name, func(t *testing.T) {
			parent := t.TempDir()
			dir := filepath.Join(parent, "out")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			v, err := Extract(bytes.NewReader(tt.input), dir, tt.lim, 0)
			checkErr(t, err, tt.member, tt.check)
			if left := listTree(t, parent); err != nil && !slices.Equal(left, []string{"out/"}) {
				t.Errorf("after a refused package the tree holds %v", left)
			}
			if err == nil {
				for _, it := range v.Manifest.Files {
					if _, err := os.Lstat(filepath.Join(dir, it.RelativePath)); err != nil {
						t.Errorf("not extracted: %v", err)
					}
				}
			}
		})
	}
}

// listTree lists every path below dir, folders with a trailing slash,
// symlinks as "path -> target".
func listTree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == "." {
			return nil
		}
		rel = filepath.ToSlash(rel)
		switch {
		case d.IsDir():
			rel += "/"
		case d.Type()&os.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			rel += " -> " + target
		}
		out = append(out, rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// endless is a gzip stream of zeros that never ends: Verify must stop at its
// limit instead of inflating it all.
func TestVerifyStopsEndlessBomb(t *testing.T) {
	pr, pw := io.Pipe()
	go func() {
		zw := gzip.NewWriter(pw)
		tw := tar.NewWriter(zw)
		tw.WriteHeader(&tar.Header{Name: "files/zeros", Typeflag: tar.TypeReg, Size: 1 << 40, Mode: 0o644})
		buf := make([]byte, 1<<20)
		for {
			if _, err := tw.Write(buf); err != nil {
				pw.CloseWithError(err)
				return
			}
		}
	}()
	defer pr.CloseWithError(errors.New("test over"))
	counted := &countReader{r: pr}
	_, err := Verify(counted, Limits{MaxUnpacked: 1 << 20})
	checkErr(t, err, "", "more than 1048576 bytes when decompressed")
	// Zeros compress about 1000:1; far more input read would mean the limit
	// was not applied while inflating.
	if counted.n > 1<<20 {
		t.Errorf("read %d compressed bytes for a 1 MiB limit", counted.n)
	}
}

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// TestVerifyPassesStreamErrors keeps the caller's read errors (a body too
// large, a broken connection) distinct from bad packages.
func TestVerifyPassesStreamErrors(t *testing.T) {
	boom := errors.New("connection reset")
	good := targz(t, honest(file("files/a", "a")))
	r := io.MultiReader(bytes.NewReader(good[:len(good)/2]), &failReader{err: boom})
	_, err := Verify(r, Limits{})
	var pe *Error
	if errors.As(err, &pe) || !errors.Is(err, boom) {
		t.Fatalf("error = %v, want the stream's own error", err)
	}
}

type failReader struct{ err error }

func (f *failReader) Read([]byte) (int, error) { return 0, f.err }

func TestWriteVerifyExtractRoundTrip(t *testing.T) {
	contents := map[string]string{
		"pipeline.py":                         "import dlt\n",
		"helpers/__init__.py":                 "",
		"helpers/util.py":                     "def f(): pass\n",
		"a b/ünï cödé.py":                     "x = 'ü'\n",
		"key: value.txt":                      "colon\n",
		strings.Repeat("d", 120) + "/long.py": strings.Repeat("long ", 1000),
	}
	var items []Item
	for p, c := range contents {
		items = append(items, Item{RelativePath: p, SizeInBytes: int64(len(c)), SHA3256: Digest([]byte(c))})
	}
	items = append(items,
		Item{RelativePath: "link.py", SHA3256: Digest([]byte("pipeline.py")), Linkname: "pipeline.py"},
		Item{RelativePath: "helpers/up.py", SHA3256: Digest([]byte("../pipeline.py")), Linkname: "../pipeline.py"},
	)
	Sort(items)
	m := Manifest{EngineVersion: EngineVersion, Files: items}
	var buf bytes.Buffer
	err := Write(&buf, m, func(p string) (io.ReadCloser, error) {
		return io.NopCloser(strings.NewReader(contents[p])), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := ContentHash(items)
	v, err := Verify(bytes.NewReader(buf.Bytes()), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if v.ContentHash != want || !slices.Equal(v.Manifest.Files, items) {
		t.Errorf("Verify = %q %v, want %q", v.ContentHash, v.Manifest.Files, want)
	}
	if !strings.HasPrefix(v.FileNames(), "a b/ünï cödé.py, ") || strings.Count(v.FileNames(), ", ") != len(items)-1 {
		t.Errorf("FileNames = %q", v.FileNames())
	}
	dir := t.TempDir()
	v2, err := Extract(bytes.NewReader(buf.Bytes()), dir, Limits{}, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if v2.ContentHash != want {
		t.Errorf("Extract hash %q, want %q", v2.ContentHash, want)
	}
	for p, c := range contents {
		b, err := os.ReadFile(filepath.Join(dir, p))
		if err != nil || string(b) != c {
			t.Errorf("%q: %v, content %q", p, err, b)
		}
		fi, _ := os.Stat(filepath.Join(dir, p))
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%q mode %v", p, fi.Mode())
		}
	}
	for _, l := range []string{"link.py", "helpers/up.py"} {
		target, err := os.Readlink(filepath.Join(dir, l))
		if err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(filepath.Join(dir, l)); string(b) != contents["pipeline.py"] {
			t.Errorf("%q -> %q reads %q", l, target, b)
		}
	}
	// The same manifest and contents give the same bytes: no timestamps.
	var again bytes.Buffer
	Write(&again, m, func(p string) (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(contents[p])), nil })
	if !bytes.Equal(again.Bytes(), buf.Bytes()) {
		t.Error("Write is not deterministic")
	}
}

func TestWriteDetectsChangedFiles(t *testing.T) {
	tests := []struct {
		name, content string
		want          string
	}{
		{"grew", "12345", `file "a" grew since it was selected (was 3 bytes): run the command again`},
		{"shrank", "1", `file "a" shrank from 3 to 1 bytes since it was selected: run the command again`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := Manifest{EngineVersion: 1, Files: []Item{{RelativePath: "a", SizeInBytes: 3, SHA3256: Digest([]byte("123"))}}}
			err := Write(io.Discard, m, func(string) (io.ReadCloser, error) {
				return io.NopCloser(strings.NewReader(tt.content)), nil
			})
			if err == nil || err.Error() != tt.want {
				t.Errorf("error = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestCheckLinkTarget(t *testing.T) {
	tests := []struct{ rel, target, want string }{
		{"a", "b", ""},
		{"a", "./b", ""},
		{"x/a", "../b", ""},
		{"x/y/a", "../../b/c", ""},
		{"x/a", "..//b", ""},
		{"a", "../b", "symlink target points outside the package"},
		{"a", "/b", "symlink target is absolute"},
		{"x/a", "b/../../c", `symlink target has ".." after a folder name`},
		{"a", ".", "symlink target points to a folder, not a file"},
		{"a", "", "symlink has an empty target"},
		{"a", `b\c`, "symlink target contains a backslash"},
	}
	for _, tt := range tests {
		t.Run(tt.rel+"->"+tt.target, func(t *testing.T) {
			err := CheckLinkTarget(tt.rel, tt.target)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
