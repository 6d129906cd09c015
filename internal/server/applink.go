package server

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/dlthub/runtime-action/internal/api"
	"github.com/dlthub/runtime-action/internal/store"
)

// Audiences of the app tokens. They differ from each other and from the API
// tokens' ("cli"), so that no kind of token passes for another although one
// key signs them all.
const (
	appLinkAudience    = "app-link"
	appSessionAudience = "app-session"
)

// appCookie holds an app session token, with the path of one app.
const appCookie = "runtime_app_session"

// appClaims are the claims of an app link (?access=) and of an app session
// (the cookie a link sets).
type appClaims struct {
	Audience    string           `json:"aud"`
	Subject     string           `json:"sub"` // the user
	WorkspaceID string           `json:"workspace_id"`
	App         string           `json:"app"` // the script's name
	ExpiresAt   *jwt.NumericDate `json:"exp"`
	IssuedAt    *jwt.NumericDate `json:"iat"`
	ID          string           `json:"jti"`
	// Parent is the jti of the API token the link was made with: revoking
	// that token revokes its links and sessions too. ParentExp is its
	// expiry, past which no session made from it lasts.
	Parent    string `json:"parent_jti"`
	ParentExp int64  `json:"parent_exp"`
}

var _ jwt.Claims = (*appClaims)(nil)

// GetExpirationTime implements jwt.Claims.
func (c *appClaims) GetExpirationTime() (*jwt.NumericDate, error) { return c.ExpiresAt, nil }

// GetIssuedAt implements jwt.Claims.
func (c *appClaims) GetIssuedAt() (*jwt.NumericDate, error) { return c.IssuedAt, nil }

// GetNotBefore implements jwt.Claims.
func (c *appClaims) GetNotBefore() (*jwt.NumericDate, error) { return nil, nil }

// GetIssuer implements jwt.Claims.
func (c *appClaims) GetIssuer() (string, error) { return "", nil }

// GetSubject implements jwt.Claims.
func (c *appClaims) GetSubject() (string, error) { return c.Subject, nil }

// GetAudience implements jwt.Claims.
func (c *appClaims) GetAudience() (jwt.ClaimStrings, error) { return jwt.ClaimStrings{c.Audience}, nil }

// signApp signs c with the data dir's key.
func (s *Server) signApp(c *appClaims) (string, error) {
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(s.dir.tokens.key)
	if err != nil {
		return "", fmt.Errorf("sign app token: %w", err)
	}
	return tok, nil
}

// parseApp checks an app token of audience aud: signature, expiry, and that
// the API token it was made from is not revoked.
func (s *Server) parseApp(r *http.Request, tok, aud string) (*appClaims, error) {
	c := &appClaims{}
	_, err := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithAudience(aud),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(s.dir.tokens.now),
	).ParseWithClaims(tok, c, func(*jwt.Token) (any, error) { return s.dir.tokens.key, nil })
	if err != nil {
		return nil, err
	}
	if c.Subject == "" || c.WorkspaceID == "" || c.App == "" || c.Parent == "" {
		return nil, fmt.Errorf("%w: sub, workspace_id, app and parent_jti are required", jwt.ErrTokenRequiredClaimMissing)
	}
	revoked, err := s.dir.store.TokenRevoked(r.Context(), c.Parent)
	if err != nil {
		return nil, internal("check token", err)
	}
	if revoked {
		return nil, errors.New("the token it was made with is revoked")
	}
	return c, nil
}

// escapeName is a script name as URL path segments.
func escapeName(name string) string {
	segs := strings.Split(name, "/")
	for i, seg := range segs {
		segs[i] = url.PathEscape(seg)
	}
	return strings.Join(segs, "/")
}

// appPath is the path of an app without its trailing slash: the session
// cookie's path, which then also covers the bare path that redirects to the
// app's root.
func appPath(workspaceID, name string) string {
	return "/apps/" + workspaceID + "/" + escapeName(name)
}

