package server

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dlthub/runtime-action/internal/api"
	"github.com/dlthub/runtime-action/internal/githubtest"
)

const testClientID = "Ov23liTestClientID"

// deviceEnv is a server relaying the device flow to a stand-in of GitHub,
// both on one settable clock.
func deviceEnv(t *testing.T, opt githubtest.Options) (*testEnv, *githubtest.Server, *testClock) {
	t.Helper()
	clock := &testClock{t: time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)}
	opt.ClientID, opt.Now = testClientID, clock.now
	gh := githubtest.Start(opt)
	t.Cleanup(gh.Close)
	e := newEnv(t, func(c *Config) {
		c.DeviceFlow = DeviceFlowConfig{ClientID: testClientID, GitHubURL: gh.URL}
		c.GitHubAPIURL = gh.URL
		c.Now = clock.now
	})
	if err := e.srv.Admin().AllowGitHub(context.Background(), "alice", ""); err != nil {
		t.Fatal(err)
	}
	return e, gh, clock
}

func (e *testEnv) deviceStart(t *testing.T) api.GithubDeviceFlowStartResponse {
	t.Helper()
	r := e.do(t, http.MethodPost, "/auth/v1/github/device-flow/code", "", nil, "")
	var start api.GithubDeviceFlowStartResponse
	r.decode(t, &start)
	if r.status != http.StatusCreated || start.DeviceCode == "" || start.UserCode == "" || start.Interval != 5 ||
		!strings.HasSuffix(start.VerificationURI, "/login/device") {
		t.Fatalf("start: %d %s", r.status, r.body)
	}
	return start
}

func (e *testEnv) devicePoll(t *testing.T, code string) resp {
	t.Helper()
	return e.do(t, http.MethodPost, "/auth/v1/github/device-flow/token", "", strings.NewReader(`{"device_code":"`+code+`"}`), "application/json")
}

// TestDeviceFlowLogin: pending while the user has not approved, and a
// Runtime token for an allowed user once they did; the token works. GitHub
// answering form-encoded (as it does when JSON is not asked for, e.g.
// behind a proxy that drops Accept) is read as well as JSON.
func TestDeviceFlowLogin(t *testing.T) {
	t.Parallel()
	for _, formOnly := range []bool{false, true} {
		t.Run(map[bool]string{false: "json", true: "form-encoded"}[formOnly], func(t *testing.T) {
			t.Parallel()
			testDeviceFlowLogin(t, githubtest.Options{FormOnly: formOnly})
		})
	}
}

func testDeviceFlowLogin(t *testing.T, opt githubtest.Options) {
	e, gh, clock := deviceEnv(t, opt)
	start := e.deviceStart(t)
	r := e.devicePoll(t, start.DeviceCode)
	if r.status != http.StatusBadRequest || r.detail(t) != "authorization_pending" {
		t.Fatalf("before approval: %d %s, want 400 authorization_pending", r.status, r.body)
	}
	gh.Approve(start.UserCode, githubtest.User{Login: "alice", ID: 583231, Email: "alice@example.com"})
	clock.add(5 * time.Second)
	r = e.devicePoll(t, start.DeviceCode)
	var lr api.LoginResponse
	r.decode(t, &lr)
	if r.status != http.StatusCreated || lr.Email != "alice@example.com" || lr.ID == "" || lr.JWT == "" {
		t.Fatalf("after approval: %d %s", r.status, r.body)
	}
	var me api.Me
	r = e.do(t, http.MethodGet, "/v1/me", lr.JWT, nil, "")
	r.decode(t, &me)
	if r.status != http.StatusOK || me.UserID != lr.ID || me.DefaultWorkspace.ID != e.ws {
		t.Errorf("me with the device flow's token: %d %s", r.status, r.body)
	}
	if strings.Contains(string(r.body), "gho_") {
		t.Error("GitHub's access token reached an answer")
	}
	// The code is used up.
	clock.add(5 * time.Second)
	if r := e.devicePoll(t, start.DeviceCode); r.status != http.StatusBadRequest || !strings.HasPrefix(r.detail(t), "incorrect_device_code") {
		t.Errorf("second use of the code: %d %s", r.status, r.body)
	}
}

// TestDeviceFlowPacing: the server asks GitHub no more often than GitHub
// said, and slow_down raises that interval while dlt's client, which knows
// only authorization_pending, keeps polling at its own.
func TestDeviceFlowPacing(t *testing.T) {
	t.Parallel()
	e, gh, clock := deviceEnv(t, githubtest.Options{})
	start := e.deviceStart(t)
	poll := func(wantAsked int) {
		t.Helper()
		r := e.devicePoll(t, start.DeviceCode)
		if r.status != http.StatusBadRequest || r.detail(t) != "authorization_pending" {
			t.Fatalf("poll: %d %s, want 400 authorization_pending", r.status, r.body)
		}
		if got := gh.TokenRequests(); got != wantAsked {
			t.Fatalf("GitHub asked %d times, want %d", got, wantAsked)
		}
	}
	poll(1)
	clock.add(2 * time.Second)
	poll(1) // too early: answered without asking GitHub
	clock.add(3 * time.Second)
	gh.SlowDown(start.UserCode)
	poll(2) // slow_down: the interval becomes 10s
	clock.add(5 * time.Second)
	poll(2)
	clock.add(5 * time.Second)
	poll(3)
	gh.Approve(start.UserCode, githubtest.User{Login: "alice", ID: 583231})
	clock.add(10 * time.Second)
	r := e.devicePoll(t, start.DeviceCode)
	var lr api.LoginResponse
	r.decode(t, &lr)
	if r.status != http.StatusCreated || lr.Email != "alice@users.noreply.github.com" {
		t.Fatalf("after approval: %d %s", r.status, r.body)
	}
}

