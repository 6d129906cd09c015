package executor

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dlthub/runtime-action/internal/api"
)

// sandboxed is newExecutor with the bubblewrap sandbox. Where bwrap cannot
// run the test is skipped, except in CI (CI=true), where that is a failure:
// the sandbox tests are the ones that matter most there.
func sandboxed(t testing.TB) *Executor {
	t.Helper()
	requireSandbox(t)
	e := newExecutor(t)
	e.Sandbox = &Sandbox{Bwrap: "bwrap"}
	e.Python = realPython(t)
	return e
}

// requireSandbox skips t where bubblewrap cannot make a sandbox, and fails
// it in CI.
func requireSandbox(t testing.TB) {
	t.Helper()
	if err := CheckSandbox(context.Background(), "bwrap"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI must run the sandbox tests: %v", err)
		}
		t.Skipf("no sandbox here: %v", err)
	}
}

// TestSandboxView: a sandboxed script sees its own folder (read-write), a
// private /tmp, its own processes only, an environment made from scratch,
// and nothing of the server's files.
func TestSandboxView(t *testing.T) {
	e := sandboxed(t)
	secretDir := t.TempDir()
	secret := filepath.Join(secretDir, "signing.key")
	if err := os.WriteFile(secret, []byte("key"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("RUNTIME_SERVER_ENCRYPTION_KEY", "server-only")
	t.Setenv("ALLOWED_VAR", "yes")
	e.BaseEnv = DefaultBaseEnv("ALLOWED_VAR", "NOT_SET_VAR")
	script := fmt.Sprintf(`import os
def can_read(p):
    try:
        open(p).read(); return "readable"
    except OSError as e:
        return type(e).__name__
print("secret", can_read(%q))
print("secretdir", os.path.exists(%q))
print("pids", sorted(int(p) for p in os.listdir("/proc") if p.isdigit()))
print("pid1", open("/proc/1/cmdline").read().split("\0")[0])
open("out.txt", "w").write("x")
open("/tmp/t.txt", "w").write("x")
try:
    open("/usr/x", "w")
    print("usr writable")
except OSError as e:
    print("usr", type(e).__name__)
print("env", sorted(os.environ))
print("HOME", os.environ["HOME"] == os.getcwd())
import socket
print("hostname", socket.gethostname())
for ns in ("pid", "ipc", "uts", "mnt", "net"):
    print("ns", ns, os.readlink("/proc/self/ns/" + ns))
`, secret, secretDir)
	j := newJob(t, "run-view", script, nil)
	res := e.Run(context.Background(), j, Hooks{})
	log := readFile(t, j.LogPath)
	if res.Status != api.StatusCompleted {
		t.Fatalf("Run = %+v\n%s", res, log)
	}
	for _, want := range []string{
		"secret FileNotFoundError\n", "secretdir False\n",
		"pids [1, 2]\n", "pid1 bwrap\n", "usr OSError\n", "HOME True\n",
		"env ['ALLOWED_VAR', 'HOME', 'LANG', 'PATH', 'PWD', 'PYTHONUNBUFFERED', 'RUNTIME__PROFILE', 'RUNTIME__RUN_ID', 'RUNTIME__WORKSPACE_ID', 'TMPDIR']\n",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	if _, err := os.Stat("/tmp/t.txt"); err == nil {
		t.Error("the sandbox's /tmp is the host's")
	}
	if !strings.Contains(log, "hostname runtime\n") {
		t.Errorf("the sandbox has the host's name:\n%s", log)
	}
	// Its own PID, IPC, UTS and mount namespaces; a batch script keeps the
	// server's network.
	for ns, own := range map[string]bool{"pid": true, "ipc": true, "uts": true, "mnt": true, "net": false} {
		host, err := os.Readlink("/proc/self/ns/" + ns)
		if err != nil {
			t.Fatal(err)
		}
		if same := strings.Contains(log, "ns "+ns+" "+host+"\n"); same == own {
			t.Errorf("namespace %s: shared with the host = %v, want %v:\n%s", ns, same, !own, log)
		}
	}
}

// TestSandboxKillsEverything: when the script's first process ends, every
// process it started goes too, those that left its process group (setsid)
// and ignore SIGTERM included; on cancel, within the grace period.
func TestSandboxKillsEverything(t *testing.T) {
	// The grandchild makes a new session, ignores SIGTERM and runs a
	// unique command line that the test looks for in the host's /proc.
	// "started" is printed once it has exec'd: the pipe's write end
	// (close-on-exec) closes then, in it and in its parent, and the read
	// gets end of file; a sleep would guess at that on a loaded machine.
	const grandchild = `import os, signal, sys
tag = sys.argv[1]
r, w = os.pipe()
if os.fork() == 0:
    os.close(r)
    os.setsid()
    if os.fork() == 0:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        os.execvp("sleep", ["sleep", "1%s" % tag])
    os._exit(0)
os.close(w)
os.read(r, 1)
print("started", flush=True)
`
	tests := []struct {
		name   string
		script string
		cancel bool
		want   api.RunStatus
	}{
		{"script ends", "import subprocess, sys\nsubprocess.run([sys.executable, 'gc.py', sys.argv[0] and '%s'])\n", false, api.StatusCompleted},
		{"cancelled", "import subprocess, sys, time\nsubprocess.run([sys.executable, 'gc.py', '%s'])\ntime.sleep(60)\n", true, api.StatusCancelled},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := sandboxed(t)
			e.Grace = 2 * time.Second
			tag := fmt.Sprintf("%d%d", 4242+i, time.Now().UnixNano()%100000)
			j := newJob(t, "run-kill", fmt.Sprintf(tt.script, tag), map[string]string{"gc.py": grandchild})
			ctx, cancel := context.WithCancelCause(context.Background())
			defer cancel(nil)
			if tt.cancel {
				go func() {
					defer cancel(ErrCancelled)
					if !logHolds(j.LogPath, "started", 10*time.Second) {
						t.Error("the grandchild never said it started")
						return
					}
					// It has exec'd; the kernel sets its new command line
					// a moment after the pipe closes.
					if !waitFor(10*time.Second, func() bool { return findSleep(tag) != 0 }) {
						t.Error("the grandchild is not running")
					}
				}()
			}
			began := time.Now()
			res := e.Run(ctx, j, Hooks{})
			took := time.Since(began)
			if res.Status != tt.want {
				t.Fatalf("Run = %+v\n%s", res, readFile(t, j.LogPath))
			}
			if !strings.Contains(readFile(t, j.LogPath), "started") {
				t.Fatalf("the grandchild never started:\n%s", readFile(t, j.LogPath))
			}
			if pid := findSleep(tag); pid != 0 {
				_ = syscall.Kill(pid, syscall.SIGKILL)
				t.Fatalf("the setsid grandchild %d outlived the run", pid)
			}
			if tt.cancel && took > 10*time.Second {
				t.Errorf("cancel took %s", took)
			}
		})
	}
}

// findSleep is the pid of the host's process running "sleep 1<tag>", or 0.
func findSleep(tag string) int {
	ents, _ := os.ReadDir("/proc")
	for _, d := range ents {
		var pid int
		if _, err := fmt.Sscan(d.Name(), &pid); err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + d.Name() + "/cmdline")
		if err != nil {
			continue
		}
		if string(b) == "sleep\x001"+tag+"\x00" {
			if st, err := os.ReadFile("/proc/" + d.Name() + "/stat"); err == nil {
				if s, _, _, ok := parseStat(st); ok && (s == 'Z' || s == 'X') {
					continue
				}
			}
			return pid
		}
	}
	return 0
}

