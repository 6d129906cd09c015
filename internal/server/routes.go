package server

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/dlthub/runtime-action/internal/api"
	"github.com/dlthub/runtime-action/internal/store"
)

// routes builds the handler of both services.
func (s *Server) routes() http.Handler {
	apiMux := http.NewServeMux()
	ws := "/v1/workspaces/{workspace_id}"
	h := func(pattern string, fn handlerFunc) { apiMux.Handle(pattern, s.handle(fn)) }
	h("GET /v1/ping", s.ping("api"))
	h("GET /v1/me", s.authed(s.me))
	h("GET /v1/organizations/{organization_id}", s.authed(s.getOrganization))
	h("GET "+ws, s.inWorkspace(s.getWorkspace))

	h("GET "+ws+"/deployments", s.inWorkspace(s.listPackages(store.KindDeployment)))
	h("POST "+ws+"/deployments", s.inWorkspace(s.uploadPackage(store.KindDeployment)))
	h("GET "+ws+"/deployments/latest", s.inWorkspace(s.getPackage(store.KindDeployment, true)))
	h("GET "+ws+"/deployments/{id_or_version}", s.inWorkspace(s.getPackage(store.KindDeployment, false)))
	h("GET "+ws+"/configurations", s.inWorkspace(s.listPackages(store.KindConfiguration)))
	h("POST "+ws+"/configurations", s.inWorkspace(s.uploadPackage(store.KindConfiguration)))
	h("GET "+ws+"/configurations/latest", s.inWorkspace(s.getPackage(store.KindConfiguration, true)))
	h("GET "+ws+"/configurations/{id_or_version}", s.inWorkspace(s.getPackage(store.KindConfiguration, false)))

	h("GET "+ws+"/scripts", s.inWorkspace(s.listScripts))
	h("POST "+ws+"/scripts", s.inWorkspace(s.upsertScript))
	h("GET "+ws+"/scripts/{rest...}", s.inWorkspace(s.scriptsSubtree))
	// Extension: POST .../scripts/<name>/app-link (applink.go).
	h("POST "+ws+"/scripts/{rest...}", s.inWorkspace(s.scriptsPost))

	h("GET "+ws+"/runs", s.inWorkspace(s.listRuns))
	h("POST "+ws+"/runs", s.inWorkspace(s.createRun))
	h("GET "+ws+"/runs/latest", s.inWorkspace(s.getLatestRun))
	h("GET "+ws+"/runs/{run_id}", s.inWorkspace(s.getRun))
	h("POST "+ws+"/runs/{run_id}/cancel", s.inWorkspace(s.cancelRun))
	h("GET "+ws+"/runs/{run_id}/logs", s.inWorkspace(s.getRunLogs))
	h("GET "+ws+"/runs/{run_id}/logs/stream", s.inWorkspace(s.streamRunLogs))

	authMux := http.NewServeMux()
	a := func(pattern string, fn handlerFunc) { authMux.Handle(pattern, s.handle(fn)) }
	a("GET /v1/ping", s.ping("auth"))
	a("POST /v1/github/token-exchange", s.tokenExchange)
	a("POST /v1/github/device-flow/code", s.deviceFlowCode)
	a("POST /v1/github/device-flow/token", s.deviceFlowToken)
	a("POST /v1/github/oidc-exchange", s.oidcExchange)

	apiH := s.jsonFallback(apiMux)
	authH := s.jsonFallback(authMux)
	root := http.NewServeMux()
	root.Handle("/auth/", http.StripPrefix("/auth", authH))
	root.Handle("/api/", http.StripPrefix("/api", apiH))
	// The apps of interactive runs (appproxy.go).
	root.Handle("/apps/", s.handle(s.serveApp))
	root.Handle("/", apiH)
	return s.logRequests(root)
}

// jsonFallback answers what mux has no route for (404, 405) with the
// contract's error body instead of the mux's plain text.
func (s *Server) jsonFallback(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := mux.Handler(r); pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		mux.ServeHTTP(&fallbackWriter{ResponseWriter: w, s: s, r: r}, r)
	})
}

// fallbackWriter replaces the body of the mux's own error answers.
type fallbackWriter struct {
	http.ResponseWriter
	s       *Server
	r       *http.Request
	written bool
}

// WriteHeader writes the error body of code instead of the mux's.
func (f *fallbackWriter) WriteHeader(code int) {
	if f.written {
		return
	}
	f.written = true
	var e *Error
	switch code {
	case http.StatusMethodNotAllowed:
		e = errorf(KindMethodNotAllowed, "method %s is not allowed on %s (allowed: %s)", f.r.Method, f.r.URL.Path, f.Header().Get("Allow"))
	case http.StatusNotFound:
		e = notFound("no such path: %s %s", f.r.Method, f.r.URL.Path)
	default:
		e = errorf(KindBadRequest, "%s", http.StatusText(code))
		if code == http.StatusMovedPermanently || code == http.StatusTemporaryRedirect || code == http.StatusPermanentRedirect {
			f.ResponseWriter.WriteHeader(code) // the mux's path cleaning
			return
		}
	}
	f.Header().Del("X-Content-Type-Options")
	f.s.writeError(f.ResponseWriter, f.r, e)
}

// Write drops the mux's plain text body.
func (f *fallbackWriter) Write(b []byte) (int, error) {
	if !f.written {
		f.WriteHeader(http.StatusOK)
	}
	return len(b), nil
}

// statusWriter remembers the status of an answer for the request log.
type statusWriter struct {
	http.ResponseWriter
	status int
}

// WriteHeader remembers the status.
func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write remembers an implicit 200.
func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (flushes).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// logRequests logs one line per request at debug level (the path only: no
// query, no headers, so no token reaches the log).
func (s *Server) logRequests(next http.Handler) http.Handler {
	if !s.log.Enabled(context.Background(), slog.LevelDebug) {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		s.log.Debug("request", "method", r.Method, "path", r.URL.Path, "status", sw.status, "duration", time.Since(start))
	})
}

func (s *Server) ping(service string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		writeJSON(w, http.StatusOK, api.PingResponse{Message: "pong", Service: service})
		return nil
	}
}

// call is a request inside a workspace the caller may see.
type call struct {
	p  principal
	ws store.Workspace
}

type callKey struct{}

func callFrom(r *http.Request) *call {
	c, _ := r.Context().Value(callKey{}).(*call)
	return c
}

// inWorkspace wraps h so that it runs only for a caller that is a member of
// the path's workspace (and whose token is not restricted to another one);
// anyone else gets the same 404 as for a workspace that does not exist.
func (s *Server) inWorkspace(h handlerFunc) handlerFunc {
	return s.authed(func(w http.ResponseWriter, r *http.Request) error {
		p := principalFrom(r.Context())
		id := r.PathValue("workspace_id")
		if p.WorkspaceID != "" && p.WorkspaceID != id {
			return notFound("workspace %q not found", id)
		}
		ws, err := s.dir.store.MemberWorkspace(r.Context(), p.UserID, id)
		if errors.Is(err, store.ErrNotFound) {
			return notFound("workspace %q not found", id)
		}
		if err != nil {
			return internal("find workspace", err)
		}
		return h(w, r.WithContext(context.WithValue(r.Context(), callKey{}, &call{p: p, ws: ws})))
	})
}
