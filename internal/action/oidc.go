package action

import (
	"context"
	"errors"
	"fmt"

	"github.com/sethvargo/go-githubactions"
)

// OIDCRequest is how to ask the runner for a GitHub Actions ID token.
type OIDCRequest struct {
	URL          string // ACTIONS_ID_TOKEN_REQUEST_URL
	RequestToken string // ACTIONS_ID_TOKEN_REQUEST_TOKEN; a secret
}

// OIDCFromEnv reads the runner's ID token request variables; present is
// false when the job lacks the id-token: write permission (or runs outside
// GitHub, or for a pull request from a fork).
func OIDCFromEnv(getenv func(string) string) (present bool, req OIDCRequest) {
	req = OIDCRequest{URL: getenv("ACTIONS_ID_TOKEN_REQUEST_URL"), RequestToken: getenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN")}
	return req.URL != "" && req.RequestToken != "", req
}

// OIDCPermissionsYAML is the workflow snippet that grants an ID token.
const OIDCPermissionsYAML = "permissions:\n  id-token: write\n  contents: read"

// forkGuardYAML keeps a job off pull requests from forks.
const forkGuardYAML = "if: github.event_name != 'pull_request' || github.event.pull_request.head.repo.full_name == github.repository"

// OIDCUnavailable explains why the runner offers no ID token: a pull request
// from a fork never gets one; otherwise the job lacks the permission.
func OIDCUnavailable(gh *Context) error {
	if gh != nil && gh.PullRequest.FromFork() {
		return &Failure{
			Title: "No credentials for a pull request from a fork",
			Err: fmt.Errorf("pull request #%d comes from the fork %q: GitHub gives such runs neither an ID token (OIDC) nor secrets",
				gh.PullRequest.Number, gh.PullRequest.HeadRepo),
			Fix: "Deploy on push to the main branch instead, and skip this step for pull requests from forks:\n\n" + forkGuardYAML,
		}
	}
	return &Failure{
		Title: "GitHub OIDC is not available",
		Err:   errors.New("no credentials: no token or github-token input, no token in the workspace's settings, and the runner offers no ID token (ACTIONS_ID_TOKEN_REQUEST_URL is not set)"),
		Fix:   "Grant the job an ID token, in the workflow or the job:\n\n" + OIDCPermissionsYAML + "\n\nor pass the token input from a secret: token: ${{ secrets.RUNTIME_TOKEN }}",
	}
}

// OIDCToken fetches a GitHub Actions ID token for audience through the
// runner and masks it before returning. Without the runner's variables it
// returns OIDCUnavailable's error.
func OIDCToken(ctx context.Context, a *githubactions.Action, m *Masker, gh *Context, audience string) (string, error) {
	if ok, _ := OIDCFromEnv(a.Getenv); !ok {
		return "", OIDCUnavailable(gh)
	}
	tok, err := a.GetIDToken(ctx, audience)
	if err != nil {
		return "", &Failure{Title: "GitHub OIDC token request failed", Err: fmt.Errorf("request a GitHub ID token for audience %q: %w", audience, err),
			Fix: "Retry the job; if it keeps failing, pass the token input instead."}
	}
	if tok == "" {
		return "", &Failure{Title: "GitHub OIDC token request failed", Err: fmt.Errorf("request a GitHub ID token for audience %q: the runner answered no token", audience)}
	}
	m.Add(tok)
	return tok, nil
}

// OIDCNotOffered is the error for a Runtime whose auth service has no OIDC
// exchange (it answered 404 or 405).
func OIDCNotOffered(authURL string) error {
	return &Failure{
		Title: "This Runtime does not take GitHub OIDC",
		Err:   fmt.Errorf("the auth service at %q has no OIDC exchange (POST /v1/github/oidc-exchange answered not found)", authURL),
		Fix:   "Pass a Runtime token in the token input: token: ${{ secrets.RUNTIME_TOKEN }}",
	}
}

// NoRuntimeURL is the error when neither the api-url input nor the
// workspace's settings name a Runtime. The embedded Runtime is for local use
// and is never started by the Action.
func NoRuntimeURL() error {
	return &Failure{
		Title: "No Runtime to deploy to",
		Err:   errors.New("no Runtime URL: the api-url input is empty and the workspace's settings have no runtime.api_base_url"),
		Fix:   "Set the api-url input, e.g. api-url: ${{ vars.RUNTIME_API_URL }}, or api_base_url under [runtime] in .dlt/config.toml",
	}
}
