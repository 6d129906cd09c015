package server

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"

	"github.com/dlthub/runtime-action/internal/api"
	"github.com/dlthub/runtime-action/internal/store"
)

// maxNameSegs bounds the store lookups made to tell why a path has no app.
const maxNameSegs = 32

// serveApp answers /apps/<workspace id>/<script name>/...: it reverse-proxies
// the request to the app of an active interactive run of that script, the
// script being the running app whose name is the longest prefix of the path
// (names hold slashes). The caller must be a member of the workspace: a
// session cookie set by a signed link (applink.go), or a Runtime token in an
// Authorization header. The app gets the path without the prefix, which it
// finds in X-Forwarded-Prefix.
func (s *Server) serveApp(w http.ResponseWriter, r *http.Request) error {
	escaped := strings.TrimPrefix(r.URL.EscapedPath(), "/apps/")
	workspaceID, rest, _ := strings.Cut(escaped, "/")
	if workspaceID == "" || rest == "" {
		return notFound("no app at %s: an app's address is /apps/<workspace id>/<script name>/", r.URL.Path)
	}
	escSegs := strings.Split(rest, "/")
	segs := make([]string, len(escSegs))
	for i, e := range escSegs {
		u, err := url.PathUnescape(e)
		if err != nil {
			return notFound("no app at %s", r.URL.Path)
		}
		segs[i] = u
	}
	if r.URL.Query().Has("access") {
		return s.redeemAppLink(w, r, workspaceID, segs)
	}
	p, fromHeader, err := s.appCaller(r, workspaceID, segs)
	if err != nil {
		return err
	}
	// As inWorkspace: a workspace the caller may not see looks like one
	// that does not exist.
	if p.WorkspaceID != "" && p.WorkspaceID != workspaceID {
		return notFound("workspace %q not found", workspaceID)
	}
	if _, err := s.dir.store.MemberWorkspace(r.Context(), p.UserID, workspaceID); errors.Is(err, store.ErrNotFound) {
		return notFound("workspace %q not found", workspaceID)
	} else if err != nil {
		return internal("find workspace", err)
	}

	a, ok := s.apps.match(workspaceID, segs)
	if !ok {
		return s.noApp(r, workspaceID, segs)
	}
	if !a.isReady() {
		w.Header().Set("Retry-After", "1")
		return errorf(KindUnavailable, "app %q is starting (run %s): try again in a moment", a.name, a.runID)
	}
	if len(segs) == len(a.segs) {
		// Relative links of the app resolve against its root only with
		// the trailing slash.
		target := r.URL.EscapedPath() + "/"
		if r.URL.RawQuery != "" {
			target += "?" + r.URL.RawQuery
		}
		http.Redirect(w, r, target, http.StatusPermanentRedirect)
		return nil
	}
	s.proxyApp(w, r, a, workspaceID, escSegs, fromHeader)
	return nil
}

// appCaller is who asks for an app: the user of a valid session cookie, or
// else of the Runtime token in the Authorization header. With a session the
// Authorization header is the app's own business and passes through; a
// Runtime token (fromHeader) never reaches the app.
func (s *Server) appCaller(r *http.Request, workspaceID string, segs []string) (p principal, fromHeader bool, err error) {
	p, ok, err := s.appSession(r, workspaceID, segs)
	if err != nil || ok {
		return p, false, err
	}
	// Another scheme (Basic, say) is the app's own: it does not let in.
	if scheme, _, _ := strings.Cut(r.Header.Get("Authorization"), " "); strings.EqualFold(scheme, "bearer") {
		p, err := s.authenticate(r)
		return p, true, err
	}
	if _, err := r.Cookie(appCookie); err == nil {
		return p, false, errorf(KindUnauthorized, "app session expired or invalid: open a new signed link (`runtime-action deploy -i` prints one)")
	}
	return p, false, errorf(KindUnauthorized, "missing credentials: send \"Authorization: Bearer <token>\", or open a signed link from POST /v1/workspaces/%s/scripts/<name>/app-link (`runtime-action deploy -i` prints one)", workspaceID)
}

