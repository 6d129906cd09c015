package server

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/dlthub/runtime-action/internal/api"
)

// withHost sends a request as e.do does, with a Host header of the
// caller's choosing.
func withHost(t *testing.T, e *testEnv, method, path, host string, body any) resp {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, e.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	req.Header.Set("Authorization", "Bearer "+e.token)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{status: res.StatusCode, header: res.Header, body: b}
}

// TestLinksIgnoreHost: script_url and app links come from --public-url, or
// else the listen address; a request's Host header changes none of them.
func TestLinksIgnoreHost(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, public, want string
	}{
		{"listen address", "", ""},
		{"public URL", "https://rt.example.com/", "https://rt.example.com"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, func(c *Config) { c.PublicURL = tc.public })
			want := tc.want
			if want == "" {
				want = e.url
			}
			const evil = "evil.example:8080"
			r := withHost(t, e, http.MethodPost, e.wsPath("/scripts"), evil,
				map[string]any{"name": "app.py", "entry_point": "app.py", "description": "", "script_type": "interactive"})
			var sc api.Script
			r.decode(t, &sc)
			if !strings.HasPrefix(sc.ScriptURL, want+"/apps/") {
				t.Errorf("script_url %q, want it under %s", sc.ScriptURL, want)
			}
			r = withHost(t, e, http.MethodGet, e.wsPath("/scripts/app.py"), evil, nil)
			var got api.DetailedScript
			r.decode(t, &got)
			if got.ScriptURL != sc.ScriptURL {
				t.Errorf("script_url read back %q, want %q", got.ScriptURL, sc.ScriptURL)
			}
			if strings.Contains(string(r.body), "evil.example") {
				t.Errorf("answer names the Host header: %s", r.body)
			}
			r = withHost(t, e, http.MethodPost, e.wsPath("/scripts/app.py/app-link"), evil, nil)
			var link api.AppLinkResponse
			r.decode(t, &link)
			if !strings.HasPrefix(link.URL, sc.ScriptURL+"?access=") {
				t.Errorf("app link %.60q..., want it under %s", link.URL, sc.ScriptURL)
			}
		})
	}
}