// TestDeviceFlowRefusals: each way a device flow ends without a login is a
// 400 whose detail starts with GitHub's error code and says what to do.
func TestDeviceFlowRefusals(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		user func(gh *githubtest.Server, code string)
		want string
	}{
		{"denied", func(gh *githubtest.Server, code string) { gh.Deny(code) }, "access_denied: the login was declined on GitHub"},
		{"expired", func(gh *githubtest.Server, code string) { gh.Expire(code) }, "expired_token: the code expired"},
		{"not allowed", func(gh *githubtest.Server, code string) {
			gh.Approve(code, githubtest.User{Login: "mallory", ID: 7})
		}, `github user "mallory" is not allowed on this Runtime`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e, gh, _ := deviceEnv(t, githubtest.Options{})
			start := e.deviceStart(t)
			tc.user(gh, start.UserCode)
			r := e.devicePoll(t, start.DeviceCode)
			if r.status != http.StatusBadRequest || !strings.HasPrefix(r.detail(t), tc.want) {
				t.Errorf("got %d %q, want 400 %q", r.status, r.detail(t), tc.want)
			}
		})
	}
	t.Run("unknown device code", func(t *testing.T) {
		t.Parallel()
		e, _, _ := deviceEnv(t, githubtest.Options{})
		if r := e.devicePoll(t, "made-up"); r.status != http.StatusBadRequest || !strings.HasPrefix(r.detail(t), "incorrect_device_code") {
			t.Errorf("got %d %s", r.status, r.body)
		}
		if r := e.devicePoll(t, ""); r.status != http.StatusBadRequest || !strings.Contains(r.detail(t), `"device_code" must not be empty`) {
			t.Errorf("empty code: %d %s", r.status, r.body)
		}
	})
	t.Run("device flow disabled in the app", func(t *testing.T) {
		t.Parallel()
		e, _, _ := deviceEnv(t, githubtest.Options{DeviceFlowDisabled: true})
		r := e.do(t, http.MethodPost, "/auth/v1/github/device-flow/code", "", nil, "")
		if r.status != http.StatusBadRequest || !strings.Contains(r.detail(t), "does not have the device flow enabled") {
			t.Errorf("got %d %s", r.status, r.body)
		}
	})
}

// TestDeviceFlowFormAnswers: GitHub answers form-encoded unless asked for
// JSON; the relay reads both.
func TestDeviceFlowFormAnswers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ contentType, body string }{
		{"application/x-www-form-urlencoded; charset=utf-8", "device_code=dc&expires_in=900&interval=7&user_code=AB-CD&verification_uri=https%3A%2F%2Fgithub.com%2Flogin%2Fdevice"},
		{"application/json; charset=utf-8", `{"device_code":"dc","expires_in":900,"interval":7,"user_code":"AB-CD","verification_uri":"https://github.com/login/device"}`},
	} {
		v, ok := parseOAuthAnswer(tc.contentType, []byte(tc.body))
		if !ok || v.Get("device_code") != "dc" || v.Get("interval") != "7" || v.Get("verification_uri") != "https://github.com/login/device" {
			t.Errorf("%s: %v %v", tc.contentType, v, ok)
		}
	}
}

// TestDeviceFlowGitHubDown: GitHub unreachable is 502, not a refusal.
func TestDeviceFlowGitHubDown(t *testing.T) {
	t.Parallel()
	gh := githubtest.Start(githubtest.Options{ClientID: testClientID})
	gh.Close()
	e := newEnv(t, func(c *Config) { c.DeviceFlow = DeviceFlowConfig{ClientID: testClientID, GitHubURL: gh.URL} })
	r := e.do(t, http.MethodPost, "/auth/v1/github/device-flow/code", "", nil, "")
	if r.status != http.StatusBadGateway || !strings.Contains(r.detail(t), "cannot reach github") {
		t.Errorf("got %d %s", r.status, r.body)
	}
}

// TestDeviceFlowSameUserAsTokenExchange: the device flow and the GitHub
// token exchange let in the same account as the same Runtime user.
func TestDeviceFlowSameUserAsTokenExchange(t *testing.T) {
	t.Parallel()
	e, gh, clock := deviceEnv(t, githubtest.Options{})
	alice := githubtest.User{Login: "alice", ID: 583231}
	gh.AddToken("ghp_alice", alice)
	var viaPAT, viaDevice api.LoginResponse
	r := e.postJSON(t, "/auth/v1/github/token-exchange", map[string]any{"access_token": "ghp_alice"})
	r.decode(t, &viaPAT)
	if r.status != http.StatusCreated {
		t.Fatalf("token exchange: %d %s", r.status, r.body)
	}
	start := e.deviceStart(t)
	gh.Approve(start.UserCode, alice)
	clock.add(5 * time.Second)
	r = e.devicePoll(t, start.DeviceCode)
	r.decode(t, &viaDevice)
	if r.status != http.StatusCreated || viaDevice.ID != viaPAT.ID || viaDevice.Email != viaPAT.Email {
		t.Errorf("device flow: %d %s; token exchange gave user %s %s", r.status, r.body, viaPAT.ID, viaPAT.Email)
	}
}
