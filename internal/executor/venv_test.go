//go:build unix

package executor

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dlthub/runtime-action/internal/api"
)

// helloWheel is a pure-Python wheel of the package hello_pkg, made here: the
// tests install it offline from inside the deployment.
func helloWheel(t testing.TB) string {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	files := []struct{ name, body string }{
		{"hello_pkg/__init__.py", "GREETING = 'hello from hello_pkg'\n"},
		{"hello_pkg-0.1.dist-info/METADATA", "Metadata-Version: 2.1\nName: hello_pkg\nVersion: 0.1\n"},
		{"hello_pkg-0.1.dist-info/WHEEL", "Wheel-Version: 1.0\nGenerator: runtime-action-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"},
		{"hello_pkg-0.1.dist-info/RECORD", "hello_pkg/__init__.py,,\nhello_pkg-0.1.dist-info/METADATA,,\nhello_pkg-0.1.dist-info/WHEEL,,\nhello_pkg-0.1.dist-info/RECORD,,\n"},
	}
	for _, f := range files {
		w, err := zw.Create(f.name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(f.body))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

const wheelPath = "wheels/hello_pkg-0.1-py3-none-any.whl"

// importsHello prints where its interpreter lives and hello_pkg's greeting.
const importsHello = `import os, sys
print("prefix", sys.prefix)
print("venv", os.environ.get("VIRTUAL_ENV", "-"))
import hello_pkg
print(hello_pkg.GREETING)
`

// venvExecutor is an executor whose installs are offline: no index, and
// nothing of this machine's pip configuration.
func venvExecutor(t testing.TB, venvs string) *Executor {
	t.Helper()
	e := newExecutor(t)
	e.VenvsDir = venvs
	e.UV = UVNone
	e.PipArgs = []string{"--no-index"}
	e.InstallEnv = []string{"PIP_CONFIG_FILE=" + os.DevNull}
	return e
}

func withHash(j Job, hash string) Job {
	j.DeploymentHash = hash
	return j
}

// TestRunWithRequirements: the first runs of a deployment with a
// requirements.txt make its environment once (two at the same time: one
// makes it, the other waits), later runs reuse it, and the script imports
// the package installed from a wheel shipped in the deployment.
func TestRunWithRequirements(t *testing.T) {
	t.Parallel()
	venvs := t.TempDir()
	e := venvExecutor(t, venvs)
	files := map[string]string{"requirements.txt": "# offline\n./" + wheelPath + "\n", wheelPath: helloWheel(t)}
	hash := "p//G+L8e12ZRwUdWoGHWYvWA/03kO0n6gtgKS4D4Q0o="

	var wg sync.WaitGroup
	jobs := make([]Job, 2)
	results := make([]Result, 2)
	for i := range jobs {
		jobs[i] = withHash(newJob(t, "run-req-"+string(rune('a'+i)), importsHello, files), hash)
		wg.Go(func() { results[i] = e.Run(context.Background(), jobs[i], Hooks{}) })
	}
	wg.Wait()
	venv := filepath.Join(venvs, "a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a")
	installs := 0
	for i, res := range results {
		log := readFile(t, jobs[i].LogPath)
		if res.Status != api.StatusCompleted {
			t.Fatalf("run %d: %+v\n%s", i, res, log)
		}
		for _, want := range []string{"hello from hello_pkg", "prefix " + venv + "\n", "venv " + venv + "\n"} {
			if !strings.Contains(log, want) {
				t.Errorf("run %d: log lacks %q:\n%s", i, want, log)
			}
		}
		if strings.Contains(log, "--- installing dependencies from requirements.txt (pip) ---") {
			installs++
			if !strings.Contains(log, "Successfully installed hello-pkg-0.1") || !strings.Contains(log, "--- dependencies installed in ") {
				t.Errorf("run %d: the install output is not in the log:\n%s", i, log)
			}
		} else if !strings.Contains(log, "--- dependencies from requirements.txt: using the cached environment "+filepath.Base(venv)+" ---") {
			t.Errorf("run %d neither installed nor used the cached environment:\n%s", i, log)
		}
	}
	if installs != 1 {
		t.Errorf("%d runs installed the dependencies, want 1", installs)
	}
	if _, err := os.Stat(filepath.Join(venv, readyFile)); err != nil {
		t.Errorf("environment not marked ready: %v", err)
	}

	again := withHash(newJob(t, "run-req-again", importsHello, files), hash)
	if res := e.Run(context.Background(), again, Hooks{}); res.Status != api.StatusCompleted {
		t.Fatalf("third run: %+v", res)
	}
	log := readFile(t, again.LogPath)
	if strings.Contains(log, "installing") || strings.Contains(log, "Processing") || !strings.Contains(log, "using the cached environment") {
		t.Errorf("third run did not reuse the environment:\n%s", log)
	}
}

// TestRunWithPyproject: the [project] dependencies of a pyproject.toml are
// installed (found offline through --find-links, relative to the run
// folder), not the project itself.
func TestRunWithPyproject(t *testing.T) {
	t.Parallel()
	e := venvExecutor(t, t.TempDir())
	e.PipArgs = []string{"--no-index", "--find-links", "wheels"}
	files := map[string]string{
		"pyproject.toml": "[project]\nname = \"my-pipelines\"\nversion = \"0.1.0\"\ndependencies = [\"hello_pkg>=0.1\"]\n\n[build-system]\nrequires = [\"setuptools\"]\n",
		wheelPath:        helloWheel(t),
	}
	j := withHash(newJob(t, "run-pyproject", importsHello, files), "pyproject-deployment")
	res := e.Run(context.Background(), j, Hooks{})
	log := readFile(t, j.LogPath)
	if res.Status != api.StatusCompleted || !strings.Contains(log, "hello from hello_pkg") ||
		!strings.Contains(log, "--- installing dependencies from pyproject.toml (pip) ---") {
		t.Fatalf("run: %+v\n%s", res, log)
	}
	if strings.Contains(log, "my-pipelines") || strings.Contains(log, "my_pipelines") {
		t.Errorf("the project itself was installed:\n%s", log)
	}
	if _, err := os.Stat(filepath.Join(e.VenvsDir, "pyproject-deployment.requirements.txt")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the requirements written for pip were left: %v", err)
	}
}

// TestRunFailedInstall: a requirement pip cannot find fails the run with
// pip's error right before the reason, and nothing is cached: the next run
// tries again.
func TestRunFailedInstall(t *testing.T) {
	t.Parallel()
	e := venvExecutor(t, t.TempDir())
	files := map[string]string{"requirements.txt": "no_such_package_zz==1.0\n"}
	for i := range 2 {
		j := withHash(newJob(t, "run-bad-req-"+string(rune('a'+i)), "print('must not run')\n", files), "bad-deployment")
		res := e.Run(context.Background(), j, Hooks{})
		log := readFile(t, j.LogPath)
		if res.Status != api.StatusFailed || res.Reason != "dependency install failed: exit status 1" {
			t.Fatalf("run %d: %+v\n%s", i, res, log)
		}
		lines := strings.Split(strings.TrimSuffix(log, "\n"), "\n")
		if lastLine(log) != res.Reason || !strings.Contains(lines[len(lines)-2], "No matching distribution found for no_such_package_zz") {
			t.Errorf("run %d: pip's error is not at the end of the log:\n%s", i, log)
		}
		if !strings.Contains(log, "--- installing dependencies from requirements.txt (pip) ---") || strings.Contains(log, "must not run") {
			t.Errorf("run %d: log:\n%s", i, log)
		}
		if _, err := os.Stat(filepath.Join(e.VenvsDir, "bad-deployment")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("run %d: the failed environment was kept: %v", i, err)
		}
	}
}

// TestRunWithoutDependencies: a deployment that declares none runs with the
// server's interpreter, and no environment is made.
func TestRunWithoutDependencies(t *testing.T) {
	t.Parallel()
	e := venvExecutor(t, filepath.Join(t.TempDir(), "venvs"))
	for name, files := range map[string]map[string]string{
		"none":                nil,
		"comments only":       {"requirements.txt": "# nothing yet\n\n"},
		"pyproject, no deps":  {"pyproject.toml": "[project]\nname = \"x\"\ndependencies = []\n"},
		"pyproject, no table": {"pyproject.toml": "[tool.ruff]\nline-length = 100\n"},
	} {
		t.Run(name, func(t *testing.T) {
			j := newJob(t, "run-nodeps-"+strings.ReplaceAll(strings.ReplaceAll(name, ",", ""), " ", "-"),
				"import os, sys\nprint('prefix', sys.prefix)\nprint('venv', os.environ.get('VIRTUAL_ENV', '-'))\n", files)
			res := e.Run(context.Background(), j, Hooks{})
			log := readFile(t, j.LogPath)
			if res.Status != api.StatusCompleted || !strings.Contains(log, "venv -\n") || strings.Contains(log, "---") {
				t.Fatalf("%+v\n%s", res, log)
			}
		})
	}
	if _, err := os.Stat(e.VenvsDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("an environment folder was made: %v", err)
	}
}

// fakeUV writes a stand-in for uv (which this machine lacks) that records
// its arguments in the file it returns, makes a real (pip-less) virtualenv
// for "uv venv", and for "uv pip install" prints a line and then runs
// install, a shell snippet.
func fakeUV(t *testing.T, install string) (uv, argsFile string) {
	t.Helper()
	dir := t.TempDir()
	argsFile = filepath.Join(dir, "args")
	uv = filepath.Join(dir, "uv")
	script := `#!/bin/sh
echo "$*" >> ` + argsFile + `
case "$1" in
venv) for a; do last=$a; done; exec python3 -m venv --without-pip "$last" ;;
pip) echo "fake uv installing"; ` + install + ` ;;
esac
`
	if err := os.WriteFile(uv, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return uv, argsFile
}

// TestRunWithUV: with uv at hand, the environment is made and filled by it,
// with the pip arguments passed on.
func TestRunWithUV(t *testing.T) {
	t.Parallel()
	uv, argsFile := fakeUV(t, "exit 0")
	e := venvExecutor(t, t.TempDir())
	e.UV = uv
	j := withHash(newJob(t, "run-uv", "import sys\nprint('prefix', sys.prefix)\n", map[string]string{"requirements.txt": "hello_pkg\n"}), "uv-deployment")
	res := e.Run(context.Background(), j, Hooks{})
	log := readFile(t, j.LogPath)
	venv := filepath.Join(e.VenvsDir, "uv-deployment")
	if res.Status != api.StatusCompleted || !strings.Contains(log, "--- installing dependencies from requirements.txt (uv) ---") ||
		!strings.Contains(log, "fake uv installing") || !strings.Contains(log, "prefix "+venv+"\n") {
		t.Fatalf("%+v\n%s", res, log)
	}
	want := "venv --python python3 " + venv + "\n" +
		"pip install --python " + filepath.Join(venv, "bin", "python") + " -r requirements.txt --no-index\n"
	if got := readFile(t, argsFile); got != want {
		t.Errorf("uv was called with\n%s\nwant\n%s", got, want)
	}
}

// TestRunInstallStopped: a cancel during the install stops it (its process
// group is gone) and cancels the run; an install longer than InstallTimeout
// fails it. Neither leaves an environment.
func TestRunInstallStopped(t *testing.T) {
	t.Parallel()
	uv, _ := fakeUV(t, "exec sleep 60")
	for _, tc := range []struct {
		name, reason string
		status       api.RunStatus
		timeout      time.Duration
	}{
		{"cancel", "run cancelled", api.StatusCancelled, time.Minute},
		{"timeout", "dependency install failed: timed out after 300ms", api.StatusFailed, 300 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := venvExecutor(t, t.TempDir())
			e.UV, e.InstallTimeout = uv, tc.timeout
			j := withHash(newJob(t, "run-stop-"+tc.name, "print('must not run')\n", map[string]string{"requirements.txt": "x\n"}), "slow")
			ctx, cancel := context.WithCancelCause(context.Background())
			defer cancel(nil)
			pgids := make(chan int, 4)
			done := make(chan Result, 1)
			go func() { done <- e.Run(ctx, j, Hooks{OnInstallStarted: func(pgid int) { pgids <- pgid }}) }()
			if tc.status == api.StatusCancelled {
				waitForLog(t, j.LogPath, "fake uv installing")
				cancel(ErrCancelled)
			}
			res := <-done
			if res.Status != tc.status || res.Reason != tc.reason || lastLine(readFile(t, j.LogPath)) != tc.reason {
				t.Fatalf("%+v\n%s", res, readFile(t, j.LogPath))
			}
			close(pgids)
			n := 0
			for pgid := range pgids {
				assertGroupGone(t, pgid)
				n++
			}
			// A cancel comes during uv pip install; a timeout may come
			// during uv venv on a busy machine.
			if n != 2 && (tc.status == api.StatusCancelled || n != 1) {
				t.Errorf("%d install process groups reported (uv venv, uv pip install)", n)
			}
			if _, err := os.Stat(filepath.Join(e.VenvsDir, "slow")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("environment left: %v", err)
			}
		})
	}
}

func TestFindDeps(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		files  map[string]string
		source string // "": none
		reqs   []string
		err    string
	}{
		{name: "requirements", files: map[string]string{"requirements.txt": "dlt\n"}, source: "requirements.txt"},
		{name: "requirements win", files: map[string]string{"requirements.txt": "dlt\n", "pyproject.toml": "[project]\ndependencies = [\"x\"]\n"}, source: "requirements.txt"},
		{name: "empty requirements, pyproject", files: map[string]string{"requirements.txt": "\n# none\n", "pyproject.toml": "[project]\ndependencies = [\" dlt[duckdb]>=1.0 \", \"\"]\n"},
			source: "pyproject.toml", reqs: []string{"dlt[duckdb]>=1.0"}},
		{name: "nothing", files: map[string]string{"main.py": ""}},
		{name: "optional only", files: map[string]string{"pyproject.toml": "[project]\n[project.optional-dependencies]\ndev = [\"pytest\"]\n"}},
		{name: "bad toml", files: map[string]string{"pyproject.toml": "[project\n"}, err: "read pyproject.toml: "},
		{name: "option as dependency", files: map[string]string{"pyproject.toml": "[project]\ndependencies = [\"--index-url=http://x\"]\n"},
			err: `read pyproject.toml: dependency "--index-url=http://x" is not a requirement`},
		{name: "requirements is a folder", files: map[string]string{"requirements.txt/x": ""}, err: "read requirements.txt: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for p, c := range tc.files {
				os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755)
				if err := os.WriteFile(filepath.Join(dir, p), []byte(c), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			d, ok, err := findDeps(dir)
			if tc.err != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || ok != (tc.source != "") || d.source != tc.source || strings.Join(d.reqs, "|") != strings.Join(tc.reqs, "|") {
				t.Errorf("findDeps = %+v, %v, %v", d, ok, err)
			}
		})
	}
}

