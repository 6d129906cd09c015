//go:build unix

package server

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// checkPrivate refuses path (what says what it is) when group or others may
// write it, or when another user owns it; a path that does not exist is
// fine (it is made private).
func checkPrivate(what, path string) error {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("check %s %q: %w", what, path, err)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("%s %q is owned by uid %d, not by the user serve runs as (uid %d), who must be the only one able to change it: run `chown %d %s` (or run serve as its owner)",
			what, path, st.Uid, os.Geteuid(), os.Geteuid(), shellQuote(path))
	}
	if m := fi.Mode().Perm(); m&0o022 != 0 {
		return fmt.Errorf("%s %q can be written by group or others (mode %04o), who could replace it: run `chmod go-w %s`",
			what, path, m, shellQuote(path))
	}
	return nil
}
