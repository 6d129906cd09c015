package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/dlthub/runtime-action/internal/api"
)

// ErrOIDCNotOffered is wrapped by OIDCExchange's error when the auth service
// has no OIDC exchange (dltHub's service; it is this project's extension).
var ErrOIDCNotOffered = errors.New("the Runtime auth service does not offer GitHub OIDC token exchange")

// DefaultDeviceFlowInterval is the polling interval of DeviceFlowPoll, GitHub's default.
const DefaultDeviceFlowInterval = 5 * time.Second

func jsonBody(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode request: %w", err)
	}
	return b, nil
}

func checkLogin(l *api.LoginResponse) func() error {
	return func() error {
		if l.JWT == "" {
			return errors.New(`the answer has no "jwt"`)
		}
		return nil
	}
}

// authPost sends a JSON body to the auth service. Every auth call is safe
// to repeat: at worst the server issues a second token.
func (c *Client) authPost(ctx context.Context, p apiPath, req any, out any, check func() error, secrets ...string) error {
	body, err := jsonBody(req)
	if err != nil {
		return err
	}
	cl := &call{ep: &c.auth, method: http.MethodPost, path: p, body: body, contentType: "application/json", retry: retrySafe, secrets: secrets}
	return c.do(ctx, cl, out, check)
}

// TokenExchange trades a GitHub access token (a PAT, or GITHUB_TOKEN-style)
// for a Runtime JWT.
func (c *Client) TokenExchange(ctx context.Context, githubToken string) (*api.LoginResponse, error) {
	githubToken = strings.TrimSpace(githubToken)
	if githubToken == "" {
		return nil, errors.New("exchange GitHub token: the GitHub token is empty")
	}
	var out api.LoginResponse
	if err := c.authPost(ctx, pathOf("v1", "github", "token-exchange"), api.GithubOauthExchangeRequest{AccessToken: githubToken}, &out, checkLogin(&out), githubToken); err != nil {
		return nil, err
	}
	return &out, nil
}

// OIDCExchange trades a GitHub Actions ID token for a Runtime JWT scoped to
// a workspace (workspaceID may be empty when the trust rules pick one). A
// server without the extension gives an error wrapping ErrOIDCNotOffered.
func (c *Client) OIDCExchange(ctx context.Context, idToken, workspaceID string) (*api.LoginResponse, error) {
	idToken = strings.TrimSpace(idToken)
	if idToken == "" {
		return nil, errors.New("exchange GitHub OIDC token: the ID token is empty")
	}
	var out api.LoginResponse
	err := c.authPost(ctx, pathOf("v1", "github", "oidc-exchange"), api.GithubOidcExchangeRequest{Token: idToken, WorkspaceID: workspaceID}, &out, checkLogin(&out), idToken)
	if IsStatus(err, http.StatusNotFound) || IsStatus(err, http.StatusMethodNotAllowed) {
		return nil, fmt.Errorf("%w: %w", ErrOIDCNotOffered, err)
	}
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// DeviceFlowStart starts a GitHub device flow login; show the user
// VerificationURI and UserCode, then call DeviceFlowPollEvery.
func (c *Client) DeviceFlowStart(ctx context.Context) (*api.GithubDeviceFlowStartResponse, error) {
	var out api.GithubDeviceFlowStartResponse
	cl := &call{ep: &c.auth, method: http.MethodPost, path: pathOf("v1", "github", "device-flow", "code"), retry: retrySafe}
	err := c.do(ctx, cl, &out, func() error {
		if out.DeviceCode == "" || out.UserCode == "" || out.VerificationURI == "" {
			return errors.New(`the answer lacks "device_code", "user_code" or "verification_uri"`)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// DeviceFlowPoll is DeviceFlowPollEvery at DefaultDeviceFlowInterval.
func (c *Client) DeviceFlowPoll(ctx context.Context, deviceCode string) (*api.LoginResponse, error) {
	return c.DeviceFlowPollEvery(ctx, deviceCode, DefaultDeviceFlowInterval)
}

// DeviceFlowPollEvery polls until the user has authorized the device (the
// start answer's interval, in seconds, is the one to pass). While the server
// answers 400 "authorization_pending" it waits and asks again; on
// "slow_down" it adds five seconds to the interval; any other answer ends it.
func (c *Client) DeviceFlowPollEvery(ctx context.Context, deviceCode string, interval time.Duration) (*api.LoginResponse, error) {
	deviceCode = strings.TrimSpace(deviceCode)
	if deviceCode == "" {
		return nil, errors.New("complete device flow login: the device code is empty")
	}
	if interval <= 0 {
		interval = DefaultDeviceFlowInterval
	}
	for {
		var out api.LoginResponse
		err := c.authPost(ctx, pathOf("v1", "github", "device-flow", "token"), api.GithubDeviceFlowLoginRequest{DeviceCode: deviceCode}, &out, checkLogin(&out), deviceCode)
		if err == nil {
			return &out, nil
		}
		var e *Error
		if !errors.As(err, &e) || e.Status != http.StatusBadRequest || e.NotAPI {
			return nil, err
		}
		switch {
		case strings.Contains(e.Detail, "authorization_pending"):
		case strings.Contains(e.Detail, "slow_down"):
			interval += 5 * time.Second
		default:
			return nil, err
		}
		if err := c.sleep(ctx, interval); err != nil {
			return nil, fmt.Errorf("complete device flow login: %w", err)
		}
	}
}
