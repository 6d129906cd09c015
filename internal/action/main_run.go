package action

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/dlthub/runtime-action/internal/api"
	"github.com/dlthub/runtime-action/internal/client"
	"github.com/dlthub/runtime-action/internal/deploy"
)

func (s *step) run(ctx context.Context, eng *deploy.Engine) error {
	in := s.in
	var script *api.Script
	err := Group(s.a, PhaseScript, func() (err error) {
		typ := api.ScriptBatch
		if in.Interactive {
			typ = api.ScriptInteractive
		}
		script, _, err = eng.UpsertScript(ctx, s.scriptName, deploy.ScriptSpec{Type: typ, Profile: in.Profile})
		return err
	})
	if err != nil {
		return Fail("Script not created", err, "")
	}
	s.sum.Script, s.out.ScriptURL, s.sum.ScriptURL = script.Name, script.ScriptURL, script.ScriptURL

	var ghDeploy *Deployment
	if in.Environment != "" {
		ghDeploy = StartGitHubDeployment(ctx, s.a, s.gh, in.RepoToken, in.Environment, "dlt Runtime: "+script.Name, s.env.GitHubHTTP)
	}
	success := false
	defer func() {
		ghDeploy.Finish(context.WithoutCancel(ctx), s.a, success, fmt.Sprintf("run %s: %s", s.out.RunID, s.out.Status), s.out.ScriptURL)
	}()

	var run *api.Run
	err = Group(s.a, PhaseRun, func() (err error) {
		run, err = eng.StartRun(ctx, script, in.Profile)
		if err != nil {
			return err
		}
		s.a.Infof("Run #%d of %q started: %s", run.Number, script.Name, run.ID)
		return nil
	})
	if err != nil {
		return Fail("Run not started", err, "")
	}
	s.setRun(&api.DetailedRun{Run: *run, Script: *script})
	if !in.Wait {
		success = true
		return nil
	}
	if _, err := SaveRunState(s.a, RunState{RunID: run.ID, WorkspaceID: s.workspaceID, APIURL: s.apiURL}); err != nil {
		s.a.Warningf("save the run for the post step: %v", err)
	}
	final, err := s.follow(ctx, run.ID)
	if err != nil {
		return err
	}
	success = final.Status == api.StatusCompleted
	return runFailure(final, s.sum.LogTail)
}

// setRun records what is known of the run in the outputs and the summary.
func (s *step) setRun(r *api.DetailedRun) {
	s.out.RunID, s.out.RunNumber, s.out.Status = r.ID, r.Number, r.Status
	s.sum.RunID, s.sum.RunNumber, s.sum.Status = r.ID, r.Number, r.Status
	if r.Profile != nil {
		s.sum.Profile = *r.Profile
	}
	if r.Script.ScriptURL != "" {
		s.out.ScriptURL, s.sum.ScriptURL = r.Script.ScriptURL, r.Script.ScriptURL
	}
	if r.Duration != nil {
		d := time.Duration(*r.Duration) * time.Second
		s.out.Duration, s.sum.Duration = &d, &d
	}
}