// TestSandboxInstall: a deployment's dependencies are installed in the
// sandbox, and its script runs with them.
func TestSandboxInstall(t *testing.T) {
	e := sandboxed(t)
	e.VenvsDir = t.TempDir()
	e.UV = UVNone
	e.PipArgs = []string{"--no-index"}
	e.InstallEnv = []string{"PIP_CONFIG_FILE=" + os.DevNull}
	// Another deployment's environment, which the run must not see.
	if err := os.MkdirAll(filepath.Join(e.VenvsDir, "otherdeployment"), 0o700); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{"requirements.txt": "./" + wheelPath + "\n", wheelPath: helloWheel(t)}
	script := importsHello + fmt.Sprintf("import os\nprint('envs', sorted(os.listdir(%q)))\n", e.VenvsDir)
	j := withHash(newJob(t, "run-deps", script, files), "sandboxdeps")
	res := e.Run(context.Background(), j, Hooks{})
	log := readFile(t, j.LogPath)
	if res.Status != api.StatusCompleted || !strings.Contains(log, "hello from hello_pkg") {
		t.Fatalf("Run = %+v\n%s", res, log)
	}
	if !strings.Contains(log, "envs ['sandboxdeps']\n") {
		t.Errorf("the run sees more than its own environment:\n%s", log)
	}
}

// TestCheckSandbox: a bwrap that is not there is named in the error.
func TestCheckSandbox(t *testing.T) {
	err := CheckSandbox(context.Background(), "/nonexistent/bwrap")
	if err == nil || !strings.Contains(err.Error(), `"/nonexistent/bwrap"`) {
		t.Errorf("CheckSandbox = %v", err)
	}
}

// hostAddr is a non-loopback IPv4 address of this machine, or "".
func hostAddr() string {
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() {
			return n.IP.String()
		}
	}
	return ""
}

