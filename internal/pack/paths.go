package pack

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Limits of common file systems: a longer name cannot be extracted anyway,
// so it is refused as bad input rather than failing later as an I/O error.
const (
	maxSegment = 255
	maxPath    = 4096
)

// CheckPath reports why p cannot be the relative path of a package file, or
// nil: it must be non-empty valid UTF-8 with forward slashes, relative, with
// no empty, "." or ".." segments.
func CheckPath(p string) error {
	if s := pathProblem(p); s != "" {
		return errors.New(s)
	}
	return nil
}

func pathProblem(p string) string {
	switch {
	case p == "":
		return "empty path"
	case !utf8.ValidString(p):
		return "path is not valid UTF-8"
	case strings.ContainsRune(p, 0):
		return "path contains a NUL byte"
	case strings.ContainsRune(p, '\\'):
		return "path contains a backslash"
	case strings.HasPrefix(p, "/"):
		return "absolute path"
	case len(p) > maxPath:
		return fmt.Sprintf("path longer than %d bytes", maxPath)
	}
	for seg := range strings.SplitSeq(p, "/") {
		switch {
		case seg == "":
			return "empty path segment"
		case seg == "..":
			return `path contains ".."`
		case seg == ".":
			return `path contains "."`
		case len(seg) > maxSegment:
			return fmt.Sprintf("path segment longer than %d bytes", maxSegment)
		}
	}
	return ""
}

// CheckLinkTarget reports why a symlink at relative path rel pointing to
// target could reach outside the package root, or nil. The target must be
// relative; after "." and empty segments are dropped it may climb with
// leading ".." segments (no further than the link's folder is deep), then
// only descend, and it must not name the root itself. Forbidding ".." after
// a name keeps the check sound when that name is itself a link to a folder
// ("a/../.." through a link to "." would climb out).
func CheckLinkTarget(rel, target string) error {
	if s := linkProblem(rel, target); s != "" {
		return errors.New(s)
	}
	return nil
}

func linkProblem(rel, target string) string {
	switch {
	case target == "":
		return "symlink has an empty target"
	case !utf8.ValidString(target):
		return "symlink target is not valid UTF-8"
	case strings.ContainsRune(target, 0):
		return "symlink target contains a NUL byte"
	case strings.HasPrefix(target, "/"):
		return "symlink target is absolute"
	case strings.ContainsRune(target, '\\'):
		return "symlink target contains a backslash"
	case len(target) > maxPath:
		return fmt.Sprintf("symlink target longer than %d bytes", maxPath)
	}
	depth := strings.Count(rel, "/") // folders above the link inside the root
	up, down := 0, 0
	for seg := range strings.SplitSeq(target, "/") {
		switch seg {
		case "", ".":
			continue
		case "..":
			if down > 0 {
				return `symlink target has ".." after a folder name`
			}
			up++
			if up > depth {
				return "symlink target points outside the package"
			}
		default:
			down++
		}
	}
	if down == 0 {
		return "symlink target points to a folder, not a file"
	}
	return ""
}
