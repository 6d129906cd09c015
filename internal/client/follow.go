package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/dlthub/runtime-action/internal/api"
)

// FollowHandler receives what Follow sees. Both funcs may be nil; they are
// called from Follow's goroutine, one at a time.
type FollowHandler struct {
	// OnLog gets each new piece of log text, once, in order.
	OnLog func(text string)
	// OnStatus gets the run when its status is first known and whenever it
	// changes; the run is the handler's to keep.
	OnStatus func(run *api.DetailedRun)
}

// errNoStream means the server offers no log stream: poll instead.
var errNoStream = errors.New("the server offers no log stream")

// follower is the state of one Follow call.
type follower struct {
	c         *Client
	ws, runID string
	h         FollowHandler
	run       *api.DetailedRun
	// reported is the last status given to OnStatus.
	reported api.RunStatus
	// offset counts the log bytes delivered to OnLog.
	offset int64
	// lastID is the id of the last stream event, sent back as Last-Event-ID.
	lastID string
}

// Follow follows a run until it ends, giving its log text and status
// changes to h, and returns the run in its terminal state (or, with the
// context's error, as last seen). It reads the log stream extension and
// resumes it after a dropped connection without repeating or losing text; a
// server without the stream (404 or 405) is polled every PollInterval
// instead. After the run ends the whole log is read once more, so that text
// the stream did not carry is still delivered.
func (c *Client) Follow(ctx context.Context, ws, runID string, h FollowHandler) (*api.DetailedRun, error) {
	run, err := c.GetRun(ctx, ws, runID)
	if err != nil {
		return nil, err
	}
	f := &follower{c: c, ws: ws, runID: runID, h: h}
	f.setRun(run)
	if !run.Status.Terminal() {
		err := f.stream(ctx)
		if errors.Is(err, errNoStream) {
			err = f.poll(ctx)
		}
		if err != nil {
			return f.run, err
		}
	}
	return f.finish(ctx)
}

func (f *follower) setRun(r *api.DetailedRun) {
	cp := *r
	f.run = &cp
	if cp.Status != f.reported {
		f.reported = cp.Status
		if f.h.OnStatus != nil {
			mine := cp
			f.h.OnStatus(&mine)
		}
	}
}

func (f *follower) deliver(text string) {
	if text != "" && f.h.OnLog != nil {
		f.h.OnLog(text)
	}
}

// deliverWhole takes the whole log so far and delivers what is new in it.
func (f *follower) deliverWhole(log *string) {
	if log != nil && int64(len(*log)) > f.offset {
		f.deliver((*log)[f.offset:])
		f.offset = int64(len(*log))
	}
}

func (f *follower) finish(ctx context.Context) (*api.DetailedRun, error) {
	lr, err := f.c.Logs(ctx, f.ws, f.runID)
	if err != nil {
		return f.run, fmt.Errorf("read the end of the log: %w", err)
	}
	f.deliverWhole(lr.Logs)
	f.setRun(&lr.Run)
	return f.run, nil
}

func (f *follower) poll(ctx context.Context) error {
	for {
		lr, err := f.c.Logs(ctx, f.ws, f.runID)
		if err != nil {
			return err
		}
		f.deliverWhole(lr.Logs)
		f.setRun(&lr.Run)
		if f.run.Status.Terminal() {
			return nil
		}
		if err := f.c.sleep(ctx, f.c.pollInterval); err != nil {
			return err
		}
	}
}

// stream reads the log stream, reconnecting after drops, until the run is
// terminal. It gives up on the stream (errNoStream, so Follow polls) when
// the server has none or when reconnects keep bringing nothing.
func (f *follower) stream(ctx context.Context) error {
	failures := 0
	for {
		offset, status := f.offset, f.reported
		fatal, err := f.streamOnce(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, errNoStream) || fatal {
			return err
		}
		if f.run.Status.Terminal() {
			return nil
		}
		if err == nil {
			// The stream ended without a terminal status: a proxy closed it,
			// or the server does not announce the end. Ask.
			run, err := f.c.GetRun(ctx, f.ws, f.runID)
			if err != nil {
				return err
			}
			f.setRun(run)
			if run.Status.Terminal() {
				return nil
			}
		}
		if f.offset != offset || f.reported != status {
			failures = 0
			continue
		}
		failures++
		if failures >= f.c.retry.MaxAttempts {
			f.c.logf("log stream of run %s brings nothing (%v); polling instead", f.runID, err)
			return errNoStream
		}
		wait := f.c.backoff(failures, outcome{})
		if err := f.c.sleep(ctx, wait); err != nil {
			return err
		}
	}
}