// TestSandboxAppNetwork: a sandboxed app listens in a network namespace of
// its own: its port is not on the host's loopback, DialApp reaches it
// through its socket, and it has outbound network (slirp4netns) to the
// host's own non-loopback address.
func TestSandboxAppNetwork(t *testing.T) {
	e := sandboxed(t)
	slirp, err := exec.LookPath("slirp4netns")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI must run the app network test: no slirp4netns")
		}
		t.Skip("no slirp4netns here")
	}
	e.Sandbox.Slirp4netns = slirp
	ip := hostAddr()
	if ip == "" {
		t.Skip("no non-loopback address to reach from the app")
	}
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("hello from the host\n"))
			c.Close()
		}
	}()
	sockDir, err := os.MkdirTemp("", "rt-app-test-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(sockDir)
	script := fmt.Sprintf(`import os, socket, http.server
s = socket.create_connection((%q, %d), timeout=10)
print("outbound:", s.makefile().readline().strip(), flush=True)
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"inside")
    def log_message(self, *a):
        pass
http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
`, ip, ln.Addr().(*net.TCPAddr).Port)
	j := appJob(t, "run-appnet", script, nil)
	j.AppSocket = filepath.Join(sockDir, "app.sock")
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	running := make(chan struct{})
	done := make(chan Result, 1)
	go func() {
		done <- e.Run(ctx, j, Hooks{OnStatus: func(s api.RunStatus) {
			if s == api.StatusRunning {
				close(running)
			}
		}})
	}()
	select {
	case <-running:
	case res := <-done:
		t.Fatalf("Run = %+v\n%s", res, readFile(t, j.LogPath))
	}
	c, err := DialApp(ctx, j.AppSocket)
	if err != nil {
		t.Fatalf("DialApp: %v", err)
	}
	fmt.Fprint(c, "GET / HTTP/1.0\r\n\r\n")
	b, _ := io.ReadAll(c)
	c.Close()
	if !strings.Contains(string(b), "200") || !strings.HasSuffix(string(b), "inside") {
		t.Errorf("app through its socket answered %q", b)
	}
	if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", j.Port)); err == nil {
		c.Close()
		t.Errorf("the app's port %d is open on the host's loopback", j.Port)
	}
	cancel(ErrCancelled)
	if res := <-done; res.Status != api.StatusCancelled {
		t.Errorf("Run = %+v", res)
	}
	if log := readFile(t, j.LogPath); !strings.Contains(log, "outbound: hello from the host") {
		t.Errorf("the app had no outbound network:\n%s", log)
	}
}

// TestKillRunOrphanedSandbox: a sandbox whose outer bwrap dies while bwrap
// sets it up is orphaned (its --die-with-parent comes later, and it has left
// bwrap's process group) and runs its command with nobody watching; KillRun
// finds it by the run id in its environment and kills all of it, and leaves
// a process of another run alone. --block-fd holds bwrap's setup at the
// point a server's death can hit it by chance.
func TestKillRunOrphanedSandbox(t *testing.T) {
	requireSandbox(t)
	e := sandboxed(t)
	dir := t.TempDir()
	tag := fmt.Sprintf("77%d", time.Now().UnixNano()%100000)
	block, release, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer block.Close()
	defer release.Close()
	args := append(e.bwrapArgs(sandboxSpec{dir: dir}), "--block-fd", "3", "--", "sleep", "1"+tag)
	cmd := exec.Command("bwrap", args...)
	cmd.Env = []string{"PATH=" + defaultPath, "RUNTIME__RUN_ID=run-orphan"}
	cmd.ExtraFiles = []*os.File{block}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = KillRun("run-orphan") })
	block.Close()
	// The outer bwrap dies once its inner process waits on the block fd
	// (read, syscall 0, of fd 3), as with a server killed just after it
	// started the run.
	inner := 0
	if !waitFor(10*time.Second, func() bool {
		if inner = childOf(cmd.Process.Pid); inner <= 0 {
			return false
		}
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/syscall", inner))
		return strings.HasPrefix(string(b), "0 0x3 ")
	}) {
		t.Fatalf("bwrap's inner process %d never waited on the block fd", inner)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	release.Close() // the setup goes on without its parent
	if !waitFor(10*time.Second, func() bool { return findSleep(tag) != 0 }) {
		t.Fatal("the orphaned sandbox did not run its command")
	}
	other := exec.Command("sleep", "60")
	other.Env = []string{"RUNTIME__RUN_ID=run-other"}
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = other.Process.Kill(); _ = other.Wait() }()

	if err := KillRun("run-orphan"); err != nil {
		t.Fatalf("KillRun: %v", err)
	}
	if pid := findSleep(tag); pid != 0 {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		t.Fatalf("the orphaned sandbox's command %d outlived KillRun", pid)
	}
	if pids, _ := runProcesses("RUNTIME__RUN_ID=run-orphan"); len(pids) != 0 {
		t.Errorf("processes of the run left: %v", pids)
	}
	if err := other.Process.Signal(syscall.Signal(0)); err != nil {
		t.Errorf("the other run's process was killed: %v", err)
	}
	if err := KillRun(""); err == nil {
		t.Error("KillRun without a run id = nil, want an error")
	}
}
