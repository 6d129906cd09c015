package action

import (
	"errors"
	"strings"

	"github.com/sethvargo/go-githubactions"
)

// Phase is a log group's title: one per step of the Action.
type Phase string

// The Action's phases, in order.
const (
	PhaseAuthenticate  Phase = "Authenticate"
	PhaseDeployment    Phase = "Deployment sync"
	PhaseConfiguration Phase = "Configuration sync"
	PhaseScript        Phase = "Script"
	PhaseRun           Phase = "Run"
	PhaseLogs          Phase = "Logs"
)

// Group runs fn inside a collapsible log group titled p; the group is closed
// whatever fn returns, so a failure's annotation is printed outside it and
// stays visible.
func Group(a *githubactions.Action, p Phase, fn func() error) error {
	a.Group(string(p))
	defer a.EndGroup()
	return fn()
}

// Failure is an error the Action reports as an annotation: a short title,
// what went wrong, and what to do about it.
type Failure struct {
	Title string // e.g. "Authentication failed"
	Err   error
	Fix   string // may be empty; may span lines (YAML to paste)
}

// Error is the message and the fix.
func (f *Failure) Error() string {
	msg := "failed"
	if f.Err != nil {
		msg = f.Err.Error()
	}
	if f.Fix != "" {
		msg += ": " + f.Fix
	}
	return msg
}

// Unwrap returns the cause.
func (f *Failure) Unwrap() error { return f.Err }

// Fail wraps err as a Failure with a title and a fix; nil stays nil.
func Fail(title string, err error, fix string) error {
	if err == nil {
		return nil
	}
	return &Failure{Title: title, Err: err, Fix: fix}
}

// DefaultFailureTitle titles errors that carry no title of their own.
const DefaultFailureTitle = "runtime-action failed"

// Annotate prints err as an `error` annotation: the title of the Failure it
// wraps (or DefaultFailureTitle), the message, and the fix on lines of its
// own. The message goes through the command's escaping, so a value in it
// cannot end the annotation early or start another command, and through m
// (may be nil), so a secret that slipped into an error is not printed.
func Annotate(a *githubactions.Action, m *Masker, err error) {
	if err == nil {
		return
	}
	title, msg := DefaultFailureTitle, err.Error()
	var f *Failure
	if errors.As(err, &f) {
		if f.Title != "" {
			title = f.Title
		}
		if f.Err != nil {
			msg = f.Err.Error()
		}
		if f.Fix != "" {
			msg += "\n\n" + strings.TrimRight(f.Fix, "\n")
		}
	}
	if m != nil {
		msg = m.Redact(msg)
	}
	a.WithFieldsMap(map[string]string{"title": title}).Errorf("%s", msg)
}

// Notice prints a notice annotation (a feature turned off, a fallback).
func Notice(a *githubactions.Action, title, msg string) {
	a.WithFieldsMap(map[string]string{"title": title}).Noticef("%s", msg)
}