func TestPipHasPython(t *testing.T) {
	t.Parallel()
	for v, want := range map[string]bool{"23.2.1": true, "22.3": true, "22.3rc1": true, "22.2.2": false, "21.0": false, "24.0": true, "x": false, "": false} {
		if got := pipHasPython(v); got != want {
			t.Errorf("pipHasPython(%q) = %v", v, got)
		}
	}
}

func TestVenvName(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		j    Job
		want string
	}{
		{Job{DeploymentHash: "p//G+L8e12ZRwUdWoGHWYvWA/03kO0n6gtgKS4D4Q0o="}, "a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a"},
		{Job{Deployment: "/data/packages/0a1b2c.tar.gz"}, "0a1b2c"},
		{Job{DeploymentHash: "slow_deployment-1"}, "slow_deployment-1"},
		{Job{DeploymentHash: "../x"}, "d6b96a97d147daaae49eb87a5ca7bfbc280e79551016df8aa5edc5920d21c274"},
	} {
		got := venvName(tc.j)
		if got != tc.want {
			t.Errorf("venvName(%+v) = %q, want %q", tc.j, got, tc.want)
		}
	}
	// Whatever names the deployment, the name is a safe folder name.
	for _, id := range []string{"a/b", "", ".", "..", "é", strings.Repeat("f", 200)} {
		if got := venvName(Job{DeploymentHash: id}); len(got) != 64 || strings.Trim(got, "0123456789abcdef") != "" {
			t.Errorf("venvName(%q) = %q", id, got)
		}
	}
}
