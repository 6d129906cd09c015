package action

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/google/go-github/v75/github"
	"github.com/sethvargo/go-githubactions"
)

// GitHub calls GitHub's REST API for this repository: deployments and pull
// request comments. Its base URL is GITHUB_API_URL, so GitHub Enterprise
// Server works as github.com does.
type GitHub struct {
	client      *github.Client
	owner, repo string
}

// NewGitHub returns a REST client for gh's repository with token (the
// repo-token input). httpClient may be nil. It fails when the variables it
// needs are missing; Context.HasREST tells beforehand.
func NewGitHub(gh *Context, token string, httpClient *http.Client) (*GitHub, error) {
	if !gh.HasREST(token) {
		return nil, errors.New("GitHub REST API: needs the repo-token input, GITHUB_API_URL and GITHUB_REPOSITORY")
	}
	base, err := url.Parse(gh.APIURL + "/")
	if err != nil || (base.Scheme != "https" && base.Scheme != "http") {
		return nil, fmt.Errorf("GitHub REST API: GITHUB_API_URL %q is not an http(s) URL", gh.APIURL)
	}
	owner, repo, _ := strings.Cut(gh.Repository, "/")
	c := github.NewClient(httpClient).WithAuthToken(token)
	c.BaseURL = base
	c.UserAgent = "runtime-action"
	return &GitHub{client: c, owner: owner, repo: repo}, nil
}

// ForbiddenError is GitHub refusing a write for lack of permission: 403, or
// 404, which GitHub answers to hide what a token may not see. A pull request
// from a fork gets a read-only token.
type ForbiddenError struct {
	What    string // what was being done
	Status  int
	Message string // GitHub's message
}

func (e *ForbiddenError) Error() string {
	return fmt.Sprintf("%s: GitHub answered %d (%s): the token lacks the permission", e.What, e.Status, e.Message)
}

// IsForbidden reports whether err is a ForbiddenError.
func IsForbidden(err error) bool {
	var fe *ForbiddenError
	return errors.As(err, &fe)
}

