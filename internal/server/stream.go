package server

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/dlthub/runtime-action/internal/api"
)

// keepAliveEvery is how often an idle stream sends a comment, so that
// proxies do not close it.
const keepAliveEvery = 15 * time.Second

// streamRunLogs is the log stream extension: server-sent events, "log" with
// the text since the last one (id: the byte offset after it) and "status"
// whenever the run's status changes. It ends once the run is terminal and
// its whole log was sent. Last-Event-ID (or ?offset=) resumes after a
// reconnect. The text and the offsets are those of the log text
// (logtext.go), as in the logs answer. SSE cannot carry a lone carriage
// return: it is sent as a line break (one byte for one).
func (s *Server) streamRunLogs(w http.ResponseWriter, r *http.Request) error {
	run, err := s.runOf(r)
	if err != nil {
		return err
	}
	offset, err := streamOffset(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	_ = sendHead(w)
	// Each write has its own deadline: a client that stops reading is
	// dropped, one that reads keeps the stream for hours.
	dw := s.extendWrites(w)
	bw := bufio.NewWriterSize(dw, 16<<10)
	s.longAnswers.Add(1)
	defer s.longAnswers.Add(-1)

	shutdown, _ := ctx.Value(shutdownKey{}).(<-chan struct{}) // nil: never
	// The executor and the dispatcher wake the stream on every append to
	// the log and every status change; the poll only catches changes made
	// where nobody notifies (another process writing the data dir, say).
	sub := s.events.subscribe(run.ID)
	defer sub.close()
	tick := time.NewTicker(s.cfg.LogPollInterval)
	defer tick.Stop()
	cur := newLogCursor(s.logPath(run.ID))
	var last api.RunStatus
	var seenStatus uint64
	readStatus := true
	lastWrite := time.Now()
	for {
		changed, statusCount := sub.next()
		if statusCount != seenStatus {
			seenStatus, readStatus = statusCount, true
		}
		wrote := false
		// The status is read before the log: once it is terminal, the
		// log read after it is complete.
		if readStatus {
			cur, err := s.dir.store.Run(ctx, run.ID)
			if err != nil {
				if ctx.Err() == nil {
					s.log.Error("stream run logs", "run", run.ID, "error", err)
				}
				return nil // the answer has started: the client sees the stream end
			}
			readStatus = false
			if cur.Status != last {
				last = cur.Status
				fmt.Fprintf(bw, "event: %s\ndata: %s\n\n", api.EventStatus, last)
				wrote = true
			}
		}
		// Once the status is terminal, the log is complete: what the
		// cursor held back (an incomplete UTF-8 sequence, a last CR)
		// goes out too.
		err := cur.next(last.Terminal(), offset, func(text []byte, end int64) error {
			wrote = true
			return writeLogEvent(bw, text, end)
		})
		if err != nil {
			if !isWriteError(bw, err) {
				s.log.Error("stream run logs", "run", run.ID, "error", err)
			}
			return nil
		}
		if !wrote && time.Since(lastWrite) >= keepAliveEvery {
			io.WriteString(bw, ": keep-alive\n\n")
			wrote = true
		}
		if wrote {
			lastWrite = time.Now()
			if err := errors.Join(bw.Flush(), dw.flush()); err != nil {
				return nil // the client is gone
			}
		}
		if last.Terminal() {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-shutdown:
			return nil
		case <-changed:
		case <-tick.C:
			readStatus = true
		}
	}
}

func streamOffset(r *http.Request) (int64, error) {
	name, v := "Last-Event-ID", r.Header.Get("Last-Event-ID")
	if v == "" {
		name, v = "query parameter \"offset\"", r.URL.Query().Get("offset")
	}
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, badRequest("%s: expected a byte offset (an integer of 0 or more), got %q", name, v)
	}
	return n, nil
}

// writeLogEvent writes a "log" event of chunk, ending at offset, one data
// line per line. A CRLF of the log file is an LF of the log text
// (logtext.go); a CR left is a line break to SSE: one byte for one, the
// offsets hold.
func writeLogEvent(w *bufio.Writer, chunk []byte, offset int64) error {
	fmt.Fprintf(w, "event: %s\nid: %d\n", api.EventLog, offset)
	for {
		i := bytes.IndexAny(chunk, "\r\n")
		w.WriteString("data: ")
		if i < 0 {
			w.Write(chunk)
			break
		}
		w.Write(chunk[:i])
		w.WriteByte('\n')
		chunk = chunk[i+1:]
	}
	_, err := w.WriteString("\n\n")
	return err
}

// isWriteError tells whether err came from writing to the client (gone or
// too slow), which is no fault of the server's.
func isWriteError(w *bufio.Writer, err error) bool {
	_, werr := w.Write(nil)
	return werr != nil && errors.Is(err, werr)
}
