// Package githubtest is a stand-in for GitHub's OAuth device flow and its
// GET /user endpoint, which cannot run in tests: POST /login/device/code,
// POST /login/oauth/access_token and GET /user on one loopback server,
// speaking GitHub's wire format (form-encoded bodies in, form-encoded or JSON
// answers per the Accept header, errors as error=... with HTTP 200, slow_down
// with a larger interval). A test plays the user in the browser with
// Approve, Deny and Expire. Only tests import it, as they do
// net/http/httptest.
package githubtest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// GrantType is the grant_type of a device flow's token request.
const GrantType = "urn:ietf:params:oauth:grant-type:device_code"

// User is a GitHub account as GET /user describes it.
type User struct {
	Login string
	ID    int64
	Email string // "" answers null, as GitHub does for a private email
}

// Options shape the stand-in.
type Options struct {
	// ClientID is the OAuth App's client id; other ids are refused with
	// incorrect_client_credentials.
	ClientID string
	// Interval is the polling interval it hands out, in seconds (GitHub:
	// 5); ExpiresIn is the lifetime of a device code (GitHub: 900).
	Interval  int
	ExpiresIn int
	// DeviceFlowDisabled answers device_flow_disabled, as GitHub does for
	// an OAuth App whose settings do not enable the device flow.
	DeviceFlowDisabled bool
	// ApproveAfter, with ApproveAs set, makes the user approve every code
	// on their own once it has been polled that many times (for tests that
	// cannot play the user while a command waits).
	ApproveAfter int
	ApproveAs    *User
	// FormOnly answers form-encoded even when JSON is asked for, as a
	// proxy that drops the Accept header makes GitHub do.
	FormOnly bool
	// Now is the clock polls are timed by (default time.Now).
	Now func() time.Time
}

// device is one started device flow.
type device struct {
	code, userCode string
	expires        time.Time
	interval       time.Duration
	lastPoll       time.Time
	polls          int
	slowDown       bool
	user           *User // approved by
	denied         bool
	done           bool
}

// Server is the running stand-in.
type Server struct {
	// URL serves both the web endpoints (github.com) and the API (GET /user).
	URL string
	srv *httptest.Server
	opt Options

	mu      sync.Mutex
	devices map[string]*device // by device code
	byUser  map[string]*device // by user code
	tokens  map[string]User    // access token -> owner
	// TokenRequests counts POST /login/oauth/access_token requests.
	tokenRequests int
}

