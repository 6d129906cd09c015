package server

import (
	"archive/tar"
	"bytes"
	"net/http"
	"strings"
	"testing"

	"github.com/dlthub/runtime-action/internal/api"
	"github.com/dlthub/runtime-action/internal/pack"
)

// TestControlCharactersRefused sends strings with control characters in
// every field the API stores: each is a 400 naming the field, and nothing
// is stored.
func TestControlCharactersRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.deploy(t, map[string]string{"ok.py": "print(1)\n"}, "ok.py")
	script := func(name, entry, desc string, extra map[string]any) map[string]any {
		m := map[string]any{"name": name, "entry_point": entry, "description": desc, "script_type": "batch"}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	for _, tc := range []struct {
		name, path string
		body       map[string]any
		field      string
	}{
		{"newline in name", "/scripts", script("a\nb.py", "ok.py", "", nil), "name"},
		{"carriage return in entry point", "/scripts", script("x.py", "ok\r.py", "", nil), "entry_point"},
		{"escape in description", "/scripts", script("x.py", "ok.py", "fine \x1b[2Jgone", nil), "description"},
		{"NUL in description", "/scripts", script("x.py", "ok.py", "a\x00b", nil), "description"},
		{"tab in name", "/scripts", script("x\t.py", "ok.py", "", nil), "name"},
		{"C1 control in description", "/scripts", script("x.py", "ok.py", "a\u009bb", nil), "description"},
		{"newline in profile", "/scripts", script("x.py", "ok.py", "", map[string]any{"profile": "prod\n"}), "profile"},
		{"escape in schedule", "/scripts", script("x.py", "ok.py", "", map[string]any{"schedule": "* * * * *\x1b"}), "schedule"},
		{"newline in script of a run", "/runs", map[string]any{"script_id_or_name": "ok.py\n"}, "script_id_or_name"},
		{"DEL in profile of a run", "/runs", map[string]any{"script_id_or_name": "ok.py", "profile": "p\x7f"}, "profile"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.postJSON(t, e.wsPath(tc.path), tc.body)
			if r.status != http.StatusBadRequest {
				t.Fatalf("HTTP %d: %s", r.status, r.body)
			}
			if d := r.detail(t); !strings.Contains(d, `field "`+tc.field+`"`) || !strings.Contains(d, "control character") {
				t.Errorf("detail %q does not name field %q and the control character", d, tc.field)
			}
		})
	}
	var scripts api.Page[api.Script]
	e.get(t, e.wsPath("/scripts")).decode(t, &scripts)
	var runs api.Page[api.Run]
	e.get(t, e.wsPath("/runs")).decode(t, &runs)
	if scripts.Total != 1 || runs.Total != 0 {
		t.Errorf("stored after refusals: %d scripts, %d runs", scripts.Total, runs.Total)
	}

	// A package's file names are stored too.
	for _, name := range []string{"a\nb.py", "esc\x1b[31m.py"} {
		r := e.upload(t, e.wsPath("/deployments"), buildPackage(t, map[string]string{name: "x", "ok.py": "print(1)\n"}))
		if r.status != http.StatusBadRequest {
			t.Fatalf("package with file %q: HTTP %d: %s", name, r.status, r.body)
		}
		if d := r.detail(t); !strings.Contains(d, `"relative_path"`) || !strings.Contains(d, "control character") {
			t.Errorf("package with file %q: detail %q", name, d)
		}
	}
	var deps api.Page[api.Deployment]
	e.get(t, e.wsPath("/deployments")).decode(t, &deps)
	if deps.Total != 1 {
		t.Errorf("%d deployments after refusals, want 1", deps.Total)
	}
}

// TestManifestLargerThanMembersRefused uploads a package whose manifest is
// padded far beyond what its one file justifies: 400 before it is parsed.
func TestManifestLargerThanMembersRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	body := "print(1)\n"
	m := pack.MarshalManifest(pack.Manifest{EngineVersion: pack.EngineVersion, Files: []pack.Item{
		{RelativePath: "a.py", SizeInBytes: int64(len(body)), SHA3256: pack.Digest([]byte(body))}}})
	padded := append(m, strings.Repeat("\n", 64<<10)...)
	r := e.upload(t, e.wsPath("/deployments"), rawPackage(t, []member{
		{hdr: tar.Header{Name: "files/a.py"}, body: []byte(body)},
		{hdr: tar.Header{Name: pack.ManifestName}, body: padded},
	}))
	if r.status != http.StatusBadRequest {
		t.Fatalf("HTTP %d: %s", r.status, r.body)
	}
	if d := r.detail(t); !strings.Contains(d, pack.ManifestName) || !strings.Contains(d, "justify") {
		t.Errorf("detail %q", d)
	}
	if files := e.packageFiles(t); len(files) != 0 {
		t.Errorf("stored: %v", files)
	}
}

// TestSecretsSymlinkRefused: a configuration whose secrets file is a
// symlink is refused; the same package as a deployment is not.
func TestSecretsSymlinkRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	conf := "x = 1\n"
	m := pack.MarshalManifest(pack.Manifest{EngineVersion: pack.EngineVersion, Files: []pack.Item{
		{RelativePath: "other.toml", SizeInBytes: int64(len(conf)), SHA3256: pack.Digest([]byte(conf))},
		{RelativePath: "prod.secrets.toml", SHA3256: pack.Digest([]byte("other.toml")), Linkname: "other.toml"},
	}})
	pkg := rawPackage(t, []member{
		{hdr: tar.Header{Name: "files/other.toml"}, body: []byte(conf)},
		{hdr: tar.Header{Name: "files/prod.secrets.toml", Typeflag: tar.TypeSymlink, Linkname: "other.toml"}},
		{hdr: tar.Header{Name: pack.ManifestName}, body: m},
	})
	r := e.upload(t, e.wsPath("/configurations"), pkg)
	if r.status != http.StatusBadRequest {
		t.Fatalf("HTTP %d: %s", r.status, r.body)
	}
	if d := r.detail(t); !strings.Contains(d, `"prod.secrets.toml" is a symlink`) {
		t.Errorf("detail %q", d)
	}
	var confs api.Page[api.Configuration]
	e.get(t, e.wsPath("/configurations")).decode(t, &confs)
	if confs.Total != 0 {
		t.Errorf("%d configurations stored", confs.Total)
	}
	if r := e.upload(t, e.wsPath("/deployments"), pkg); r.status != http.StatusCreated {
		t.Errorf("as a deployment: HTTP %d: %s", r.status, r.body)
	}
}

// TestSecretValuesLinkedFile: a configuration stored before uploads refused
// linked secrets files still cannot run with one.
func TestSecretValuesLinkedFile(t *testing.T) {
	t.Parallel()
	pkg := rawPackage(t, []member{
		{hdr: tar.Header{Name: "files/other.toml"}, body: []byte("x = 'not redacted'\n")},
		{hdr: tar.Header{Name: "files/dev.secrets.toml", Typeflag: tar.TypeSymlink, Linkname: "other.toml"}},
	})
	if _, err := secretValues(bytes.NewReader(pkg)); err == nil || !strings.Contains(err.Error(), "dev.secrets.toml is not a regular file") {
		t.Errorf("got %v, want the linked secrets file refused", err)
	}
}
