package server

import (
	"bufio"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dlthub/runtime-action/internal/api"
)

// sse is one server-sent event.
type sse struct {
	event, id, data string
}

// readEvents reads a whole event stream, as an SSE client does.
func readEvents(t *testing.T, e *testEnv, path, lastID string) []sse {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.url+path, nil)
	req.Header.Set("Authorization", "Bearer "+e.token)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	var out []sse
	var cur sse
	var data []string
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if cur.event != "" {
				cur.data = strings.Join(data, "\n")
				out = append(out, cur)
			}
			cur, data = sse{}, nil
		case strings.HasPrefix(line, ":"):
		case strings.HasPrefix(line, "event: "):
			cur.event = line[len("event: "):]
		case strings.HasPrefix(line, "id: "):
			cur.id = line[len("id: "):]
		case strings.HasPrefix(line, "data: "):
			data = append(data, line[len("data: "):])
		}
	}
	return out
}

func TestLogStream(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.LogPollInterval = 10 * time.Millisecond })
	e.deploy(t, map[string]string{"slow.py": "import time\nfor i in range(5):\n    print('line', i, 'é', flush=True)\n    time.sleep(0.05)\nprint('no newline', end='')\n"}, "slow.py")
	run := e.startRun(t, "slow.py")
	events := readEvents(t, e, e.wsPath("/runs/", run.ID, "/logs/stream"), "")
	var text strings.Builder
	var statuses []string
	lastID := 0
	for _, ev := range events {
		switch ev.event {
		case api.EventLog:
			text.WriteString(ev.data)
			id, err := strconv.Atoi(ev.id)
			if err != nil || id <= lastID {
				t.Errorf("log event id %q after %d", ev.id, lastID)
			}
			lastID = id
		case api.EventStatus:
			statuses = append(statuses, ev.data)
		}
	}
	var logs api.LogsResponse
	e.get(t, e.wsPath("/runs/", run.ID, "/logs")).decode(t, &logs)
	if text.String() != *logs.Logs || lastID != len(*logs.Logs) {
		t.Errorf("streamed %q (to %d), log is %q", text.String(), lastID, *logs.Logs)
	}
	if len(statuses) < 2 || statuses[len(statuses)-1] != "completed" {
		t.Errorf("statuses %v", statuses)
	}
	// resuming after the first log event repeats nothing and loses nothing
	var first sse
	for _, ev := range events {
		if ev.event == api.EventLog {
			first = ev
			break
		}
	}
	var rest strings.Builder
	for _, ev := range readEvents(t, e, e.wsPath("/runs/", run.ID, "/logs/stream"), first.id) {
		if ev.event == api.EventLog {
			rest.WriteString(ev.data)
		}
	}
	if first.data+rest.String() != *logs.Logs {
		t.Errorf("resumed: %q + %q, want %q", first.data, rest.String(), *logs.Logs)
	}
	for _, q := range []string{"?offset=-1", "?offset=x"} {
		if r := e.get(t, e.wsPath("/runs/", run.ID, "/logs/stream", q)); r.status != http.StatusBadRequest {
			t.Errorf("%s: %d", q, r.status)
		}
	}
	if r := e.get(t, e.wsPath("/runs/00000000-0000-0000-0000-000000000000/logs/stream")); r.status != http.StatusNotFound {
		t.Errorf("unknown run: %d", r.status)
	}
}
