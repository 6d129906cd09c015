package server

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/dlthub/runtime-action/internal/api"
	"github.com/dlthub/runtime-action/internal/pack"
)

// testEnv is a server on a real loopback listener with the admin token.
type testEnv struct {
	srv   *Server
	hs    *httptest.Server
	url   string
	token string
	ws    string // the default workspace
	dir   string
}

// newEnv opens a server on a fresh data dir; mod may change its config.
func newEnv(t *testing.T, mod ...func(*Config)) *testEnv {
	t.Helper()
	cfg := Config{
		DataDir:     t.TempDir(),
		CancelGrace: 500 * time.Millisecond,
		MaxUnpacked: 4 << 20,
		MaxUpload:   1 << 20,
	}
	// Links name the listen address: the server learns it before it opens.
	hs := httptest.NewUnstartedServer(nil)
	cfg.Addr = hs.Listener.Addr().String()
	for _, m := range mod {
		m(&cfg)
	}
	srv, err := Open(context.Background(), cfg)
	if err != nil {
		hs.Close()
		t.Fatalf("open server: %v", err)
	}
	hs.Config.Handler = srv.Handler()
	hs.Start()
	t.Cleanup(func() {
		hs.Close()
		if err := srv.Close(); err != nil {
			t.Errorf("close server: %v", err)
		}
	})
	return &testEnv{srv: srv, hs: hs, url: hs.URL, token: srv.AdminToken(), ws: srv.DefaultWorkspaceID(), dir: cfg.DataDir}
}

// resp is an answer read whole.
type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) decode(t *testing.T, v any) {
	t.Helper()
	// An error answer decoded into the type of a success would read as
	// zero values (a list with total 0, a run with no status), and checks
	// of those could pass on a call that failed.
	if _, isErr := v.(*api.ErrorResponse); r.status >= 400 && !isErr {
		t.Fatalf("HTTP %d where a %T was expected: %s", r.status, v, r.body)
	}
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// errDetail is the detail of an error answer.
func (r resp) detail(t *testing.T) string {
	t.Helper()
	var e api.ErrorResponse
	r.decode(t, &e)
	if e.StatusCode != r.status {
		t.Errorf("error body status_code %d, HTTP status %d", e.StatusCode, r.status)
	}
	return e.Detail
}

func (e *testEnv) do(t *testing.T, method, path, token string, body io.Reader, contentType string) resp {
	t.Helper()
	req, err := http.NewRequest(method, e.url+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	client := http.DefaultClient
	if e.hs != nil {
		client = e.hs.Client()
	}
	res, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if ct := res.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s %s: Content-Type %q, want application/json (body %s)", method, path, ct, b)
	}
	return resp{status: res.StatusCode, header: res.Header, body: b}
}

func (e *testEnv) get(t *testing.T, path string) resp {
	t.Helper()
	return e.do(t, http.MethodGet, path, e.token, nil, "")
}

func (e *testEnv) postJSON(t *testing.T, path string, v any) resp {
	t.Helper()
	var body io.Reader
	switch b := v.(type) {
	case string:
		body = strings.NewReader(b)
	default:
		j, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		body = bytes.NewReader(j)
	}
	return e.do(t, http.MethodPost, path, e.token, body, "application/json")
}

// upload posts tarball as the multipart part "file".
func (e *testEnv) upload(t *testing.T, path string, tarball []byte) resp {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, err := mw.CreateFormFile("file", "workspace.tar.gz")
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(tarball)
	mw.Close()
	return e.do(t, http.MethodPost, path, e.token, &buf, mw.FormDataContentType())
}

func (e *testEnv) wsPath(parts ...string) string {
	return "/v1/workspaces/" + e.ws + strings.Join(parts, "")
}

// buildPackage makes a valid package of files (path -> content).
func buildPackage(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var items []pack.Item
	for p, c := range files {
		items = append(items, pack.Item{RelativePath: p, SizeInBytes: int64(len(c)), SHA3256: pack.Digest([]byte(c))})
	}
	sort.Slice(items, func(i, j int) bool { return items[i].RelativePath < items[j].RelativePath })
	var buf bytes.Buffer
	err := pack.Write(&buf, pack.Manifest{EngineVersion: pack.EngineVersion, Files: items}, func(p string) (io.ReadCloser, error) {
		return io.NopCloser(strings.NewReader(files[p])), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// member is one tar member of a hand-made (possibly hostile) package.
type member struct {
	hdr  tar.Header
	body []byte
}

// rawPackage writes members as they are, with no checks.
func rawPackage(t *testing.T, members []member) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, m := range members {
		h := m.hdr
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(m.body))
		}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if len(m.body) > 0 {
			tw.Write(m.body)
		}
	}
	tw.Close()
	gz.Close()
	return buf.Bytes()
}

// deploy uploads a deployment of files and a configuration, and upserts a
// batch script running entry; it returns the script's id.
func (e *testEnv) deploy(t *testing.T, files map[string]string, entry string) string {
	t.Helper()
	if r := e.upload(t, e.wsPath("/deployments"), buildPackage(t, files)); r.status != http.StatusCreated {
		t.Fatalf("upload deployment: %d %s", r.status, r.body)
	}
	conf := buildPackage(t, map[string]string{"config.toml": "[runtime]\n", "prod.secrets.toml": "x = 1\n"})
	if r := e.upload(t, e.wsPath("/configurations"), conf); r.status != http.StatusCreated {
		t.Fatalf("upload configuration: %d %s", r.status, r.body)
	}
	r := e.postJSON(t, e.wsPath("/scripts"), map[string]any{"name": entry, "entry_point": entry, "description": "", "script_type": "batch"})
	if r.status != http.StatusCreated {
		t.Fatalf("upsert script: %d %s", r.status, r.body)
	}
	var sc api.Script
	r.decode(t, &sc)
	return sc.ID
}

// startRun creates a run of script and returns it.
func (e *testEnv) startRun(t *testing.T, script string) api.Run {
	t.Helper()
	r := e.postJSON(t, e.wsPath("/runs"), map[string]any{"script_id_or_name": script})
	if r.status != http.StatusCreated {
		t.Fatalf("create run: %d %s", r.status, r.body)
	}
	var run api.Run
	r.decode(t, &run)
	return run
}

// waitRun polls the run until until(status) holds.
func (e *testEnv) waitRun(t *testing.T, id string, timeout time.Duration, until func(api.RunStatus) bool) api.DetailedRun {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var run api.DetailedRun
		e.get(t, e.wsPath("/runs/", id)).decode(t, &run)
		if until(run.Status) {
			return run
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %s still %s after %s", id, run.Status, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func terminal(s api.RunStatus) bool { return s.Terminal() }

// dirNames lists the names in a folder.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func (e *testEnv) packageFiles(t *testing.T) []string {
	t.Helper()
	return dirNames(t, filepath.Join(e.dir, packagesDir))
}
