package server

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dlthub/runtime-action/internal/api"
	"github.com/dlthub/runtime-action/internal/pack"
)

func TestPackageVersions(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"deployments", "configurations"} {
		t.Run(kind, func(t *testing.T) {
			e := newEnv(t)
			if r := e.get(t, e.wsPath("/", kind, "/latest")); r.status != http.StatusNotFound {
				t.Errorf("latest before any upload: %d", r.status)
			}
			var ids []string
			for v := 1; v <= 3; v++ {
				files := map[string]string{"a.py": fmt.Sprint("print(", v, ")\n"), "dir/prod.config.toml": "x = 1\n"}
				tarball := buildPackage(t, files)
				r := e.upload(t, e.wsPath("/", kind), tarball)
				var p api.Configuration
				r.decode(t, &p)
				if r.status != http.StatusCreated || p.Version != v || p.WorkspaceID != e.ws || p.FileCount != 2 ||
					p.FileNames != "a.py, dir/prod.config.toml" || p.Size != int64(len(tarball)) || p.ID == "" || p.CreatedBy == "" {
					t.Fatalf("upload %d: %d %+v", v, r.status, p)
				}
				if want := contentHash(t, files); p.ContentHash != want {
					t.Errorf("content hash %q, want %q", p.ContentHash, want)
				}
				if kind == "configurations" && p.Profiles != "prod" {
					t.Errorf("profiles %q, want prod", p.Profiles)
				}
				ids = append(ids, p.ID)
			}
			// identical content (another tar: other compression, other
			// member order) gives the latest back and no new version
			files := map[string]string{"a.py": "print(3)\n", "dir/prod.config.toml": "x = 1\n"}
			again := rawPackage(t, rawMembers(t, files, true))
			before := e.packageFiles(t)
			r := e.upload(t, e.wsPath("/", kind), again)
			var p api.PackageInfo
			r.decode(t, &p)
			if r.status != http.StatusCreated || p.Version != 3 || p.ID != ids[2] {
				t.Errorf("re-upload: %d %+v", r.status, p)
			}
			if after := e.packageFiles(t); !slices.Equal(before, after) {
				t.Errorf("re-upload changed packages/: %v -> %v", before, after)
			}
			var page api.Page[api.PackageInfo]
			e.get(t, e.wsPath("/", kind)).decode(t, &page)
			if page.Total != 3 || len(page.Items) != 3 || page.Items[0].Version != 3 || page.Items[2].Version != 1 ||
				page.Limit != 100 || page.Offset != 0 {
				t.Errorf("list: %+v", page)
			}
			e.get(t, e.wsPath("/", kind, "?limit=1&offset=1")).decode(t, &page)
			if page.Total != 3 || len(page.Items) != 1 || page.Items[0].Version != 2 || page.Limit != 1 || page.Offset != 1 {
				t.Errorf("page 2: %+v", page)
			}
			for sel, want := range map[string]string{"latest": ids[2], "1": ids[0], "2": ids[1], ids[0]: ids[0]} {
				r := e.get(t, e.wsPath("/", kind, "/", sel))
				r.decode(t, &p)
				if r.status != http.StatusOK || p.ID != want {
					t.Errorf("get %s: %d %s", sel, r.status, p.ID)
				}
			}
			for _, sel := range []string{"4", "0", "00000000-0000-0000-0000-000000000000", "x"} {
				if r := e.get(t, e.wsPath("/", kind, "/", sel)); r.status != http.StatusNotFound {
					t.Errorf("get %s: %d, want 404", sel, r.status)
				}
			}
			if got := len(e.packageFiles(t)); got != 3 {
				t.Errorf("%d files in packages/, want 3", got)
			}
		})
	}
}

func TestConfigurationProfiles(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		files []string
		want  string
	}{
		{[]string{"config.toml", "secrets.toml"}, ""},
		{[]string{"prod.secrets.toml", "extra/dev.config.toml", "config.toml"}, "dev, prod"},
		{[]string{"prod.config.toml", "prod.secrets.toml", "access.secrets.toml"}, "access, prod"},
	} {
		t.Run(strings.Join(tc.files, ","), func(t *testing.T) {
			e := newEnv(t)
			files := map[string]string{}
			for _, f := range tc.files {
				files[f] = "x = 1\n"
			}
			var c api.Configuration
			e.upload(t, e.wsPath("/configurations"), buildPackage(t, files)).decode(t, &c)
			if c.Profiles != tc.want {
				t.Errorf("profiles %q, want %q", c.Profiles, tc.want)
			}
		})
	}
}

func contentHash(t *testing.T, files map[string]string) string {
	t.Helper()
	var items []pack.Item
	for p, c := range files {
		items = append(items, pack.Item{RelativePath: p, SHA3256: pack.Digest([]byte(c))})
	}
	return pack.ContentHash(items)
}

