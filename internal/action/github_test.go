package action

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// fakeGitHub stands in for GitHub's REST API (here under GitHub Enterprise
// Server's /api/v3 prefix), with the real paths and JSON shapes of the
// deployments and issue comments endpoints, and records the calls.
type fakeGitHub struct {
	t        *testing.T
	srv      *httptest.Server
	mu       sync.Mutex
	calls    []ghCall
	comments []map[string]any
	nextID   int64
	readOnly bool // answer writes with 403, as for a fork's token
}

type ghCall struct {
	Method, Path string
	Body         map[string]any
}

func newFakeGitHub(t *testing.T) *fakeGitHub {
	t.Helper()
	g := &fakeGitHub{t: t, nextID: 1000}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v3/repos/{owner}/{repo}/deployments", func(w http.ResponseWriter, r *http.Request) {
		if g.record(w, r) {
			return
		}
		writeJSON(w, http.StatusCreated, map[string]any{"id": 77, "sha": "abc", "environment": "production", "url": g.srv.URL + "/api/v3/repos/octo/app/deployments/77"})
	})
	mux.HandleFunc("POST /api/v3/repos/{owner}/{repo}/deployments/{id}/statuses", func(w http.ResponseWriter, r *http.Request) {
		if g.record(w, r) {
			return
		}
		writeJSON(w, http.StatusCreated, map[string]any{"id": 1, "state": "in_progress"})
	})
	mux.HandleFunc("GET /api/v3/repos/{owner}/{repo}/issues/{n}/comments", func(w http.ResponseWriter, r *http.Request) {
		g.record(w, r)
		per, _ := strconv.Atoi(r.URL.Query().Get("per_page"))
		page, _ := strconv.Atoi(r.URL.Query().Get("page"))
		per = max(min(per, 3), 1) // small pages so that paging is exercised
		page = max(page, 1)
		g.mu.Lock()
		all := append([]map[string]any(nil), g.comments...)
		g.mu.Unlock()
		from, to := min((page-1)*per, len(all)), min(page*per, len(all))
		if to < len(all) {
			w.Header().Set("Link", fmt.Sprintf(`<%s%s?page=%d&per_page=%d>; rel="next"`, g.srv.URL, r.URL.Path, page+1, per))
		}
		writeJSON(w, http.StatusOK, all[from:to])
	})
	mux.HandleFunc("POST /api/v3/repos/{owner}/{repo}/issues/{n}/comments", func(w http.ResponseWriter, r *http.Request) {
		if g.record(w, r) {
			return
		}
		g.mu.Lock()
		defer g.mu.Unlock()
		c := g.newComment(g.lastBody()["body"].(string))
		writeJSON(w, http.StatusCreated, c)
	})
	mux.HandleFunc("PATCH /api/v3/repos/{owner}/{repo}/issues/comments/{id}", func(w http.ResponseWriter, r *http.Request) {
		if g.record(w, r) {
			return
		}
		g.mu.Lock()
		defer g.mu.Unlock()
		id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
		for _, c := range g.comments {
			if c["id"].(int64) == id {
				c["body"] = g.lastBody()["body"]
				writeJSON(w, http.StatusOK, c)
				return
			}
		}
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "Not Found"})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("unexpected GitHub call %s %s", r.Method, r.URL.Path)
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "Not Found"})
	})
	g.srv = httptest.NewServer(mux)
	t.Cleanup(g.srv.Close)
	return g
}

// record notes the call; for a write with readOnly set it answers 403 and
// reports true.
func (g *fakeGitHub) record(w http.ResponseWriter, r *http.Request) bool {
	if r.Header.Get("Authorization") != "Bearer ghs_repo_token" {
		g.t.Errorf("%s %s: Authorization %q", r.Method, r.URL.Path, r.Header.Get("Authorization"))
	}
	var body map[string]any
	if r.Body != nil {
		_ = json.NewDecoder(r.Body).Decode(&body)
	}
	g.mu.Lock()
	g.calls = append(g.calls, ghCall{r.Method, r.URL.Path, body})
	ro := g.readOnly
	g.mu.Unlock()
	if ro && r.Method != http.MethodGet {
		writeJSON(w, http.StatusForbidden, map[string]string{"message": "Resource not accessible by integration",
			"documentation_url": "https://docs.github.com/rest/issues/comments#create-an-issue-comment"})
		return true
	}
	return false
}