// follow streams the run's log into the job log until the run ends, the
// timeout passes, or the workflow is cancelled (ctx done), cancelling the
// run in the last two cases.
func (s *step) follow(ctx context.Context, runID string) (*api.DetailedRun, error) {
	var final *api.DetailedRun
	err := Group(s.a, PhaseLogs, func() error {
		log, err := NewRunLog(s.env.Stdout, s.m, LogDir(s.a.Getenv), 100)
		if err != nil {
			s.a.Warningf("%v", err)
		}
		fctx, cancel := context.WithTimeout(ctx, s.in.Timeout)
		defer cancel()
		var last api.RunStatus
		final, err = s.c.Follow(fctx, s.workspaceID, runID, client.FollowHandler{
			OnLog: func(text string) {
				if log != nil {
					log.Write([]byte(text))
				}
			},
			OnStatus: func(r *api.DetailedRun) {
				if r.Status == last {
					return
				}
				last = r.Status
				if log != nil {
					log.Pause()
				}
				s.a.Infof("Run #%d: %s", r.Number, r.Status)
			},
		})
		if log != nil {
			log.Close()
			s.out.LogsFile = log.Path()
			s.sum.LogTail = log.Tail()
		}
		return err
	})
	if err == nil {
		s.setRun(final)
		if err := SettleRunState(s.a); err != nil {
			s.a.Warningf("%v", err)
		}
		return final, nil
	}
	label := fmt.Sprintf("run %s", runID)
	if s.out.RunNumber > 0 {
		label = fmt.Sprintf("run #%d of %q", s.out.RunNumber, s.sum.Script)
	}
	switch {
	case ctx.Err() != nil:
		// The workflow was cancelled: stop the run before the runner kills us.
		r, cerr := CancelDetached(context.WithoutCancel(ctx), s.c, s.workspaceID, runID, s.env.cancelLimit())
		if cerr != nil {
			return nil, Fail("Run not cancelled", fmt.Errorf("the workflow was cancelled, and cancelling %s failed: %w", label, cerr), "Cancel it by hand: runtime-action runs "+runID+" cancel")
		}
		s.setRun(r)
		SettleRunState(s.a)
		return nil, Fail("Workflow cancelled", fmt.Errorf("the workflow was cancelled, so %s was cancelled too (now %s)", label, r.Status), "")
	case errors.Is(err, context.DeadlineExceeded):
		if !s.in.CancelOnTimeout {
			SettleRunState(s.a)
			if r, gerr := s.c.GetRun(context.WithoutCancel(ctx), s.workspaceID, runID); gerr == nil {
				s.setRun(r)
			}
			return nil, Fail("Run timed out", fmt.Errorf("%s did not end within %s; it goes on (cancel-on-timeout is false)", label, s.in.Timeout),
				"Raise the timeout input, or follow it with: runtime-action runs "+runID+" logs -f")
		}
		r, cerr := CancelDetached(context.WithoutCancel(ctx), s.c, s.workspaceID, runID, s.env.cancelLimit())
		if cerr != nil {
			return nil, Fail("Run timed out", fmt.Errorf("%s did not end within %s, and cancelling it failed: %w", label, s.in.Timeout, cerr),
				"Cancel it by hand: runtime-action runs "+runID+" cancel")
		}
		s.setRun(r)
		SettleRunState(s.a)
		state := "it was cancelled"
		if !r.Status.Terminal() {
			state = "it is being cancelled (" + string(r.Status) + ")"
		}
		return nil, Fail("Run timed out", fmt.Errorf("%s did not end within %s, so %s", label, s.in.Timeout, state),
			"Raise the timeout input, or set cancel-on-timeout: false to leave long runs going.")
	}
	return nil, Fail("Following the run failed", fmt.Errorf("follow %s: %w", label, err), "It may still be running: runtime-action runs "+runID+" logs -f")
}

// failedTail is how many of the last log lines a failed run's annotation
// shows: the annotation is what the run's page shows first.
const failedTail = 5

// runFailure turns a terminal run that did not complete into the step's
// failure; its annotation quotes the last lines of the log.
func runFailure(r *api.DetailedRun, tail []string) error {
	switch r.Status {
	case api.StatusCompleted:
		return nil
	case api.StatusCancelled:
		return Fail("Run cancelled", fmt.Errorf("run #%d of %q was cancelled", r.Number, r.Script.Name), "")
	}
	fix := "The run's whole log is in this step's \"Logs\" group and in the logs-file output."
	if n := len(tail); n > 0 {
		last := tail[max(0, n-failedTail):]
		head := "Last line of its log:"
		if len(last) > 1 {
			head = fmt.Sprintf("Last %d lines of its log:", len(last))
		}
		fix = fmt.Sprintf("%s\n%s\n\n%s", head, strings.Join(last, "\n"), fix)
	}
	return Fail("Run "+string(r.Status), fmt.Errorf("run #%d of %q %s", r.Number, r.Script.Name, r.Status), fix)
}

// report writes the outputs and the job summary, whatever the outcome. An
// output the Runtime sent that is not what it must be (an id that is not a
// UUID, a link that is not http(s)) fails the step.
func (s *step) report() error {
	_, oerr := WriteOutputs(s.a, s.out)
	if oerr != nil {
		oerr = Fail("Invalid output", oerr, "The Runtime answered values that are not what its API promises; the outputs named here were not set.")
	}
	if s.planWritten || s.m == nil {
		return oerr
	}
	if _, err := WriteSummary(s.a, s.m, RenderSummary(s.sum)); err != nil {
		s.a.Warningf("%v", err)
	}
	return oerr
}

// PostMain runs the post step: the cancel backstop for a run the main step
// registered but could not settle.
func PostMain(ctx context.Context, env Env) int {
	a := newStepAction(env)
	s := &step{env: env, a: a}
	err := Post(ctx, a, func(ctx context.Context, st RunState) (RunCanceller, error) {
		in, _ := ReadInputs(a)
		s.in = in
		s.m = NewMasker(a)
		s.m.Add(in.Token)
		s.m.Add(in.GitHubToken)
		s.gh, _ = LoadContext(a)
		if in.APIURL == "" {
			in.APIURL = st.APIURL
		}
		s.in = in
		opts := clientOptionsFor(env, st.APIURL, firstNonEmpty(in.AuthURL, st.APIURL+"/auth"))
		tok, _, err := s.token(ctx, opts, workspaceSettingsFor(s, env))
		if err != nil {
			return nil, err
		}
		s.m.Add(tok)
		opts.Token = tok
		return client.New(opts), nil
	}, env.cancelLimit())
	if err != nil {
		Annotate(a, s.m, err)
		return 1
	}
	return 0
}
