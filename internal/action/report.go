package action

import (
	"errors"
	"strings"

	"github.com/dlthub/runtime-action/internal/deploy"
	"github.com/sethvargo/go-githubactions"
)

// phase is a log group's title where it is not the engine phase's own.
type phase string

// phaseLogs is the group of the engine's follow phase: it holds the run's log.
const phaseLogs phase = "Logs"

// failure is an error the Action reports as an annotation: a short title,
// what went wrong, and what to do about it. It is the engine's classified
// error, so that the exit code and the title come from one place.
type failure = deploy.Error

// fail wraps err as a Failure with a title and a fix; nil stays nil.
func fail(title string, err error, fix string) error {
	if err == nil {
		return nil
	}
	return &failure{Title: title, Err: err, Fix: fix}
}

// annotate prints err as an `error` annotation: the title deploy.Title
// gives it, the message, and the fix on lines of its
// own. The message goes through the command's escaping, so a value in it
// cannot end the annotation early or start another command, and through m
// (may be nil), so a secret that slipped into an error is not printed.
func annotate(a *githubactions.Action, m *masker, err error) {
	if err == nil {
		return
	}
	title, msg := deploy.Title(err), err.Error()
	var f *failure
	if errors.As(err, &f) {
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

// notice prints a notice annotation (a feature turned off, a fallback).
func notice(a *githubactions.Action, title, msg string) {
	a.WithFieldsMap(map[string]string{"title": title}).Noticef("%s", msg)
}