// streamOnce reads one connection of the log stream. It returns nil when
// the stream ended cleanly, errNoStream, or an error that is fatal (an
// answer such as 401 that another attempt will not change) or not.
func (f *follower) streamOnce(ctx context.Context) (fatal bool, err error) {
	c := f.c
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	idle := time.AfterFunc(c.streamIdle, cancel)
	defer idle.Stop()
	q := url.Values{}
	if f.offset > 0 {
		q.Set("offset", strconv.FormatInt(f.offset, 10))
	}
	cl := &call{ep: &c.api, method: http.MethodGet, path: pathOf("v1", "workspaces", f.ws, "runs", f.runID, "logs", "stream"),
		query: q, accept: "text/event-stream", withToken: true}
	req, err := c.newRequest(sctx, cl)
	if err != nil {
		return true, fmt.Errorf("%s %s: %w", cl.method, cl.path.escaped, err)
	}
	if f.lastID != "" {
		req.Header.Set("Last-Event-ID", f.lastID)
	}
	req.Header.Set("Cache-Control", "no-cache")
	resp, err := c.hc.Do(req)
	if err != nil {
		return false, c.transportOutcome(ctx, sctx, cl, err, true, c.streamIdle).err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusMethodNotAllowed {
		return false, errNoStream
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		e := c.errorFrom(cl, resp, body)
		switch resp.StatusCode {
		case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			return false, e
		}
		return true, e
	}
	if mt := mediaType(resp.Header); mt != "text/event-stream" {
		c.logf("%s %s: answered %s, not an event stream; polling instead", cl.method, cl.path.escaped, mt)
		return false, errNoStream
	}
	r := newSSEReader(resp.Body, func() { idle.Reset(c.streamIdle) })
	for {
		ev, err := r.next()
		if errors.Is(err, io.EOF) {
			return false, nil
		}
		if err != nil {
			return false, c.transportOutcome(ctx, sctx, cl, err, true, c.streamIdle).err
		}
		if err := f.handle(ctx, ev); err != nil {
			return false, err
		}
	}
}

func (f *follower) handle(ctx context.Context, ev sseEvent) error {
	switch ev.name {
	case api.EventLog:
		return f.handleLog(ctx, ev)
	case api.EventStatus:
		f.handleStatus(ev.data)
	}
	return nil
}

// handleLog delivers a log chunk. The id is the byte offset after the chunk,
// which tells repeated text (a server that resent from an earlier offset)
// and missing text (one that skipped ahead) from new text.
func (f *follower) handleLog(ctx context.Context, ev sseEvent) error {
	text := ev.data
	if ev.hasID {
		f.lastID = ev.id
	}
	end, err := strconv.ParseInt(ev.id, 10, 64)
	if !ev.hasID || err != nil || end < 0 {
		f.deliver(text)
		f.offset += int64(len(text))
		return nil
	}
	start := end - int64(len(text))
	switch {
	case end <= f.offset:
		return nil
	case start < f.offset:
		text = text[f.offset-start:]
	case start > f.offset:
		// Text went missing between the chunks; the whole log has it.
		lr, err := f.c.Logs(ctx, f.ws, f.runID)
		if err != nil {
			return fmt.Errorf("fill a gap in the log stream: %w", err)
		}
		if lr.Logs != nil && int64(len(*lr.Logs)) >= start {
			f.deliver((*lr.Logs)[f.offset:start])
		}
	}
	f.deliver(text)
	f.offset = end
	return nil
}

// handleStatus takes a status event: the bare status, or the run as JSON.
func (f *follower) handleStatus(data string) {
	data = strings.TrimSpace(data)
	next := *f.run
	if strings.HasPrefix(data, "{") {
		var r api.DetailedRun
		if err := json.Unmarshal([]byte(data), &r); err != nil || !r.Status.Valid() {
			f.c.logf("run %s: status event is not a run: ignored", f.runID)
			return
		}
		if r.ID == "" {
			next.Status = r.Status
		} else {
			if r.Script.ID == "" {
				r.Script = f.run.Script
			}
			next = r
		}
	} else {
		s := api.RunStatus(strings.Trim(data, `"`))
		if !s.Valid() {
			f.c.logf("run %s: status event %q is not a run status: ignored", f.runID, data)
			return
		}
		next.Status = s
	}
	f.setRun(&next)
}
