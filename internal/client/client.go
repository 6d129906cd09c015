// Package client is the HTTP client of the Runtime API and auth services
// (contract: docs/runtime-v1.openapi.yaml) with the wire types of
// internal/api. It retries what is safe to retry, never starts a run twice,
// turns every failure into a typed error that names the call, and follows a
// run's log over the stream extension or, without it, by polling.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/dlthub/runtime-action/internal/api"
)

// Options configure a Client. Zero values mean the documented defaults.
type Options struct {
	// APIBaseURL and AuthBaseURL are the services' base URLs, e.g.
	// http://127.0.0.1:30000 and http://127.0.0.1:30000/auth; a trailing
	// slash is tolerated.
	APIBaseURL, AuthBaseURL string
	// Token is the bearer JWT. It is never logged and never put in an error.
	Token string
	// HTTP is the client to send with; nil means one with dial, TLS and
	// response header timeouts but no overall timeout, as log streams are long.
	HTTP *http.Client
	// UserAgent defaults to "runtime-action/dev".
	UserAgent string
	// Retry bounds the retries of safe calls; the zero value is the default policy.
	Retry RetryPolicy
	// Now and Sleep are the clock; tests replace them so backoffs take no time.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
	// Rand returns a number in [0, 1) for backoff jitter.
	Rand func() float64
	// PollInterval is the log polling interval when the server has no log
	// stream (default 2s).
	PollInterval time.Duration
	// RequestTimeout bounds one attempt of a call (default 60s); UploadTimeout
	// one attempt of a package upload (default 5m).
	RequestTimeout, UploadTimeout time.Duration
	// StreamIdleTimeout is how long a log stream may stay silent before it is
	// dropped and resumed (default 5m): it catches connections that died
	// without a reset.
	StreamIdleTimeout time.Duration
	// MaxResponseBytes bounds an answer's body (default 256 MiB; logs can be long).
	MaxResponseBytes int64
	// Logf, when set, hears about retries and fallbacks (never tokens).
	Logf func(format string, args ...any)
}

// RetryPolicy is exponential backoff with full jitter: before attempt n+1 the
// client sleeps a random duration in [0, min(Max, Base*2^(n-1))), or what a
// Retry-After header asks, up to MaxRetryAfter.
type RetryPolicy struct {
	// MaxAttempts counts the first attempt too (default 5).
	MaxAttempts int
	// Base is the first backoff ceiling (default 500ms), Max the largest (default 10s).
	Base, Max time.Duration
	// MaxRetryAfter caps a server's Retry-After (default 60s), so a confused
	// server cannot park a CI job for hours.
	MaxRetryAfter time.Duration
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = 5
	}
	if p.Base <= 0 {
		p.Base = 500 * time.Millisecond
	}
	if p.Max <= 0 {
		p.Max = 10 * time.Second
	}
	if p.MaxRetryAfter <= 0 {
		p.MaxRetryAfter = 60 * time.Second
	}
	return p
}

// Client talks to one Runtime. It is safe for concurrent use.
type Client struct {
	api, auth      endpoint
	token          string
	hc             *http.Client
	userAgent      string
	retry          RetryPolicy
	now            func() time.Time
	sleep          func(ctx context.Context, d time.Duration) error
	rand           func() float64
	pollInterval   time.Duration
	requestTimeout time.Duration
	uploadTimeout  time.Duration
	streamIdle     time.Duration
	maxBody        int64
	logf           func(format string, args ...any)
}

// endpoint is one service's base URL, split so that paths can be joined
// without re-escaping them.
type endpoint struct {
	// display is scheme://host/path without credentials or query, for errors.
	display string
	// err is set when the base URL could not be used; calls fail with it.
	err  error
	base *url.URL
	name string
}

