package server

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"unicode/utf8"
)

// A run's log file holds what its process printed, byte for byte: possibly
// invalid UTF-8 and CRLF line ends. Both log endpoints serve the same text
// made from it, the log text: every byte that is not part of valid UTF-8
// becomes U+FFFD (as a JSON encoder would make it) and CRLF becomes LF (a
// server-sent event cannot carry a CR). The offsets of the stream count
// bytes of the log text, so a client that counts what it received, from
// either endpoint, counts the same bytes as the server.

// logText turns log file bytes into log text, a piece at a time. What may
// still change meaning with the next byte (an incomplete UTF-8 sequence, a
// CR that may start a CRLF) is held back until it comes or the log ends.
type logText struct {
	pending []byte
	out     []byte
}

// feed returns the log text of pending+p; final says the log ends after p.
// The result is valid until the next call.
func (l *logText) feed(p []byte, final bool) []byte {
	buf := p
	if len(l.pending) > 0 {
		buf = append(l.pending, p...)
	}
	out := l.out[:0]
	i := 0
	for i < len(buf) {
		c := buf[i]
		if c < utf8.RuneSelf {
			if c == '\r' {
				if i+1 == len(buf) && !final {
					break
				}
				if i+1 < len(buf) && buf[i+1] == '\n' {
					i++ // the LF comes next
					continue
				}
			}
			out = append(out, c)
			i++
			continue
		}
		if !final && !utf8.FullRune(buf[i:]) {
			break
		}
		r, n := utf8.DecodeRune(buf[i:])
		if r == utf8.RuneError && n == 1 {
			out = utf8.AppendRune(out, utf8.RuneError)
		} else {
			out = append(out, buf[i:i+n]...)
		}
		i += n
	}
	// buf may share memory with pending: copy moves the tail safely.
	rest := append(l.pending[:0:0], buf[i:]...)
	l.pending = rest
	l.out = out
	return out
}

// logReadSize is how much of a log file is read at a time: each reader
// of a log holds a few buffers of it, and a server may have hundreds.
const logReadSize = 32 << 10

// logCursor reads a run's log file as log text from a position on.
type logCursor struct {
	path string
	// file is the offset in the file read up to, text the offset in the
	// log text made up to.
	file, text int64
	conv       logText
	buf        []byte
}

func newLogCursor(path string) *logCursor {
	return &logCursor{path: path, buf: make([]byte, logReadSize)}
}

// next calls emit with the log text the file holds past the cursor, in
// pieces, each with the text offset after it; final says the log is
// complete (its run is terminal). skip bytes of text at the start are read
// but not emitted (resuming at a text offset).
func (c *logCursor) next(final bool, skip int64, emit func(text []byte, end int64) error) error {
	f, err := os.Open(c.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("open run log: %w", err)
	}
	defer f.Close()
	for {
		n, err := f.ReadAt(c.buf, c.file)
		if err != nil && err != io.EOF {
			return fmt.Errorf("read run log: %w", err)
		}
		c.file += int64(n)
		end := err == io.EOF || n < len(c.buf)
		text := c.conv.feed(c.buf[:n], end && final)
		start := c.text
		c.text += int64(len(text))
		if drop := skip - start; drop > 0 {
			text = text[min(drop, int64(len(text))):]
		}
		if len(text) > 0 {
			if err := emit(text, c.text); err != nil {
				return err
			}
		}
		if end {
			return nil
		}
	}
}

// jsonStringWriter writes text as the inside of a JSON string, escaped as
// encoding/json escapes strings (HTML characters included), so that a log
// is written to the answer piece by piece instead of marshalled whole.
type jsonStringWriter struct {
	w *bufio.Writer
}

// write escapes text, which is valid UTF-8 (log text is), and writes it.
func (j *jsonStringWriter) write(text []byte) error {
	const hex = "0123456789abcdef"
	w := j.w
	start := 0
	for i := 0; i < len(text); {
		c := text[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			w.Write(text[start:i])
			switch c {
			case '"', '\\':
				w.Write([]byte{'\\', c})
			case '\n':
				w.WriteString(`\n`)
			case '\r':
				w.WriteString(`\r`)
			case '\t':
				w.WriteString(`\t`)
			case '\b':
				w.WriteString(`\b`)
			case '\f':
				w.WriteString(`\f`)
			default:
				w.Write([]byte{'\\', 'u', '0', '0', hex[c>>4], hex[c&0xf]})
			}
			i++
			start = i
			continue
		}
		r, n := utf8.DecodeRune(text[i:])
		if r == '\u2028' || r == '\u2029' {
			w.Write(text[start:i])
			w.Write([]byte{'\\', 'u', '2', '0', '2', hex[r&0xf]})
			start = i + n
		}
		i += n
	}
	_, err := w.Write(text[start:])
	return err
}
