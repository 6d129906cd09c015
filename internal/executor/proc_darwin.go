package executor

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// sZomb is a zombie's p_stat in macOS's struct extern_proc.
const sZomb = 5

// groupMembers lists the processes whose process group is pgid, as the
// kernel's process table (sysctl kern.proc.pgrp) tells.
func groupMembers(pgid int) ([]member, error) {
	procs, err := unix.SysctlKinfoProcSlice("kern.proc.pgrp", pgid)
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	ms := make([]member, 0, len(procs))
	for _, p := range procs {
		ms = append(ms, member{pid: int(p.Proc.P_pid), ppid: int(p.Eproc.Ppid), zombie: p.Proc.P_stat == sZomb})
	}
	return ms, nil
}

// runProcesses lists the live (not zombie) processes whose initial
// environment holds the entry kv, as the kernel's process table
// (sysctl kern.proc.all) tells.
func runProcesses(kv string) ([]int, error) {
	procs, err := unix.SysctlKinfoProcSlice("kern.proc.all")
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	var pids []int
	for _, p := range procs {
		if pid := int(p.Proc.P_pid); p.Proc.P_stat != sZomb && hasEnv(pid, kv) {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// hasEnv reports whether the initial environment of process pid holds the
// entry kv exactly. kern.procargs2 is argc, the executable's path, padding,
// argc arguments and then the environment, all NUL-terminated.
func hasEnv(pid int, kv string) bool {
	b, err := unix.SysctlRaw("kern.procargs2", pid)
	if err != nil || len(b) < 4 {
		return false
	}
	argc := int(binary.LittleEndian.Uint32(b))
	fields := bytes.Split(b[4:], []byte{0})
	i := 1 // past the executable's path
	for i < len(fields) && len(fields[i]) == 0 {
		i++ // padding
	}
	i += argc
	for ; i < len(fields); i++ {
		if string(fields[i]) == kv {
			return true
		}
	}
	return false
}

// BecomeSubreaper does nothing on macOS, which has no subreapers: orphans
// of runs go to launchd, which reaps them.
func BecomeSubreaper() error { return nil }

// waitExitedNoReap polls until process pid has ended, leaving it unreaped
// (macOS has no waitid with WNOWAIT in the syscall package): as a zombie it
// keeps its pid, and so its process group id, from being reused. How it
// ended is left to cmd.Wait.
func waitExitedNoReap(pid int, poll time.Duration) leaderExit {
	for {
		p, err := unix.SysctlKinfoProc("kern.proc.pid", pid)
		if err != nil || p.Proc.P_pid != int32(pid) || p.Proc.P_stat == sZomb {
			return leaderExit{}
		}
		time.Sleep(poll)
	}
}

// groupAttr puts a started process in a process group of its own.
func groupAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

// termSandbox is never reached on macOS: there is no sandbox (CheckSandbox).
func termSandbox(leader int) {}
