package executor

import (
	"errors"
	"os"
	"syscall"
	"time"
)

// errUnsupported is why nothing runs on Windows: a run's processes are
// stopped as a group, which needs process groups (Linux, macOS) or WSL.
var errUnsupported = errors.New("running scripts needs Linux, macOS or WSL: the Runtime stops a run's processes as a process group, which Windows does not have")

// supported says why runs cannot be executed here.
func supported() error { return errUnsupported }

// stopGroup is never reached on Windows: Run stops at supported.
func (e *Executor) stopGroup(pgid int) {}

// KillRun has nothing to kill on Windows: no run ever started here (see
// supported).
func KillRun(runID string) error { return nil }

// KillGroup cannot kill anything on Windows (see supported).
func KillGroup(pgid int, runID string) error { return errUnsupported }

// BecomeSubreaper does nothing on Windows.
func BecomeSubreaper() error { return nil }

func waitExitedNoReap(pid int, poll time.Duration) leaderExit { return leaderExit{} }

func groupAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{} }

var errLocked = errors.New("locked by another holder")

func tryLock(f *os.File) error { return errUnsupported }

func unlock(f *os.File) {}