func (g *fakeGitHub) setReadOnly() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.readOnly = true
}

func (g *fakeGitHub) lastBody() map[string]any { return g.calls[len(g.calls)-1].Body }

func (g *fakeGitHub) newComment(body string) map[string]any {
	g.nextID++
	c := map[string]any{"id": g.nextID, "body": body, "html_url": fmt.Sprintf("https://github.example/octo/app/pull/9#issuecomment-%d", g.nextID),
		"user": map[string]any{"login": "github-actions[bot]", "type": "Bot"}}
	g.comments = append(g.comments, c)
	return c
}

func (g *fakeGitHub) takeCalls() []ghCall {
	g.mu.Lock()
	defer g.mu.Unlock()
	c := g.calls
	g.calls = nil
	return c
}

func (g *fakeGitHub) context(t *testing.T, event string) *ghContext {
	t.Helper()
	e := env{"GITHUB_API_URL": g.srv.URL + "/api/v3", "GITHUB_REPOSITORY": "octo/app", "GITHUB_SHA": "abc123",
		"GITHUB_SERVER_URL": "https://github.example", "GITHUB_RUN_ID": "555", "GITHUB_RUN_ATTEMPT": "2"}
	if event != "" {
		p := filepath.Join(t.TempDir(), "event.json")
		if err := os.WriteFile(p, []byte(event), 0o644); err != nil {
			t.Fatal(err)
		}
		e["GITHUB_EVENT_NAME"], e["GITHUB_EVENT_PATH"] = "pull_request", p
	}
	a, _ := newAction(t, e)
	gh, err := loadContext(a)
	if err != nil {
		t.Fatal(err)
	}
	return gh
}

func TestGitHubDeployment(t *testing.T) {
	g := newFakeGitHub(t)
	gh := g.context(t, "")
	c, err := newGitHub(gh, "ghs_repo_token", nil)
	if err != nil {
		t.Fatal(err)
	}
	logURL := gh.ActionsRunURL()
	if logURL != "https://github.example/octo/app/actions/runs/555/attempts/2" {
		t.Errorf("ActionsRunURL() = %q", logURL)
	}
	d, err := c.StartDeployment(context.Background(), "production", gh.SHA, "Deploy pipelines/load.py", logURL)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.SetStatus(context.Background(), deploymentSuccess, "Run #4 completed", logURL, "https://runtime.example.com/scripts/load"); err != nil {
		t.Fatal(err)
	}
	calls := g.takeCalls()
	if len(calls) != 3 {
		t.Fatalf("calls = %+v", calls)
	}
	want := []struct {
		path string
		body map[string]any
	}{
		{"/api/v3/repos/octo/app/deployments", map[string]any{"ref": "abc123", "environment": "production", "auto_merge": false,
			"required_contexts": []any{}, "task": "deploy", "description": "Deploy pipelines/load.py"}},
		{"/api/v3/repos/octo/app/deployments/77/statuses", map[string]any{"state": "in_progress", "log_url": logURL, "environment": "production", "description": "Deploying"}},
		{"/api/v3/repos/octo/app/deployments/77/statuses", map[string]any{"state": "success", "log_url": logURL, "environment": "production",
			"environment_url": "https://runtime.example.com/scripts/load", "description": "Run #4 completed"}},
	}
	for i, w := range want {
		if calls[i].Method != http.MethodPost || calls[i].Path != w.path || fmt.Sprint(calls[i].Body) != fmt.Sprint(w.body) {
			t.Errorf("call %d = %s %s %v\nwant POST %s %v", i, calls[i].Method, calls[i].Path, calls[i].Body, w.path, w.body)
		}
	}
}

