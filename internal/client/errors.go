package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
)

// Error is a non-2xx answer of the Runtime, or an answer that is not the
// Runtime API at all (NotAPI: an HTML error page, JSON of the wrong shape).
type Error struct {
	Method string
	// Path is the request path as sent, relative to the service's base URL,
	// without the query.
	Path   string
	Status int
	// Detail and Extra come from the contract's error body, with anything
	// secret the client sent replaced by "***".
	Detail string
	Extra  map[string]any
	// NotAPI is set when the answer was not the contract's JSON; ContentType
	// and Reason then say what it was.
	NotAPI      bool
	ContentType string
	Reason      string
	// Attempts is how many times the call was sent, when more than once.
	Attempts int
}

// Error reads like `GET /v1/workspaces/…/runs/…: run not found (HTTP 404)`.
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: ", e.Method, e.Path)
	switch {
	case e.NotAPI:
		fmt.Fprintf(&b, "the server answered something that is not the Runtime API (HTTP %d, content-type %s)", e.Status, e.ContentType)
		if e.Reason != "" {
			b.WriteString(": " + e.Reason)
		}
	case e.Detail != "":
		fmt.Fprintf(&b, "%s (HTTP %d)", e.Detail, e.Status)
	default:
		fmt.Fprintf(&b, "%s (HTTP %d)", strings.ToLower(http.StatusText(e.Status)), e.Status)
	}
	if e.Attempts > 1 {
		fmt.Fprintf(&b, "; gave up after %d attempts", e.Attempts)
	}
	return b.String()
}

// ConnError is a call that got no answer: the server could not be reached,
// the connection broke, or no answer came in time.
type ConnError struct {
	Method, Path string
	// Service names the service ("Runtime" or "Runtime auth service") and URL
	// its base URL, without credentials or query.
	Service, URL string
	// Reason is a short description such as "connection refused".
	Reason string
	// Err is the network error, without the request URL.
	Err      error
	Attempts int
}

// Error reads like `cannot reach the Runtime at http://127.0.0.1:30000: connection refused`.
func (e *ConnError) Error() string {
	s := fmt.Sprintf("cannot reach the %s at %s: %s", e.Service, e.URL, e.Reason)
	if e.Attempts > 1 {
		s += fmt.Sprintf(" (%d attempts)", e.Attempts)
	}
	return s
}

// Unwrap returns the network error.
func (e *ConnError) Unwrap() error { return e.Err }

// IsStatus reports whether err is an answer of the Runtime with that HTTP status.
func IsStatus(err error, code int) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == code
}

// IsNotFound reports whether the Runtime said that the thing asked for does
// not exist. A 404 page that is not the Runtime's (a wrong base URL) is not
// "not found": it must not read as "nothing deployed yet".
func IsNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == http.StatusNotFound && !e.NotAPI
}

// gaveUp records the number of attempts on the final error.
func gaveUp(err error, attempts int) error {
	var e *Error
	if errors.As(err, &e) {
		e.Attempts = attempts
	}
	var ce *ConnError
	if errors.As(err, &ce) {
		ce.Attempts = attempts
	}
	return err
}

// connReason says in a few words why a request got no answer.
func connReason(err error) string {
	var dnsErr *net.DNSError
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.As(err, &dnsErr):
		if dnsErr.IsNotFound {
			return fmt.Sprintf("no such host %q", dnsErr.Name)
		}
		return fmt.Sprintf("cannot look up host %q", dnsErr.Name)
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "the connection was closed before the answer was complete"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "no answer in time"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "host unreachable"
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Err.Error()
	}
	return err.Error()
}
