package cli

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestEmbeddedWithoutBubblewrap: on a machine without bwrap (a Mac, a
// container) the embedded Runtime still deploys and runs, with a one-line
// note that its runs are not sandboxed, where `serve --sandbox auto` would
// refuse to start.
func TestEmbeddedWithoutBubblewrap(t *testing.T) {
	if testing.Short() {
		t.Skip("starts python3 runs")
	}
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no python3")
	}
	if python, err = filepath.Abs(python); err != nil {
		t.Fatal(err)
	}
	// A PATH where bwrap cannot be found: the sandbox check looks it up there.
	t.Setenv("PATH", t.TempDir())
	if _, err := exec.LookPath("bwrap"); err == nil {
		t.Fatal("bwrap still found on an empty PATH")
	}
	root := t.TempDir()
	for name, content := range map[string]string{
		".dlt/.workspace":  "",
		".dlt/config.toml": "",
		"hello.py":         "print('hello without a sandbox')\n",
	} {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	env := map[string]string{"HOME": t.TempDir(), "RUNTIME_SERVER_PYTHON": python}
	var out, errs bytes.Buffer
	s := &Streams{In: strings.NewReader(""), Out: &out, Err: &errs, Getenv: func(k string) string { return env[k] }}
	code := Run(context.Background(), []string{"deploy", "-C", root, "hello.py"}, s)
	if code != 0 {
		t.Fatalf("deploy exited %d; stderr:\n%s", code, errs.String())
	}
	notes := 0
	for _, line := range strings.Split(errs.String(), "\n") {
		if strings.HasPrefix(line, "Note: runs of the embedded Runtime are not sandboxed") {
			notes++
		}
	}
	if notes != 1 {
		t.Errorf("want one note that runs are not sandboxed, got %d; stderr:\n%s", notes, errs.String())
	}
	if !strings.Contains(errs.String(), "Run #1: completed") || !strings.Contains(out.String()+errs.String(), "hello without a sandbox") {
		t.Errorf("the run did not complete with its output; stdout:\n%s\nstderr:\n%s", out.String(), errs.String())
	}
}
