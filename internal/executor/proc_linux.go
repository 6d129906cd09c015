package executor

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"
	"unsafe"
)

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

// runProcesses lists the live (not zombie) processes whose initial
// environment holds the entry kv.
func runProcesses(kv string) ([]int, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || !hasEnv(pid, kv) {
			continue
		}
		if b, err := os.ReadFile("/proc/" + e.Name() + "/stat"); err == nil {
			if state, _, _, ok := parseStat(b); ok && state != 'Z' && state != 'X' {
				pids = append(pids, pid)
			}
		}
	}
	return pids, nil
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

// groupAttr puts a started process in a process group of its own, and has
// the kernel SIGKILL it should the server die first.
func groupAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
