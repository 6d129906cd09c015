//go:build !unix

package action

import "testing"

// withUmask does nothing: there is no umask outside unix.
func withUmask(t *testing.T, mask int) {}
