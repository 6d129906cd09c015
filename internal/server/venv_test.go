package server

import (
	"archive/zip"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dlthub/runtime-action/internal/api"
	"github.com/dlthub/runtime-action/internal/executor"
)

// helloWheel is a pure-Python wheel of hello_pkg, made here so that the
// install needs no index.
func helloWheel(t *testing.T) string {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range [][2]string{
		{"hello_pkg/__init__.py", "GREETING = 'hello from hello_pkg'\n"},
		{"hello_pkg-0.1.dist-info/METADATA", "Metadata-Version: 2.1\nName: hello_pkg\nVersion: 0.1\n"},
		{"hello_pkg-0.1.dist-info/WHEEL", "Wheel-Version: 1.0\nGenerator: runtime-action-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"},
		{"hello_pkg-0.1.dist-info/RECORD", "hello_pkg/__init__.py,,\nhello_pkg-0.1.dist-info/METADATA,,\nhello_pkg-0.1.dist-info/WHEEL,,\nhello_pkg-0.1.dist-info/RECORD,,\n"},
	} {
		w, err := zw.Create(f[0])
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(f[1]))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// TestRunPythonEnvironment: a deployment with a requirements.txt runs in an
// environment below <data-dir>/venvs made by its first run and reused by
// the next; a requirement that cannot be installed fails the run with
// pip's error in its log.
func TestRunPythonEnvironment(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) {
		c.UV = executor.UVNone
		c.PipArgs = []string{"--no-index"}
		c.InstallEnv = []string{"PIP_CONFIG_FILE=" + os.DevNull}
	})
	e.deploy(t, map[string]string{
		"hello.py":                              "import sys, hello_pkg\nprint(hello_pkg.GREETING)\nprint('prefix', sys.prefix)\n",
		"requirements.txt":                      "./wheels/hello_pkg-0.1-py3-none-any.whl\n",
		"wheels/hello_pkg-0.1-py3-none-any.whl": helloWheel(t),
	}, "hello.py")
	venvs := filepath.Join(e.dir, "venvs")
	for i, want := range []string{"--- installing dependencies from requirements.txt (pip) ---", "using the cached environment"} {
		run := e.startRun(t, "hello.py")
		done := e.waitRun(t, run.ID, 60*time.Second, terminal)
		var logs api.LogsResponse
		e.get(t, e.wsPath("/runs/", run.ID, "/logs")).decode(t, &logs)
		if done.Status != api.StatusCompleted || !strings.Contains(*logs.Logs, want) || !strings.Contains(*logs.Logs, "hello from hello_pkg") ||
			!strings.Contains(*logs.Logs, "prefix "+venvs+string(os.PathSeparator)) {
			t.Fatalf("run %d: %s, log:\n%s", i, done.Status, *logs.Logs)
		}
		if i == 1 && strings.Contains(*logs.Logs, "installing") {
			t.Errorf("the second run installed again:\n%s", *logs.Logs)
		}
	}

	e.deploy(t, map[string]string{"hello.py": "print('must not run')\n", "requirements.txt": "no_such_package_zz\n"}, "hello.py")
	run := e.startRun(t, "hello.py")
	done := e.waitRun(t, run.ID, 60*time.Second, terminal)
	var logs api.LogsResponse
	e.get(t, e.wsPath("/runs/", run.ID, "/logs")).decode(t, &logs)
	if done.Status != api.StatusFailed || !strings.HasSuffix(*logs.Logs, "\ndependency install failed: exit status 1\n") ||
		!strings.Contains(*logs.Logs, "No matching distribution found for no_such_package_zz") {
		t.Errorf("run with a missing requirement: %s, log:\n%s", done.Status, *logs.Logs)
	}
}

// TestServeVenvFlags: serve's --venvs-dir and --pip-args reach the
// dependency installs.
func TestServeVenvFlags(t *testing.T) {
	t.Parallel()
	dir, venvs := t.TempDir(), filepath.Join(t.TempDir(), "envs")
	_, e := serveProcessEnv(t, dir, "--venvs-dir", venvs, "--pip-args", "--no-index --find-links "+filepath.Join(venvs, "no-wheels-here"), "--uv", executor.UVNone)
	e.deploy(t, map[string]string{"job.py": "print('must not run')\n", "requirements.txt": "no_such_package_zz\n"}, "job.py")
	run := e.startRun(t, "job.py")
	if done := e.waitRun(t, run.ID, 60*time.Second, terminal); done.Status != api.StatusFailed {
		t.Fatalf("run %s", done.Status)
	}
	var logs api.LogsResponse
	e.get(t, e.wsPath("/runs/", run.ID, "/logs")).decode(t, &logs)
	if !strings.Contains(*logs.Logs, "No matching distribution found for no_such_package_zz") ||
		!strings.Contains(*logs.Logs, "Looking in links: "+filepath.Join(venvs, "no-wheels-here")) {
		t.Errorf("log:\n%s", *logs.Logs)
	}
	// The lock of the failed build is there; the environment is not.
	names := dirNames(t, venvs)
	if len(names) != 1 || !strings.HasSuffix(names[0], ".lock") {
		t.Errorf("%s holds %v", venvs, names)
	}
}
