package server

import "sync"

// runEvents wakes the log streams of a run as soon as its log grows or its
// status changes, so that a line printed by a script reaches a client in
// milliseconds rather than at the next poll. Each run being watched has one
// channel that is closed on a change and replaced by a fresh one: a change
// costs one close whatever the number of watchers, nothing is queued, and a
// watcher that is busy when several changes come sees them as one wake-up
// (it then reads the log to its end, which covers them all).
//
// Runs nobody watches have no entry: a notification for them is a map
// lookup and nothing else.
type runEvents struct {
	mu   sync.Mutex
	runs map[string]*runWatch
}

// runWatch is the state of one watched run.
type runWatch struct {
	changed chan struct{} // closed and replaced on every change
	status  uint64        // counts status changes, so a watcher can tell them from log growth
	subs    int           // open subscriptions; the entry goes with the last one
}

func newRunEvents() *runEvents { return &runEvents{runs: map[string]*runWatch{}} }

// runSub is one watcher's subscription to a run's changes.
type runSub struct {
	ev    *runEvents
	runID string
	w     *runWatch
	once  sync.Once
}

// subscribe starts watching runID; the caller closes the subscription.
func (ev *runEvents) subscribe(runID string) *runSub {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	w := ev.runs[runID]
	if w == nil {
		w = &runWatch{changed: make(chan struct{})}
		ev.runs[runID] = w
	}
	w.subs++
	return &runSub{ev: ev, runID: runID, w: w}
}

// next returns the channel closed at the run's next change and the number
// of status changes so far. Take it before reading the log and the status:
// a change made after that read then closes the channel, so none is missed.
func (s *runSub) next() (<-chan struct{}, uint64) {
	s.ev.mu.Lock()
	defer s.ev.mu.Unlock()
	return s.w.changed, s.w.status
}

// close ends the subscription; it may be called more than once.
func (s *runSub) close() {
	s.once.Do(func() {
		s.ev.mu.Lock()
		defer s.ev.mu.Unlock()
		s.w.subs--
		if s.w.subs == 0 {
			delete(s.ev.runs, s.runID)
		}
	})
}

// logAppended tells the watchers of runID that its log grew.
func (ev *runEvents) logAppended(runID string) { ev.notify(runID, false) }

// statusChanged tells the watchers of runID that its status changed.
func (ev *runEvents) statusChanged(runID string) { ev.notify(runID, true) }

func (ev *runEvents) notify(runID string, status bool) {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	w := ev.runs[runID]
	if w == nil {
		return
	}
	if status {
		w.status++
	}
	close(w.changed)
	w.changed = make(chan struct{})
}