func TestStartGitHubDeployment(t *testing.T) {
	g := newFakeGitHub(t)
	gh := g.context(t, "")
	a, out := newAction(t, env{})
	d := startGitHubDeployment(context.Background(), a, gh, "ghs_repo_token", "staging", "Deploy", nil)
	if d == nil {
		t.Fatalf("no deployment; stdout %q", out.String())
	}
	d.Finish(context.Background(), a, false, "Run #2 failed", "https://runtime.example.com/s")
	calls := g.takeCalls()
	if len(calls) != 3 || calls[2].Body["state"] != "failure" || calls[2].Body["log_url"] != gh.ActionsRunURL() ||
		calls[2].Body["environment"] != "staging" || calls[2].Body["environment_url"] != "https://runtime.example.com/s" {
		t.Errorf("calls = %+v", calls)
	}

	// Refused (no deployments: write) or impossible (no GITHUB_SHA): a
	// warning, and Finish on the nil deployment does nothing.
	g.setReadOnly()
	a2, out2 := newAction(t, env{})
	d = startGitHubDeployment(context.Background(), a2, gh, "ghs_repo_token", "staging", "Deploy", nil)
	d.Finish(context.Background(), a2, true, "ok", "")
	if d != nil || !strings.Contains(out2.String(), "::warning title=No GitHub deployment::") || !strings.Contains(out2.String(), "deployments: write") {
		t.Errorf("deployment %v, stdout %q", d, out2.String())
	}
	gh.SHA = ""
	a3, out3 := newAction(t, env{})
	if d := startGitHubDeployment(context.Background(), a3, gh, "ghs_repo_token", "staging", "Deploy", nil); d != nil || !strings.Contains(out3.String(), "GITHUB_SHA is not set") {
		t.Errorf("deployment %v, stdout %q", d, out3.String())
	}
}

func TestGitHubDeploymentForbidden(t *testing.T) {
	g := newFakeGitHub(t)
	g.setReadOnly()
	c, _ := newGitHub(g.context(t, ""), "ghs_repo_token", nil)
	_, err := c.StartDeployment(context.Background(), "production", "abc", "d", "")
	if !isForbidden(err) || !strings.Contains(err.Error(), "Resource not accessible by integration") {
		t.Errorf("err = %v, want a ForbiddenError with GitHub's message", err)
	}
}

const sameRepoPR = `{"number": 9, "pull_request": {"number": 9, "head": {"repo": {"full_name": "octo/app"}}, "base": {"repo": {"full_name": "octo/app"}}}}`
const forkPR = `{"number": 9, "pull_request": {"number": 9, "head": {"repo": {"full_name": "mallory/app"}}, "base": {"repo": {"full_name": "octo/app"}}}}`

func TestCommentPlanCreatesThenUpdates(t *testing.T) {
	g := newFakeGitHub(t)
	g.mu.Lock()
	for i := range 7 { // two full pages and a bit of other people's comments
		g.newComment(fmt.Sprintf("looks good %d, see %s", i, "<!-- other -->"))
	}
	g.mu.Unlock()
	gh := g.context(t, sameRepoPR)
	a, _ := newAction(t, env{})

	u1, err := commentPlan(context.Background(), a, gh, "ghs_repo_token", "plan one", nil)
	if err != nil {
		t.Fatal(err)
	}
	calls := g.takeCalls()
	if got := methods(calls); got != "GET GET GET POST" {
		t.Errorf("first comment: calls %s, want every page listed, then one create", got)
	}
	if last := calls[len(calls)-1]; last.Path != "/api/v3/repos/octo/app/issues/9/comments" || last.Body["body"] != commentMarker+"\nplan one" {
		t.Errorf("create = %+v", last)
	}

	// Two more comments come after ours; the next push updates ours.
	g.mu.Lock()
	g.newComment("another")
	g.newComment("and another")
	g.mu.Unlock()
	u2, err := commentPlan(context.Background(), a, gh, "ghs_repo_token", "plan two", nil)
	if err != nil {
		t.Fatal(err)
	}
	calls = g.takeCalls()
	if got := methods(calls); got != "GET GET GET PATCH" {
		t.Errorf("second comment: calls %s", got)
	}
	if u1 != u2 || calls[3].Path != "/api/v3/repos/octo/app/issues/comments/1008" {
		t.Errorf("the same comment must be updated: %q %q %+v", u1, u2, calls[3])
	}
	// The same plan again changes nothing.
	if _, err := commentPlan(context.Background(), a, gh, "ghs_repo_token", "plan two", nil); err != nil {
		t.Fatal(err)
	}
	if got := methods(g.takeCalls()); got != "GET GET GET" {
		t.Errorf("unchanged plan: calls %s", got)
	}
	g.mu.Lock()
	n := 0
	for _, c := range g.comments {
		if strings.HasPrefix(c["body"].(string), commentMarker) {
			n++
		}
	}
	g.mu.Unlock()
	if n != 1 {
		t.Errorf("%d plan comments, want one", n)
	}
}

func methods(calls []ghCall) string {
	var m []string
	for _, c := range calls {
		m = append(m, c.Method)
	}
	return strings.Join(m, " ")
}

