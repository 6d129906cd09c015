package action

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/sethvargo/go-githubactions"
)

// gitHubAPI calls GitHub's REST API for this repository: deployments and pull
// request comments. Its base URL is GITHUB_API_URL, so GitHub Enterprise
// Server works as github.com does. Five calls are plain net/http: a client
// library for the whole API would make up a tenth of the image.
type gitHubAPI struct {
	http        *http.Client
	base        *url.URL
	token       string
	owner, repo string
}

// newGitHub returns a REST client for gh's repository with token (the
// repo-token input). httpClient may be nil. It fails when the variables it
// needs are missing; Context.HasREST tells beforehand.
func newGitHub(gh *ghContext, token string, httpClient *http.Client) (*gitHubAPI, error) {
	if !gh.HasREST(token) {
		return nil, errors.New("GitHub REST API: needs the repo-token input, GITHUB_API_URL and GITHUB_REPOSITORY")
	}
	base, err := url.Parse(strings.TrimRight(gh.APIURL, "/") + "/")
	if err != nil || (base.Scheme != "https" && base.Scheme != "http") {
		return nil, fmt.Errorf("GitHub REST API: GITHUB_API_URL %q is not an http(s) URL", gh.APIURL)
	}
	if httpClient == nil {
		httpClient = &http.Client{Timeout: time.Minute}
	}
	owner, repo, _ := strings.Cut(gh.Repository, "/")
	return &gitHubAPI{http: httpClient, base: base, token: token, owner: owner, repo: repo}, nil
}

// forbiddenError is GitHub refusing a write for lack of permission: 403, or
// 404, which GitHub answers to hide what a token may not see. A pull request
// from a fork gets a read-only token.
type forbiddenError struct {
	What    string // what was being done
	Status  int
	Message string // GitHub's message
}

func (e *forbiddenError) Error() string {
	return fmt.Sprintf("%s: GitHub answered %d (%s): the token lacks the permission", e.What, e.Status, e.Message)
}

// isForbidden reports whether err is a ForbiddenError.
func isForbidden(err error) bool {
	var fe *forbiddenError
	return errors.As(err, &fe)
}

// maxGitHubAnswer bounds what is read of one answer.
const maxGitHubAnswer = 8 << 20

// call sends one request to the repository's path (relative to
// repos/OWNER/REPO/) or to an absolute next-page URL, decodes a 2xx answer
// into out and returns the next page's URL from the Link header, if any.
func (g *gitHubAPI) call(ctx context.Context, what, method, path string, body, out any) (next string, err error) {
	u := path
	if !strings.HasPrefix(path, "http://") && !strings.HasPrefix(path, "https://") {
		u = g.base.JoinPath("repos", g.owner, g.repo).String() + "/" + path
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return "", fmt.Errorf("%s: %w", what, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	req.Header.Set("Authorization", "Bearer "+g.token)
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("X-GitHub-Api-Version", "2022-11-28")
	req.Header.Set("User-Agent", "runtime-action")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := g.http.Do(req)
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxGitHubAnswer))
	if err != nil {
		return "", fmt.Errorf("%s: read GitHub's answer: %w", what, err)
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Message string `json:"message"`
		}
		_ = json.Unmarshal(b, &e)
		if s := resp.StatusCode; s == http.StatusForbidden || s == http.StatusNotFound {
			return "", &forbiddenError{What: what, Status: s, Message: e.Message}
		}
		return "", fmt.Errorf("%s: GitHub answered %d (%s)", what, resp.StatusCode, e.Message)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return "", fmt.Errorf("%s: GitHub's answer is not the expected JSON: %w", what, err)
		}
	}
	// The token goes only to GITHUB_API_URL's host: a next page elsewhere
	// is not followed.
	next = nextLink(resp.Header.Get("Link"))
	if n, err := url.Parse(next); next != "" && (err != nil || n.Scheme != g.base.Scheme || n.Host != g.base.Host) {
		return "", fmt.Errorf("%s: GitHub's next page %q is not on %s", what, next, g.base.Host)
	}
	return next, nil
}

// nextLink returns the rel="next" URL of a Link header, or "".
func nextLink(h string) string {
	for part := range strings.SplitSeq(h, ",") {
		target, params, ok := strings.Cut(strings.TrimSpace(part), ";")
		if ok && strings.Contains(params, `rel="next"`) {
			return strings.Trim(strings.TrimSpace(target), "<>")
		}
	}
	return ""
}

// ghDeployment is a GitHub deployment the Action created, to report its
// outcome on.
type ghDeployment struct {
	g           *gitHubAPI
	ID          int64
	environment string
	logURL      string
}

// DeploymentStatus values the Action reports.
const (
	deploymentInProgress = "in_progress"
	deploymentSuccess    = "success"
	deploymentFailure    = "failure"
)

// StartDeployment creates a GitHub deployment of sha to environment and
// marks it in_progress, with logURL (the workflow run's page) as its log.
// The deployment neither merges the default branch in nor waits for commit
// statuses: the workflow running this step is one of them.
func (g *gitHubAPI) StartDeployment(ctx context.Context, environment, sha, description, logURL string) (*ghDeployment, error) {
	var d struct {
		ID int64 `json:"id"`
	}
	_, err := g.call(ctx, fmt.Sprintf("create a GitHub deployment to %q", environment), http.MethodPost, "deployments", map[string]any{
		"ref": sha, "task": "deploy", "auto_merge": false, "required_contexts": []string{},
		"environment": environment, "description": description,
	}, &d)
	if err != nil {
		return nil, err
	}
	dep := &ghDeployment{g: g, ID: d.ID, environment: environment, logURL: logURL}
	if err := dep.SetStatus(ctx, deploymentInProgress, "Deploying", logURL, ""); err != nil {
		return dep, err
	}
	return dep, nil
}

