//go:build unix

package server

import (
	"os/exec"
	"syscall"
)

// ownGroup starts c in a process group of its own, as the executor starts a
// run's processes.
func ownGroup(c *exec.Cmd) { c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} }