func TestCommentPlanForkIsANotice(t *testing.T) {
	g := newFakeGitHub(t)
	g.setReadOnly()
	gh := g.context(t, forkPR)
	a, out := newAction(t, env{})
	u, err := commentPlan(context.Background(), a, gh, "ghs_repo_token", "plan", nil)
	if err != nil || u != "" {
		t.Fatalf("CommentPlan() = %q, %v; want a notice, not a failure", u, err)
	}
	cmds, _ := runnerView(t, out.String())
	if len(cmds) != 1 || cmds[0].Name != "notice" || !strings.Contains(cmds[0].Message, "pull requests from forks get a read-only token") {
		t.Errorf("stdout commands = %+v", cmds)
	}
}

func TestCommentPlanOutsideAPullRequest(t *testing.T) {
	g := newFakeGitHub(t)
	a, out := newAction(t, env{})
	for _, gh := range []*ghContext{g.context(t, ""), {}} {
		if u, err := commentPlan(context.Background(), a, gh, "ghs_repo_token", "plan", nil); u != "" || err != nil {
			t.Errorf("CommentPlan() = %q, %v", u, err)
		}
	}
	if len(g.takeCalls()) != 0 {
		t.Error("no pull request, no call")
	}
	if strings.Contains(out.String(), "::error") {
		t.Errorf("stdout = %q", out.String())
	}
	// A pull request, but no GITHUB_API_URL or token: a notice.
	gh := g.context(t, sameRepoPR)
	gh.APIURL = ""
	a2, out2 := newAction(t, env{})
	if _, err := commentPlan(context.Background(), a2, gh, "ghs_repo_token", "plan", nil); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out2.String(), "::notice title=No pull request comment::") {
		t.Errorf("stdout = %q", out2.String())
	}
}

func TestLoadContext(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name    string
		env     env
		wantPR  *pullRequest
		wantErr bool
	}{
		{"same repository", env{"GITHUB_EVENT_NAME": "pull_request", "GITHUB_EVENT_PATH": write("same.json", sameRepoPR)},
			&pullRequest{Number: 9, HeadRepo: "octo/app", BaseRepo: "octo/app"}, false},
		{"fork via pull_request_target", env{"GITHUB_EVENT_NAME": "pull_request_target", "GITHUB_EVENT_PATH": write("fork.json", forkPR)},
			&pullRequest{Number: 9, HeadRepo: "mallory/app", BaseRepo: "octo/app"}, false},
		{"deleted fork", env{"GITHUB_EVENT_NAME": "pull_request", "GITHUB_EVENT_PATH": write("gone.json",
			`{"pull_request": {"number": 3, "head": {"repo": null}, "base": {"repo": {"full_name": "octo/app"}}}}`)},
			&pullRequest{Number: 3, HeadRepo: "(deleted fork)", BaseRepo: "octo/app"}, false},
		{"push", env{"GITHUB_EVENT_NAME": "push", "GITHUB_EVENT_PATH": write("push.json", `{"ref": "refs/heads/main"}`)}, nil, false},
		{"event file missing (act)", env{"GITHUB_EVENT_NAME": "pull_request", "GITHUB_EVENT_PATH": filepath.Join(dir, "none.json")}, nil, false},
		{"event file garbled", env{"GITHUB_EVENT_NAME": "pull_request", "GITHUB_EVENT_PATH": write("bad.json", "{")}, nil, true},
		{"nothing set (docker run)", env{}, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, _ := newAction(t, tc.env)
			gh, err := loadContext(a)
			if (err != nil) != tc.wantErr || gh == nil {
				t.Fatalf("LoadContext() = %v, %v", gh, err)
			}
			if fmt.Sprint(gh.PullRequest) != fmt.Sprint(tc.wantPR) {
				t.Errorf("PullRequest = %+v, want %+v", gh.PullRequest, tc.wantPR)
			}
			if tc.wantPR != nil && gh.PullRequest.FromFork() != (tc.wantPR.HeadRepo != tc.wantPR.BaseRepo) {
				t.Errorf("FromFork() = %v", gh.PullRequest.FromFork())
			}
			if gh.HasOutputs() || gh.HasState() || gh.HasSummary() || gh.HasREST("t") || gh.ActionsRunURL() != "" {
				t.Errorf("features on without their variables: %+v", gh)
			}
		})
	}
}
