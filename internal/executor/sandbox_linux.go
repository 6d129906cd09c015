package executor

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// etcFiles are what the sandbox shows of /etc: name resolution,
// certificates, users (for getpwuid), time zone and the dynamic linker's
// cache. Nothing else of the host's configuration.
var etcFiles = []string{
	"resolv.conf", "hosts", "nsswitch.conf", "host.conf", "gai.conf", "services", "protocols",
	"passwd", "group", "localtime", "ld.so.cache", "ld.so.conf", "ld.so.conf.d",
	"ssl", "ca-certificates", "ca-certificates.conf", "pki", "crypto-policies", "alternatives", "mime.types",
}

// sysDirs are the system folders shown read-only (or as the symlinks into
// /usr they are on a merged /usr).
var sysDirs = []string{"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"}

// bwrapArgs are bubblewrap's options for spec, everything before "--".
func (e *Executor) bwrapArgs(spec sandboxSpec) []string {
	args := []string{
		"--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
		"--die-with-parent", "--new-session",
		"--hostname", "runtime",
		"--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp",
	}
	if spec.net {
		args = append(args, "--unshare-net")
	}
	for _, d := range sysDirs {
		fi, err := os.Lstat(d)
		switch {
		case err != nil:
		case fi.Mode()&os.ModeSymlink != 0:
			if target, err := os.Readlink(d); err == nil {
				args = append(args, "--symlink", target, d)
			}
		case fi.IsDir():
			args = append(args, "--ro-bind", d, d)
		}
	}
	for _, f := range etcFiles {
		p := filepath.Join("/etc", f)
		args = append(args, "--ro-bind-try", p, p)
	}
	if e.Interpreter != nil {
		for _, d := range e.Interpreter.Prefixes {
			args = append(args, "--ro-bind", d, d)
		}
	}
	for _, p := range spec.ro {
		args = append(args, "--ro-bind", p, p)
	}
	for _, p := range spec.rw {
		args = append(args, "--bind", p, p)
	}
	return append(args, "--bind", spec.dir, spec.dir, "--chdir", spec.dir)
}

// CheckSandbox reports whether bubblewrap at bwrap can make a sandbox here
// (it needs user namespaces, or root): nil when it can, else what went
// wrong, with bwrap's own words.
func CheckSandbox(ctx context.Context, bwrap string) error {
	path, err := exec.LookPath(bwrap)
	if err != nil {
		return fmt.Errorf("bubblewrap %q not found: %w", bwrap, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	e := &Executor{Sandbox: &Sandbox{Bwrap: path}}
	dir, err := os.MkdirTemp("", "runtime-sandbox-check-")
	if err != nil {
		return fmt.Errorf("check bubblewrap: %w", err)
	}
	defer os.RemoveAll(dir)
	args := append(e.bwrapArgs(sandboxSpec{dir: dir, net: true}), "--", "/bin/sh", "-c", "exit 0")
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = []string{"PATH=" + defaultPath}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("bubblewrap %s cannot make a sandbox here: %v: %s", path, err, bytes.TrimSpace(out))
	}
	return nil
}

// termSandbox sends SIGTERM to every process of the sandbox whose outer
// bwrap process is leader, but not to bwrap's own: the sandbox's init
// (bwrap, PID 1 inside) must stay until the script's first process ends,
// as its end kills the rest. Processes that left the process group
// (setsid) get it too: they are found by their PID namespace.
func termSandbox(leader int) {
	init := childOf(leader)
	if init <= 0 {
		return
	}
	ns, err := os.Readlink("/proc/" + strconv.Itoa(init) + "/ns/pid")
	if err != nil {
		return
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return
	}
	for _, d := range ents {
		pid, err := strconv.Atoi(d.Name())
		if err != nil || pid == init || pid == leader {
			continue
		}
		if l, err := os.Readlink("/proc/" + d.Name() + "/ns/pid"); err == nil && l == ns {
			_ = syscall.Kill(pid, syscall.SIGTERM)
		}
	}
}

// childOf is a child of process pid (bwrap's outer process has one: the
// sandbox's init), or 0.
func childOf(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err == nil {
		if f := bytes.Fields(b); len(f) > 0 {
			if c, err := strconv.Atoi(string(f[0])); err == nil {
				return c
			}
		}
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	for _, d := range ents {
		c, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		if b, err := os.ReadFile("/proc/" + d.Name() + "/stat"); err == nil {
			if _, ppid, _, ok := parseStat(b); ok && ppid == pid {
				return c
			}
		}
	}
	return 0
}

// startNet gives the network namespace of the sandbox whose outer bwrap
// process is leader its outbound network, with slirp4netns (user-mode
// networking: nothing of the host's loopback is reachable from it), and
// returns what stops it. Without slirp4netns the app has loopback only.
func (e *Executor) startNet(ctx context.Context, leader int, limit time.Duration, lg *runLog) func() {
	if e.Sandbox.Slirp4netns == "" {
		return func() {}
	}
	// bwrap sets up the namespace's loopback in its init before that
	// forks the sandboxed process; slirp4netns, which brings up loopback
	// too, must not come first, or bwrap's setup fails. So: wait for the
	// init's child, for as long as the app may take to start (limit) and
	// the sandbox lives: on a loaded machine that can be seconds, and
	// giving up sooner left the app without its outbound network.
	init, child := 0, 0
	deadline := time.Now().Add(limit)
	for {
		if init = childOf(leader); init > 0 {
			if child = childOf(init); child > 0 {
				break
			}
		}
		if ctx.Err() != nil || !running(leader) || time.Now().After(deadline) {
			return func() {} // the sandbox ended, or never started: nothing to connect
		}
		time.Sleep(5 * time.Millisecond)
	}
	cmd := exec.Command(e.Sandbox.Slirp4netns, "--configure", "--mtu=65520", "--disable-host-loopback", strconv.Itoa(init), "tap0")
	cmd.SysProcAttr = groupAttr()
	if err := cmd.Start(); err != nil {
		lg.line(oneLine(fmt.Sprintf("warning: no outbound network for the app: %v", err)))
		return func() {}
	}
	return func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
}

// running reports whether process pid (a child of ours, not yet reaped)
// has not exited.
func running(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	state, _, _, ok := parseStat(b)
	return ok && state != 'Z' && state != 'X'
}

// Shown lists the folders every sandboxed process can read: the system's,
// and the interpreter's prefixes. A server refuses a data dir below one of
// them.
func Shown(in *Interpreter) []string {
	dirs := append([]string{"/etc"}, sysDirs...)
	if in != nil {
		dirs = append(dirs, in.Prefixes...)
	}
	return dirs
}
