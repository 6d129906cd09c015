package action

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// fileCommandVars are the variables naming files the runner shares with a
// step. Inside a container action they must name the files as the
// container sees them.
var fileCommandVars = map[string]bool{
	"GITHUB_OUTPUT": true, "GITHUB_STATE": true, "GITHUB_STEP_SUMMARY": true,
	"GITHUB_ENV": true, "GITHUB_PATH": true, "GITHUB_EVENT_PATH": true,
}

// hostFileCommandsDir is a key no environment variable can have (it holds
// a NUL byte): ContainerGetenv answers it with the folder of GITHUB_OUTPUT
// as the host sees it, when that folder is mounted elsewhere here.
const hostFileCommandsDir = "\x00host-file-commands-dir"

// bindMount is one mount of a host folder into this process's view.
type bindMount struct {
	Root  string // the folder on the host (its filesystem)
	Point string // where it is here
}

// containerGetenv wraps getenv so that the file command variables name
// files this process can open. GitHub's runner sets them to paths inside
// the container (/github/file_commands/...), but act, running a job on the
// host (-P ubuntu-latest=-self-hosted), passes the host's paths to a
// container action and mounts their folder elsewhere (/var/run/act): a path
// whose folder does not exist here is translated through the bind mounts
// in mounts (this process's /proc/self/mountinfo).
func containerGetenv(getenv func(string) string, mounts func() []bindMount) func(string) string {
	var once sync.Once
	var ms []bindMount
	load := func() []bindMount {
		once.Do(func() { ms = mounts() })
		return ms
	}
	translate := func(p string) (string, bool) {
		if p == "" || !filepath.IsAbs(p) || isDir(filepath.Dir(p)) {
			return p, false
		}
		if q, ok := hostToLocal(load(), p); ok && isDir(filepath.Dir(q)) {
			return q, true
		}
		return p, false
	}
	return func(k string) string {
		if k == hostFileCommandsDir {
			p := getenv("GITHUB_OUTPUT")
			if _, ok := translate(p); ok {
				return filepath.Dir(p)
			}
			return ""
		}
		v := getenv(k)
		if fileCommandVars[k] {
			v, _ = translate(v)
		}
		return v
	}
}

// hostToLocal translates a host path through the mount with the longest
// matching root.
func hostToLocal(ms []bindMount, p string) (string, bool) {
	best := -1
	for i, m := range ms {
		if m.Root == "/" || m.Root == m.Point {
			continue
		}
		if (p == m.Root || strings.HasPrefix(p, m.Root+"/")) && (best < 0 || len(m.Root) > len(ms[best].Root)) {
			best = i
		}
	}
	if best < 0 {
		return "", false
	}
	return ms[best].Point + strings.TrimPrefix(p, ms[best].Root), true
}

// readMountInfo reads this process's bind mounts; none when it cannot.
func readMountInfo() []bindMount {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	return parseMountInfo(b)
}

// parseMountInfo reads the root (4th) and mount point (5th) fields of
// mountinfo lines, which escape space, tab, newline and backslash in octal.
func parseMountInfo(b []byte) []bindMount {
	var ms []bindMount
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 5 {
			continue
		}
		ms = append(ms, bindMount{Root: unescapeMountInfo(f[3]), Point: unescapeMountInfo(f[4])})
	}
	return ms
}

func unescapeMountInfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
