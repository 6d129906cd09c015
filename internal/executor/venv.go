package executor

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Defaults of the Executor's dependency fields.
const (
	DefaultInstallTimeout = 30 * time.Minute
	// UVNone as Executor.UV never uses uv.
	UVNone = "none"
)

// Files of a deployment that declare its dependencies, at its root.
const (
	requirementsFile = "requirements.txt"
	pyprojectFile    = "pyproject.toml"
)

// readyFile is written last into a finished environment: a folder without
// it is a build that failed or was cut short, and is made again.
const readyFile = ".runtime-ready"

// errInstallTimeout is the cause an install is stopped with after
// InstallTimeout.
var errInstallTimeout = errors.New("install timed out")

// DefaultInstallEnv is what a dependency install gets of the server's
// environment besides BaseEnv: the variables that configure pip and uv
// (PIP_*, UV_*: an index URL, certificates, offline mode) and proxies. A
// run's script never sees them.
func DefaultInstallEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(k, "PIP_"), strings.HasPrefix(k, "UV_"):
		case isInstallVar(strings.ToUpper(k)):
		default:
			continue
		}
		env = append(env, kv)
	}
	return env
}

// isInstallVar reports whether the variable k (in upper case) of the
// server's environment reaches a dependency install besides PIP_* and UV_*.
func isInstallVar(k string) bool {
	switch k {
	case "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY", "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE":
		return true
	}
	return false
}

// deps is what a deployment declares it needs.
type deps struct {
	source string   // the file that declares them
	reqs   []string // pyproject's [project] dependencies; nil: install -r requirements.txt
}

// findDeps reads the run folder dir's root for declared dependencies:
// requirements.txt when it names at least one requirement (it wins over
// pyproject.toml: it is the pinned list), else the [project] dependencies
// of pyproject.toml. Only the dependencies are installed, never the project
// itself: its code is the run folder, which the script runs from anyway.
func findDeps(dir string) (deps, bool, error) {
	b, err := os.ReadFile(filepath.Join(dir, requirementsFile))
	switch {
	case err == nil:
		for line := range strings.SplitSeq(string(b), "\n") {
			if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, "#") {
				return deps{source: requirementsFile}, true, nil
			}
		}
	case !errors.Is(err, fs.ErrNotExist):
		return deps{}, false, fmt.Errorf("read %s: %w", requirementsFile, err)
	}
	b, err = os.ReadFile(filepath.Join(dir, pyprojectFile))
	if errors.Is(err, fs.ErrNotExist) {
		return deps{}, false, nil
	}
	if err != nil {
		return deps{}, false, fmt.Errorf("read %s: %w", pyprojectFile, err)
	}
	var py struct {
		Project struct {
			Dependencies []string `toml:"dependencies"`
		} `toml:"project"`
	}
	if _, err := toml.Decode(string(b), &py); err != nil {
		return deps{}, false, fmt.Errorf("read %s: %w", pyprojectFile, err)
	}
	var reqs []string
	for _, r := range py.Project.Dependencies {
		r = strings.TrimSpace(r)
		if r == "" {
			continue
		}
		// A requirement is a PEP 508 string; one starting with "-" would
		// be taken for an option of pip's.
		if strings.HasPrefix(r, "-") || strings.ContainsAny(r, "\r\n") {
			return deps{}, false, fmt.Errorf("read %s: dependency %q is not a requirement", pyprojectFile, r)
		}
		reqs = append(reqs, r)
	}
	if len(reqs) == 0 {
		return deps{}, false, nil
	}
	return deps{source: pyprojectFile, reqs: reqs}, true, nil
}

// venvName is the folder name of a deployment's environment: its content
// hash in hex, else the name of its stored package when that is safe as a
// folder name, else a digest of it.
func venvName(j Job) string {
	if raw, err := base64.StdEncoding.DecodeString(j.DeploymentHash); err == nil && len(raw) == 32 { // SHA3-256
		return hex.EncodeToString(raw)
	}
	id := cmp.Or(j.DeploymentHash, strings.TrimSuffix(filepath.Base(j.Deployment), ".tar.gz"))
	if safeName(id) {
		return id
	}
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:])
}

