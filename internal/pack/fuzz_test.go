package pack

import (
	"bytes"
	"compress/gzip"
	"io"
	"slices"
	"strings"
	"testing"
)

// FuzzManifest: any manifest MarshalManifest prints reads back the same, and
// its content hash does not depend on order or printing.
func FuzzManifest(f *testing.F) {
	f.Add("pipeline.py", "helpers/util.py", []byte("import dlt\n"), "", true)
	f.Add("key: value.txt", "'quoted'", []byte{}, "../x", true)
	f.Add("ünïcödé.py", "123", []byte("x"), "pipeline.py", true)
	f.Add("a\nb", " lead", []byte("\x00\xff"), "tab\there", true)
	f.Add("- dash # x", "yes", []byte("y"), "null", false)
	f.Fuzz(func(t *testing.T, p1, p2 string, content []byte, linkname string, legacy bool) {
		// Bounded sizes keep each run cheap, so the fuzzer's minimization of
		// a new input ends quickly; 200 bytes still reach line folding.
		p1, p2, linkname = clip(p1, 200), clip(p2, 200), clip(linkname, 200)
		content = content[:min(len(content), 64)]
		// YAML carries only UTF-8 text, and paths of a manifest are unique.
		p1, p2 = strings.ToValidUTF8(p1, "\uFFFD"), strings.ToValidUTF8(p2, "\uFFFD")
		linkname = strings.ToValidUTF8(linkname, "\uFFFD")
		if p1 == p2 {
			p2 += "/2"
		}
		items := []Item{
			{RelativePath: p1, SizeInBytes: int64(len(content)), SHA3256: Digest(content)},
			{RelativePath: p2, SHA3256: Digest([]byte(linkname)), Linkname: linkname},
		}
		if legacy {
			// dlt's runtime CLI of late 2025: paths and sizes only.
			items[0].SHA3256, items[1].SHA3256, items[1].Linkname = "", "", ""
			items[1].SizeInBytes = int64(len(content))
		}
		if got, err := isLegacy(items); got != legacy || err != nil {
			t.Fatalf("isLegacy = %v, %v; want %v", got, err, legacy)
		}
		m := Manifest{EngineVersion: EngineVersion, Files: items}
		out := MarshalManifest(m)
		if legacy && strings.Contains(string(out), "sha3_256") {
			t.Fatalf("legacy manifest printed with a digest: %q", out)
		}
		back, err := ParseManifest(out)
		if err != nil {
			t.Fatalf("ParseManifest(%q): %v", out, err)
		}
		if back.EngineVersion != m.EngineVersion || !slices.Equal(back.Files, m.Files) {
			t.Fatalf("round trip of %q:\n got %+v\nwant %+v", out, back.Files, m.Files)
		}
		if !bytes.Equal(MarshalManifest(back), out) {
			t.Fatal("printing is not stable")
		}
		h := ContentHash(items)
		if ContentHash(back.Files) != h || ContentHash([]Item{items[1], items[0]}) != h {
			t.Fatal("content hash is not stable")
		}
	})
}

// FuzzVerify: no input makes Verify panic or accept a package whose hash
// does not match its manifest. Inputs are used as they are and, to reach the
// tar parser more often, also gzip-compressed.
func FuzzVerify(f *testing.F) {
	a := file("files/a.py", "print('a')\n")
	f.Add(tarBytes(f, honest(a, link("files/l", "a.py"))))
	f.Add(targz(f, honest(a)))
	f.Add(tarBytes(f, honest(file("files/../x", "evil"))))
	f.Add([]byte("garbage"))
	// Packages without digests, as dlt's runtime CLI of late 2025 makes them.
	f.Add(tarBytes(f, legacy(a, file("files/b.py", "b"))))
	f.Add(tarBytes(f, legacy(a, link("files/l", "a.py"))))
	f.Add(targz(f, legacy(file("files/z.py", "z"), a)))
	f.Fuzz(func(t *testing.T, data []byte) {
		lim := Limits{MaxMembers: 50, MaxUnpacked: 1 << 20}
		data = data[:min(len(data), 64<<10)]
		var stored bytes.Buffer // no compression: cheap, still a real gzip stream
		zw, _ := gzip.NewWriterLevel(&stored, gzip.NoCompression)
		zw.Write(data)
		zw.Close()
		for _, in := range [][]byte{data, stored.Bytes()} {
			v, err := Verify(bytes.NewReader(in), lim)
			switch {
			case err != nil:
			case v.Legacy:
				// Accepted without digests: the legacy hash must be
				// computable from the same bytes in one ordered pass.
				if v.ContentHash != "" {
					t.Fatal("legacy package got a hash of the current form")
				}
				c, err := Check(func() (io.Reader, error) { return bytes.NewReader(in), nil }, lim)
				if err != nil {
					t.Fatalf("Verify accepted a legacy package that Check refuses: %v", err)
				}
				if h, err := LegacyHash(bytes.NewReader(in), lim); err != nil || h != c.ContentHash {
					t.Fatalf("LegacyHash = %q, %v; Check gave %q", h, err, c.ContentHash)
				}
			case v.ContentHash != ContentHash(v.Manifest.Files):
				t.Fatal("accepted package with a wrong content hash")
			}
		}
	})
}

func clip(s string, n int) string { return s[:min(len(s), n)] }
