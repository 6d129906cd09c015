package client

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/dlthub/runtime-action/internal/api"
)

// runMark is what the client knew about a script's runs before it asked for
// a new one. Run numbers and the server's own timestamps tell which runs are
// newer, so the client's clock does not matter.
type runMark struct {
	exists    bool
	id        string
	number    int
	dateAdded time.Time
}

func (m runMark) isOlderThan(r *api.DetailedRun) bool {
	if !m.exists {
		return true
	}
	if r.ID == m.id {
		return false
	}
	if m.number > 0 && r.Number > 0 {
		return r.Number > m.number
	}
	return r.DateAdded.After(m.dateAdded)
}

// lookBack is how many of a script's newest runs are searched for one the
// client started but never heard back about.
const lookBack = 50

// CreateRun starts a manual run of a script. scriptID is the script's id,
// used to find the run should the answer get lost; when empty it is looked
// up from req.ScriptIDOrName.
//
// Starting a run is not idempotent, so the request is never blindly
// repeated. It is sent again at once only when it never reached the server
// (connection refused) or the server said 429. After an ambiguous failure
// (connection cut after sending, no answer in time, 502, 503, 504) the
// client looks for a run of the script newer than the newest it knew before
// the first attempt and returns that; only when there is none does it post
// again.
func (c *Client) CreateRun(ctx context.Context, ws string, req api.CreateRunRequest, scriptID string) (*api.Run, error) {
	if err := firstErr(need("workspace id", ws), need("script id or name", req.ScriptIDOrName)); err != nil {
		return nil, fmt.Errorf("start run: %w", err)
	}
	name := req.ScriptIDOrName
	if scriptID == "" {
		s, err := c.GetScript(ctx, ws, name)
		if err != nil {
			return nil, fmt.Errorf("find script %q: %w", name, err)
		}
		scriptID = s.ID
	}
	before, err := c.LatestRun(ctx, ws, scriptID)
	if err != nil {
		return nil, fmt.Errorf("look up the latest run of script %q: %w", name, err)
	}
	var mark runMark
	if before != nil {
		mark = runMark{exists: true, id: before.ID, number: before.Number, dateAdded: before.DateAdded.Time}
	}
	body, err := jsonBody(req)
	if err != nil {
		return nil, err
	}
	cl := &call{ep: &c.api, method: http.MethodPost, path: pathOf("v1", "workspaces", ws, "runs"), body: body,
		contentType: "application/json", withToken: true, retry: retryUnsent}
	for attempt := 1; ; attempt++ {
		cl.attempts = attempt
		var out api.Run
		o := c.once(ctx, cl, &out, func() error { return checkRun(&out) })
		if o.err == nil {
			return &out, nil
		}
		if ctx.Err() != nil || !o.transient {
			return nil, o.err
		}
		ambiguous := o.sent && o.status != http.StatusTooManyRequests
		if !ambiguous && attempt >= c.retry.MaxAttempts {
			return nil, gaveUp(o.err, attempt)
		}
		wait := c.backoff(attempt, o)
		if ambiguous {
			// Give a slow server time to finish what it may have started.
			wait = max(wait, c.retry.Base)
		}
		c.logf("%s %s: %v; retrying in %s", cl.method, cl.path.escaped, o.err, wait.Round(time.Millisecond))
		if err := c.sleep(ctx, wait); err != nil {
			return nil, fmt.Errorf("%s %s: %w (while waiting to retry after: %v)", cl.method, cl.path.escaped, err, o.err)
		}
		if !ambiguous {
			continue
		}
		run, err := c.findStartedRun(ctx, ws, scriptID, req, mark)
		if err != nil {
			return nil, fmt.Errorf("the answer to %s %s was lost (%v) and asking whether the run started failed: %w; look at the latest runs of script %q before starting it again", cl.method, cl.path.escaped, o.err, err, name)
		}
		if run != nil {
			c.logf("%s %s: the answer was lost; run #%d of script %q had been started", cl.method, cl.path.escaped, run.Number, name)
			return &run.Run, nil
		}
		if attempt >= c.retry.MaxAttempts {
			return nil, gaveUp(o.err, attempt)
		}
	}
}

// findStartedRun returns the oldest manual run of the script newer than
// mark and matching the request's profile, or nil.
func (c *Client) findStartedRun(ctx context.Context, ws, scriptID string, req api.CreateRunRequest, mark runMark) (*api.DetailedRun, error) {
	page, err := c.ListRuns(ctx, ws, ListRunsOptions{ScriptID: scriptID, Limit: lookBack})
	if err != nil {
		return nil, err
	}
	var found *api.DetailedRun
	// Newest first: the last match is the first run started after mark.
	for i := range page.Items {
		r := &page.Items[i]
		if r.Script.ID != "" && r.Script.ID != scriptID {
			continue
		}
		if r.Trigger != api.TriggerManual || !mark.isOlderThan(r) {
			continue
		}
		if req.Profile != nil && (r.Profile == nil || *r.Profile != *req.Profile) {
			continue
		}
		found = r
	}
	return found, nil
}
