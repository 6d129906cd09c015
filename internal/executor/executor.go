// Package executor runs one script of a run as a local Python process: it
// makes the run folder from the stored packages, starts the process in its own
// process group (and, with a Sandbox, in a bubblewrap sandbox: sandbox.go),
// writes its output to the run's log and stops it on cancel or timeout.
package executor

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/dlthub/runtime-action/internal/api"
)

// ErrCancelled is the cause to cancel a Run's context with when a user asked
// for the run to stop: the result is then StatusCancelled. Any other cause
// (server shutdown, say) ends the run as StatusFailed.
var ErrCancelled = errors.New("run cancelled")

// Defaults of the Executor's fields, used when a field is zero.
const (
	DefaultPython       = "python3"
	DefaultGrace        = 10 * time.Second
	DefaultLogLimit     = 50 << 20
	DefaultPollInterval = 10 * time.Millisecond
	DefaultDrain        = time.Second
)

// Executor runs jobs. Its fields are its configuration; it holds no state
// between runs, so one Executor serves concurrent Run calls.
type Executor struct {
	Python   string        // interpreter, "python3" by default
	RunsDir  string        // parent folder of run folders (default: <TMPDIR>/runtime-action-runs)
	Grace    time.Duration // SIGTERM to SIGKILL on cancel and timeout (default 10s)
	Timeout  time.Duration // longest a process may run, from its start (0: no limit)
	LogLimit int64         // log cap in bytes (default 50 MiB)
	BaseEnv  []string      // environment every run starts from (default: DefaultBaseEnv())
	KeepDirs bool          // keep run folders after the run (debugging)

	// Sandbox, when set, isolates every process of a run (sandbox.go);
	// nil runs them as the server's user with the server's view of the
	// machine. Interpreter is where Python lives, for the sandbox to show
	// it (nil: asked of Python at every run; see FindInterpreter).
	Sandbox     *Sandbox
	Interpreter *Interpreter

	// PollInterval is how often a stopping process group is checked for
	// members left (default 10ms).
	PollInterval time.Duration
	// Drain is how long output is still read once the process group is gone,
	// for processes that left the group but kept the log pipe (default 1s).
	Drain time.Duration

	// Python environments of deployments that declare dependencies
	// (venv.go). VenvsDir holds them, one per deployment content hash
	// (default: <TMPDIR>/runtime-action-venvs). UV is the uv executable
	// they are made with ("": "uv" when on PATH; UVNone: never, python -m
	// venv and pip instead). PipArgs are appended to every install command
	// (--no-index, --find-links DIR, --index-url URL). InstallEnv is added
	// to BaseEnv for installs (nil: DefaultInstallEnv()). InstallTimeout
	// bounds the making of one environment (default 30m).
	VenvsDir       string
	UV             string
	PipArgs        []string
	InstallEnv     []string
	InstallTimeout time.Duration
	// AppPollInterval is how often a starting app's port is tried
	// (default 50ms).
	AppPollInterval time.Duration
}

// Job is one run to execute.
type Job struct {
	RunID         string
	WorkspaceID   string
	Profile       string
	EntryPoint    string // relative path in the deployment
	Deployment    string // path of the stored deployment tar.gz
	Configuration string // path of the stored configuration tar.gz ("": none)
	LogPath       string // the run's log file, appended to
	Env           []string
	// DeploymentHash is the deployment's content hash: runs of the same
	// content share one Python environment.
	DeploymentHash string
	// Redact are secret values masked in the log, with their encoded
	// forms (SecretForms), even when split across reads of the output.
	Redact []string
	// Interactive runs are apps (app.go): they get Port in PORT (and as
	// --port of a marimo notebook), are running only once Port accepts TCP
	// connections, and Executor.Timeout does not apply to them.
	Interactive bool
	Port        int
	// AppSocket, with a sandbox, is the Unix socket (in a folder of its
	// own, made by the caller) the app is reached through: the app then
	// has a network namespace of its own, and its port is not reachable
	// from outside it (see DialApp).
	AppSocket    string
	ReadyTimeout time.Duration // longest wait for Port to listen (default 30s)
}

