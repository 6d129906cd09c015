package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/dlthub/runtime-action/internal/api"
	"github.com/dlthub/runtime-action/internal/client"
	"github.com/dlthub/runtime-action/internal/deploy"
	"github.com/dlthub/runtime-action/internal/server"
)

// recorder keeps what the engine reports to a front end, for comparing.
type recorder struct {
	mu      sync.Mutex
	phases  []string // "name" when it started, "name: ok" or "name: <class>" when it ended
	script  string
	plan    *deploy.ScriptPlan
	started *api.DetailedRun
	final   api.RunStatus
	log     strings.Builder
	ws      string
}

var _ deploy.Observer = (*recorder)(nil)

func (r *recorder) Progress(string)                       {}
func (r *recorder) Warn(string)                           {}
func (r *recorder) Synced(*deploy.SyncResult)             {}
func (r *recorder) AppReady(string, *api.AppLinkResponse) {}
func (r *recorder) PhaseStarted(p deploy.Phase)           { r.add(string(p)) }
func (r *recorder) PhaseEnded(p deploy.Phase, err error) {
	out := "ok"
	if err != nil {
		out = className(deploy.Classify(err))
	}
	r.add(string(p) + ": " + out)
}
func (r *recorder) Authenticated(s *deploy.Session)   { r.ws = s.WorkspaceID }
func (r *recorder) Planned(p *deploy.ScriptPlan)      { r.plan = p }
func (r *recorder) ScriptReady(s *api.Script, _ bool) { r.script = s.Name }
func (r *recorder) RunStarted(run *api.DetailedRun)   { r.started = run }
func (r *recorder) RunStatus(run *api.DetailedRun)    { r.final = run.Status }
func (r *recorder) Log(text string)                   { r.log.WriteString(text) }
func (r *recorder) add(s string)                      { r.mu.Lock(); r.phases = append(r.phases, s); r.mu.Unlock() }

func className(c deploy.Class) string {
	return map[deploy.Class]string{deploy.ClassOther: "other", deploy.ClassUsage: "usage", deploy.ClassAuth: "auth",
		deploy.ClassConnection: "connection", deploy.ClassRunFailed: "run failed", deploy.ClassCancelled: "cancelled",
		deploy.ClassTimeout: "timeout", deploy.ClassInterrupted: "interrupted"}[c]
}

