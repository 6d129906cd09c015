package client

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dlthub/runtime-action/internal/api"
)

// TestAppLink: the extension's answer is read, the name goes as one path
// segment, and a Runtime without the endpoint (dltHub's) gives an error the
// CLI falls back on.
func TestAppLink(t *testing.T) {
	f := newFake(t)
	c := New(Options{APIBaseURL: f.srv.URL, Token: testToken})
	ctx := context.Background()

	if _, err := c.AppLink(ctx, testWS, "tools/dash.py"); err == nil || !strings.Contains(err.Error(), "HTTP 404") {
		t.Errorf("without the extension: %v, want a 404", err)
	}
	exp := time.Date(2026, 1, 2, 3, 9, 5, 0, time.UTC)
	tests := []struct {
		name   string
		answer any
		ok     bool
	}{
		{"link", api.AppLinkResponse{URL: "http://rt/apps/ws/tools/dash.py/?access=x", ExpiresAt: api.NewTime(exp)}, true},
		{"no url", map[string]any{"expires_at": exp}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var path, auth string
			f.setInject(func(w http.ResponseWriter, r *http.Request) bool {
				if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/app-link") {
					return false
				}
				path, auth = r.URL.EscapedPath(), r.Header.Get("Authorization")
				writeJSON(w, http.StatusCreated, tt.answer)
				return true
			})
			link, err := c.AppLink(ctx, testWS, "tools/dash.py")
			if path != "/v1/workspaces/"+testWS+"/scripts/tools%2Fdash.py/app-link" || auth != "Bearer "+testToken {
				t.Errorf("sent POST %s with Authorization %q", path, auth)
			}
			if tt.ok && (err != nil || link.URL != "http://rt/apps/ws/tools/dash.py/?access=x" || !link.ExpiresAt.Equal(exp)) {
				t.Errorf("AppLink = %+v, %v", link, err)
			}
			if !tt.ok && err == nil {
				t.Errorf("AppLink accepted %+v", tt.answer)
			}
		})
	}
	if _, err := c.AppLink(ctx, testWS, ""); err == nil {
		t.Error("no script name: no error")
	}
}
