package action

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// containerHome is where the runner mounts $RUNNER_TEMP/_github_home into a
// container action (and sets HOME to it). RUNNER_TEMP itself is not mounted.
const containerHome = "/github/home"

// logLocation says where the logs file is written, and under which path
// later steps of the job find it: inside a container action they differ.
type logLocation struct {
	Dir     string // where this process writes
	HostDir string // the same folder as the job's other steps see it
}

// runLogDir picks the logs file's folder, where a later step of the job (on
// the runner, as another user) can open it:
//   - inside a container action on GitHub's runner, the mounted home folder
//     (HOME is /github/home), reported under its path on the runner,
//     $RUNNER_TEMP/_github_home; RUNNER_TEMP itself is not mounted;
//   - inside a container action under act, whose file command folder is
//     mounted from the host elsewhere (ContainerGetenv), that folder,
//     reported under the host's path;
//   - $RUNNER_TEMP when it exists here (the binary runs on the runner);
//   - else the system's temporary folder (a plain docker run).
func runLogDir(getenv func(string) string) logLocation {
	return logDir(getenv, containerHome)
}

func logDir(getenv func(string) string, home string) logLocation {
	temp := getenv("RUNNER_TEMP")
	if temp != "" && getenv("HOME") == home && isDir(home) {
		return logLocation{Dir: home, HostDir: filepath.Join(temp, "_github_home")}
	}
	if host := getenv(hostFileCommandsDir); host != "" {
		if out := getenv("GITHUB_OUTPUT"); out != "" && isDir(filepath.Dir(out)) {
			return logLocation{Dir: filepath.Dir(out), HostDir: host}
		}
	}
	if temp != "" && isDir(temp) {
		return logLocation{Dir: temp, HostDir: temp}
	}
	d := os.TempDir()
	return logLocation{Dir: d, HostDir: d}
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// Limits of RunLog's line buffering: a line longer than maxPendingLine is
// passed on in pieces (a secret across the cut is then not redacted by us;
// the runner still masks the job log), and a tail line is kept up to
// maxTailLine bytes.
const (
	maxPendingLine = 64 << 10
	maxTailLine    = 8 << 10
)

// runLog receives a run's log text and passes it on by whole lines,
// redacted with the Masker: to the job log through a LogWriter, to the logs
// file, and to the last lines kept for the summary. GitHub masks only the job
// log, so the file and the summary need our redaction; the job log gets it
// too, for act. Call Pause before printing workflow commands (a group, a
// status line) between chunks: inside the echo's block they are inert.
type runLog struct {
	echo *logWriter
	m    *masker

	mu       sync.Mutex
	osFile   *os.File
	file     *bufio.Writer // of osFile: one write per line would cost a system call each
	hostPath string
	pending  []byte       // text after the last newline
	out      bytes.Buffer // the redacted text of one Write
	tail     []string
	tailN    int
	next     int // ring position in tail once full
	closed   bool
}

// newRunLog creates the logs file in loc and returns a RunLog echoing to out
// (the Action's stdout) and keeping tailLines lines. When the file cannot be
// created it says why, and still returns a RunLog that echoes and keeps the
// tail: the log streams into the job log whatever becomes of the file.
//
// The file is readable by everyone (0644): in a container action it is
// written as root, and the job's later steps run as the runner's user
// (uid 1001 on GitHub's hosted runners).
func newRunLog(out io.Writer, m *masker, loc logLocation, tailLines int) (*runLog, error) {
	r := &runLog{echo: newLogWriter(out), m: m, tailN: tailLines}
	f, err := os.CreateTemp(loc.Dir, "runtime-action-run-*.log")
	if err == nil {
		if err = f.Chmod(0o644); err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}
	if err != nil {
		return r, fmt.Errorf("create the logs file in %q (the log is still streamed to the job log): %w", loc.Dir, err)
	}
	r.osFile = f
	r.file = bufio.NewWriterSize(f, 64<<10)
	r.hostPath = filepath.Join(loc.HostDir, filepath.Base(f.Name()))
	return r, nil
}

// Write takes a chunk of log text. Text is passed on by whole lines, the
// way the runner reads it anyway, so that a secret split across chunks is
// still redacted; the lines of one chunk go out in one write.
func (r *runLog) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return 0, errors.New("write the run log: already closed")
	}
	r.pending = append(r.pending, p...)
	r.out.Reset()
	rest := r.pending
	for {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			break
		}
		r.line(rest[:i], true)
		rest = rest[i+1:]
	}
	if len(rest) > maxPendingLine {
		r.line(rest, false)
		rest = nil
	}
	r.pending = append(r.pending[:0], rest...)
	if err := r.emit(); err != nil {
		return 0, err
	}
	return len(p), nil
}

// line redacts one line (or piece of one), adds it to the output of this
// write and keeps it for the tail.
func (r *runLog) line(b []byte, newline bool) {
	red := r.m.Redact(strings.TrimSuffix(string(b), "\r"))
	r.out.WriteString(red)
	if newline {
		r.out.WriteByte('\n')
	}
	if r.tailN <= 0 {
		return
	}
	if len(red) > maxTailLine {
		red = cutUTF8(red, maxTailLine) + " …"
	}
	if len(r.tail) < r.tailN {
		r.tail = append(r.tail, red)
	} else {
		r.tail[r.next] = red
		r.next = (r.next + 1) % r.tailN
	}
}

// emit sends the redacted output to the job log and the file. The runner
// masks the job log too; redacting it here as well covers act, which may not.
func (r *runLog) emit() error {
	if r.out.Len() == 0 {
		return nil
	}
	if _, err := r.echo.Write(r.out.Bytes()); err != nil {
		return fmt.Errorf("echo the run log: %w", err)
	}
	if r.file == nil {
		return nil
	}
	if _, err := r.file.Write(r.out.Bytes()); err != nil {
		return fmt.Errorf("write the logs file: %w", err)
	}
	return nil
}

// Pause ends the echo's stop-commands block, so the caller can print
// workflow commands; the next Write starts a new one.
func (r *runLog) Pause() error { return r.echo.Pause() }

// Close flushes a last line without newline, ends the echo block and closes
// the file. It is safe to call more than once.
func (r *runLog) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	r.out.Reset()
	if len(r.pending) > 0 {
		r.line(r.pending, false)
		r.pending = nil
	}
	eerr := r.emit()
	if r.file == nil {
		return errors.Join(eerr, r.echo.Pause())
	}
	var ferr error
	if err := r.file.Flush(); err != nil {
		ferr = fmt.Errorf("write the logs file: %w", err)
	}
	return errors.Join(eerr, r.echo.Pause(), ferr, r.osFile.Close())
}

// Path is the logs file's path as the job's later steps see it: the value
// of the logs-file output; "" when there is no file.
func (r *runLog) Path() string { return r.hostPath }

// Tail returns the last lines of the log, oldest first, redacted.
func (r *runLog) Tail() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, len(r.tail))
	out = append(out, r.tail[r.next:]...)
	return append(out, r.tail[:r.next]...)
}
