package cli

import (
	"errors"

	"github.com/dlthub/runtime-action/internal/deploy"
)

// Exit codes of the command line (listed in the docs): the engine's, which
// the Action shares.
const (
	ExitOK         = deploy.ExitOK
	ExitError      = deploy.ExitError
	ExitUsage      = deploy.ExitUsage
	ExitFailed     = deploy.ExitFailed
	ExitCancelled  = deploy.ExitCancelled
	ExitTimeout    = deploy.ExitTimeout
	ExitConnection = deploy.ExitConnection
	ExitAuth       = deploy.ExitAuth
	ExitInterrupt  = deploy.ExitInterrupt
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

// usageError marks a command line that is wrong: cobra's flag errors
// (through flagError), unknown commands, and checks of the commands.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// exitCodeFor is the exit code of an error: a usage error's, else the one
// deploy.ExitCode gives its class.
func exitCodeFor(err error) int {
	var ue *usageError
	if errors.As(err, &ue) {
		return ExitUsage
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return deploy.ExitCode(err)
}