// New makes a Client; it never fails, a bad base URL makes every call fail
// with an error that says so.
func New(o Options) *Client {
	c := &Client{
		api:            parseEndpoint(o.APIBaseURL, "Runtime", "API"),
		auth:           parseEndpoint(o.AuthBaseURL, "Runtime auth service", "auth"),
		token:          strings.TrimSpace(o.Token),
		hc:             o.HTTP,
		userAgent:      o.UserAgent,
		retry:          o.Retry.withDefaults(),
		now:            o.Now,
		sleep:          o.Sleep,
		rand:           o.Rand,
		pollInterval:   o.PollInterval,
		requestTimeout: o.RequestTimeout,
		uploadTimeout:  o.UploadTimeout,
		streamIdle:     o.StreamIdleTimeout,
		maxBody:        o.MaxResponseBytes,
		logf:           o.Logf,
	}
	if c.hc == nil {
		c.hc = defaultHTTPClient()
	}
	if c.userAgent == "" {
		c.userAgent = "runtime-action/dev"
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.sleep == nil {
		c.sleep = sleepCtx
	}
	if c.rand == nil {
		c.rand = rand.Float64
	}
	if c.pollInterval <= 0 {
		c.pollInterval = 2 * time.Second
	}
	if c.requestTimeout <= 0 {
		c.requestTimeout = 60 * time.Second
	}
	if c.uploadTimeout <= 0 {
		c.uploadTimeout = 5 * time.Minute
	}
	if c.streamIdle <= 0 {
		c.streamIdle = 5 * time.Minute
	}
	if c.maxBody <= 0 {
		c.maxBody = 256 << 20
	}
	if c.logf == nil {
		c.logf = func(string, ...any) {}
	}
	return c
}

func defaultHTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.TLSHandshakeTimeout = 10 * time.Second
	t.ResponseHeaderTimeout = 60 * time.Second
	return &http.Client{Transport: t}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func parseEndpoint(raw, name, kind string) endpoint {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return endpoint{name: name, err: fmt.Errorf("no %s URL is set", kind)}
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		// The URL is not echoed whole: it may carry credentials.
		return endpoint{name: name, err: fmt.Errorf("the %s URL is not an http(s) URL with a host", kind)}
	}
	u.User, u.RawQuery, u.Fragment, u.ForceQuery = nil, "", "", false
	if u.RawPath == "" {
		// Tolerate "http://host/" + "/auth" and similar joins.
		u.Path = strings.TrimRight(path.Clean("/"+u.Path), "/")
	} else {
		u.Path = strings.TrimRight(u.Path, "/")
		u.RawPath = strings.TrimRight(u.RawPath, "/")
	}
	return endpoint{name: name, base: u, display: u.Scheme + "://" + u.Host + u.EscapedPath()}
}

// apiPath is a request path made of segments, kept both escaped (what goes
// on the wire, and into errors) and unescaped (URL.Path), so that Go sends a
// name like "jobs/load.py" as the single segment "jobs%2Fload.py".
type apiPath struct{ raw, escaped string }

func pathOf(segments ...string) apiPath {
	var raw, esc strings.Builder
	for _, s := range segments {
		raw.WriteString("/" + s)
		e := url.PathEscape(s)
		if s == "." || s == ".." {
			// A dot segment would be resolved away by servers and proxies.
			e = strings.ReplaceAll(s, ".", "%2E")
		}
		esc.WriteString("/" + e)
	}
	return apiPath{raw: raw.String(), escaped: esc.String()}
}

// retryMode says when a failed call may be sent again.
type retryMode int

const (
	// retrySafe: repeating the call cannot do harm (reads, and writes the
	// contract makes idempotent).
	retrySafe retryMode = iota
	// retryUnsent: only when nothing reached the server (connection refused)
	// or the server said 429.
	retryUnsent
)

// call is one logical request; do may send it several times.
type call struct {
	ep          *endpoint
	method      string
	path        apiPath
	query       url.Values
	body        []byte
	contentType string
	accept      string
	withToken   bool
	retry       retryMode
	timeout     time.Duration
	// secrets are values sent in the body that an error detail might echo.
	secrets []string
	// attempts is set by do to how many attempts were made.
	attempts int
}

