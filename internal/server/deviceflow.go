package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dlthub/runtime-action/internal/api"
)

// The auth service's GitHub device flow (POST /v1/github/device-flow/code,
// then polling /v1/github/device-flow/token), as dlt's "dlt runtime login"
// uses it: the server relays GitHub's device flow for a GitHub OAuth App
// (only its client id is needed), asks GitHub who approved, and lets in the
// same users as the token exchange. GitHub's access token never leaves this
// file: it is used once for GET /user and dropped.

// DefaultGitHubURL is GitHub's web address, where the device flow runs.
const DefaultGitHubURL = "https://github.com"

// DeviceFlowConfig configures the device flow relay.
type DeviceFlowConfig struct {
	// ClientID is the client id of a GitHub OAuth App with the device flow
	// enabled; empty turns the device flow off.
	ClientID string
	// GitHubURL is GitHub's web address (GitHub Enterprise: https://HOST);
	// default DefaultGitHubURL.
	GitHubURL string
}

func (c DeviceFlowConfig) withDefaults() DeviceFlowConfig {
	if c.GitHubURL == "" {
		c.GitHubURL = DefaultGitHubURL
	}
	c.GitHubURL = strings.TrimRight(c.GitHubURL, "/")
	return c
}

// deviceGrantType is the grant_type of a device flow's token request (RFC 8628).
const deviceGrantType = "urn:ietf:params:oauth:grant-type:device_code"

// Polling limits: GitHub's defaults when it gives none, and a bound on the
// device codes remembered (each one took a request to GitHub to make).
const (
	defaultDeviceInterval = 5 * time.Second
	defaultDeviceExpiry   = 15 * time.Minute
	maxDeviceFlows        = 1000
)

// errPending is the answer while GitHub waits for the user. Its detail is
// exactly "authorization_pending": dlt's client keeps polling on that and
// stops on any other 400.
func errPending(interval time.Duration) error {
	return &Error{Kind: KindBadRequest, Detail: "authorization_pending", Extra: map[string]any{"interval": int(interval / time.Second)}}
}

// deviceFlows remembers, per device code GitHub knows, when GitHub may be
// asked next. Clients poll at the interval they were given; GitHub may raise
// it (slow_down), which dlt's client would take for a failure, so the server
// keeps the raised interval itself and answers "pending" in between.
type deviceFlows struct {
	mu sync.Mutex
	m  map[string]*deviceFlowState
}

type deviceFlowState struct {
	interval time.Duration
	next     time.Time // GitHub is not asked before
	expires  time.Time
}

// track remembers a device code; when full of live codes, it does not, and
// the code's polls go to GitHub as they come.
func (d *deviceFlows) track(code string, st *deviceFlowState, now time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.m == nil {
		d.m = map[string]*deviceFlowState{}
	}
	if len(d.m) >= maxDeviceFlows {
		for c, s := range d.m {
			if !now.Before(s.expires) {
				delete(d.m, c)
			}
		}
	}
	if len(d.m) < maxDeviceFlows {
		d.m[code] = st
	}
}

func (d *deviceFlows) get(code string) (deviceFlowState, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	st, ok := d.m[code]
	if !ok {
		return deviceFlowState{}, false
	}
	return *st, true
}

func (d *deviceFlows) forget(code string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.m, code)
}

// deviceFlowEnabled refuses when serve was started without a client id.
func (s *Server) deviceFlowEnabled() error {
	if s.cfg.DeviceFlow.ClientID == "" {
		return badRequest("device flow login is not enabled on this Runtime: start serve with --github-client-id ID " +
			"(a GitHub OAuth App with the device flow enabled), or log in with a GitHub token or a token from the admin")
	}
	return nil
}

// deviceFlowCode starts a device flow at GitHub and hands its codes on.
func (s *Server) deviceFlowCode(w http.ResponseWriter, r *http.Request) error {
	if err := s.deviceFlowEnabled(); err != nil {
		return err
	}
	// The operation has no request body; whatever comes is not read.
	ans, err := s.githubOAuth(r.Context(), "/login/device/code", url.Values{"client_id": {s.cfg.DeviceFlow.ClientID}})
	if err != nil {
		return err
	}
	if e := ans.Get("error"); e != "" {
		return s.deviceFlowError(e)
	}
	start := api.GithubDeviceFlowStartResponse{
		DeviceCode:      ans.Get("device_code"),
		UserCode:        ans.Get("user_code"),
		VerificationURI: ans.Get("verification_uri"),
		Interval:        5,
	}
	if start.DeviceCode == "" || start.UserCode == "" || !webURL(start.VerificationURI) {
		return errorf(KindBadGateway, "github's answer to POST /login/device/code lacks a device_code, user_code or http(s) verification_uri")
	}
	if n, err := strconv.Atoi(ans.Get("interval")); err == nil && n > 0 {
		start.Interval = n
	}
	expiry := defaultDeviceExpiry
	if n, err := strconv.Atoi(ans.Get("expires_in")); err == nil && n > 0 {
		expiry = time.Duration(n) * time.Second
	}
	now := s.cfg.Now()
	s.devices.track(start.DeviceCode, &deviceFlowState{interval: time.Duration(start.Interval) * time.Second, expires: now.Add(expiry)}, now)
	writeJSON(w, http.StatusCreated, start)
	return nil
}

