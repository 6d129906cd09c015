package action

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"sync"
)

// logWriter echoes a run's log text to the job log between
// `::stop-commands::TOKEN` and `::TOKEN::`, with a fresh random token per
// block, so that nothing the script prints (`::add-mask::`, `::set-env::`,
// `::error::`...) is taken as a workflow command. Chunks need not end with a
// newline; the resume marker always starts a line of its own.
type logWriter struct {
	mu      sync.Mutex
	w       io.Writer
	token   string // of the open block; "" when none is open
	midLine bool   // the last byte written was not a newline
}

// newLogWriter returns a LogWriter printing to w (the Action's stdout).
func newLogWriter(w io.Writer) *logWriter { return &logWriter{w: w} }

// Write echoes p, opening a block first if none is open.
func (l *logWriter) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.token == "" {
		var b [16]byte
		if _, err := rand.Read(b[:]); err != nil {
			return 0, fmt.Errorf("make a stop-commands token: %w", err)
		}
		token := hex.EncodeToString(b[:])
		if _, err := io.WriteString(l.w, "::stop-commands::"+token+"\n"); err != nil {
			return 0, err
		}
		l.token = token
	}
	n, err := l.w.Write(p)
	if n > 0 {
		l.midLine = p[n-1] != '\n'
	}
	return n, err
}

// Pause closes the open block, if any, so that the Action can print
// workflow commands (a status line, a group) between chunks of the log. The
// next Write opens a new block.
func (l *logWriter) Pause() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.token == "" {
		return nil
	}
	var b bytes.Buffer
	if l.midLine {
		b.WriteByte('\n')
	}
	b.WriteString("::" + l.token + "::\n")
	l.token, l.midLine = "", false
	_, err := l.w.Write(b.Bytes())
	return err
}

// Close is Pause: the writer stays usable.
func (l *logWriter) Close() error { return l.Pause() }
