//go:build unix

package action

import (
	"syscall"
	"testing"
)

// withUmask sets the process's umask for the test, so that file modes are
// checked whatever the caller's umask is.
func withUmask(t *testing.T, mask int) {
	old := syscall.Umask(mask)
	t.Cleanup(func() { syscall.Umask(old) })
}
