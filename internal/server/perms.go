package server

import "strings"

// The data dir holds the signing key (whoever can replace it can forge any
// token), the database, the packages and the logs; a key or token file
// given from outside is as sensitive. serve refuses to start on one that
// another user could write: checkPrivate (perms_unix.go) names the path and
// the command that fixes it.

// shellQuote quotes a path for the command printed in an error.
func shellQuote(s string) string {
	if s != "" && !strings.ContainsFunc(s, func(r rune) bool {
		return !(r == '/' || r == '.' || r == '_' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
	}) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
