package client

import (
	"bufio"
	"bytes"
	"io"
	"strings"
)

// sseEvent is one dispatched server-sent event.
type sseEvent struct {
	name string
	data string
	// id is the event's id field, hasID whether it had one.
	id    string
	hasID bool
}

// sseReader parses text/event-stream as the HTML standard says: lines end in
// CRLF, LF or CR; "field: value" with one optional space; data lines joined
// with "\n"; an event is dispatched on a blank line; comments start with ':'.
type sseReader struct {
	sc *bufio.Scanner
	// onLine is called for every line read, so that an idle timer can be reset.
	onLine func()
}

// maxSSELine bounds one line of the stream; a log line longer than this is
// a broken stream, not a log.
const maxSSELine = 16 << 20

func newSSEReader(r io.Reader, onLine func()) *sseReader {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxSSELine)
	sc.Split(scanSSELines)
	if onLine == nil {
		onLine = func() {}
	}
	return &sseReader{sc: sc, onLine: onLine}
}

func scanSSELines(data []byte, atEOF bool) (int, []byte, error) {
	if atEOF && len(data) == 0 {
		return 0, nil, nil
	}
	if i := bytes.IndexAny(data, "\r\n"); i >= 0 {
		if data[i] == '\n' {
			return i + 1, data[:i], nil
		}
		// A CR: part of CRLF, or a line end of its own.
		if i+1 < len(data) {
			if data[i+1] == '\n' {
				return i + 2, data[:i], nil
			}
			return i + 1, data[:i], nil
		}
		if atEOF {
			return i + 1, data[:i], nil
		}
		return 0, nil, nil // need one more byte to tell
	}
	if atEOF {
		// An unterminated last line is dropped with its event, as the
		// standard says: the event was cut off.
		return len(data), nil, nil
	}
	return 0, nil, nil
}

// next returns the next event; io.EOF when the stream ended cleanly, or the
// read error. An event cut off by the end of the stream is not returned.
func (r *sseReader) next() (sseEvent, error) {
	var ev sseEvent
	var data strings.Builder
	hasData := false
	for r.sc.Scan() {
		r.onLine()
		line := r.sc.Text()
		if line == "" {
			if !hasData && ev.name == "" && !ev.hasID {
				continue
			}
			ev.data = data.String()
			if ev.name == "" {
				ev.name = "message"
			}
			return ev, nil
		}
		if line[0] == ':' {
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "event":
			ev.name = value
		case "data":
			if hasData {
				data.WriteByte('\n')
			}
			data.WriteString(value)
			hasData = true
		case "id":
			if !strings.ContainsRune(value, 0) {
				ev.id, ev.hasID = value, true
			}
		}
	}
	if err := r.sc.Err(); err != nil {
		return sseEvent{}, err
	}
	return sseEvent{}, io.EOF
}