// rawMembers makes the members of a valid package by hand, in reverse order
// when reversed.
func rawMembers(t *testing.T, files map[string]string, reversed bool) []member {
	t.Helper()
	var items []pack.Item
	var ms []member
	for p, c := range files {
		items = append(items, pack.Item{RelativePath: p, SizeInBytes: int64(len(c)), SHA3256: pack.Digest([]byte(c))})
		ms = append(ms, member{hdr: tar.Header{Name: "files/" + p}, body: []byte(c)})
	}
	pack.Sort(items)
	slices.SortFunc(ms, func(a, b member) int { return strings.Compare(a.hdr.Name, b.hdr.Name) })
	if reversed {
		slices.Reverse(ms)
	}
	man := pack.MarshalManifest(pack.Manifest{EngineVersion: 1, Files: items})
	return append(ms, member{hdr: tar.Header{Name: "manifest.yaml"}, body: man})
}

func manifestOf(items ...pack.Item) member {
	return member{hdr: tar.Header{Name: "manifest.yaml"}, body: pack.MarshalManifest(pack.Manifest{EngineVersion: 1, Files: items})}
}

func item(p, content string) pack.Item {
	return pack.Item{RelativePath: p, SizeInBytes: int64(len(content)), SHA3256: pack.Digest([]byte(content))}
}

func gzipBomb(t *testing.T, size int64) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	tw := tar.NewWriter(gz)
	tw.WriteHeader(&tar.Header{Name: "files/bomb.bin", Typeflag: tar.TypeReg, Size: size, Mode: 0o644})
	zeros := make([]byte, 1<<20)
	for n := int64(0); n < size; n += int64(len(zeros)) {
		tw.Write(zeros[:min(int64(len(zeros)), size-n)])
	}
	tw.Close()
	gz.Close()
	return buf.Bytes()
}

