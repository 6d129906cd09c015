package executor

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// runLog is a run's log file. The process output goes in as it is read, with
// one write(2) per read (no user-space buffer), up to a cap; lines of the
// executor's own go in after it, past the cap. It is used by one goroutine at
// a time: the copier while the process runs, then Run.
type runLog struct {
	f         *os.File
	limit     int64 // most bytes of process output
	written   int64 // bytes of process output written
	truncated bool
	endsLine  bool      // the last byte written was a newline, or none was written
	err       error     // first write error: process output is dropped after it
	redact    *redactor // masks the run's secrets (nil: none); see redact.go
	onWrite   func()    // called after each write that appended something (nil: none)
}

func openLog(path string, limit int64) (*runLog, error) {
	if path == "" {
		return nil, errors.New("no log path given")
	}
	// 0600: scripts print more than they should, secrets included.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	return &runLog{f: f, limit: limit, endsLine: true}, nil
}

// copyFrom writes what r yields until r fails (EOF once every writer of the
// pipe is gone, or the read deadline). It always reads on, so a process never
// blocks on a full pipe, whatever happens to the log.
func (l *runLog) copyFrom(r io.Reader) {
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			l.output(buf[:n])
		}
		if err != nil {
			return
		}
	}
}

// output writes process output with its secrets masked, up to the cap.
func (l *runLog) output(p []byte) {
	if l.redact != nil {
		p = l.redact.feed(p, false)
	}
	l.capped(p)
}

// capped writes process output, up to the cap; past it, one marker line.
func (l *runLog) capped(p []byte) {
	if l.truncated || l.err != nil {
		return
	}
	if room := l.limit - l.written; int64(len(p)) > room {
		l.written += int64(l.write(p[:room]))
		l.write(fmt.Appendf(nil, "\n[log truncated: limit of %d bytes reached]\n", l.limit))
		l.truncated = true
		return
	}
	l.written += int64(l.write(p))
}

func (l *runLog) write(p []byte) int {
	if len(p) == 0 || l.err != nil {
		return 0
	}
	n, err := l.f.Write(p)
	if n > 0 {
		l.endsLine = p[n-1] == '\n'
		if l.onWrite != nil {
			l.onWrite()
		}
	}
	l.err = err
	return n
}

// line appends a line of the executor's own, on a line of its own even when
// the output did not end with a newline.
func (l *runLog) line(s string) {
	l.flushRedacted()
	b := make([]byte, 0, len(s)+2)
	if !l.endsLine {
		b = append(b, '\n')
	}
	b = append(b, s...)
	b = append(b, '\n')
	l.err = nil // a line of ours is worth another try
	l.write(b)
}

// close makes the log durable: the output went in with write(2) as it came,
// one fsync at the end is enough.
func (l *runLog) close() {
	l.flushRedacted()
	_ = l.f.Sync()
	_ = l.f.Close()
}
