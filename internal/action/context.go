package action

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/sethvargo/go-githubactions"
)

// ghContext is what the Action knows about the workflow run it is part of.
// Every field may be empty: under `act` or a plain `docker run` most
// GITHUB_* variables are missing, and each feature that needs one is turned
// off on its own (see the Has* methods) instead of failing the step.
type ghContext struct {
	Repository string // owner/name
	SHA        string
	Ref        string
	EventName  string
	ServerURL  string // https://github.com, or a GitHub Enterprise host
	APIURL     string // https://api.github.com, or GitHub Enterprise's .../api/v3
	RunID      string
	RunAttempt string

	OutputFile  string // GITHUB_OUTPUT
	StateFile   string // GITHUB_STATE
	SummaryFile string // GITHUB_STEP_SUMMARY

	// OIDCAvailable reports whether the runner offers an ID token
	// (the job has the id-token: write permission).
	OIDCAvailable bool

	// pullRequest is set when the event is a pull request.
	PullRequest *pullRequest
}

// pullRequest is the part of a pull request event the Action uses.
type pullRequest struct {
	Number   int
	HeadRepo string // owner/name of the branch's repository
	BaseRepo string // owner/name of the repository the request targets
}

// FromFork reports whether the pull request comes from another repository;
// such runs get a read-only token and no OIDC token.
func (p *pullRequest) FromFork() bool {
	return p != nil && p.HeadRepo != "" && p.BaseRepo != "" && !strings.EqualFold(p.HeadRepo, p.BaseRepo)
}

// loadContext reads the workflow run's variables through a. An unreadable or
// malformed event file is returned as an error next to a usable Context
// without PullRequest, so the caller can warn and go on.
func loadContext(a *githubactions.Action) (*ghContext, error) {
	c := &ghContext{
		Repository:    a.Getenv("GITHUB_REPOSITORY"),
		SHA:           a.Getenv("GITHUB_SHA"),
		Ref:           a.Getenv("GITHUB_REF"),
		EventName:     a.Getenv("GITHUB_EVENT_NAME"),
		ServerURL:     strings.TrimRight(a.Getenv("GITHUB_SERVER_URL"), "/"),
		APIURL:        strings.TrimRight(a.Getenv("GITHUB_API_URL"), "/"),
		RunID:         a.Getenv("GITHUB_RUN_ID"),
		RunAttempt:    a.Getenv("GITHUB_RUN_ATTEMPT"),
		OutputFile:    a.Getenv("GITHUB_OUTPUT"),
		StateFile:     a.Getenv("GITHUB_STATE"),
		SummaryFile:   a.Getenv("GITHUB_STEP_SUMMARY"),
		OIDCAvailable: a.Getenv("ACTIONS_ID_TOKEN_REQUEST_URL") != "",
	}
	path := a.Getenv("GITHUB_EVENT_PATH")
	if path == "" || !strings.HasPrefix(c.EventName, "pull_request") {
		return c, nil
	}
	pr, err := readPullRequest(path)
	if err != nil {
		return c, err
	}
	c.PullRequest = pr
	return c, nil
}

func readPullRequest(path string) (*pullRequest, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the event file: %w", err)
	}
	var ev struct {
		Number      int `json:"number"`
		PullRequest *struct {
			Number int `json:"number"`
			Head   struct {
				Repo *struct {
					FullName string `json:"full_name"`
				} `json:"repo"`
			} `json:"head"`
			Base struct {
				Repo *struct {
					FullName string `json:"full_name"`
				} `json:"repo"`
			} `json:"base"`
		} `json:"pull_request"`
	}
	if err := json.Unmarshal(b, &ev); err != nil {
		return nil, fmt.Errorf("read the event file %q: not JSON: the pull request features (comment, fork detection) are off", path)
	}
	if ev.PullRequest == nil {
		return nil, nil
	}
	pr := &pullRequest{Number: ev.PullRequest.Number}
	if pr.Number == 0 {
		pr.Number = ev.Number
	}
	if r := ev.PullRequest.Head.Repo; r != nil {
		pr.HeadRepo = r.FullName
	} else {
		// GitHub sends a null head repository when the fork was deleted:
		// it is a fork all the same.
		pr.HeadRepo = "(deleted fork)"
	}
	if r := ev.PullRequest.Base.Repo; r != nil {
		pr.BaseRepo = r.FullName
	}
	return pr, nil
}

// HasOutputs reports whether step outputs can be written.
func (c *ghContext) HasOutputs() bool { return c.OutputFile != "" }

// HasState reports whether state for the post step can be saved.
func (c *ghContext) HasState() bool { return c.StateFile != "" }

// HasSummary reports whether a job summary can be written.
func (c *ghContext) HasSummary() bool { return c.SummaryFile != "" }

// HasREST reports whether GitHub's REST API can be called for this
// repository with token.
func (c *ghContext) HasREST(token string) bool {
	return token != "" && c.APIURL != "" && strings.Contains(c.Repository, "/")
}

// ActionsRunURL is the address of this workflow run's page (its logs), or ""
// when the variables are missing.
func (c *ghContext) ActionsRunURL() string {
	if c.ServerURL == "" || c.Repository == "" || c.RunID == "" {
		return ""
	}
	u := c.ServerURL + "/" + c.Repository + "/actions/runs/" + c.RunID
	if c.RunAttempt != "" && c.RunAttempt != "1" {
		u += "/attempts/" + c.RunAttempt
	}
	return u
}