// outcome is how one attempt ended.
type outcome struct {
	err error
	// status is the HTTP status, 0 when no answer arrived.
	status int
	// sent: the request may have reached the server.
	sent bool
	// transient: another attempt may well succeed.
	transient  bool
	retryAfter time.Duration
	hasAfter   bool
}

func (c *Client) newRequest(ctx context.Context, cl *call) (*http.Request, error) {
	if cl.ep.err != nil {
		return nil, cl.ep.err
	}
	u := *cl.ep.base
	u.Path = cl.ep.base.Path + cl.path.raw
	u.RawPath = cl.ep.base.EscapedPath() + cl.path.escaped
	u.RawQuery = cl.query.Encode()
	var body io.Reader
	if cl.body != nil {
		body = bytes.NewReader(cl.body)
	}
	req, err := http.NewRequestWithContext(ctx, cl.method, u.String(), body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", c.userAgent)
	accept := cl.accept
	if accept == "" {
		accept = "application/json"
	}
	req.Header.Set("Accept", accept)
	if cl.contentType != "" {
		req.Header.Set("Content-Type", cl.contentType)
	}
	if cl.withToken && c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	return req, nil
}

// once sends the call one time and decodes a 2xx answer into out, then runs
// check on it to catch JSON of the wrong shape.
func (c *Client) once(ctx context.Context, cl *call, out any, check func() error) outcome {
	timeout := cl.timeout
	if timeout <= 0 {
		timeout = c.requestTimeout
	}
	actx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var sent bool
	trace := &httptrace.ClientTrace{WroteHeaders: func() { sent = true }}
	req, err := c.newRequest(httptrace.WithClientTrace(actx, trace), cl)
	if err != nil {
		return outcome{err: fmt.Errorf("%s %s: %w", cl.method, cl.path.escaped, err)}
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return c.transportOutcome(ctx, actx, cl, err, sent, timeout)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.maxBody+1))
	if err != nil {
		return c.transportOutcome(ctx, actx, cl, err, true, timeout)
	}
	if int64(len(body)) > c.maxBody {
		return outcome{status: resp.StatusCode, sent: true, err: &Error{Method: cl.method, Path: cl.path.escaped, Status: resp.StatusCode,
			NotAPI: true, ContentType: mediaType(resp.Header), Reason: fmt.Sprintf("the answer is larger than %d bytes", c.maxBody)}}
	}
	o := outcome{status: resp.StatusCode, sent: true}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		o.err = c.errorFrom(cl, resp, body)
		switch resp.StatusCode {
		case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			o.transient = true
			o.retryAfter, o.hasAfter = parseRetryAfter(resp.Header.Get("Retry-After"), c.now())
		}
		return o
	}
	if out == nil {
		return o
	}
	ct := mediaType(resp.Header)
	if !isJSON(ct) {
		o.err = &Error{Method: cl.method, Path: cl.path.escaped, Status: resp.StatusCode, NotAPI: true, ContentType: ct}
		return o
	}
	if err := json.Unmarshal(body, out); err != nil {
		o.err = &Error{Method: cl.method, Path: cl.path.escaped, Status: resp.StatusCode, NotAPI: true, ContentType: ct, Reason: jsonReason(err)}
		return o
	}
	if check != nil {
		if err := check(); err != nil {
			o.err = &Error{Method: cl.method, Path: cl.path.escaped, Status: resp.StatusCode, NotAPI: true, ContentType: ct, Reason: err.Error()}
		}
	}
	return o
}

func (c *Client) transportOutcome(ctx, actx context.Context, cl *call, err error, sent bool, timeout time.Duration) outcome {
	if ctx.Err() != nil {
		return outcome{err: fmt.Errorf("%s %s: %w", cl.method, cl.path.escaped, ctx.Err()), sent: sent}
	}
	var inner error = err
	var ue *url.Error
	if errors.As(err, &ue) {
		// url.Error repeats the whole URL, query and all.
		inner = ue.Err
	}
	reason := connReason(inner)
	if actx.Err() != nil {
		reason = fmt.Sprintf("no answer within %s", timeout)
	}
	return outcome{sent: sent, transient: true, err: &ConnError{
		Method: cl.method, Path: cl.path.escaped, Service: cl.ep.name, URL: cl.ep.display, Reason: reason, Err: inner,
	}}
}

