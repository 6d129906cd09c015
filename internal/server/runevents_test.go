package server

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dlthub/runtime-action/internal/api"
)

func closed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

func TestRunEvents(t *testing.T) {
	t.Parallel()
	ev := newRunEvents()
	ev.logAppended("nobody-watches") // no entry is made for it
	if len(ev.runs) != 0 {
		t.Fatalf("entries for unwatched runs: %v", ev.runs)
	}

	a, b := ev.subscribe("r1"), ev.subscribe("r1")
	other := ev.subscribe("r2")
	ca, sa := a.next()
	cb, _ := b.next()
	co, _ := other.next()
	if closed(ca) || closed(cb) {
		t.Fatal("changed before any change")
	}
	ev.logAppended("r1")
	if !closed(ca) || !closed(cb) || closed(co) {
		t.Fatal("a log append did not wake exactly the watchers of its run")
	}
	ca2, sa2 := a.next()
	if closed(ca2) || sa2 != sa {
		t.Fatalf("after a log append: fresh channel closed %v, status count %d -> %d", closed(ca2), sa, sa2)
	}
	// Changes while a watcher is busy add up to one wake-up, nothing queued.
	ev.statusChanged("r1")
	ev.logAppended("r1")
	ev.statusChanged("r1")
	if _, s := a.next(); !closed(ca2) || s != sa+2 {
		t.Fatalf("status count %d, want %d", s, sa+2)
	}

	a.close()
	a.close() // twice is harmless
	if _, ok := ev.runs["r1"]; !ok {
		t.Fatal("the entry went while b still watches")
	}
	b.close()
	other.close()
	if len(ev.runs) != 0 {
		t.Fatalf("entries left after every subscription closed: %v", ev.runs)
	}
}

// TestLogStreamWithoutPolling: with the poll as good as off, a stream still
// gets every line as it is printed and the end of the run, because the
// executor and the dispatcher wake it.
func TestLogStreamWithoutPolling(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.LogPollInterval = time.Hour })
	e.deploy(t, map[string]string{"lines.py": "import time\nfor i in range(20):\n    print('line', i, flush=True)\n    time.sleep(0.02)\n"}, "lines.py")
	run := e.startRun(t, "lines.py")
	done := make(chan []sse, 1)
	go func() { done <- readEvents(t, e, e.wsPath("/runs/", run.ID, "/logs/stream"), "") }()
	var events []sse
	select {
	case events = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the stream did not end with the run")
	}
	var text strings.Builder
	var statuses []string
	logEvents := 0
	for _, ev := range events {
		switch ev.event {
		case api.EventLog:
			text.WriteString(ev.data)
			logEvents++
		case api.EventStatus:
			statuses = append(statuses, ev.data)
		}
	}
	var want strings.Builder
	for i := range 20 {
		want.WriteString("line " + strconv.Itoa(i) + "\n")
	}
	if text.String() != want.String() {
		t.Errorf("streamed %q, want %q", text.String(), want.String())
	}
	// Lines 20 ms apart come as they are printed, not in a batch at the end:
	// without the wake-ups, the poll being off, the whole log would come in
	// one or two events. (Not 20: a busy machine may join a few lines.)
	if logEvents < 5 {
		t.Errorf("%d log events for 20 lines printed 20 ms apart", logEvents)
	}
	if len(statuses) == 0 || statuses[len(statuses)-1] != string(api.StatusCompleted) {
		t.Errorf("statuses %v", statuses)
	}
}

// TestLogStreamCancelledPending: cancelling a pending run ends its stream at
// once, without waiting for a poll.
func TestLogStreamCancelledPending(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) {
		c.LogPollInterval = time.Hour
		c.MaxConcurrentRuns = 1
		c.CancelGrace = 200 * time.Millisecond
	})
	e.deploy(t, map[string]string{"sleep.py": "import time\nprint('up', flush=True)\ntime.sleep(60)\n"}, "sleep.py")
	first := e.startRun(t, "sleep.py")
	e.waitRun(t, first.ID, 10*time.Second, func(s api.RunStatus) bool { return s == api.StatusRunning })
	second := e.startRun(t, "sleep.py")
	done := make(chan []sse, 1)
	go func() { done <- readEvents(t, e, e.wsPath("/runs/", second.ID, "/logs/stream"), "") }()
	waitWatched(t, e.srv.events, second.ID) // the stream waits for a change
	e.postJSON(t, e.wsPath("/runs/", second.ID, "/cancel"), "{}")
	select {
	case events := <-done:
		if last := events[len(events)-1]; last.event != api.EventStatus || last.data != string(api.StatusCancelled) {
			t.Errorf("last event %+v", last)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the stream of the cancelled run did not end")
	}
	e.postJSON(t, e.wsPath("/runs/", first.ID, "/cancel"), "{}")
	e.waitRun(t, first.ID, 10*time.Second, terminal)
}

// waitWatched waits until a log stream has subscribed to runID's changes.
func waitWatched(t *testing.T, ev *runEvents, runID string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ev.mu.Lock()
		w := ev.runs[runID]
		ev.mu.Unlock()
		if w != nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no stream of run %s subscribed within 10s", runID)
		}
		time.Sleep(time.Millisecond) // poll interval of the wait
	}
}