// deviceFlowToken is one poll: it asks GitHub whether the user approved
// (unless GitHub asked for more time between polls), and once they did,
// who they are, and issues a Runtime token to an allowed user.
func (s *Server) deviceFlowToken(w http.ResponseWriter, r *http.Request) error {
	if err := s.deviceFlowEnabled(); err != nil {
		return err
	}
	o, err := decodeObject(w, r)
	if err != nil {
		return err
	}
	code, err := o.nonEmptyStr("device_code")
	if err != nil {
		return err
	}
	now := s.cfg.Now()
	st, known := s.devices.get(code)
	if known && now.Before(st.next) {
		return errPending(st.interval)
	}
	if !known {
		// Started before a restart, or by another server: GitHub decides.
		st = deviceFlowState{interval: defaultDeviceInterval, expires: now.Add(defaultDeviceExpiry)}
	}
	ans, err := s.githubOAuth(r.Context(), "/login/oauth/access_token", url.Values{
		"client_id": {s.cfg.DeviceFlow.ClientID}, "device_code": {code}, "grant_type": {deviceGrantType}})
	if err != nil {
		return err
	}
	switch e := ans.Get("error"); e {
	case "":
	case "authorization_pending", "slow_down":
		if e == "slow_down" {
			// GitHub gives the new interval; without one, it adds five seconds.
			if n, err := strconv.Atoi(ans.Get("interval")); err == nil && time.Duration(n)*time.Second > st.interval {
				st.interval = time.Duration(n) * time.Second
			} else {
				st.interval += 5 * time.Second
			}
		}
		st.next = now.Add(st.interval)
		s.devices.track(code, &st, now)
		return errPending(st.interval)
	default:
		s.devices.forget(code)
		return s.deviceFlowError(e)
	}
	s.devices.forget(code)
	token := ans.Get("access_token")
	if token == "" {
		return errorf(KindBadGateway, "github's answer to POST /login/oauth/access_token holds neither an access_token nor an error")
	}
	gu, err := s.githubWhoAmI(r, token)
	if err != nil {
		return err
	}
	res, err := s.admitGitHubUser(r.Context(), gu)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, res)
	return nil
}

// deviceFlowError words GitHub's device flow error codes; the code leads
// the detail, as GitHub names it.
func (s *Server) deviceFlowError(code string) error {
	switch code {
	case "expired_token":
		return badRequest("expired_token: the code expired before it was entered and approved on GitHub: log in again")
	case "access_denied":
		return badRequest("access_denied: the login was declined on GitHub")
	case "incorrect_device_code":
		return badRequest("incorrect_device_code: GitHub does not know this device code: log in again")
	case "device_flow_disabled":
		return badRequest("device_flow_disabled: the GitHub OAuth App of --github-client-id %q does not have the device flow enabled: enable it in the app's settings", s.cfg.DeviceFlow.ClientID)
	case "incorrect_client_credentials":
		return badRequest("incorrect_client_credentials: GitHub does not know the OAuth App client id %q given to serve --github-client-id", s.cfg.DeviceFlow.ClientID)
	}
	if len(code) > 64 {
		code = code[:64]
	}
	return errorf(KindBadGateway, "github answered the device flow with error %q", code)
}

// githubOAuth posts a form to one of GitHub's OAuth endpoints and reads the
// answer, JSON or form-encoded (GitHub sends form-encoded unless asked for
// JSON). GitHub answers its OAuth errors with HTTP 200 and an error field.
func (s *Server) githubOAuth(ctx context.Context, path string, form url.Values) (url.Values, error) {
	endpoint := s.cfg.DeviceFlow.GitHubURL + path
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, internal("ask github", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "runtime-action-server")
	resp, err := s.cfg.GitHubClient.Do(req)
	if err != nil {
		return nil, &Error{Kind: KindBadGateway, Detail: fmt.Sprintf("cannot reach github at %q: try again later", endpoint), Err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return nil, &Error{Kind: KindBadGateway, Detail: "read github's answer to POST " + path, Err: err}
	}
	ans, ok := parseOAuthAnswer(resp.Header.Get("Content-Type"), body)
	switch {
	case ok && ans.Get("error") != "":
		return ans, nil
	case resp.StatusCode != http.StatusOK:
		return nil, errorf(KindBadGateway, "github answered HTTP %d to POST %s", resp.StatusCode, path)
	case !ok:
		return nil, errorf(KindBadGateway, "github's answer to POST %s is neither JSON nor form-encoded", path)
	}
	return ans, nil
}

// parseOAuthAnswer reads a flat JSON object (numbers as their decimal text)
// or a form-encoded body.
func parseOAuthAnswer(contentType string, body []byte) (url.Values, bool) {
	ct, _, _ := mime.ParseMediaType(contentType)
	if ct == "application/json" {
		var m map[string]any
		if json.Unmarshal(body, &m) != nil {
			return nil, false
		}
		v := url.Values{}
		for k, x := range m {
			switch x := x.(type) {
			case string:
				v.Set(k, x)
			case float64:
				v.Set(k, strconv.FormatFloat(x, 'f', -1, 64))
			}
		}
		return v, true
	}
	v, err := url.ParseQuery(string(body))
	return v, err == nil
}

// webURL accepts the http(s) address a user is sent to.
func webURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != ""
}
