package executor

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha3"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"
)

// TestMain makes the test binary a subreaper, as a server is meant to be
// (BecomeSubreaper): orphans of the runs come back to it and Run reaps them,
// so a finished run's group is entirely gone, not left as zombies waiting
// for init.
func TestMain(m *testing.M) {
	if err := BecomeSubreaper(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// writePackage writes a tar.gz per PACKAGING.md holding files (path ->
// content) and returns its path.
func writePackage(t testing.TB, files map[string]string) string {
	t.Helper()
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	manifest := "engine_version: 1\nfiles:\n"
	if len(paths) == 0 {
		manifest = "engine_version: 1\nfiles: []\n"
	}
	for _, p := range paths {
		body := []byte(files[p])
		sum := sha3.Sum256(body)
		manifest += fmt.Sprintf("- relative_path: %s\n  size_in_bytes: %d\n  sha3_256: %s\n",
			p, len(body), base64.StdEncoding.EncodeToString(sum[:]))
		writeMember(t, tw, "files/"+p, body)
	}
	writeMember(t, tw, "manifest.yaml", []byte(manifest))
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := os.CreateTemp(t.TempDir(), "pkg-*.tar.gz")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(buf.Bytes()); err != nil {
		t.Fatal(err)
	}
	return f.Name()
}

func writeMember(t testing.TB, tw *tar.Writer, name string, body []byte) {
	t.Helper()
	hdr := &tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}
	if err := tw.WriteHeader(hdr); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write(body); err != nil {
		t.Fatal(err)
	}
}

// newExecutor is an Executor with short intervals, its runs in a temporary
// folder.
func newExecutor(t testing.TB) *Executor {
	t.Helper()
	return &Executor{
		RunsDir:      filepath.Join(t.TempDir(), "runs"),
		Grace:        200 * time.Millisecond,
		PollInterval: 5 * time.Millisecond,
		Drain:        200 * time.Millisecond,
	}
}

// newJob is a job running main.py (script) of a deployment holding it and
// extra files.
func newJob(t testing.TB, runID, script string, extra map[string]string) Job {
	t.Helper()
	files := map[string]string{"main.py": script}
	for k, v := range extra {
		files[k] = v
	}
	return Job{
		RunID:       runID,
		WorkspaceID: "ws-1",
		Profile:     "prod",
		EntryPoint:  "main.py",
		Deployment:  writePackage(t, files),
		LogPath:     filepath.Join(t.TempDir(), runID+".log"),
	}
}

func readFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