// do sends the call, retrying as its retryMode allows, and decodes the answer.
func (c *Client) do(ctx context.Context, cl *call, out any, check func() error) error {
	for attempt := 1; ; attempt++ {
		cl.attempts = attempt
		o := c.once(ctx, cl, out, check)
		if o.err == nil {
			return nil
		}
		if ctx.Err() != nil || !o.transient {
			return o.err
		}
		if cl.retry == retryUnsent && o.sent && o.status != http.StatusTooManyRequests {
			return o.err
		}
		if attempt >= c.retry.MaxAttempts {
			return gaveUp(o.err, attempt)
		}
		wait := c.backoff(attempt, o)
		c.logf("%s %s: %v; retrying in %s", cl.method, cl.path.escaped, o.err, wait.Round(time.Millisecond))
		if err := c.sleep(ctx, wait); err != nil {
			return fmt.Errorf("%s %s: %w (while waiting to retry after: %v)", cl.method, cl.path.escaped, err, o.err)
		}
	}
}

// backoff is the wait before attempt+1: a server's Retry-After when it gave
// one, otherwise full jitter.
func (c *Client) backoff(attempt int, o outcome) time.Duration {
	if o.hasAfter {
		return min(o.retryAfter, c.retry.MaxRetryAfter)
	}
	ceil := c.retry.Base
	for i := 1; i < attempt && ceil < c.retry.Max; i++ {
		ceil *= 2
	}
	ceil = min(ceil, c.retry.Max)
	return time.Duration(c.rand() * float64(ceil))
}

// parseRetryAfter reads delay-seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.Atoi(v); err == nil {
		return time.Duration(max(secs, 0)) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

func mediaType(h http.Header) string {
	ct := h.Get("Content-Type")
	if ct == "" {
		return "none"
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return "invalid"
	}
	return mt
}

func isJSON(mt string) bool {
	return mt == "application/json" || (strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"))
}

func jsonReason(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field != "" {
			return fmt.Sprintf("%q is a JSON %s", te.Field, te.Value)
		}
		return fmt.Sprintf("the body is a JSON %s", te.Value)
	}
	return "the body is not valid JSON"
}

// errorFrom turns a non-2xx answer into an *Error, scrubbing anything secret
// the server may have echoed (FastAPI's validation errors repeat the input).
func (c *Client) errorFrom(cl *call, resp *http.Response, body []byte) *Error {
	e := &Error{Method: cl.method, Path: cl.path.escaped, Status: resp.StatusCode}
	ct := mediaType(resp.Header)
	var present map[string]json.RawMessage
	var er api.ErrorResponse
	if !isJSON(ct) || json.Unmarshal(body, &present) != nil || json.Unmarshal(body, &er) != nil {
		e.NotAPI, e.ContentType = true, ct
		return e
	}
	if _, ok := present["detail"]; !ok {
		if _, ok := present["status_code"]; !ok {
			e.NotAPI, e.ContentType = true, ct
			return e
		}
	}
	secrets := append([]string{c.token}, cl.secrets...)
	e.Detail = scrub(er.Detail, secrets)
	if er.Extra != nil {
		e.Extra = scrubAny(er.Extra, secrets).(map[string]any)
	}
	return e
}

func scrub(s string, secrets []string) string {
	for _, sec := range secrets {
		if len(sec) >= 4 {
			s = strings.ReplaceAll(s, sec, "***")
		}
	}
	return s
}

func scrubAny(v any, secrets []string) any {
	switch t := v.(type) {
	case string:
		return scrub(t, secrets)
	case map[string]any:
		if t == nil {
			return t
		}
		m := make(map[string]any, len(t))
		for k, x := range t {
			m[scrub(k, secrets)] = scrubAny(x, secrets)
		}
		return m
	case []any:
		l := make([]any, len(t))
		for i, x := range t {
			l[i] = scrubAny(x, secrets)
		}
		return l
	}
	return v
}
