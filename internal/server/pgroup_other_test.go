//go:build !unix

package server

import "os/exec"

// ownGroup leaves c as it is: process groups are a unix notion.
func ownGroup(c *exec.Cmd) {}
