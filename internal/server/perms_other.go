//go:build !unix

package server

// checkPrivate accepts every path where Unix modes do not say who may
// write it.
func checkPrivate(what, path string) error { return nil }