// safeName reports whether id can be a folder name as it is: letters,
// digits, '-' and '_', at most 128 of them.
func safeName(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// pyEnv is the interpreter a run uses and the environment entries that go
// with it.
type pyEnv struct {
	python string
	venv   string // the deployment's environment ("": none)
	env    []string
}

// pythonEnv returns what j's script runs with: the server's interpreter when
// the deployment declares no dependencies, else the deployment's own
// environment, made first when there is none yet. Environments are kept
// below VenvsDir, one per deployment content hash; a run waits while another
// one makes the same. A result means the run ends with it.
func (e *Executor) pythonEnv(ctx context.Context, j Job, dir string, h Hooks, lg *runLog) (pyEnv, *Result) {
	d, ok, err := findDeps(dir)
	if err != nil {
		return pyEnv{}, resultOf(failed("dependency install failed: " + err.Error()))
	}
	if !ok {
		return pyEnv{python: e.Python}, nil
	}
	venv := filepath.Join(e.VenvsDir, venvName(j))
	ready := e.Python + "\n"
	path := filepath.Join(venv, "bin") + string(os.PathListSeparator) + e.runPath()
	env := pyEnv{python: filepath.Join(venv, "bin", "python"), venv: venv, env: []string{"VIRTUAL_ENV=" + venv, "PATH=" + path}}
	if err := os.MkdirAll(e.VenvsDir, 0o700); err != nil {
		return pyEnv{}, resultOf(failed(fmt.Sprintf("dependency install failed: make environments folder: %v", err)))
	}
	if isReady(venv, ready) {
		lg.line(fmt.Sprintf("--- dependencies from %s: using the cached environment %s ---", d.source, filepath.Base(venv)))
		return env, nil
	}
	unlock, err := e.lockVenv(ctx, venv+".lock")
	if err != nil {
		if ctx.Err() != nil {
			return pyEnv{}, resultOf(stopped(context.Cause(ctx)))
		}
		return pyEnv{}, resultOf(failed("dependency install failed: " + err.Error()))
	}
	defer unlock()
	// Another run may have made it while this one waited for the lock.
	if isReady(venv, ready) {
		lg.line(fmt.Sprintf("--- dependencies from %s: using the cached environment %s ---", d.source, filepath.Base(venv)))
		return env, nil
	}
	began := time.Now()
	if err := e.makeVenv(ctx, venv, ready, d, dir, j, h, lg); err != nil {
		// Not cached: the next run tries again.
		_ = os.RemoveAll(venv)
		if ctx.Err() != nil {
			return pyEnv{}, resultOf(stopped(context.Cause(ctx)))
		}
		return pyEnv{}, resultOf(failed("dependency install failed: " + err.Error()))
	}
	lg.line(fmt.Sprintf("--- dependencies installed in %s ---", time.Since(began).Round(100*time.Millisecond)))
	return env, nil
}

func resultOf(r Result) *Result { return &r }

// lookEnv is the value of key in env (the last one wins, as in exec).
func lookEnv(env []string, key string) string {
	v := ""
	for _, kv := range env {
		if k, val, ok := strings.Cut(kv, "="); ok && k == key {
			v = val
		}
	}
	return v
}

// isReady reports whether venv is a finished environment made with the
// interpreter that ready names.
func isReady(venv, ready string) bool {
	b, err := os.ReadFile(filepath.Join(venv, readyFile))
	return err == nil && string(b) == ready
}

// lockVenv takes an exclusive lock on path, waiting as long as another
// holder has it (another run making the same environment) or until ctx is
// done. A lock of a process that died is let go by the kernel, so a server
// killed mid-install leaves nothing to clean up by hand.
func (e *Executor) lockVenv(ctx context.Context, path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open environment lock: %w", err)
	}
	for {
		err := tryLock(f)
		if err == nil {
			return func() {
				unlock(f)
				f.Close()
			}, nil
		}
		if !errors.Is(err, errLocked) {
			f.Close()
			return nil, fmt.Errorf("lock environment: %w", err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, context.Cause(ctx)
		case <-time.After(e.PollInterval):
		}
	}
}

// installer is how an environment is made.
type installer int

const (
	withUV        installer = iota // uv venv, uv pip install
	withPip                        // python -m venv --without-pip, then the server's pip with --python
	withEnsurepip                  // python -m venv, then the environment's own pip
)

func (i installer) String() string {
	if i == withUV {
		return "uv"
	}
	return "pip"
}

// pickInstaller prefers uv, then the server interpreter's pip when it can
// install into another environment (pip 22.3 and later: --python), which
// saves the seconds ensurepip takes to put a pip in every environment.
func (e *Executor) pickInstaller(ctx context.Context) (installer, string) {
	if e.UV != UVNone {
		if uv, err := exec.LookPath(cmp.Or(e.UV, "uv")); err == nil {
			return withUV, uv
		}
	}
	cmd := exec.CommandContext(ctx, e.Python, "-c", "import pip; print(pip.__version__)")
	cmd.Env = e.BaseEnv
	out, err := cmd.Output()
	if err == nil && pipHasPython(strings.TrimSpace(string(out))) {
		return withPip, ""
	}
	return withEnsurepip, ""
}

// pipHasPython reports whether pip version v knows --python (22.3 on).
func pipHasPython(v string) bool {
	major, rest, _ := strings.Cut(v, ".")
	minor, _, _ := strings.Cut(rest, ".")
	i := 0
	for i < len(minor) && minor[i] >= '0' && minor[i] <= '9' {
		i++
	}
	ma, err1 := strconv.Atoi(major)
	mi, err2 := strconv.Atoi(minor[:i])
	if err1 != nil || err2 != nil {
		return false
	}
	return ma > 22 || ma == 22 && mi >= 3
}

// makeVenv makes the environment venv and installs d into it, with the run
// folder dir as working folder so that relative paths in the requirements
// (a wheel shipped in the deployment) resolve. The ready marker is written
// last.
func (e *Executor) makeVenv(ctx context.Context, venv, ready string, d deps, dir string, j Job, h Hooks, lg *runLog) error {
	ctx, cancel := context.WithTimeoutCause(ctx, e.InstallTimeout, errInstallTimeout)
	defer cancel()
	inst, uv := e.pickInstaller(ctx)
	lg.line(fmt.Sprintf("--- installing dependencies from %s (%s) ---", d.source, inst))
	_ = os.RemoveAll(venv) // what a failed or cut-short build left
	if err := os.Mkdir(venv, 0o755); err != nil {
		return fmt.Errorf("make environment folder: %w", err)
	}
	reqArgs := []string{"-r", requirementsFile}
	if d.reqs != nil {
		// Written beside the environment, not into the run folder, which
		// is the deployment's.
		reqPath := venv + ".requirements.txt"
		if err := os.WriteFile(reqPath, []byte(strings.Join(d.reqs, "\n")+"\n"), 0o600); err != nil {
			return fmt.Errorf("write requirements of %s: %w", pyprojectFile, err)
		}
		defer os.Remove(reqPath)
		reqArgs = []string{"-r", reqPath}
	}
	py := filepath.Join(venv, "bin", "python")
	env := e.installEnv(j, dir)
	// Build backends of sdists run in the install: the operator's index
	// and proxy passwords stay with a loopback proxy of ours.
	env, pipArgs, stopProxy, err := hideIndexCredentials(env, e.PipArgs)
	if err != nil {
		return err
	}
	defer stopProxy()
	// The install sees the run folder (relative paths of requirements),
	// writes only the environment, and reads pip's local indexes and
	// certificates the operator configured.
	spec := sandboxSpec{dir: dir, rw: []string{venv}}
	spec.ro = append(pathArgs(e.PipArgs), pathArgs(e.InstallEnv)...)
	if d.reqs != nil {
		spec.ro = append(spec.ro, reqArgs[1])
	}
	if uv != "" {
		spec.ro = append(spec.ro, uv)
	}
	var steps [][]string
	switch inst {
	case withUV:
		steps = [][]string{
			{uv, "venv", "--python", e.Python, venv},
			append(append([]string{uv, "pip", "install", "--python", py}, reqArgs...), pipArgs...),
		}
	case withPip:
		steps = [][]string{
			{e.Python, "-m", "venv", "--without-pip", venv},
			append(append([]string{e.Python, "-m", "pip", "--python", py, "install"}, reqArgs...), pipArgs...),
		}
	default:
		steps = [][]string{
			{e.Python, "-m", "venv", venv},
			append(append([]string{py, "-m", "pip", "install"}, reqArgs...), pipArgs...),
		}
	}
	for _, argv := range steps {
		if err := e.installStep(ctx, spec, env, h, lg, argv); err != nil {
			if errors.Is(err, errInstallTimeout) {
				return fmt.Errorf("timed out after %s", e.InstallTimeout)
			}
			return err
		}
	}
	tmp := filepath.Join(venv, readyFile+".tmp")
	if err := os.WriteFile(tmp, []byte(ready), 0o644); err != nil {
		return fmt.Errorf("mark environment ready: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(venv, readyFile)); err != nil {
		return fmt.Errorf("mark environment ready: %w", err)
	}
	return nil
}

// installEnv is the environment of an install: the run's base, what
// configures pip and uv, no prompts or progress bars, and the run's identity
// so that a restarted server can tell the processes it left behind.
func (e *Executor) installEnv(j Job, dir string) []string {
	env := make([]string, 0, len(e.BaseEnv)+len(e.InstallEnv)+12)
	env = append(env, e.BaseEnv...)
	if lookEnv(e.BaseEnv, "PATH") == "" {
		env = append(env, "PATH="+e.runPath())
	}
	tmp := os.TempDir()
	if e.Sandbox != nil {
		tmp = "/tmp"
	}
	env = append(env, "HOME="+dir, "TMPDIR="+tmp, "PYTHONUNBUFFERED=1", "PIP_DISABLE_PIP_VERSION_CHECK=1", "PIP_NO_INPUT=1",
		"PIP_PROGRESS_BAR=off", "UV_NO_PROGRESS=1")
	env = append(env, e.InstallEnv...)
	return append(env,
		"RUNTIME__RUN_ID="+j.RunID,
		"RUNTIME__WORKSPACE_ID="+j.WorkspaceID,
		"RUNTIME__PROFILE="+j.Profile,
	)
}

// installStep runs argv in its own process group in spec.dir (in the
// sandbox when there is one), its output going
// to the log, and returns nil once it exited with 0. When ctx ends, the
// group is stopped and the cause returned.
func (e *Executor) installStep(ctx context.Context, spec sandboxSpec, env []string, h Hooks, lg *runLog, argv []string) error {
	pr, pw, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("make log pipe: %w", err)
	}
	cmd := e.command(argv, spec, env)
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		return fmt.Errorf("start %s: %w", filepath.Base(argv[0]), err)
	}
	pw.Close()
	copied := make(chan struct{})
	go func() {
		lg.copyFrom(pr)
		close(copied)
	}()
	pgid := cmd.Process.Pid
	if h.OnInstallStarted != nil {
		h.OnInstallStarted(pgid)
	}
	// As for the script: the leader stays unreaped until its group is
	// gone, so the group id cannot be reused while it is signalled.
	exited := make(chan leaderExit, 1)
	go func() { exited <- waitExitedNoReap(pgid, e.PollInterval) }()
	var cause error
	select {
	case <-exited:
	case <-ctx.Done():
		cause = context.Cause(ctx)
	}
	e.stopGroup(pgid)
	if cause != nil {
		<-exited
	}
	werr := cmd.Wait()
	_ = pr.SetReadDeadline(time.Now().Add(e.Drain))
	<-copied
	pr.Close()
	if cause != nil {
		return cause
	}
	var ee *exec.ExitError
	if errors.As(werr, &ee) {
		return errors.New(ee.ProcessState.String()) // "exit status 1", "signal: killed"
	}
	return werr
}