func (g *GitHub) wrap(what string, err error) error {
	var er *github.ErrorResponse
	if errors.As(err, &er) && er.Response != nil {
		if s := er.Response.StatusCode; s == http.StatusForbidden || s == http.StatusNotFound {
			return &ForbiddenError{What: what, Status: s, Message: er.Message}
		}
		return fmt.Errorf("%s: GitHub answered %d (%s)", what, er.Response.StatusCode, er.Message)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// Deployment is a GitHub deployment the Action created, to report its
// outcome on.
type Deployment struct {
	g           *GitHub
	ID          int64
	environment string
	logURL      string
}

// DeploymentStatus values the Action reports.
const (
	DeploymentInProgress = "in_progress"
	DeploymentSuccess    = "success"
	DeploymentFailure    = "failure"
)

// StartDeployment creates a GitHub deployment of sha to environment and
// marks it in_progress, with logURL (the workflow run's page) as its log.
// The deployment neither merges the default branch in nor waits for commit
// statuses: the workflow running this step is one of them.
func (g *GitHub) StartDeployment(ctx context.Context, environment, sha, description, logURL string) (*Deployment, error) {
	d, _, err := g.client.Repositories.CreateDeployment(ctx, g.owner, g.repo, &github.DeploymentRequest{
		Ref:              github.Ptr(sha),
		Task:             github.Ptr("deploy"),
		AutoMerge:        github.Ptr(false),
		RequiredContexts: &[]string{},
		Environment:      github.Ptr(environment),
		Description:      github.Ptr(description),
	})
	if err != nil {
		return nil, g.wrap(fmt.Sprintf("create a GitHub deployment to %q", environment), err)
	}
	dep := &Deployment{g: g, ID: d.GetID(), environment: environment, logURL: logURL}
	if err := dep.SetStatus(ctx, DeploymentInProgress, "Deploying", logURL, ""); err != nil {
		return dep, err
	}
	return dep, nil
}

// SetStatus reports state on the deployment; environmentURL (the script's
// page) is shown as the environment's address. Empty URLs are left out.
func (d *Deployment) SetStatus(ctx context.Context, state, description, logURL, environmentURL string) error {
	req := &github.DeploymentStatusRequest{
		State:       github.Ptr(state),
		Description: github.Ptr(cutUTF8(description, 140)),
		Environment: github.Ptr(d.environment),
	}
	if logURL != "" {
		req.LogURL = github.Ptr(logURL)
	}
	if environmentURL != "" {
		req.EnvironmentURL = github.Ptr(environmentURL)
	}
	if _, _, err := d.g.client.Repositories.CreateDeploymentStatus(ctx, d.g.owner, d.g.repo, d.ID, req); err != nil {
		return d.g.wrap(fmt.Sprintf("set GitHub deployment %d to %s", d.ID, state), err)
	}
	return nil
}

// StartGitHubDeployment creates the GitHub deployment for the environment
// input, marked in_progress, with the workflow run's page as its log. The
// deployment is bookkeeping: without what the REST API needs, or when GitHub
// refuses, it prints a warning and returns nil, and the deploy goes on.
// Finish on a nil *Deployment does nothing.
func StartGitHubDeployment(ctx context.Context, a *githubactions.Action, gh *Context, token, environment, description string, httpClient *http.Client) *Deployment {
	g, err := NewGitHub(gh, token, httpClient)
	if err == nil && gh.SHA == "" {
		err = errors.New("GitHub deployment: GITHUB_SHA is not set")
	}
	if err == nil {
		var d *Deployment
		if d, err = g.StartDeployment(ctx, environment, gh.SHA, description, gh.ActionsRunURL()); err == nil {
			return d
		}
	}
	fix := ""
	if IsForbidden(err) {
		fix = " Grant the job `deployments: write`."
	}
	a.WithFieldsMap(map[string]string{"title": "No GitHub deployment"}).Warningf("%s", err.Error()+"; the deploy goes on without it."+fix)
	return nil
}

// Finish reports the outcome on the deployment: success or failure, with
// environmentURL (the script's page) as the environment's address. A failure
// to report is a warning, not the step's failure.
func (d *Deployment) Finish(ctx context.Context, a *githubactions.Action, success bool, description, environmentURL string) {
	if d == nil {
		return
	}
	state := DeploymentFailure
	if success {
		state = DeploymentSuccess
	}
	if err := d.SetStatus(ctx, state, description, d.logURL, environmentURL); err != nil {
		a.WithFieldsMap(map[string]string{"title": "GitHub deployment status"}).Warningf("%s", err.Error())
	}
}

// UpsertComment creates the pull request comment that starts with marker, or
// updates the first such comment in place, and returns its address. The
// body is cut to fit GitHub's limit.
func (g *GitHub) UpsertComment(ctx context.Context, number int, marker, body string) (string, error) {
	body = marker + "\n" + cutUTF8(body, MaxCommentBytes-len(marker)-1)
	opts := &github.IssueListCommentsOptions{ListOptions: github.ListOptions{PerPage: 100}}
	for {
		comments, resp, err := g.client.Issues.ListComments(ctx, g.owner, g.repo, number, opts)
		if err != nil {
			return "", g.wrap(fmt.Sprintf("list the comments of pull request #%d", number), err)
		}
		for _, c := range comments {
			if strings.HasPrefix(c.GetBody(), marker) {
				if c.GetBody() == body {
					return c.GetHTMLURL(), nil
				}
				got, _, err := g.client.Issues.EditComment(ctx, g.owner, g.repo, c.GetID(), &github.IssueComment{Body: github.Ptr(body)})
				if err != nil {
					return "", g.wrap(fmt.Sprintf("update comment %d on pull request #%d", c.GetID(), number), err)
				}
				return got.GetHTMLURL(), nil
			}
		}
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	got, _, err := g.client.Issues.CreateComment(ctx, g.owner, g.repo, number, &github.IssueComment{Body: github.Ptr(body)})
	if err != nil {
		return "", g.wrap(fmt.Sprintf("comment on pull request #%d", number), err)
	}
	return got.GetHTMLURL(), nil
}

// CommentPlan puts plan (RenderPlan's markdown) in the pull request's plan
// comment. Outside a pull request, or without what the REST API needs, it
// does nothing; when GitHub refuses (a fork's read-only token) it prints a
// notice and returns nil, as the plan is in the job summary anyway.
func CommentPlan(ctx context.Context, a *githubactions.Action, gh *Context, token, plan string, httpClient *http.Client) (string, error) {
	if gh.PullRequest == nil || gh.PullRequest.Number == 0 {
		a.Infof("%s", "comment: not a pull request, the plan is in the job summary only")
		return "", nil
	}
	g, err := NewGitHub(gh, token, httpClient)
	if err != nil {
		Notice(a, "No pull request comment", err.Error()+"; the plan is in the job summary")
		return "", nil
	}
	u, err := g.UpsertComment(ctx, gh.PullRequest.Number, CommentMarker, plan)
	if IsForbidden(err) {
		why := "the token may not comment"
		if gh.PullRequest.FromFork() {
			why = "pull requests from forks get a read-only token"
		}
		Notice(a, "No pull request comment", fmt.Sprintf("Cannot comment on pull request #%d (%s): the plan is in the job summary. Grant the job `pull-requests: write` for same-repository pull requests.", gh.PullRequest.Number, why))
		return "", nil
	}
	return u, err
}