// Start starts a stand-in on loopback; Close stops it.
func Start(opt Options) *Server {
	if opt.Interval == 0 {
		opt.Interval = 5
	}
	if opt.ExpiresIn == 0 {
		opt.ExpiresIn = 900
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	s := &Server{opt: opt, devices: map[string]*device{}, byUser: map[string]*device{}, tokens: map[string]User{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login/device/code", s.deviceCode)
	mux.HandleFunc("POST /login/oauth/access_token", s.accessToken)
	mux.HandleFunc("GET /user", s.user)
	s.srv = httptest.NewServer(mux)
	s.URL = s.srv.URL
	return s
}

// Close stops the stand-in.
func (s *Server) Close() { s.srv.Close() }

// AddToken makes token a valid access token of u (a PAT, for GET /user).
func (s *Server) AddToken(token string, u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[token] = u
}

// Approve is u entering userCode at the verification address and approving.
func (s *Server) Approve(userCode string, u User) { s.with(userCode, func(d *device) { d.user = &u }) }

// Deny is the user declining the authorization.
func (s *Server) Deny(userCode string) { s.with(userCode, func(d *device) { d.denied = true }) }

// Expire ends the code's lifetime now.
func (s *Server) Expire(userCode string) {
	s.with(userCode, func(d *device) { d.expires = s.opt.Now().Add(-time.Second) })
}

// SlowDown makes the next poll of userCode answer slow_down, as GitHub does
// when it is polled too often.
func (s *Server) SlowDown(userCode string) { s.with(userCode, func(d *device) { d.slowDown = true }) }

// TokenRequests is how many token requests (polls) reached GitHub.
func (s *Server) TokenRequests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokenRequests
}

func (s *Server) with(userCode string, f func(*device)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d, ok := s.byUser[userCode]; ok {
		f(d)
	}
}

func random(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// answer writes fields as JSON when the request accepts it, else
// form-encoded, as GitHub's OAuth endpoints do; numbers stay numbers in JSON.
func (s *Server) answer(w http.ResponseWriter, r *http.Request, fields map[string]any) {
	if !s.opt.FormOnly && strings.Contains(r.Header.Get("Accept"), "application/json") {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		json.NewEncoder(w).Encode(fields)
		return
	}
	v := url.Values{}
	for k, x := range fields {
		v.Set(k, fmt.Sprint(x))
	}
	w.Header().Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	fmt.Fprint(w, v.Encode())
}

func (s *Server) oauthError(w http.ResponseWriter, r *http.Request, code, description string, extra map[string]any) {
	fields := map[string]any{"error": code, "error_description": description,
		"error_uri": "https://docs.github.com/developers/apps/authorizing-oauth-apps#error-codes-for-the-device-flow"}
	for k, v := range extra {
		fields[k] = v
	}
	s.answer(w, r, fields)
}

// form reads a form-encoded body (GitHub also takes the query string).
func form(r *http.Request) (url.Values, bool) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != "" && ct != "application/x-www-form-urlencoded" && ct != "application/json" {
		return nil, false
	}
	if ct == "application/json" {
		var m map[string]string
		if json.NewDecoder(r.Body).Decode(&m) != nil {
			return nil, false
		}
		v := url.Values{}
		for k, x := range m {
			v.Set(k, x)
		}
		return v, true
	}
	if r.ParseForm() != nil {
		return nil, false
	}
	return r.Form, true
}

func (s *Server) deviceCode(w http.ResponseWriter, r *http.Request) {
	f, ok := form(r)
	switch {
	case !ok:
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	case f.Get("client_id") != s.opt.ClientID:
		s.oauthError(w, r, "incorrect_client_credentials", "The client_id and/or client_secret passed are incorrect.", nil)
		return
	case s.opt.DeviceFlowDisabled:
		s.oauthError(w, r, "device_flow_disabled", "Device Flow must be explicitly enabled for this App", nil)
		return
	}
	d := &device{code: random(20), userCode: strings.ToUpper(random(2) + "-" + random(2)),
		expires: s.opt.Now().Add(time.Duration(s.opt.ExpiresIn) * time.Second), interval: time.Duration(s.opt.Interval) * time.Second}
	s.mu.Lock()
	s.devices[d.code], s.byUser[d.userCode] = d, d
	s.mu.Unlock()
	s.answer(w, r, map[string]any{"device_code": d.code, "user_code": d.userCode,
		"verification_uri": s.URL + "/login/device", "expires_in": s.opt.ExpiresIn, "interval": s.opt.Interval})
}

func (s *Server) accessToken(w http.ResponseWriter, r *http.Request) {
	f, ok := form(r)
	if !ok {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokenRequests++
	now := s.opt.Now()
	d, known := s.devices[f.Get("device_code")]
	switch {
	case f.Get("client_id") != s.opt.ClientID:
		s.oauthError(w, r, "incorrect_client_credentials", "The client_id and/or client_secret passed are incorrect.", nil)
		return
	case f.Get("grant_type") != GrantType:
		s.oauthError(w, r, "unsupported_grant_type", "The grant type is not supported.", nil)
		return
	case !known || d.done:
		s.oauthError(w, r, "incorrect_device_code", "The device_code provided is not valid.", nil)
		return
	case !now.Before(d.expires):
		s.oauthError(w, r, "expired_token", "The device code has expired.", nil)
		return
	}
	d.polls++
	early := !d.lastPoll.IsZero() && now.Sub(d.lastPoll) < d.interval
	d.lastPoll = now
	if d.slowDown || early {
		// GitHub adds five seconds to the interval on every slow_down.
		d.slowDown = false
		d.interval += 5 * time.Second
		s.oauthError(w, r, "slow_down", "Too many requests have been made in the same timeframe.",
			map[string]any{"interval": int(d.interval / time.Second)})
		return
	}
	if d.denied {
		s.oauthError(w, r, "access_denied", "The authorization request was denied.", nil)
		return
	}
	if d.user == nil && s.opt.ApproveAs != nil && d.polls > s.opt.ApproveAfter {
		u := *s.opt.ApproveAs
		d.user = &u
	}
	if d.user == nil {
		s.oauthError(w, r, "authorization_pending", "The authorization request is still pending.", nil)
		return
	}
	d.done = true
	tok := "gho_" + random(18)
	s.tokens[tok] = *d.user
	s.answer(w, r, map[string]any{"access_token": tok, "token_type": "bearer", "scope": ""})
}

func (s *Server) user(w http.ResponseWriter, r *http.Request) {
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok {
		tok, _ = strings.CutPrefix(h, "token ")
	}
	s.mu.Lock()
	u, known := s.tokens[tok]
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	if !known || tok == "" {
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"message":"Bad credentials","documentation_url":"https://docs.github.com/rest","status":"401"}`)
		return
	}
	email := "null"
	if u.Email != "" {
		email = strconv.Quote(u.Email)
	}
	fmt.Fprintf(w, `{"login":%q,"id":%d,"node_id":"U_test","type":"User","site_admin":false,"name":"Test User","email":%s}`, u.Login, u.ID, email)
}
