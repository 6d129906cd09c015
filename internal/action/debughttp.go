package action

import (
	"fmt"
	"net/http"
	"time"

	"github.com/sethvargo/go-githubactions"

	"github.com/dlthub/runtime-action/internal/client"
)

// debugHTTP turns on request-level debug lines when the job is re-run with
// debug logging (the runner sets RUNNER_DEBUG=1): each call to the Runtime
// as method, URL, status and time, and the client's retries and fallbacks,
// as ::debug:: lines, which the runner shows only in debug runs. They go
// through the masker, and carry no header (the token travels in one).
func (s *step) debugHTTP(opts client.Options) client.Options {
	if s.a.Getenv("RUNNER_DEBUG") != "1" {
		return opts
	}
	hc := opts.HTTP
	if hc == nil {
		hc = &http.Client{}
	}
	base := hc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	wrapped := *hc
	wrapped.Transport = debugTransport{base: base, a: s.a, m: s.m}
	opts.HTTP = &wrapped
	prev := opts.Logf
	opts.Logf = func(format string, args ...any) {
		s.debugf("runtime client: "+format, args...)
		if prev != nil {
			prev(format, args...)
		}
	}
	return opts
}

func (s *step) debugf(format string, args ...any) {
	debugLine(s.a, s.m, format, args...)
}

func debugLine(a *githubactions.Action, m *masker, format string, args ...any) {
	// Formatted first, then redacted: a secret may be split across args.
	msg := fmt.Sprintf(format, args...)
	if m != nil {
		msg = m.Redact(msg)
	}
	a.Debugf("%s", msg)
}

// debugTransport prints one debug line per request.
type debugTransport struct {
	base http.RoundTripper
	a    *githubactions.Action
	m    *masker
}

func (d debugTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := d.base.RoundTrip(r)
	took := time.Since(start).Round(time.Millisecond)
	u := *r.URL
	u.User = nil
	if err != nil {
		debugLine(d.a, d.m, "%s %s: %v after %s", r.Method, u.String(), err, took)
		return resp, err
	}
	debugLine(d.a, d.m, "%s %s: %s in %s", r.Method, u.String(), resp.Status, took)
	return resp, nil
}