func TestUploadRefused(t *testing.T) {
	t.Parallel()
	good := "print(1)\n"
	bomb := gzipBomb(t, 32<<20) // 32 MiB of zeros in about 32 KiB, limit 4 MiB
	cases := []struct {
		name    string
		body    func(t *testing.T) []byte
		status  int
		want    string // in the detail
		rawBody bool   // body is the request body as is, not a multipart part
	}{
		{"path traversal", func(t *testing.T) []byte {
			return rawPackage(t, []member{{hdr: tar.Header{Name: "files/../evil.py"}, body: []byte(good)}, manifestOf(item("../evil.py", good))})
		}, 400, "evil.py", false},
		{"absolute path", func(t *testing.T) []byte {
			return rawPackage(t, []member{{hdr: tar.Header{Name: "/etc/passwd"}, body: []byte(good)}, manifestOf()})
		}, 400, "/etc/passwd", false},
		{"backslash", func(t *testing.T) []byte {
			return rawPackage(t, []member{{hdr: tar.Header{Name: "files/a\\b.py"}, body: []byte(good)}, manifestOf(item("a\\b.py", good))})
		}, 400, "backslash", false},
		{"symlink escape", func(t *testing.T) []byte {
			it := pack.Item{RelativePath: "link", SHA3256: pack.Digest([]byte("../../etc/passwd")), Linkname: "../../etc/passwd"}
			return rawPackage(t, []member{{hdr: tar.Header{Name: "files/link", Typeflag: tar.TypeSymlink, Linkname: "../../etc/passwd"}}, manifestOf(it)})
		}, 400, "link", false},
		{"absolute symlink", func(t *testing.T) []byte {
			it := pack.Item{RelativePath: "link", SHA3256: pack.Digest([]byte("/etc/passwd")), Linkname: "/etc/passwd"}
			return rawPackage(t, []member{{hdr: tar.Header{Name: "files/link", Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd"}}, manifestOf(it)})
		}, 400, "link", false},
		{"hard link", func(t *testing.T) []byte {
			return rawPackage(t, []member{{hdr: tar.Header{Name: "files/a.py"}, body: []byte(good)},
				{hdr: tar.Header{Name: "files/b.py", Typeflag: tar.TypeLink, Linkname: "files/a.py"}}, manifestOf(item("a.py", good))})
		}, 400, "b.py", false},
		{"device", func(t *testing.T) []byte {
			return rawPackage(t, []member{{hdr: tar.Header{Name: "files/null", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3}}, manifestOf()})
		}, 400, "null", false},
		{"duplicate", func(t *testing.T) []byte {
			return rawPackage(t, []member{{hdr: tar.Header{Name: "files/a.py"}, body: []byte(good)},
				{hdr: tar.Header{Name: "files/a.py"}, body: []byte(good)}, manifestOf(item("a.py", good))})
		}, 400, "a.py", false},
		{"digest mismatch", func(t *testing.T) []byte {
			return rawPackage(t, []member{{hdr: tar.Header{Name: "files/a.py"}, body: []byte("print(2)\n")}, manifestOf(item("a.py", good))})
		}, 400, "a.py", false},
		{"member not in manifest", func(t *testing.T) []byte {
			return rawPackage(t, []member{{hdr: tar.Header{Name: "files/a.py"}, body: []byte(good)},
				{hdr: tar.Header{Name: "files/b.py"}, body: []byte(good)}, manifestOf(item("a.py", good))})
		}, 400, "b.py", false},
		{"no manifest", func(t *testing.T) []byte {
			return rawPackage(t, []member{{hdr: tar.Header{Name: "files/a.py"}, body: []byte(good)}})
		}, 400, "manifest", false},
		{"gzip bomb", func(t *testing.T) []byte { return bomb }, 400, "invalid package", false},
		{"not gzip", func(t *testing.T) []byte { return []byte("this is not a tarball") }, 400, "invalid package", false},
		{"oversize", func(t *testing.T) []byte { return bytes.Repeat([]byte("x"), 1<<20+1) }, 413, "over the limit of 1048576 bytes", false},
		{"oversize body", func(t *testing.T) []byte { return bytes.Repeat([]byte("x"), 2<<20) }, 413, "over the limit", true},
		{"no file part", nil, 400, `field "file" is required`, false},
		{"not multipart", func(t *testing.T) []byte { return []byte(`{"file": "x"}`) }, 400, "multipart/form-data", true},
	}
	for _, kind := range []string{"deployments", "configurations"} {
		t.Run(kind, func(t *testing.T) {
			e := newEnv(t)
			// one good version first: refused uploads must leave it as it is
			ok := buildPackage(t, map[string]string{"a.py": good})
			if r := e.upload(t, e.wsPath("/", kind), ok); r.status != http.StatusCreated {
				t.Fatalf("good upload: %d %s", r.status, r.body)
			}
			before := e.packageFiles(t)
			var latest api.PackageInfo
			e.get(t, e.wsPath("/", kind, "/latest")).decode(t, &latest)
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					var r resp
					switch {
					case tc.body == nil:
						r = e.do(t, http.MethodPost, e.wsPath("/", kind), e.token,
							strings.NewReader("--b\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nx\r\n--b--\r\n"),
							"multipart/form-data; boundary=b")
					case tc.rawBody:
						ct := "application/json"
						if tc.status == 413 {
							ct = "multipart/form-data; boundary=b"
						}
						r = e.do(t, http.MethodPost, e.wsPath("/", kind), e.token, bytes.NewReader(tc.body(t)), ct)
					default:
						r = e.upload(t, e.wsPath("/", kind), tc.body(t))
					}
					if r.status != tc.status {
						t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
					}
					if d := r.detail(t); !strings.Contains(d, tc.want) {
						t.Errorf("detail %q lacks %q", d, tc.want)
					}
					if tc.status == 413 {
						var er api.ErrorResponse
						r.decode(t, &er)
						if er.Extra["limit"] != float64(1<<20) {
							t.Errorf("extra %v lacks the limit", er.Extra)
						}
					}
					var page api.Page[api.PackageInfo]
					e.get(t, e.wsPath("/", kind)).decode(t, &page)
					if page.Total != 1 || page.Items[0].ID != latest.ID {
						t.Errorf("store changed: %+v", page)
					}
					if after := e.packageFiles(t); !slices.Equal(before, after) {
						t.Errorf("packages/ changed: %v -> %v", before, after)
					}
					if left := dirNames(t, filepath.Join(e.dir, tmpDir)); len(left) > 0 {
						t.Errorf("temporary files left: %v", left)
					}
				})
			}
		})
	}
}

// TestUploadOversizeChunked sends a body of unknown length: the limit is
// enforced while reading, and the answer still names it.
func TestUploadOversizeChunked(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		fw, _ := mw.CreateFormFile("file", "workspace.tar.gz")
		chunk := bytes.Repeat([]byte("x"), 64<<10)
		for i := 0; i < 40; i++ { // 2.5 MiB
			if _, err := fw.Write(chunk); err != nil {
				pw.CloseWithError(err)
				return
			}
		}
		mw.Close()
		pw.Close()
	}()
	r := e.do(t, http.MethodPost, e.wsPath("/deployments"), e.token, pr, mw.FormDataContentType())
	if r.status != http.StatusRequestEntityTooLarge || !strings.Contains(r.detail(t), "over the limit of 1048576 bytes") {
		t.Fatalf("got %d %s", r.status, r.body)
	}
	if files := e.packageFiles(t); len(files) != 0 {
		t.Errorf("packages/ holds %v", files)
	}
}
