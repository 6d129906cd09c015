package deploy

import (
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/dlthub/runtime-action/internal/client"
)

// TestResolveSettings: each value comes with where it came from; flags win,
// then variables, the workspace's files, the global folder; the auth URL
// defaults to the API URL's /auth once, and follows a replaced API URL.
func TestResolveSettings(t *testing.T) {
	home := t.TempDir()
	root := t.TempDir()
	writeFiles(t, home, map[string]string{".dlt/secrets.toml": "[runtime]\nauth_token = \"global-token\"\napi_base_url = \"https://global.example\"\n"})
	writeFiles(t, root, map[string]string{".dlt/config.toml": "[runtime]\nworkspace_id = \"ws-file\"\nauth_base_url = \"https://auth.example\"\n"})
	wsFile := filepath.Join(root, ".dlt", "config.toml")
	global := filepath.Join(home, ".dlt", "secrets.toml")
	for _, tc := range []struct {
		name string
		env  map[string]string
		over Overrides
		root string
		want Settings
	}{
		{"files", nil, Overrides{}, root, Settings{
			APIURL:      Setting{"https://global.example", Source{FromGlobal, global}},
			AuthURL:     Setting{"https://auth.example", Source{FromWorkspace, wsFile}},
			WorkspaceID: Setting{"ws-file", Source{FromWorkspace, wsFile}},
			Token:       Setting{"global-token", Source{FromGlobal, global}},
		}},
		{"env and flags win", map[string]string{"RUNTIME__AUTH_TOKEN": "env-token", "RUNTIME__API_BASE_URL": "https://env.example/"},
			Overrides{WorkspaceID: Override{"ws-flag", "--workspace-id"}}, "", Settings{
				APIURL:      Setting{"https://env.example/", Source{FromEnv, "RUNTIME__API_BASE_URL"}},
				AuthURL:     Setting{"https://env.example/auth", Source{FromDefault, "the API URL's /auth"}},
				WorkspaceID: Setting{"ws-flag", Source{FromFlag, "--workspace-id"}},
				Token:       Setting{"env-token", Source{FromEnv, "RUNTIME__AUTH_TOKEN"}},
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ResolveSettings(tc.root, func(k string) string { return tc.env[k] }, home, tc.over)
			if err != nil {
				t.Fatal(err)
			}
			got.Root, got.GlobalDir = "", ""
			if got != tc.want {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
	// The post step puts the saved API URL in: a derived auth URL follows
	// it, the workspace's own auth URL stays.
	set, _ := ResolveSettings("", func(string) string { return "" }, home, Overrides{})
	set.SetAPIURL(Setting{"http://saved:1", Source{FromFlag, "state"}})
	if set.AuthURL.Value != "http://saved:1/auth" {
		t.Errorf("derived auth URL %q", set.AuthURL.Value)
	}
	set, _ = ResolveSettings(root, func(string) string { return "" }, home, Overrides{})
	set.SetAPIURL(Setting{"http://saved:1", Source{FromFlag, "state"}})
	if set.AuthURL.Value != "https://auth.example" {
		t.Errorf("the workspace's auth URL was replaced: %q", set.AuthURL.Value)
	}
}

// TestExitCodeAndTitle: one table from error to exit code and annotation
// title, by type, never by message.
func TestExitCodeAndTitle(t *testing.T) {
	conn := &client.ConnError{Service: "Runtime", URL: "http://x", Reason: "connection refused"}
	refused := &client.Error{Method: "GET", Path: "/v1/me", Status: http.StatusUnauthorized}
	for _, tc := range []struct {
		name  string
		err   error
		code  int
		title string
	}{
		{"nil", nil, ExitOK, ""},
		{"plain", errors.New("unauthorized connection refused"), ExitError, "runtime-action failed"},
		{"unreachable, wrapped", fmt.Errorf("list runs: %w", conn), ExitConnection, "Runtime unreachable"},
		{"refused", fmt.Errorf("get: %w", refused), ExitAuth, "Runtime token refused"},
		{"usage", &Error{Class: ClassUsage, Err: errors.New("x")}, ExitUsage, "Invalid input"},
		{"failed run", &Error{Class: ClassRunFailed, Title: "Run skipped", Err: errors.New("x")}, ExitFailed, "Run skipped"},
		{"cancelled", &Error{Class: ClassCancelled, Err: errors.New("x")}, ExitCancelled, "Run cancelled"},
		{"timeout", &Error{Class: ClassTimeout, Err: errors.New("x")}, ExitTimeout, "Run timed out"},
		{"interrupted", &Error{Class: ClassInterrupted, Err: errors.New("x")}, ExitInterrupt, "Workflow cancelled"},
		{"in a phase", inPhase(PhaseDeployment, errors.New("x")), ExitError, "Deployment sync failed"},
		{"unreachable in a phase", inPhase(PhaseScript, conn), ExitConnection, "Runtime unreachable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ExitCode(tc.err); got != tc.code {
				t.Errorf("ExitCode = %d, want %d", got, tc.code)
			}
			if tc.err != nil && Title(tc.err) != tc.title {
				t.Errorf("Title = %q, want %q", Title(tc.err), tc.title)
			}
		})
	}
}