// Hooks report progress; nil hooks are skipped. Run calls them from its own
// goroutine, in order.
type Hooks struct {
	OnStatus  func(api.RunStatus) // starting, running, finalizing
	OnStarted func(pid int)       // the process group id, once the process runs
	// OnInstallStarted gets the process group id of each step of a
	// dependency install as it starts, so that what a dead server left of
	// it can be killed, as for OnStarted.
	OnInstallStarted func(pgid int)
	// OnLog is called after text was appended to the run's log. It is
	// called from the goroutine copying the output, not Run's, and must
	// return quickly.
	OnLog func()
}

func (h Hooks) status(s api.RunStatus) {
	if h.OnStatus != nil {
		h.OnStatus(s)
	}
}

func (h Hooks) started(pgid int) {
	if h.OnStarted != nil {
		h.OnStarted(pgid)
	}
}

// Result is how a run ended.
type Result struct {
	Status   api.RunStatus // completed, failed or cancelled
	ExitCode int           // -1 when the process did not exit on its own
	Reason   string        // one line, also the last line of the log on failure
}

// DefaultBaseEnv is the environment a run starts from when BaseEnv is not
// set: LANG (C.UTF-8 when the server has none), and the variables of the
// server's environment named in allow, when set. Nothing else of the
// server's environment (its tokens and keys above all) reaches a run. Run
// adds PATH (unless allowed), HOME and TMPDIR (see env).
func DefaultBaseEnv(allow ...string) []string {
	env := []string{"LANG=" + cmp.Or(os.Getenv("LANG"), "C.UTF-8")}
	for _, k := range allow {
		if v, ok := os.LookupEnv(k); ok && k != "" {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// withDefaults returns a copy of e with zero fields set to their defaults.
func (e *Executor) withDefaults() Executor {
	c := *e
	c.Python = cmp.Or(c.Python, DefaultPython)
	c.RunsDir = cmp.Or(c.RunsDir, filepath.Join(os.TempDir(), "runtime-action-runs"))
	c.Grace = cmp.Or(c.Grace, DefaultGrace)
	c.LogLimit = cmp.Or(c.LogLimit, DefaultLogLimit)
	c.PollInterval = cmp.Or(c.PollInterval, DefaultPollInterval)
	c.Drain = cmp.Or(c.Drain, DefaultDrain)
	if c.BaseEnv == nil {
		c.BaseEnv = DefaultBaseEnv()
	}
	c.VenvsDir = cmp.Or(c.VenvsDir, filepath.Join(os.TempDir(), "runtime-action-venvs"))
	c.InstallTimeout = cmp.Or(c.InstallTimeout, DefaultInstallTimeout)
	if c.InstallEnv == nil {
		c.InstallEnv = DefaultInstallEnv()
	}
	return c
}

// Run executes j and returns once its process group is gone. It reports
// starting before making the run folder, OnStarted and running once the
// process runs, and finalizing when it exited with 0. On failure and cancel
// the reason is appended to the log as its last line.
func (e *Executor) Run(ctx context.Context, j Job, h Hooks) Result {
	c := e.withDefaults()
	h.status(api.StatusStarting)
	if c.Sandbox != nil && c.Interpreter == nil {
		in, err := FindInterpreter(ctx, c.Python)
		if err != nil {
			c.Interpreter = &Interpreter{Executable: c.Python}
		} else {
			c.Interpreter = in
		}
	}
	if c.Sandbox != nil {
		// A wrapper like pyenv's shim needs what the sandbox does not show.
		c.Python = c.Interpreter.Executable
	}
	lg, err := openLog(j.LogPath, c.LogLimit)
	if err != nil {
		return failed(fmt.Sprintf("open run log: %v", err))
	}
	lg.redact = newRedactor(j.Redact)
	lg.onWrite = h.OnLog
	res := c.run(ctx, j, h, lg)
	if res.Status != api.StatusCompleted || res.Reason != "" {
		lg.line(res.Reason)
	}
	lg.close()
	return res
}

func failed(reason string) Result {
	return Result{Status: api.StatusFailed, ExitCode: -1, Reason: oneLine(reason)}
}

// stopped is the result of a run whose context ended with cause.
func stopped(cause error) Result {
	if errors.Is(cause, ErrCancelled) {
		return Result{Status: api.StatusCancelled, ExitCode: -1, Reason: ErrCancelled.Error()}
	}
	if r, ok := appStopped(cause); ok {
		return r
	}
	return failed("run stopped: " + cause.Error())
}

// oneLine keeps a reason on the single log line it is promised to be.
func oneLine(s string) string {
	return strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(s)
}

func validate(j Job) error {
	if j.RunID == "" || j.RunID == "." || j.RunID == ".." || strings.ContainsAny(j.RunID, "/\\\x00") {
		return fmt.Errorf("invalid run id %q: it must be usable as a folder name", j.RunID)
	}
	if !api.ValidProfile(j.Profile) {
		return fmt.Errorf("invalid profile %q", j.Profile)
	}
	if !filepath.IsLocal(j.EntryPoint) {
		return fmt.Errorf("entry point %q is not a relative path inside the deployment", j.EntryPoint)
	}
	if j.Deployment == "" {
		return errors.New("no deployment to run: upload one first")
	}
	return validateApp(j)
}

// run does everything between opening and closing the log; its result's
// reason is not yet in the log.
func (e *Executor) run(ctx context.Context, j Job, h Hooks, lg *runLog) Result {
	if err := supported(); err != nil {
		return failed(err.Error())
	}
	if err := validate(j); err != nil {
		return failed(err.Error())
	}
	dir := filepath.Join(e.RunsDir, j.RunID)
	if !e.KeepDirs {
		// Secrets are in the folder: it goes whatever happens.
		defer func() {
			if err := os.RemoveAll(dir); err != nil {
				lg.line(oneLine(fmt.Sprintf("warning: remove run folder: %v", err)))
			}
		}()
	}
	if err := prepare(e.RunsDir, dir, j); err != nil {
		return failed(err.Error())
	}
	if ctx.Err() != nil {
		return stopped(context.Cause(ctx))
	}
	if fi, err := os.Stat(filepath.Join(dir, j.EntryPoint)); err != nil || !fi.Mode().IsRegular() {
		return failed(fmt.Sprintf("entry point %q not found in the deployment", j.EntryPoint))
	}
	py, res := e.pythonEnv(ctx, j, dir, h, lg)
	if res != nil {
		return *res
	}

	if e.Sandbox != nil {
		// bwrap would start, and then fail to find it.
		if _, err := exec.LookPath(py.python); err != nil {
			return failed(fmt.Sprintf("start %s: %v", py.python, err))
		}
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return failed(fmt.Sprintf("start %s: make log pipe: %v", e.Python, err))
	}
	argv := append([]string{py.python}, scriptArgs(j, dir)...)
	spec := e.runSpec(j, dir, py)
	if e.appNet(j) {
		// The app listens inside a network namespace of its own; the
		// server reaches it through the socket, in a folder it holds.
		spec.net = true
		spec.rw = append(spec.rw, filepath.Dir(j.AppSocket))
		waitNet := "0"
		if e.Sandbox.Slirp4netns != "" {
			waitNet = "1"
		}
		argv = append([]string{py.python, "-c", appForwarder, j.AppSocket, strconv.Itoa(j.Port), waitNet}, argv...)
	}
	cmd := e.command(argv, spec, append(e.env(j, dir), py.env...))
	// One file for both, so the child gets one pipe on fd 1 and 2 and its
	// output keeps the order it was written in.
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		return failed(fmt.Sprintf("start %s: %v", e.Python, err))
	}
	pw.Close() // the children hold the write end now: EOF comes when they are all gone
	copied := make(chan struct{})
	go func() {
		lg.copyFrom(pr)
		close(copied)
	}()

	pgid := cmd.Process.Pid
	h.started(pgid)
	if spec.net {
		defer e.startNet(ctx, pgid, cmp.Or(j.ReadyTimeout, DefaultReadyTimeout), lg)()
	}

	// The leader is not reaped until its group is gone: its pid, and so the
	// group id, cannot be reused meanwhile, so kill(-pgid) reaches only ours.
	exited := make(chan leaderExit, 1)
	go func() { exited <- waitExitedNoReap(pgid, e.PollInterval) }()
	// An app is running once it listens (app.go), a batch script at once.
	stopRes := e.awaitApp(ctx, j, exited)
	if stopRes == nil {
		h.status(api.StatusRunning)
	}
	var timeout <-chan time.Time
	if e.Timeout > 0 && !j.Interactive {
		t := time.NewTimer(e.Timeout)
		defer t.Stop()
		timeout = t.C
	}

	var le leaderExit
	if stopRes == nil {
		select {
		case le = <-exited:
			if le.known && le.exited && le.code == 0 {
				// Leftovers (a daemonised child, say) are stopped below; the
				// script itself is done.
				h.status(api.StatusFinalizing)
			}
		case <-ctx.Done():
			r := stopped(context.Cause(ctx))
			stopRes = &r
		case <-timeout:
			r := failed(fmt.Sprintf("timed out after %s", e.Timeout))
			stopRes = &r
		}
	}
	e.stopGroup(pgid)
	if stopRes != nil {
		le = <-exited
	}
	werr := cmd.Wait()
	if stopRes == nil && !le.known && cmd.ProcessState != nil && cmd.ProcessState.Success() {
		h.status(api.StatusFinalizing)
	}

	// Output of processes that escaped the group could keep the pipe open
	// for ever: read what is there, then give up.
	_ = pr.SetReadDeadline(time.Now().Add(e.Drain))
	<-copied
	pr.Close()

	if stopRes != nil {
		return *stopRes
	}
	return exitResult(cmd.ProcessState, werr, e.Sandbox != nil)
}

// exitResult maps how the leader ended to a Result. bwrap exits with
// 128+N when the script was killed by signal N, as a shell does.
func exitResult(ps *os.ProcessState, werr error, sandboxed bool) Result {
	if ps == nil {
		return failed(fmt.Sprintf("wait for process: %v", werr))
	}
	ws, _ := ps.Sys().(syscall.WaitStatus)
	if code := ws.ExitStatus(); sandboxed && ws.Exited() && code > 128 && code < 128+65 {
		return failed(fmt.Sprintf("process killed by signal %s", syscall.Signal(code-128)))
	}
	switch {
	case ws.Exited() && ws.ExitStatus() == 0:
		return Result{Status: api.StatusCompleted}
	case ws.Exited():
		r := failed(fmt.Sprintf("process exited with code %d", ws.ExitStatus()))
		r.ExitCode = ws.ExitStatus()
		return r
	case ws.Signaled():
		return failed(fmt.Sprintf("process killed by signal %s", ws.Signal()))
	}
	return failed(fmt.Sprintf("process ended: %s", ps))
}

// env is the run's environment, made from scratch: BaseEnv, PATH (the
// interpreter's folder and the system's, unless BaseEnv has one), HOME (the
// run folder), TMPDIR, then Job.Env and the run's identity. The identity
// comes last so that job.Env cannot change it: KillGroup relies on
// RUNTIME__RUN_ID.
func (e *Executor) env(j Job, dir string) []string {
	env := make([]string, 0, len(e.BaseEnv)+len(j.Env)+8)
	env = append(env, e.BaseEnv...)
	if lookEnv(e.BaseEnv, "PATH") == "" {
		env = append(env, "PATH="+e.runPath())
	}
	tmp := os.TempDir()
	if e.Sandbox != nil {
		tmp = "/tmp" // the sandbox's own
	}
	env = append(env, "HOME="+dir, "TMPDIR="+tmp, "PYTHONUNBUFFERED=1")
	env = append(env, j.Env...)
	env = append(env, appEnv(j)...)
	return append(env,
		"RUNTIME__RUN_ID="+j.RunID,
		"RUNTIME__WORKSPACE_ID="+j.WorkspaceID,
		"RUNTIME__PROFILE="+j.Profile,
	)
}

// leaderExit is how the group leader ended, learnt without reaping it.
type leaderExit struct {
	known  bool // false: waitid failed, ask cmd.Wait
	exited bool // exited on its own (not by a signal)
	code   int  // exit code when exited
}

// runPath is a run's PATH when BaseEnv has none: the interpreter's folder
// (when it is not a bare name looked up on the server's PATH), then the
// system's.
func (e *Executor) runPath() string {
	if p := lookEnv(e.BaseEnv, "PATH"); p != "" {
		return p
	}
	if filepath.IsAbs(e.Python) {
		return filepath.Dir(e.Python) + string(os.PathListSeparator) + defaultPath
	}
	return defaultPath
}

// runSpec is what the sandbox of j's script shows besides the system and
// the interpreter: the run folder, and the deployment's environment.
func (e *Executor) runSpec(j Job, dir string, py pyEnv) sandboxSpec {
	spec := sandboxSpec{dir: dir}
	if py.venv != "" {
		spec.ro = append(spec.ro, py.venv)
	}
	return spec
}
