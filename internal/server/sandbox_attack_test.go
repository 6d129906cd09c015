//go:build linux

package server

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dlthub/runtime-action/internal/api"
	"github.com/dlthub/runtime-action/internal/executor"
)

// attackScript runs in workspace B and tries what an attacker with B's
// token would: read the server's files, A's live run folder and the
// server's environment, reach A's app directly, and leave a process behind
// that survives cancel. It prints one line per attempt; %s are filled in
// by the test (JSON-free, as Python literals).
const attackScript = `import os, signal, socket, sys, time
data_dir, a_run_dir, server_pid, a_port, key, tag = %q, %q, %d, %d, %q, %q
def attempt(name, path):
    try:
        with open(path, "rb") as f:
            f.read(1)
        print("LEAK", name, path, flush=True)
    except OSError as e:
        print("denied", name, type(e).__name__, flush=True)
for name in ["signing.key", "runtime.db", "encryption.key", "admin.token"]:
    attempt(name, os.path.join(data_dir, name))
print("datadir", "LEAK" if os.path.exists(data_dir) else "hidden", flush=True)
attempt("a-secrets", os.path.join(a_run_dir, ".dlt", "secrets.toml"))
print("a-run-dir", "LEAK" if os.path.exists(a_run_dir) else "hidden", flush=True)
attempt("server-environ", "/proc/%%d/environ" %% server_pid)
for p in os.listdir("/proc"):
    if p.isdigit():
        try:
            if key.encode() in open("/proc/%%s/environ" %% p, "rb").read():
                print("LEAK environ of", p, flush=True)
        except OSError:
            pass
print("own-env", "LEAK" if any(key in v for v in os.environ.values()) else "clean", flush=True)
print("allowed", os.environ.get("ALLOWED_ONE"), os.environ.get("NOT_ALLOWED"), os.environ.get("UNSET_ONE"), flush=True)
print("procs", sorted(int(p) for p in os.listdir("/proc") if p.isdigit()), flush=True)
try:
    socket.create_connection(("127.0.0.1", a_port), timeout=2).close()
    print("LEAK reached A's app", flush=True)
except OSError as e:
    print("app-port", type(e).__name__, flush=True)
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        os.execvp("sleep", ["sleep", "1" + tag])
    os._exit(0)
time.sleep(0.3)
print("ready", flush=True)
time.sleep(120)
`

// secretApp is A's app: it serves its secret's length on $PORT and prints
// where it runs.
const secretApp = `import os, http.server
port = int(os.environ["PORT"])
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"app of A"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
print("A port", port, "dir", os.getcwd(), flush=True)
http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
`

