package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/dlthub/runtime-action/internal/api"
)

// Kind is what went wrong with a request, independent of HTTP: Status maps it
// to a status code, in this one place.
type Kind int

// The error kinds the handlers use.
const (
	KindInternal         Kind = iota // a fault of the server; the detail is not shown
	KindBadRequest                   // the request is wrong
	KindUnauthorized                 // no valid token
	KindForbidden                    // a valid identity that is not allowed
	KindNotFound                     // no such object for this caller
	KindMethodNotAllowed             // the path exists, the method does not
	KindTooLarge                     // the body is over a limit
	KindBadGateway                   // a service the server asked (GitHub) failed
	KindUnavailable                  // the server is shutting down
)

// Status is the HTTP status of k.
func (k Kind) Status() int {
	switch k {
	case KindBadRequest:
		return http.StatusBadRequest
	case KindUnauthorized:
		return http.StatusUnauthorized
	case KindForbidden:
		return http.StatusForbidden
	case KindNotFound:
		return http.StatusNotFound
	case KindMethodNotAllowed:
		return http.StatusMethodNotAllowed
	case KindTooLarge:
		return http.StatusRequestEntityTooLarge
	case KindBadGateway:
		return http.StatusBadGateway
	case KindUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// Error is an answer that is not a success: Detail is the sentence the
// caller reads, Extra goes into the body's extra object, and Err (never
// shown) is the cause the server logs.
type Error struct {
	Kind   Kind
	Detail string
	Extra  map[string]any
	Err    error
}

// Error is the detail, with the cause when there is one (for the log).
func (e *Error) Error() string {
	if e.Err != nil {
		return e.Detail + ": " + e.Err.Error()
	}
	return e.Detail
}

// Unwrap is the cause.
func (e *Error) Unwrap() error { return e.Err }

func errorf(k Kind, format string, args ...any) *Error {
	return &Error{Kind: k, Detail: fmt.Sprintf(format, args...)}
}

func badRequest(format string, args ...any) *Error { return errorf(KindBadRequest, format, args...) }

func notFound(format string, args ...any) *Error { return errorf(KindNotFound, format, args...) }

func internal(what string, err error) *Error {
	return &Error{Kind: KindInternal, Detail: what, Err: err}
}

// handlerFunc is a handler that returns its failure instead of writing it.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// handle turns h into an http.Handler that writes h's error as the
// contract's error body.
func (s *Server) handle(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var e *Error
	if !errors.As(err, &e) {
		e = internal("internal error", err)
	}
	status := e.Kind.Status()
	detail := e.Detail
	if e.Kind == KindInternal {
		if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
			return // the caller is gone: nobody reads the answer
		}
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "error", err)
		detail = "internal error: " + e.Detail + " (the server's log has the cause)"
	}
	writeJSON(w, status, api.ErrorResponse{StatusCode: status, Detail: detail, Extra: e.Extra})
}

// writeJSON writes v with status as application/json.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b, _ = json.Marshal(api.ErrorResponse{StatusCode: status, Detail: "internal error: encode answer: " + err.Error()})
	}
	b = append(b, '\n')
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