// TestFrontEndsReportTheSame runs the one engine through the command line
// (deploy) and the Action (its main step) against one real server, and
// compares what each reports: the phases and how they ended, the script, the
// run and its status, the outcome and the exit code.
func TestFrontEndsReportTheSame(t *testing.T) {
	if testing.Short() {
		t.Skip("starts python3 runs")
	}
	srv, err := server.Start(context.Background(), server.Config{DataDir: filepath.Join(t.TempDir(), "data")}, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	root := t.TempDir()
	for name, content := range map[string]string{
		".dlt/config.toml": "",
		"ok.py":            "print('loaded 3 rows')\n",
		"fail.py":          "import sys\nprint('about to fail')\nsys.exit(2)\n",
	} {
		p := filepath.Join(root, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	home := t.TempDir()
	base := map[string]string{"HOME": home, "PATH": os.Getenv("PATH"), "RUNTIME__WORKSPACE_ID": srv.DefaultWorkspaceID()}
	run := func(args []string, env map[string]string) (int, string, string, *recorder) {
		rec := &recorder{}
		var out, errs bytes.Buffer
		all := map[string]string{}
		for k, v := range base {
			all[k] = v
		}
		for k, v := range env {
			all[k] = v
		}
		s := &Streams{In: strings.NewReader(""), Out: &out, Err: &errs, Getenv: func(k string) string { return all[k] }, Observer: rec}
		code := Run(context.Background(), args, s)
		return code, out.String(), errs.String(), rec
	}
	cliRun := func(t *testing.T, script string, extra map[string]string) (int, string, string, *recorder) {
		args := []string{"deploy", script, "-C", root, "-p", "prod", "-o", "json", "--api-url", srv.URL, "--token", srv.AdminToken()}
		if s, ok := extra["schedule"]; ok {
			args = append(args, "--schedule", s)
		}
		if extra["dry-run"] == "true" {
			args = append(args, "--dry-run")
		}
		return run(args, nil)
	}
	actionRun := func(t *testing.T, script string, extra map[string]string) (int, string, string, *recorder) {
		gh := t.TempDir()
		env := map[string]string{
			"INPUT_SCRIPT": script, "INPUT_WORKING-DIRECTORY": root, "INPUT_API-URL": srv.URL, "INPUT_TOKEN": srv.AdminToken(),
			"GITHUB_OUTPUT": filepath.Join(gh, "output"), "RUNNER_TEMP": gh,
		}
		for k, v := range extra {
			env["INPUT_"+strings.ToUpper(k)] = v
		}
		return run([]string{"action"}, env)
	}

	t.Run("completed", func(t *testing.T) {
		cCode, cOut, cErr, c := cliRun(t, "ok.py", nil)
		aCode, aOut, _, a := actionRun(t, "ok.py", nil)
		want := []string{"authenticate", "authenticate: ok", "deployment sync", "deployment sync: ok", "configuration sync", "configuration sync: ok",
			"script", "script: ok", "run", "run: ok", "follow", "follow: ok"}
		compare(t, want, c, a)
		if cCode != 0 || aCode != 0 {
			t.Fatalf("exit codes: command line %d, Action %d; want 0 and 0\n%s", cCode, aCode, cErr)
		}
		// What each renders says the same: the command line's JSON, the
		// Action's outputs and log line.
		var final api.DetailedRun
		if err := json.Unmarshal([]byte(cOut), &final); err != nil || final.Status != api.StatusCompleted || final.ID != c.started.ID {
			t.Errorf("command line JSON: %v %+v", err, final)
		}
		if !strings.Contains(aOut, "Run #2: completed") || !strings.Contains(aOut, "loaded 3 rows") {
			t.Errorf("Action log lacks the run's end or its log:\n%s", aOut)
		}
		if !strings.Contains(cErr, "Run #1: completed") {
			t.Errorf("command line lacks the run's end:\n%s", cErr)
		}
	})

	t.Run("failed", func(t *testing.T) {
		cCode, _, cErr, c := cliRun(t, "fail.py", nil)
		aCode, aOut, _, a := actionRun(t, "fail.py", nil)
		want := []string{"authenticate", "authenticate: ok", "deployment sync", "deployment sync: ok", "configuration sync", "configuration sync: ok",
			"script", "script: ok", "run", "run: ok", "follow", "follow: run failed"}
		compare(t, want, c, a)
		if cCode != ExitFailed || aCode != ExitFailed {
			t.Errorf("exit codes: command line %d, Action %d; want %d", cCode, aCode, ExitFailed)
		}
		if !strings.Contains(cErr, `Error: run #1 of "fail.py" failed`) || !strings.Contains(aOut, `::error title=Run failed::run #2 of "fail.py" failed`) {
			t.Errorf("failure wording differs:\n%s\n%s", cErr, aOut)
		}
	})

	t.Run("dry run with a schedule", func(t *testing.T) {
		extra := map[string]string{"schedule": "0 3 * * *", "dry-run": "true"}
		cCode, _, _, c := cliRun(t, "ok.py", extra)
		aCode, _, _, a := actionRun(t, "ok.py", extra)
		want := []string{"authenticate", "authenticate: ok", "deployment sync", "deployment sync: ok", "configuration sync", "configuration sync: ok",
			"script", "script: ok"}
		compare(t, want, c, a)
		if cCode != 0 || aCode != 0 {
			t.Errorf("exit codes: command line %d, Action %d", cCode, aCode)
		}
		if c.plan == nil || !reflect.DeepEqual(c.plan, a.plan) || c.plan.Schedule == nil || *c.plan.Schedule != "0 3 * * *" || !c.plan.WouldUpdate {
			t.Errorf("plans differ or lack the schedule:\ncommand line %+v\nAction       %+v", c.plan, a.plan)
		}
	})

	t.Run("schedule set by the Action, removed by the command line", func(t *testing.T) {
		schedule := func() *string {
			t.Helper()
			c := client.New(client.Options{APIBaseURL: srv.URL, AuthBaseURL: srv.AuthURL(), Token: srv.AdminToken()})
			sc, err := c.GetScript(context.Background(), srv.DefaultWorkspaceID(), "ok.py")
			if err != nil {
				t.Fatal(err)
			}
			return sc.Schedule
		}
		if code, _, _, _ := actionRun(t, "ok.py", map[string]string{"schedule": "*/5 * * * *", "wait": "false"}); code != 0 {
			t.Fatalf("Action: exit code %d", code)
		}
		if got := schedule(); got == nil || *got != "*/5 * * * *" {
			t.Fatalf("schedule after the Action: %v", got)
		}
		if code, _, errs, _ := cliRun(t, "ok.py", map[string]string{"schedule": "none"}); code != 0 {
			t.Fatalf("command line: exit code %d\n%s", code, errs)
		}
		if got := schedule(); got != nil {
			t.Fatalf("schedule after --schedule none: %q", *got)
		}
	})

	t.Run("bad schedule", func(t *testing.T) {
		extra := map[string]string{"schedule": "every day"}
		cCode, _, cErr, _ := cliRun(t, "ok.py", extra)
		aCode, aOut, _, _ := actionRun(t, "ok.py", extra)
		if cCode != ExitUsage || aCode != ExitUsage {
			t.Errorf("exit codes: command line %d, Action %d; want %d", cCode, aCode, ExitUsage)
		}
		for _, out := range []string{cErr, aOut} {
			if !strings.Contains(out, `"every day": use 5 cron fields`) {
				t.Errorf("no clear error:\n%s", out)
			}
		}
	})
}

// compare checks that both front ends saw the phases want, the same script
// and workspace, and a run that ended as the phases say.
func compare(t *testing.T, want []string, c, a *recorder) {
	t.Helper()
	if !reflect.DeepEqual(c.phases, want) || !reflect.DeepEqual(a.phases, want) {
		t.Errorf("phases:\ncommand line %q\nAction       %q\nwant         %q", c.phases, a.phases, want)
	}
	if c.script != a.script || c.ws != a.ws || c.ws == "" {
		t.Errorf("script %q / %q, workspace %q / %q", c.script, a.script, c.ws, a.ws)
	}
	if (c.started == nil) != (a.started == nil) || c.final != a.final {
		t.Errorf("runs: command line %+v ended %q, Action %+v ended %q", c.started, c.final, a.started, a.final)
	}
	if c.started != nil && a.started != nil && (c.started.Number+1 != a.started.Number || c.log.String() != a.log.String()) {
		t.Errorf("runs #%d and #%d, logs %q and %q", c.started.Number, a.started.Number, c.log.String(), a.log.String())
	}
}