// SetStatus reports state on the deployment; environmentURL (the script's
// page) is shown as the environment's address. Empty URLs are left out.
func (d *ghDeployment) SetStatus(ctx context.Context, state, description, logURL, environmentURL string) error {
	req := map[string]any{"state": state, "description": cutUTF8(description, 140), "environment": d.environment}
	if logURL != "" {
		req["log_url"] = logURL
	}
	if environmentURL != "" {
		req["environment_url"] = environmentURL
	}
	_, err := d.g.call(ctx, fmt.Sprintf("set GitHub deployment %d to %s", d.ID, state), http.MethodPost,
		fmt.Sprintf("deployments/%d/statuses", d.ID), req, nil)
	return err
}

// startGitHubDeployment creates the GitHub deployment for the environment
// input, marked in_progress, with the workflow run's page as its log. The
// deployment is bookkeeping: without what the REST API needs, or when GitHub
// refuses, it prints a warning and returns nil, and the deploy goes on.
// Finish on a nil *Deployment does nothing.
func startGitHubDeployment(ctx context.Context, a *githubactions.Action, gh *ghContext, token, environment, description string, httpClient *http.Client) *ghDeployment {
	g, err := newGitHub(gh, token, httpClient)
	if err == nil && gh.SHA == "" {
		err = errors.New("GitHub deployment: GITHUB_SHA is not set")
	}
	if err == nil {
		var d *ghDeployment
		if d, err = g.StartDeployment(ctx, environment, gh.SHA, description, gh.ActionsRunURL()); err == nil {
			return d
		}
	}
	fix := ""
	if isForbidden(err) {
		fix = " Grant the job `deployments: write`."
	}
	a.WithFieldsMap(map[string]string{"title": "No GitHub deployment"}).Warningf("%s", err.Error()+"; the deploy goes on without it."+fix)
	return nil
}

// Finish reports the outcome on the deployment: success or failure, with
// environmentURL (the script's page) as the environment's address. A failure
// to report is a warning, not the step's failure.
func (d *ghDeployment) Finish(ctx context.Context, a *githubactions.Action, success bool, description, environmentURL string) {
	if d == nil {
		return
	}
	state := deploymentFailure
	if success {
		state = deploymentSuccess
	}
	if err := d.SetStatus(ctx, state, description, d.logURL, environmentURL); err != nil {
		a.WithFieldsMap(map[string]string{"title": "GitHub deployment status"}).Warningf("%s", err.Error())
	}
}

// issueComment is the part of a comment the Action reads.
type issueComment struct {
	ID      int64  `json:"id"`
	Body    string `json:"body"`
	HTMLURL string `json:"html_url"`
}

// UpsertComment creates the pull request comment that starts with marker, or
// updates the first such comment in place, and returns its address. The
// body is cut to fit GitHub's limit.
func (g *gitHubAPI) UpsertComment(ctx context.Context, number int, marker, body string) (string, error) {
	body = marker + "\n" + cutUTF8(body, maxCommentBytes-len(marker)-1)
	page := fmt.Sprintf("issues/%d/comments?per_page=100", number)
	for page != "" {
		var comments []issueComment
		next, err := g.call(ctx, fmt.Sprintf("list the comments of pull request #%d", number), http.MethodGet, page, nil, &comments)
		if err != nil {
			return "", err
		}
		for _, c := range comments {
			if !strings.HasPrefix(c.Body, marker) {
				continue
			}
			if c.Body == body {
				return c.HTMLURL, nil
			}
			var got issueComment
			if _, err := g.call(ctx, fmt.Sprintf("update comment %d on pull request #%d", c.ID, number), http.MethodPatch,
				fmt.Sprintf("issues/comments/%d", c.ID), map[string]string{"body": body}, &got); err != nil {
				return "", err
			}
			return got.HTMLURL, nil
		}
		page = next
	}
	var got issueComment
	if _, err := g.call(ctx, fmt.Sprintf("comment on pull request #%d", number), http.MethodPost,
		fmt.Sprintf("issues/%d/comments", number), map[string]string{"body": body}, &got); err != nil {
		return "", err
	}
	return got.HTMLURL, nil
}

// commentPlan puts plan (RenderPlan's markdown) in the pull request's plan
// comment. Outside a pull request, or without what the REST API needs, it
// does nothing; when GitHub refuses (a fork's read-only token) it prints a
// notice and returns nil, as the plan is in the job summary anyway.
func commentPlan(ctx context.Context, a *githubactions.Action, gh *ghContext, token, plan string, httpClient *http.Client) (string, error) {
	if gh.PullRequest == nil || gh.PullRequest.Number == 0 {
		a.Infof("%s", "comment: not a pull request, the plan is in the job summary only")
		return "", nil
	}
	g, err := newGitHub(gh, token, httpClient)
	if err != nil {
		notice(a, "No pull request comment", err.Error()+"; the plan is in the job summary")
		return "", nil
	}
	u, err := g.UpsertComment(ctx, gh.PullRequest.Number, commentMarker, plan)
	if isForbidden(err) {
		why := "the token may not comment"
		if gh.PullRequest.FromFork() {
			why = "pull requests from forks get a read-only token"
		}
		notice(a, "No pull request comment", fmt.Sprintf("Cannot comment on pull request #%d (%s): the plan is in the job summary. Grant the job `pull-requests: write` for same-repository pull requests.", gh.PullRequest.Number, why))
		return "", nil
	}
	return u, err
}
