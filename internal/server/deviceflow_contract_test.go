package server

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dlthub/runtime-action/internal/githubtest"
)

// TestDeviceFlowContract: with --github-client-id, both device flow
// operations answer with the statuses and bodies the contract gives them
// (TestContract sees them only without, when they answer 400).
func TestDeviceFlowContract(t *testing.T) {
	t.Parallel()
	c := loadContract(t)
	e, gh, clock := deviceEnv(t, githubtest.Options{})
	check := func(opID string, r resp, want int) map[string]any {
		t.Helper()
		if r.status != want {
			t.Fatalf("%s: HTTP %d, want %d: %s", opID, r.status, want, r.body)
		}
		schema, mediaType, listed := c.responseSchema(t, c.ops[opID], r.status)
		if !listed || mediaType != "application/json" || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
			t.Fatalf("%s: HTTP %d (%s) is not what the contract lists", opID, r.status, r.header.Get("Content-Type"))
		}
		dec := json.NewDecoder(bytes.NewReader(r.body))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("%s: not JSON: %s", opID, r.body)
		}
		for _, msg := range c.validate(t, schema, v, "body") {
			t.Errorf("%s: HTTP %d: %s", opID, r.status, msg)
		}
		m, _ := v.(map[string]any)
		return m
	}
	start := check("github_oauth_start", e.do(t, http.MethodPost, "/auth/v1/github/device-flow/code", "", nil, ""), http.StatusCreated)
	code, _ := start["device_code"].(string)
	pending := check("github_oauth_complete", e.devicePoll(t, code), http.StatusBadRequest)
	if pending["detail"] != "authorization_pending" {
		t.Errorf("pending detail %v, want exactly authorization_pending", pending["detail"])
	}
	gh.Approve(start["user_code"].(string), githubtest.User{Login: "alice", ID: 583231})
	clock.add(5 * time.Second)
	check("github_oauth_complete", e.devicePoll(t, code), http.StatusCreated)
}