// noApp says why no app runs at a path: the script is not running (503),
// is a batch script or does not exist (404).
func (s *Server) noApp(r *http.Request, workspaceID string, segs []string) error {
	for n := min(len(segs), maxNameSegs); n > 0; n-- {
		name := strings.Join(segs[:n], "/")
		if segs[n-1] == "" {
			continue
		}
		sc, err := s.dir.store.ScriptByName(r.Context(), workspaceID, name)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return internal("find script", err)
		}
		if sc.ScriptType != api.ScriptInteractive {
			return notFound("script %q is a batch script: it has no app", sc.Name)
		}
		return errorf(KindUnavailable, "app %q is not running: start a run of it (runtime-action deploy %s -i); an app stops after %s without requests",
			sc.Name, sc.Name, s.cfg.AppIdleTimeout)
	}
	return notFound("no app at %s", r.URL.Path)
}

// proxyApp sends r to app a, without the prefix /apps/<ws>/<name>, which goes
// in X-Forwarded-Prefix. The Host header stays the caller's (apps compare it
// with Origin on WebSocket handshakes); X-Forwarded-For, -Host and -Proto
// are set. WebSocket upgrades pass through (ReverseProxy switches
// protocols), and a request counts as activity until it ends, so an open
// WebSocket keeps its app from being idle.
func (s *Server) proxyApp(w http.ResponseWriter, r *http.Request, a *liveApp, workspaceID string, escSegs []string, fromHeader bool) {
	n := len(a.segs)
	prefix := "/apps/" + workspaceID + "/" + strings.Join(escSegs[:n], "/")
	upEscaped := "/" + strings.Join(escSegs[n:], "/")
	upPath, err := url.PathUnescape(upEscaped)
	if err != nil {
		upPath = upEscaped // cannot happen: each segment was unescaped before
	}
	proto := "http"
	if strings.HasPrefix(s.baseURL(), "https://") {
		proto = "https"
	}

	// Streams and WebSockets end when the server shuts down, rather than
	// hold its shutdown up.
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	if ch, ok := r.Context().Value(shutdownKey{}).(<-chan struct{}); ok {
		go func() {
			select {
			case <-ch:
				cancel()
			case <-ctx.Done():
			}
		}()
	}
	out := r.WithContext(ctx)
	u := *r.URL
	u.Path, u.RawPath = upPath, upEscaped
	out.URL = &u

	// An app's answer may be long (a stream, a long poll): the request's
	// deadlines give way to one per write, as for log streams (limits.go).
	// A WebSocket is hijacked, which lifts them all.
	w = &deadlineResponseWriter{ResponseWriter: w, dw: s.extendWrites(w)}

	a.begin()
	defer func() { a.end(s.cfg.Now()) }()
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme, pr.Out.URL.Host = "http", a.addr()
			pr.SetXForwarded()
			h := pr.Out.Header
			h.Set("X-Forwarded-Proto", proto)
			h.Set("X-Forwarded-Prefix", prefix)
			if fromHeader || s.isRuntimeToken(h.Get("Authorization")) {
				h.Del("Authorization")
			}
			dropCookie(h, appCookie)
		},
		Transport: s.apps.transport,
		ErrorLog:  slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		ErrorHandler: func(w http.ResponseWriter, req *http.Request, err error) {
			if r.Context().Err() != nil {
				return // the caller is gone
			}
			s.log.Warn("app did not answer", "run", a.runID, "app", a.name, "error", err)
			s.writeError(w, r, errorf(KindBadGateway, "app %q did not answer: it may have stopped; see the log of run %s", a.name, a.runID))
		},
	}
	rp.ServeHTTP(w, out)
}

// isRuntimeToken tells whether an Authorization header carries a token this
// server signed (expired or not): with a session cookie, the header is
// otherwise the app's own, but a Runtime token must never reach an app,
// whose code may be another user's.
func (s *Server) isRuntimeToken(authorization string) bool {
	scheme, tok, _ := strings.Cut(authorization, " ")
	if !strings.EqualFold(scheme, "bearer") {
		return false
	}
	_, err := s.dir.tokens.parse(strings.TrimSpace(tok), true)
	return err == nil
}

// dropCookie removes the cookie name from the Cookie headers of h, leaving
// the others as they were.
func dropCookie(h http.Header, name string) {
	lines := h.Values("Cookie")
	if len(lines) == 0 {
		return
	}
	var kept []string
	for _, line := range lines {
		var parts []string
		for part := range strings.SplitSeq(line, ";") {
			n, _, _ := strings.Cut(strings.TrimSpace(part), "=")
			if n == name || strings.TrimSpace(part) == "" {
				continue
			}
			parts = append(parts, strings.TrimSpace(part))
		}
		if len(parts) > 0 {
			kept = append(kept, strings.Join(parts, "; "))
		}
	}
	h.Del("Cookie")
	for _, k := range kept {
		h.Add("Cookie", k)
	}
}