// TestSandboxAttack is the test of issue 8: serve (the real binary, the
// default --sandbox auto, real bubblewrap) with two workspaces and a token
// for each; a script run with B's token can read none of the server's files,
// A's live run folder or the server's environment, cannot reach A's app but
// through the proxy, and a setsid grandchild that ignores SIGTERM is gone
// once the cancelled run ends, well within the grace period.
func TestSandboxAttack(t *testing.T) {
	requireSandbox(t)
	t.Parallel()
	dir := t.TempDir()
	const grace = 30 * time.Second
	keyRaw := make([]byte, 32)
	rand.Read(keyRaw)
	key := base64.StdEncoding.EncodeToString(keyRaw)
	cmd, url := serveWithEnv(t, dir, []string{"RUNTIME_SERVER_ENCRYPTION_KEY=" + key, "ALLOWED_ONE=visible-1", "NOT_ALLOWED=hidden-2"},
		"--cancel-grace", grace.String(), "--run-env", "ALLOWED_ONE", "--run-env", "UNSET_ONE")

	admin := adminCmd(t, dir)
	wsA := strings.TrimSpace(admin("workspace", "list", "-o", "json"))
	wsA = wsA[strings.Index(wsA, `"id": "`)+7:]
	wsA = wsA[:strings.Index(wsA, `"`)]
	wsB := strings.TrimSpace(admin("workspace", "create", "teamb"))
	a := &testEnv{url: url, ws: wsA, dir: dir, token: strings.TrimSpace(admin("token", "create", "--workspace", wsA, "--email", "a@example.com"))}
	b := &testEnv{url: url, ws: wsB, dir: dir, token: strings.TrimSpace(admin("token", "create", "--workspace", wsB, "--email", "b@example.com"))}

	// A: an app with a secret in its live run folder.
	const secret = "a-secret-6c1f0e"
	if r := a.upload(t, a.wsPath("/deployments"), buildPackage(t, map[string]string{"app.py": secretApp})); r.status != http.StatusCreated {
		t.Fatalf("upload A's deployment: %d %s", r.status, r.body)
	}
	if r := a.upload(t, a.wsPath("/configurations"), buildPackage(t, map[string]string{"config.toml": "[runtime]\n", "secrets.toml": "password = \"" + secret + "\"\n"})); r.status != http.StatusCreated {
		t.Fatalf("upload A's configuration: %d %s", r.status, r.body)
	}
	if r := a.postJSON(t, a.wsPath("/scripts"), map[string]any{"name": "app.py", "entry_point": "app.py", "description": "", "script_type": "interactive"}); r.status != http.StatusCreated {
		t.Fatalf("upsert A's app: %d %s", r.status, r.body)
	}
	appRun := a.startRun(t, "app.py")
	if d := a.waitRun(t, appRun.ID, 30*time.Second, running); d.Status != api.StatusRunning {
		var lr api.LogsResponse
		a.get(t, a.wsPath("/runs/", appRun.ID, "/logs")).decode(t, &lr)
		if lr.Logs != nil {
			t.Fatalf("A's app: %s; its log:\n%s", d.Status, *lr.Logs)
		}
		t.Fatalf("A's app: %s", d.Status)
	}
	var port int
	var aDir string
	alog := a.waitLog(t, appRun.ID, 10*time.Second, "A port")
	if _, err := fmt.Sscanf(alog[strings.Index(alog, "A port"):], "A port %d dir %s", &port, &aDir); err != nil {
		t.Fatalf("A's log %q: %v", alog, err)
	}
	if b, err := os.ReadFile(filepath.Join(aDir, ".dlt", "secrets.toml")); err != nil || !strings.Contains(string(b), secret) {
		t.Fatalf("A's live run folder holds no decrypted secrets (%v): the test would prove nothing", err)
	}
	if strings.HasPrefix(aDir, dir+string(filepath.Separator)) {
		t.Errorf("A's run folder %s is inside the data dir", aDir)
	}
	// The proxy, with A's token, still reaches the app.
	if f := fetch(t, "GET", url+"/apps/"+wsA+"/app.py/", bearer(a.token)); f.status != http.StatusOK || f.body != "app of A" {
		t.Errorf("A's app through the proxy: %d %q", f.status, f.body)
	}

	// B attacks.
	tag := fmt.Sprintf("%d", time.Now().UnixNano()%1000000000)
	script := fmt.Sprintf(attackScript, dir, aDir, cmd.Process.Pid, port, key, tag)
	b.deploy(t, map[string]string{"attack.py": script}, "attack.py")
	run := b.startRun(t, "attack.py")
	log := b.waitLog(t, run.ID, 30*time.Second, "ready")
	if strings.Contains(log, "LEAK") {
		t.Errorf("B's script got through:\n%s", log)
	}
	for _, want := range []string{
		"denied signing.key", "denied runtime.db", "denied encryption.key", "denied admin.token", "datadir hidden",
		"denied a-secrets", "a-run-dir hidden", "denied server-environ", "own-env clean", "app-port ConnectionRefusedError", "allowed visible-1 None None",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("B's log lacks %q:\n%s", want, log)
		}
	}
	if findSleep(tag) == 0 {
		t.Fatalf("B's grandchild is not running:\n%s", log)
	}
	// Cancel: the grandchild left the process group and ignores SIGTERM,
	// yet it is gone when the run ends, which is before the grace period
	// (30s) would have let the SIGKILL come.
	if r := b.postJSON(t, b.wsPath("/runs/", run.ID, "/cancel"), "{}"); r.status != http.StatusCreated {
		t.Fatalf("cancel: %d %s", r.status, r.body)
	}
	if d := b.waitRun(t, run.ID, grace, terminal); d.Status != api.StatusCancelled {
		t.Errorf("B's run: %s", d.Status)
	}
	if pid := findSleep(tag); pid != 0 {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		t.Errorf("B's setsid grandchild %d outlived the cancelled run", pid)
	}

	// A server killed outright takes its runs' sandboxes with it.
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for len(procsOfRun(t, appRun.ID)) > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if pids := procsOfRun(t, appRun.ID); len(pids) > 0 {
		t.Errorf("processes of A's app outlived the killed server: %v", pids)
	}
}

