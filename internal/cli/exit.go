package cli

import (
	"errors"
	"strings"
)

// Exit codes of the command line (listed in README.md).
const (
	ExitOK         = 0   // success; for deploy and run --wait: the run completed
	ExitError      = 1   // any other error (bad input, server answered an error)
	ExitUsage      = 2   // wrong command line usage
	ExitFailed     = 3   // the run ended failed
	ExitCancelled  = 4   // the run ended cancelled
	ExitTimeout    = 5   // waiting for the run timed out
	ExitConnection = 6   // the Runtime could not be reached
	ExitAuth       = 7   // not logged in, or the token was refused or expired
	ExitInterrupt  = 130 // interrupted (Ctrl-C) while waiting; the run goes on
)

// exitError carries a specific exit code up to Run.
type exitError struct {
	code int
	msg  string
	err  error
}

func (e *exitError) Error() string {
	if e.msg != "" {
		return e.msg
	}
	if e.err != nil {
		return e.err.Error()
	}
	return "exit"
}

func (e *exitError) Unwrap() error { return e.err }

func withCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &exitError{code: code, msg: err.Error(), err: err}
}

// usageError marks a command line that cobra itself accepted but that is wrong.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func exitCodeFor(err error) int {
	var ue *usageError
	if errors.As(err, &ue) {
		return ExitUsage
	}
	// cobra's own argument and flag errors
	msg := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand flag", "accepts ", "requires at least", "flag needs an argument", "invalid argument"} {
		if strings.Contains(msg, p) {
			return ExitUsage
		}
	}
	return ExitError
}
