package executor

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"
	"unsafe"
)

// stopGroup ends every process of the group pgid: SIGTERM, Grace to go, then
// SIGKILL, and returns once none is left. It returns at once when the group
// is already gone (the usual end of a run whose script exited).
func (e *Executor) stopGroup(pgid int) {
	if groupGone(pgid, true) {
		return
	}
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
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

// groupMembers lists the processes whose process group is pgid.
func groupMembers(pgid int) ([]member, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	var ms []member
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // gone meanwhile
		}
		state, ppid, pgrp, ok := parseStat(b)
		if !ok || pgrp != pgid {
			continue
		}
		ms = append(ms, member{pid: pid, ppid: ppid, zombie: state == 'Z' || state == 'X'})
	}
	return ms, nil
}

// parseStat reads state, ppid and pgrp from /proc/<pid>/stat. The command
// name before them is in parentheses and may hold spaces and parentheses,
// hence the search for the last ')'.
func parseStat(b []byte) (state byte, ppid, pgrp int, ok bool) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, 0, false
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 3 || len(f[0]) != 1 {
		return 0, 0, 0, false
	}
	ppid, err1 := strconv.Atoi(string(f[1]))
	pgrp, err2 := strconv.Atoi(string(f[2]))
	if err1 != nil || err2 != nil {
		return 0, 0, 0, false
	}
	return f[0][0], ppid, pgrp, true
}

// hasEnv reports whether the initial environment of process pid holds the
// entry kv exactly.
func hasEnv(pid int, kv string) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	if err != nil {
		return false
	}
	for _, e := range bytes.Split(b, []byte{0}) {
		if string(e) == kv {
			return true
		}
	}
	return false
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

// BecomeSubreaper makes the calling process the reaper of its orphaned
// descendants (prctl PR_SET_CHILD_SUBREAPER). A server calls it once at
// start: the processes a run leaves behind then come back to the server when
// their parent dies, and Run reaps them as it stops the run's group, instead
// of leaving them as zombies until init gets to them. A server that runs as
// PID 1 gets orphans anyway and needs no call.
func BecomeSubreaper() error {
	const prSetChildSubreaper = 36
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); errno != 0 {
		return fmt.Errorf("become child subreaper: %w", errno)
	}
	return nil
}

// leaderExit is how the group leader ended, learnt without reaping it.
type leaderExit struct {
	known  bool // false: waitid failed, ask cmd.Wait
	exited bool // exited on its own (not by a signal)
	code   int  // exit code when exited
}

// siginfoChld is the start of siginfo_t for SIGCHLD on Linux: the union
// after signo, errno and code is aligned to a pointer.
type siginfoChld struct {
	signo, errno, code int32
	_                  [unsafe.Sizeof(uintptr(0)) - 4]byte
	pid, uid, status   int32
	_                  [128]byte // the rest of siginfo_t, and then some
}

// waitExitedNoReap blocks until process pid (a child) has ended, leaving it
// waitable (WNOWAIT): as a zombie it keeps its pid, and so its process group
// id, from being reused. Should waitid fail, it polls /proc every poll
// instead.
func waitExitedNoReap(pid int, poll time.Duration) leaderExit {
	const (
		pPID      = 1
		wExited   = 0x4
		wNoWait   = 0x1000000
		cldExited = 1
	)
	var info siginfoChld
	for {
		_, _, errno := syscall.Syscall6(syscall.SYS_WAITID, pPID, uintptr(pid),
			uintptr(unsafe.Pointer(&info)), wExited|wNoWait, 0, 0)
		if errno == syscall.EINTR {
			continue
		}
		if errno != 0 {
			waitZombie(pid, poll)
			return leaderExit{}
		}
		break
	}
	return leaderExit{known: true, exited: info.code == cldExited, code: int(info.status)}
}

// waitZombie polls until process pid is a zombie or gone.
func waitZombie(pid int, poll time.Duration) {
	for {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			return
		}
		if state, _, _, ok := parseStat(b); !ok || state == 'Z' || state == 'X' {
			return
		}
		time.Sleep(poll)
	}
}
