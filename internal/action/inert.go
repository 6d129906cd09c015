package action

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/sethvargo/go-githubactions"
)

// safeWriter is the edge between the Action and the job log: everything the
// Action prints through go-githubactions goes through it, so that a string
// from the Runtime (an email, a workspace or script name, an error's
// details, a URL) cannot issue a workflow command, whichever message it is
// printed in.
//
// The runner reads the job log line by line (a line ends at \n or \r) and
// takes a line as a command when, after leading white space, it starts with
// "::", or when it holds a legacy "##[" command anywhere. SafeWriter
//   - shows control characters other than \n and \t as escapes (\r, \x1b),
//     so a value can neither start a line nor rewrite the terminal;
//   - lets a command through only as the first line of a write, as
//     go-githubactions issues them (one write per command, its data already
//     escaped), and only the commands the Action issues;
//   - puts every other line that the runner would take as a command inside a
//     `::stop-commands::TOKEN` ... `::TOKEN::` block with a fresh random
//     token, so it is printed as it is and stays inert.
//
// A value printed in the middle of an info line thus stays text, and so does
// a value that is a whole line of a multi-line message.
type safeWriter struct {
	mu      sync.Mutex
	w       io.Writer
	midLine bool // the last write did not end with a newline
}

// newSafeWriter returns a SafeWriter printing to w (the process's stdout).
func newSafeWriter(w io.Writer) *safeWriter { return &safeWriter{w: w} }

// ownCommand matches the commands the Action issues: go-githubactions
// escapes ':' in properties and newlines in the data, so the line is the
// whole command.
var ownCommand = regexp.MustCompile(`^::(group|endgroup|add-mask|error|warning|notice|debug)( [^:]*)?::`)

// Write prints p, neutralised as the type's comment says. It reports len(p)
// written when the neutralised text was written whole.
func (s *safeWriter) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	token := ""
	lines := strings.SplitAfter(string(p), "\n")
	for i, line := range lines {
		if line == "" {
			continue
		}
		atStart := i > 0 || !s.midLine
		trusted := i == 0 && atStart && ownCommand.MatchString(line) && !strings.Contains(line, "\r")
		// A mask is kept byte for byte: escaping would mask other text.
		if !trusted || !strings.HasPrefix(line, "::add-mask::") {
			line = escapeControls(line)
		}
		body := strings.TrimSuffix(line, "\n")
		if token == "" && !trusted && commandLike(body, atStart) {
			t, err := stopToken()
			if err != nil {
				return 0, err
			}
			token = t
			b.WriteString("::stop-commands::" + token + "\n")
		}
		b.WriteString(line)
	}
	end := p[len(p)-1] == '\n'
	if token != "" {
		if !end {
			b.WriteByte('\n')
		}
		b.WriteString("::" + token + "::\n")
		end = true
	}
	s.midLine = !end
	if _, err := io.WriteString(s.w, b.String()); err != nil {
		return 0, err
	}
	return len(p), nil
}

// commandLike reports whether the runner could take line as a command.
func commandLike(line string, atStart bool) bool {
	if strings.Contains(line, "##[") {
		return true
	}
	return atStart && strings.HasPrefix(strings.TrimLeftFunc(line, unicode.IsSpace), "::")
}

func stopToken() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("make a stop-commands token: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// escapeControls shows the control characters of s, except newline and
// tab, as Go escapes; invalid UTF-8 is shown byte by byte.
func escapeControls(s string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 0x20 && c != '\n' && c != '\t') || c == 0x7f || c >= 0x80 {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b bytes.Buffer
	for len(s) > 0 {
		r, n := utf8.DecodeRuneInString(s)
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02x`, s[0])
		case r == '\n' || r == '\t':
			b.WriteRune(r)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			fmt.Fprintf(&b, `\x%02x`, r)
		case r == '\u2028' || r == '\u2029':
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[:n])
		}
		s = s[n:]
	}
	return b.String()
}

// newStepAction is how the main and post steps make their Action: printing
// through a SafeWriter, and with the file commands' paths as this process
// sees them (see ContainerGetenv).
func newStepAction(env Env) *githubactions.Action {
	return githubactions.New(
		githubactions.WithWriter(newSafeWriter(env.Stdout)),
		githubactions.WithGetenv(containerGetenv(env.Getenv, readMountInfo)),
	)
}