// adminCmd runs the admin subcommands of serve on dataDir.
func adminCmd(t *testing.T, dataDir string) func(args ...string) string {
	return func(args ...string) string {
		t.Helper()
		bin, err := binary()
		if err != nil {
			t.Fatal(err)
		}
		c := exec.Command(bin, append(append([]string{"serve"}, args...), "--data-dir", dataDir)...)
		c.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
		out, err := c.Output()
		if err != nil {
			t.Fatalf("serve %v: %v", args, err)
		}
		return string(out)
	}
}

// findSleep is the pid of the live process running "sleep 1<tag>", or 0.
func findSleep(tag string) int {
	ents, _ := os.ReadDir("/proc")
	for _, d := range ents {
		var pid int
		if _, err := fmt.Sscan(d.Name(), &pid); err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + d.Name() + "/cmdline")
		if err != nil || string(b) != "sleep\x001"+tag+"\x00" {
			continue
		}
		st, _ := os.ReadFile("/proc/" + d.Name() + "/stat")
		if i := strings.LastIndexByte(string(st), ')'); i > 0 && len(st) > i+2 && (st[i+2] == 'Z' || st[i+2] == 'X') {
			continue
		}
		return pid
	}
	return 0
}

// requireSandbox skips t where bubblewrap cannot make a sandbox, and fails
// it in CI (CI=true), which must run it.
func requireSandbox(t *testing.T) {
	t.Helper()
	if err := executor.CheckSandbox(context.Background(), "bwrap"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI must run the sandbox tests: %v", err)
		}
		t.Skipf("no sandbox here: %v", err)
	}
}

// TestServeSandboxChoice: --sandbox none warns at start that runs are not
// isolated; an unknown value, and auto without a working bubblewrap, are
// refused with what to do.
func TestServeSandboxChoice(t *testing.T) {
	t.Parallel()
	t.Run("none warns", func(t *testing.T) {
		bin, err := binary()
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "serve", "--addr", "127.0.0.1:0", "--data-dir", t.TempDir(), "--sandbox", "none")
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
		stderr, err := cmd.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() {
			cmd.Process.Kill()
			cmd.Wait()
		}()
		var said strings.Builder
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			said.WriteString(sc.Text() + "\n")
			if strings.HasPrefix(sc.Text(), "First start") || strings.HasPrefix(sc.Text(), "Admin token") {
				break
			}
		}
		if !strings.Contains(said.String(), "Warning: --sandbox none: runs are not isolated") || !strings.Contains(said.String(), "can read the server's data") {
			t.Errorf("serve --sandbox none said:\n%s", said.String())
		}
	})
	t.Run("unknown value", func(t *testing.T) {
		bin, err := binary()
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "serve", "--addr", "127.0.0.1:0", "--data-dir", t.TempDir(), "--sandbox", "bogus")
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), `invalid sandbox "bogus": use auto, bwrap or none`) {
			t.Errorf("serve --sandbox bogus: %v\n%s", err, out)
		}
	})
	t.Run("auto without bubblewrap", func(t *testing.T) {
		_, err := Open(context.Background(), Config{DataDir: t.TempDir(), Sandbox: SandboxAuto, Bwrap: "/nonexistent/bwrap"})
		if err == nil || !strings.Contains(err.Error(), `bubblewrap "/nonexistent/bwrap" not found`) ||
			!strings.Contains(err.Error(), "apt-get install bubblewrap") || !strings.Contains(err.Error(), "pass --sandbox none") {
			t.Errorf("Open = %v", err)
		}
	})
}

// TestDataDirInsideShownFolder: a data dir inside a folder every sandbox
// shows (here the interpreter's prefix) is refused, naming both.
func TestDataDirInsideShownFolder(t *testing.T) {
	requireSandbox(t)
	in, err := executor.FindInterpreter(context.Background(), "python3")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(in.Prefixes[0], "runtime-data-test-never-made")
	_, err = Open(context.Background(), Config{DataDir: dir, RunsDir: t.TempDir(), Sandbox: SandboxBwrap})
	if _, serr := os.Stat(dir); serr == nil {
		os.RemoveAll(dir)
		t.Errorf("the refused data dir %s was made", dir)
	}
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%q is inside %q", dir, in.Prefixes[0])) {
		t.Errorf("Open = %v", err)
	}
}
