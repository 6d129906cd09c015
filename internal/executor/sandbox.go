package executor

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// Sandbox isolates every process of a run (its script, its app, the install
// of its dependencies) from the server and from other runs, with bubblewrap
// (sandbox_linux.go): its own PID, IPC and UTS namespaces and a fresh /proc,
// a root of its own in which only the system folders, the interpreter's
// prefix, the deployment's Python environment (read-only) and the run folder
// and a private /tmp (read-write) exist. When the run ends, the sandbox's
// first process goes, and the kernel kills every process left in it.
type Sandbox struct {
	// Bwrap is the bubblewrap executable.
	Bwrap string
	// Slirp4netns gives apps, each in a network namespace of its own,
	// their outbound network ("": apps have none). Batch scripts share the
	// server's network.
	Slirp4netns string
}

// Interpreter is what the sandbox needs to know of the Python interpreter:
// the real executable (not a wrapper such as pyenv's shim, which needs
// folders the sandbox does not show) and the folders it runs from.
type Interpreter struct {
	Executable string   // sys.executable, symlinks resolved
	Prefixes   []string // sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix
}

// interpreterProbe prints what FindInterpreter needs, as JSON.
const interpreterProbe = `import json, os, sys
print(json.dumps({"exe": os.path.realpath(sys.executable), "dirs": [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix]}))`

// FindInterpreter asks python where it lives. A server calls it once at
// start rather than for every run.
func FindInterpreter(ctx context.Context, python string) (*Interpreter, error) {
	cmd := exec.CommandContext(ctx, python, "-c", interpreterProbe)
	cmd.Env = []string{"PATH=" + cmp.Or(os.Getenv("PATH"), defaultPath), "HOME=" + os.Getenv("HOME")}
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("find the interpreter %q: %w", python, err)
	}
	var got struct {
		Exe  string   `json:"exe"`
		Dirs []string `json:"dirs"`
	}
	if err := json.Unmarshal(out, &got); err != nil || !filepath.IsAbs(got.Exe) {
		return nil, fmt.Errorf("find the interpreter %q: unexpected answer %q", python, out)
	}
	in := &Interpreter{Executable: got.Exe}
	for _, d := range got.Dirs {
		if d = filepath.Clean(d); filepath.IsAbs(d) && !slices.Contains(in.Prefixes, d) {
			in.Prefixes = append(in.Prefixes, d)
		}
	}
	return in, nil
}

// defaultPath is the PATH of a run when the operator passes none: the
// system's folders (the interpreter's own comes first, see runPath).
const defaultPath = "/usr/local/bin:/usr/bin:/bin"

// sandboxSpec is what one sandboxed process may see besides the system.
type sandboxSpec struct {
	dir string   // the run folder: read-write, working folder
	rw  []string // more read-write paths (the environment being made)
	ro  []string // more read-only paths (the deployment's environment, pip's local indexes)
	net bool     // a network namespace of its own (apps)
}

// command is the command that runs argv in dir with env: in the sandbox
// when there is one, else as it is. Either way it leads a process group
// of its own.
func (e *Executor) command(argv []string, spec sandboxSpec, env []string) *exec.Cmd {
	var cmd *exec.Cmd
	if e.Sandbox != nil {
		args := e.bwrapArgs(spec)
		args = append(append(args, "--"), argv...)
		cmd = exec.Command(e.Sandbox.Bwrap, args...)
	} else {
		cmd = exec.Command(argv[0], argv[1:]...)
	}
	cmd.Dir = spec.dir
	cmd.Env = env
	cmd.SysProcAttr = groupAttr()
	return cmd
}

// pathArgs are the arguments, option values and variable values among args
// that name existing absolute paths (pip's --find-links folder, a certificate bundle): the
// sandbox shows them read-only.
func pathArgs(args []string) []string {
	var ps []string
	for _, a := range args {
		if _, v, ok := strings.Cut(a, "="); ok {
			a = v // --find-links=DIR, or NAME=VALUE of the environment
		}
		if v, ok := strings.CutPrefix(a, "file://"); ok {
			a = v
		}
		if !filepath.IsAbs(a) {
			continue
		}
		if _, err := os.Stat(a); err == nil {
			ps = append(ps, filepath.Clean(a))
		}
	}
	return ps
}
