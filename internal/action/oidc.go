package action

import (
	"context"
	"errors"
	"fmt"

	"github.com/sethvargo/go-githubactions"
)

// oidcRequest is how to ask the runner for a GitHub Actions ID token.
type oidcRequest struct {
	URL          string // ACTIONS_ID_TOKEN_REQUEST_URL
	RequestToken string // ACTIONS_ID_TOKEN_REQUEST_TOKEN; a secret
}

// oidcFromEnv reads the runner's ID token request variables; present is
// false when the job lacks the id-token: write permission (or runs outside
// GitHub, or for a pull request from a fork).
func oidcFromEnv(getenv func(string) string) (present bool, req oidcRequest) {
	req = oidcRequest{URL: getenv("ACTIONS_ID_TOKEN_REQUEST_URL"), RequestToken: getenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN")}
	return req.URL != "" && req.RequestToken != "", req
}

// oidcPermissionsYAML is the workflow snippet that grants an ID token.
const oidcPermissionsYAML = "permissions:\n  id-token: write\n  contents: read"

// forkGuardYAML keeps a job off pull requests from forks.
const forkGuardYAML = "if: github.event_name != 'pull_request' || github.event.pull_request.head.repo.full_name == github.repository"

// oidcUnavailable explains why the runner offers no ID token: a pull request
// from a fork never gets one; otherwise the job lacks the permission.
func oidcUnavailable(gh *ghContext) error {
	if gh != nil && gh.PullRequest.FromFork() {
		return &failure{
			Title: "No credentials for a pull request from a fork",
			Err: fmt.Errorf("pull request #%d comes from the fork %q: GitHub gives such runs neither an ID token (OIDC) nor secrets",
				gh.PullRequest.Number, gh.PullRequest.HeadRepo),
			Fix: "Deploy on push to the main branch instead, and skip this step for pull requests from forks:\n\n" + forkGuardYAML,
		}
	}
	return &failure{
		Title: "GitHub OIDC is not available",
		Err:   errors.New("no credentials: no token or github-token input, no token in the workspace's settings, and the runner offers no ID token (ACTIONS_ID_TOKEN_REQUEST_URL is not set)"),
		Fix:   "Grant the job an ID token, in the workflow or the job:\n\n" + oidcPermissionsYAML + "\n\nor pass the token input from a secret: token: ${{ secrets.RUNTIME_TOKEN }}",
	}
}

// oidcToken fetches a GitHub Actions ID token for audience through the
// runner, retrying transient failures, and masks it before returning.
// Without the runner's variables it returns oidcUnavailable's error.
func oidcToken(ctx context.Context, a *githubactions.Action, m *masker, gh *ghContext, audience string) (string, error) {
	ok, req := oidcFromEnv(a.Getenv)
	if !ok {
		return "", oidcUnavailable(gh)
	}
	tok, err := defaultIDTokenFetch().fetch(ctx, req, audience)
	if err != nil {
		return "", &failure{Title: "GitHub OIDC token request failed", Err: fmt.Errorf("request a GitHub ID token for audience %q: %w", audience, err),
			Fix: "Retry the job; if it keeps failing, pass the token input instead."}
	}
	if tok == "" {
		return "", &failure{Title: "GitHub OIDC token request failed", Err: fmt.Errorf("request a GitHub ID token for audience %q: the runner answered no token", audience)}
	}
	m.Add(tok)
	return tok, nil
}

// oidcNotOffered is the error for a Runtime whose auth service has no OIDC
// exchange (it answered 404 or 405).
func oidcNotOffered(authURL string) error {
	return &failure{
		Title: "This Runtime does not take GitHub OIDC",
		Err:   fmt.Errorf("the auth service at %q has no OIDC exchange (POST /v1/github/oidc-exchange answered not found)", authURL),
		Fix:   "Pass a Runtime token in the token input: token: ${{ secrets.RUNTIME_TOKEN }}",
	}
}

// noRuntimeURL is the error when neither the api-url input nor the
// workspace's settings name a Runtime. The embedded Runtime is for local use
// and is never started by the Action.
func noRuntimeURL() error {
	return &failure{
		Title: "No Runtime to deploy to",
		Err:   errors.New("no Runtime URL: the api-url input is empty and the workspace's settings have no runtime.api_base_url"),
		Fix:   "Set the api-url input, e.g. api-url: ${{ vars.RUNTIME_API_URL }}, or api_base_url under [runtime] in .dlt/config.toml",
	}
}
