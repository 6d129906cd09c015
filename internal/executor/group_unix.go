//go:build linux || darwin

package executor

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// stopGroup ends every process of the group pgid: SIGTERM, Grace to go, then
// SIGKILL, and returns once none is left. It returns at once when the group
// is already gone (the usual end of a run whose script exited). In a
// sandbox, SIGTERM goes to the processes inside it, not to bwrap (which
// would take them all down at once, with no grace): when the script's first
// process ends, bwrap ends, and with it every process left in the sandbox.
func (e *Executor) stopGroup(pgid int) {
	if groupGone(pgid, true) {
		return
	}
	if e.Sandbox != nil {
		termSandbox(pgid)
	} else {
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
	}
	deadline := time.Now().Add(e.Grace)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			break
		}
		time.Sleep(min(e.PollInterval, left))
		if groupGone(pgid, true) {
			return
		}
	}
	// The group may outlive its leader, and a member may fork while we
	// signal: signal again until nothing is left.
	for {
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		if groupGone(pgid, true) {
			return
		}
		time.Sleep(e.PollInterval)
	}
}

// member is one process of a process group, as /proc tells.
type member struct {
	pid, ppid int
	zombie    bool
}

// groupGone reports whether no live process is left in the group pgid.
// Zombies are dead (they only wait for their parent to reap them, and init
// may take seconds to), so they do not count. With reap, zombies of the group
// that are our own children (we are PID 1 or a subreaper, see
// BecomeSubreaper), other than the leader whom exec.Cmd reaps, are reaped.
func groupGone(pgid int, reap bool) bool {
	if err := syscall.Kill(-pgid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	ms, err := groupMembers(pgid)
	if err != nil {
		return false // cannot tell: keep going as if it were alive
	}
	self := os.Getpid()
	gone := true
	for _, m := range ms {
		if !m.zombie {
			gone = false
			continue
		}
		if reap && m.ppid == self && m.pid != pgid {
			var ws syscall.WaitStatus
			_, _ = syscall.Wait4(m.pid, &ws, syscall.WNOHANG, nil)
		}
	}
	return gone
}

// KillGroup SIGKILLs the process group pgid left by a previous server for
// run runID, and waits until no live process of it is left. It kills only
// when a live member of the group carries RUNTIME__RUN_ID=<runID> in its
// environment, so that a group id reused by an unrelated process is left
// alone (an error says so). It returns nil when nothing is left of the group.
func KillGroup(pgid int, runID string) error {
	const (
		poll    = 10 * time.Millisecond
		maxWait = 5 * time.Second
	)
	if pgid <= 1 {
		return fmt.Errorf("kill process group %d: not a process group id", pgid)
	}
	if runID == "" {
		return fmt.Errorf("kill process group %d: no run id to check it against", pgid)
	}
	if groupGone(pgid, false) {
		return nil
	}
	ms, err := groupMembers(pgid)
	if err != nil {
		return fmt.Errorf("kill process group %d: %w", pgid, err)
	}
	owned := false
	for _, m := range ms {
		if !m.zombie && hasEnv(m.pid, "RUNTIME__RUN_ID="+runID) {
			owned = true
			break
		}
	}
	if !owned {
		if groupGone(pgid, false) {
			return nil // it ended while we looked
		}
		return fmt.Errorf("kill process group %d: its processes do not belong to run %q (the id was reused): left alone", pgid, runID)
	}
	deadline := time.Now().Add(maxWait)
	for {
		if err := syscall.Kill(-pgid, syscall.SIGKILL); errors.Is(err, syscall.ESRCH) {
			return nil
		} else if err != nil {
			return fmt.Errorf("kill process group %d of run %q: %w", pgid, runID, err)
		}
		if groupGone(pgid, false) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("kill process group %d of run %q: processes still alive %s after SIGKILL", pgid, runID, maxWait)
		}
		time.Sleep(poll)
	}
}

// KillRun SIGKILLs every live process whose environment carries
// RUNTIME__RUN_ID=<runID>, whatever its process group, and waits until none
// is left (an error after 5s). KillGroup alone misses processes of a run a
// server left while the run was starting: bwrap's inner process sets its
// --die-with-parent only once the sandbox is set up, and leaves bwrap's
// process group (--new-session) just before; should bwrap die before that,
// it is orphaned, blocked for ever or running the script unsupervised,
// and no recorded process group reaches it (the group id may not even be
// recorded yet). Killing a sandbox's PID 1 takes the rest of it down.
func KillRun(runID string) error {
	const (
		poll    = 10 * time.Millisecond
		maxWait = 5 * time.Second
	)
	if runID == "" {
		return errors.New("kill processes of a run: no run id")
	}
	kv := "RUNTIME__RUN_ID=" + runID
	deadline := time.Now().Add(maxWait)
	for {
		pids, err := runProcesses(kv)
		if err != nil {
			return fmt.Errorf("kill processes of run %q: %w", runID, err)
		}
		if len(pids) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("kill processes of run %q: %v still alive %s after SIGKILL", runID, pids, maxWait)
		}
		for _, pid := range pids {
			killIfEnv(pid, kv)
		}
		time.Sleep(poll)
	}
}

// killIfEnv SIGKILLs process pid if it still carries kv: the check and the
// signal go through one handle on the process (a pidfd on Linux), so a pid
// reused meanwhile is not signalled.
func killIfEnv(pid int, kv string) {
	p, err := os.FindProcess(pid)
	if err != nil {
		return
	}
	defer p.Release()
	if hasEnv(pid, kv) {
		_ = p.Signal(syscall.SIGKILL)
	}
}

// errLocked is what tryLock returns when another holder has the lock.
var errLocked = errors.New("locked by another holder")

// tryLock takes an exclusive lock on f without waiting: errLocked when
// another holder has it.
func tryLock(f *os.File) error {
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) || errors.Is(err, syscall.EINTR) {
		return errLocked
	}
	return err
}

// unlock lets go of a lock tryLock took.
func unlock(f *os.File) { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }

// supported is nil where runs can be executed.
func supported() error { return nil }