// scriptsPost routes POST .../scripts/{rest...}. Its one path is
// .../scripts/<name>/app-link, an EXTENSION of this server (not in the
// contract): it mints a signed link to an interactive script's app, valid
// for Config.AppLinkTTL, that a browser can open without a token. The name
// may hold slashes, sent as they are or percent-encoded.
func (s *Server) scriptsPost(w http.ResponseWriter, r *http.Request) error {
	c := callFrom(r)
	escaped := r.URL.EscapedPath()
	i := strings.Index(escaped, "/scripts/")
	if i < 0 {
		return notFound("no such path: %s %s", r.Method, r.URL.Path)
	}
	rest, ok := strings.CutSuffix(escaped[i+len("/scripts/"):], "/app-link")
	if !ok || rest == "" {
		return notFound("no such path: %s %s", r.Method, r.URL.Path)
	}
	name, err := url.PathUnescape(rest)
	if err != nil {
		return notFound("no such path: %s %s", r.Method, r.URL.Path)
	}
	sc, err := s.findScript(r.Context(), c.ws.ID, name)
	if errors.Is(err, store.ErrNotFound) {
		return notFound("script %q not found", name)
	}
	if err != nil {
		return internal("find script", err)
	}
	if sc.ScriptType != api.ScriptInteractive {
		return badRequest("script %q is a batch script: only interactive scripts have an app to link to", sc.Name)
	}
	// The caller's token was checked by inWorkspace; its jti and expiry
	// bind the link to it.
	_, bearer, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	parent, err := s.dir.tokens.parse(strings.TrimSpace(bearer), false)
	if err != nil {
		return internal("read the caller's token", err)
	}
	now := s.cfg.Now()
	exp := now.Add(s.cfg.AppLinkTTL)
	if parent.ExpiresAt != nil && parent.ExpiresAt.Before(exp) {
		exp = parent.ExpiresAt.Time
	}
	var parentExp int64
	if parent.ExpiresAt != nil {
		parentExp = parent.ExpiresAt.Unix()
	}
	tok, err := s.signApp(&appClaims{
		Audience: appLinkAudience, Subject: c.p.UserID, WorkspaceID: c.ws.ID, App: sc.Name,
		ExpiresAt: jwt.NewNumericDate(exp), IssuedAt: jwt.NewNumericDate(now), ID: uuid.NewString(),
		Parent: parent.ID, ParentExp: parentExp,
	})
	if err != nil {
		return internal("make app link", err)
	}
	link := scriptURL(s.baseURL(), sc) + "?access=" + url.QueryEscape(tok)
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, api.AppLinkResponse{URL: link, ExpiresAt: api.NewTime(exp)})
	return nil
}

// redeemAppLink answers GET /apps/<ws>/<name>/...?access=<link token>: it
// sets the app's session cookie and redirects to the same URL without the
// token, so that the token leaves the address bar and the history at once.
// The link may be opened again until it expires.
func (s *Server) redeemAppLink(w http.ResponseWriter, r *http.Request, workspaceID string, segs []string) error {
	c, err := s.parseApp(r, r.URL.Query().Get("access"), appLinkAudience)
	var ie *Error
	if errors.As(err, &ie) {
		return ie
	}
	if err != nil {
		s.log.Info("app link refused", "path", r.URL.Path, "reason", err)
		return errorf(KindUnauthorized, "app link expired or invalid (links are valid for %s): get a new one with POST /v1/workspaces/%s/scripts/<name>/app-link, or open the app with a token in an Authorization header",
			s.cfg.AppLinkTTL, workspaceID)
	}
	appSegs := strings.Split(c.App, "/")
	if c.WorkspaceID != workspaceID || !hasPrefix(segs, appSegs) {
		return errorf(KindUnauthorized, "app link is for another app: open it as it was given")
	}
	if _, err := s.dir.store.MemberWorkspace(r.Context(), c.Subject, workspaceID); errors.Is(err, store.ErrNotFound) {
		return errorf(KindUnauthorized, "app link invalid: its user is no longer a member of the workspace")
	} else if err != nil {
		return internal("find workspace", err)
	}
	now := s.cfg.Now()
	exp := now.Add(s.cfg.AppSessionTTL)
	if c.ParentExp > 0 && time.Unix(c.ParentExp, 0).Before(exp) {
		exp = time.Unix(c.ParentExp, 0)
	}
	sess, err := s.signApp(&appClaims{
		Audience: appSessionAudience, Subject: c.Subject, WorkspaceID: workspaceID, App: c.App,
		ExpiresAt: jwt.NewNumericDate(exp), IssuedAt: jwt.NewNumericDate(now), ID: uuid.NewString(),
		Parent: c.Parent, ParentExp: c.ParentExp,
	})
	if err != nil {
		return internal("make app session", err)
	}
	http.SetCookie(w, &http.Cookie{
		Name: appCookie, Value: sess, Path: appPath(workspaceID, c.App),
		Expires: exp, MaxAge: max(1, int(exp.Sub(now).Seconds())),
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: strings.HasPrefix(s.baseURL(), "https://"),
	})
	q := r.URL.Query()
	q.Del("access")
	target := r.URL.EscapedPath()
	if len(segs) == len(appSegs) {
		target += "/" // the bare app path: go to its root
	}
	if enc := q.Encode(); enc != "" {
		target += "?" + enc
	}
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	http.Redirect(w, r, target, http.StatusSeeOther)
	return nil
}

// appSession finds a valid session cookie for the app path segs of
// workspaceID; ok is false when there is none. Several cookies of that name
// may come (apps whose paths nest): any valid one will do.
func (s *Server) appSession(r *http.Request, workspaceID string, segs []string) (principal, bool, error) {
	for _, ck := range r.Cookies() {
		if ck.Name != appCookie {
			continue
		}
		c, err := s.parseApp(r, ck.Value, appSessionAudience)
		var ie *Error
		if errors.As(err, &ie) {
			return principal{}, false, ie
		}
		if err != nil || c.WorkspaceID != workspaceID || !hasPrefix(segs, strings.Split(c.App, "/")) {
			continue
		}
		return principal{UserID: c.Subject, WorkspaceID: workspaceID}, true, nil
	}
	return principal{}, false, nil
}

// hasPrefix reports whether segs starts with prefix.
func hasPrefix(segs, prefix []string) bool {
	if len(prefix) > len(segs) {
		return false
	}
	for i, p := range prefix {
		if segs[i] != p {
			return false
		}
	}
	return true
}
