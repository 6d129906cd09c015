package deploy

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/dlthub/runtime-action/internal/client"
)

// Exit codes of the command line and the Action (listed in docs).
const (
	ExitOK         = 0   // success; for deploy and run --wait: the run completed
	ExitError      = 1   // any other error (bad input, server answered an error)
	ExitUsage      = 2   // wrong command line usage, or invalid Action inputs
	ExitFailed     = 3   // the run ended failed (or was skipped)
	ExitCancelled  = 4   // the run ended cancelled
	ExitTimeout    = 5   // waiting for the run timed out
	ExitConnection = 6   // the Runtime could not be reached
	ExitAuth       = 7   // not logged in, or the token was refused or expired
	ExitInterrupt  = 130 // interrupted (Ctrl-C, workflow cancelled) while waiting
)

// Class classifies a failure: it decides the exit code and the title of the
// Action's annotation.
type Class int

// The kinds of failure.
const (
	ClassOther       Class = iota
	ClassUsage             // the request itself is wrong: fix the flags or inputs
	ClassAuth              // no token, or the token was refused or expired
	ClassConnection        // the Runtime could not be reached
	ClassRunFailed         // the run ended failed or skipped
	ClassCancelled         // the run ended cancelled
	ClassTimeout           // the run did not end in time
	ClassInterrupted       // the caller stopped waiting (signal, cancelled workflow)
)

// Error is a failure of the engine or a front end, classified. Its message
// is Err's; Fix says what to do next.
type Error struct {
	Class Class
	Phase Phase // "" when before any phase
	// Title overrides the annotation's title that Class and Phase give.
	Title string
	Err   error
	Fix   string // may be empty; may span lines
}

// Error is the message and the fix, as one line prints it.
func (e *Error) Error() string {
	msg := "failed"
	if e.Err != nil {
		msg = e.Err.Error()
	}
	if e.Fix != "" {
		msg += ": " + e.Fix
	}
	return msg
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Errorf makes a classified error; its message is formatted as fmt.Errorf's.
func Errorf(class Class, fix, format string, args ...any) *Error {
	return &Error{Class: class, Err: fmt.Errorf(format, args...), Fix: fix}
}

// Classify is the one place that turns an error into a class: a classified
// Error's own, a Runtime that could not be reached, a token refused, else
// ClassOther.
func Classify(err error) Class {
	var e *Error
	if errors.As(err, &e) && e.Class != ClassOther {
		return e.Class
	}
	var ce *client.ConnError
	if errors.As(err, &ce) {
		return ClassConnection
	}
	if client.IsStatus(err, http.StatusUnauthorized) {
		return ClassAuth
	}
	return ClassOther
}

// ExitCode turns an error into the process's exit code (0 for nil).
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	switch Classify(err) {
	case ClassUsage:
		return ExitUsage
	case ClassAuth:
		return ExitAuth
	case ClassConnection:
		return ExitConnection
	case ClassRunFailed:
		return ExitFailed
	case ClassCancelled:
		return ExitCancelled
	case ClassTimeout:
		return ExitTimeout
	case ClassInterrupted:
		return ExitInterrupt
	}
	return ExitError
}

// Title is the short title of an error's annotation: its own, else one by
// its kind and phase ("Runtime unreachable", "Deployment sync failed").
func Title(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Title != "" {
		return e.Title
	}
	switch Classify(err) {
	case ClassUsage:
		return "Invalid input"
	case ClassAuth:
		return "Runtime token refused"
	case ClassConnection:
		return "Runtime unreachable"
	case ClassRunFailed:
		return "Run failed"
	case ClassCancelled:
		return "Run cancelled"
	case ClassTimeout:
		return "Run timed out"
	case ClassInterrupted:
		return "Workflow cancelled"
	}
	if e == nil {
		return "runtime-action failed"
	}
	switch e.Phase {
	case PhaseAuthenticate:
		return "Authentication failed"
	case PhaseDeployment, PhaseConfiguration:
		return e.Phase.Title() + " failed"
	case PhaseScript:
		return "Script not created"
	case PhaseRun:
		return "Run not started"
	case PhaseFollow:
		return "Following the run failed"
	}
	return "runtime-action failed"
}

// inPhase records the phase an error happened in, classifying it on the way.
func inPhase(p Phase, err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		if e.Phase == "" {
			e.Phase = p
		}
		return err
	}
	return &Error{Class: Classify(err), Phase: p, Err: err}
}
