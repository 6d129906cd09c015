package action

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/dlthub/runtime-action/internal/api"
	"github.com/dlthub/runtime-action/internal/deploy"
)

// observer renders the engine's report in the job log: a log group per
// phase, progress lines, the run's log, and the outputs and summary.
type observer struct{ s *step }

var _ deploy.Observer = observer{}

func (o observer) Progress(msg string) { o.s.a.Infof("%s", msg) }
func (o observer) Warn(msg string)     { o.s.a.Warningf("%s", msg) }

// groupTitle is a phase's log group: the follow phase holds the run's log.
func groupTitle(p deploy.Phase) string {
	if p == deploy.PhaseFollow {
		return string(phaseLogs)
	}
	return p.Title()
}

func (o observer) PhaseStarted(p deploy.Phase) {
	o.s.a.Group(groupTitle(p))
	if p == deploy.PhaseFollow {
		log, err := newRunLog(o.s.env.Stdout, o.s.m, runLogDir(o.s.a.Getenv), 100)
		if err != nil {
			o.s.a.Warningf("%v", err)
		}
		o.s.log = log
	}
}

func (o observer) PhaseEnded(p deploy.Phase, err error) {
	if p == deploy.PhaseFollow && o.s.log != nil {
		o.s.log.Close()
		o.s.out.LogsFile = o.s.log.Path()
		o.s.sum.LogTail = o.s.log.Tail()
		o.s.log = nil
	}
	// The group closes whatever the outcome, so that a failure's
	// annotation is printed outside it and stays visible.
	o.s.a.EndGroup()
}

func (o observer) Authenticated(sess *deploy.Session) {
	s := o.s
	s.sess = sess
	s.m.Add(sess.Settings.Token.Value)
	me, err := sess.Me(context.Background())
	if err != nil {
		return
	}
	if sess.DefaultWorkspace {
		s.a.Infof("Workspace: %s (%s), the default of %s; set workspace-id to choose another", me.DefaultWorkspace.Name, sess.WorkspaceID, me.Email)
	}
	s.a.Infof("Authenticated as %s with %s on %s, workspace %s", me.Email, sess.Settings.Token.Source, sess.Settings.APIURL.Value, sess.WorkspaceID)
}

func (o observer) Synced(res *deploy.SyncResult) {
	s := o.s
	if s.in.DryRun {
		pp := packagePlan{Name: string(res.Plan.Kind), Changed: res.Plan.WouldUpload, LatestFiles: res.Plan.LatestFiles,
			OlderClientCopy: res.Plan.OlderClientCopy}
		if res.Package != nil {
			pp.LatestVersion = res.Package.Version
		}
		for _, it := range res.Plan.Files {
			pp.Files = append(pp.Files, it.RelativePath)
		}
		s.plans = append(s.plans, pp)
		return
	}
	changed := res.Changed
	r := &packageResult{ID: res.Package.ID, Version: res.Package.Version, Changed: res.Changed}
	switch res.Plan.Kind {
	case deploy.KindDeployment:
		s.out.DeploymentID, s.out.DeploymentVersion, s.out.DeploymentChanged = r.ID, r.Version, &changed
		s.sum.Deployment = r
	case deploy.KindConfiguration:
		s.out.ConfigurationID, s.out.ConfigurationVersion, s.out.ConfigurationChanged = r.ID, r.Version, &changed
		s.sum.Configuration = r
	}
}

func (o observer) Planned(*deploy.ScriptPlan) {}

func (o observer) ScriptReady(script *api.Script, changed bool) {
	s := o.s
	s.sum.Script, s.out.ScriptURL, s.sum.ScriptURL = script.Name, script.ScriptURL, script.ScriptURL
}

func (o observer) RunStarted(run *api.DetailedRun) {
	s := o.s
	s.a.Infof("Run #%d of %q started: %s", run.Number, run.Script.Name, run.ID)
	s.setRun(run)
	if s.in.Environment != "" {
		s.ghDeploy = startGitHubDeployment(context.Background(), s.a, s.gh, s.in.RepoToken, s.in.Environment, "dlt Runtime: "+run.Script.Name, s.env.GitHubHTTP)
	}
	if !s.in.Wait {
		return
	}
	st := runState{RunID: run.ID, WorkspaceID: s.sess.WorkspaceID, APIURL: s.sess.Settings.APIURL.Value}
	if _, err := saveRunState(s.a, st); err != nil {
		s.a.Warningf("save the run for the post step: %v", err)
	}
	if err := saveRunMarker(s.a, st); err != nil {
		s.a.Warningf("%v", err)
	}
}

func (o observer) RunStatus(run *api.DetailedRun) {
	if o.s.log != nil {
		o.s.log.Pause()
	}
	o.s.a.Infof("Run #%d: %s", run.Number, run.Status)
}

func (o observer) Log(text string) {
	if o.s.log != nil {
		o.s.log.Write([]byte(text))
	}
}

func (o observer) AppReady(url string, link *api.AppLinkResponse) {
	o.s.a.Infof("App running at %s", url)
}

// finish records how far the deploy got: the run in the outputs, the post
// step's state, and the GitHub deployment's status.
func (s *step) finish(ctx context.Context, req deploy.Request, res *deploy.Result, err error) {
	if res == nil || res.Run == nil {
		return
	}
	removeRunMarker(s.a) // the runner passes GITHUB_STATE on: the step ended on its own
	s.setRun(res.Run)
	if req.Wait && !errors.Is(err, deploy.ErrNotCancelled) {
		// The run ended, was cancelled, or is left going on purpose: the
		// post step leaves it alone.
		if serr := settleRunState(s.a); serr != nil {
			s.a.Warningf("%v", serr)
		}
	}
	success := err == nil
	s.ghDeploy.Finish(context.WithoutCancel(ctx), s.a, success, fmt.Sprintf("run %s: %s", s.out.RunID, s.out.Status), s.out.ScriptURL)
}

// explain gives the engine's failures what to do next, as the Action says
// it (the inputs to change, the log to read).
func (s *step) explain(err error, res *deploy.Result) error {
	var e *deploy.Error
	if !errors.As(err, &e) {
		return err
	}
	runID := ""
	if res != nil && res.Run != nil {
		runID = res.Run.ID
	}
	switch {
	case errors.Is(err, deploy.ErrNoRuntimeURL):
		return noRuntimeURL()
	case e.Fix != "":
	case e.Class == deploy.ClassRunFailed && res.Run != nil:
		return runFailure(res.Run, s.sum.LogTail)
	case e.Class == deploy.ClassTimeout && !s.in.CancelOnTimeout:
		e.Fix = "Raise the timeout input, or follow it with: runtime-action runs " + runID + " logs -f"
	case e.Class == deploy.ClassTimeout:
		e.Fix = "Raise the timeout input, or set cancel-on-timeout: false to leave long runs going."
	case e.Phase == deploy.PhaseFollow && e.Class == deploy.ClassOther:
		e.Fix = "It may still be running: runtime-action runs " + runID + " logs -f"
	}
	return err
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

// failedTail is how many of the last log lines a failed run's annotation
// shows: the annotation is what the run's page shows first.
const failedTail = 5

// runFailure turns a terminal run that did not complete into the step's
// failure; its annotation quotes the last lines of the log.
func runFailure(r *api.DetailedRun, tail []string) error {
	err := deploy.RunOutcome(r)
	var e *deploy.Error
	if !errors.As(err, &e) || e.Class != deploy.ClassRunFailed {
		return err
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
	e.Fix = fix
	return e
}

// report writes the outputs and the job summary, whatever the outcome. An
// output the Runtime sent that is not what it must be (an id that is not a
// UUID, a link that is not http(s)) fails the step.
func (s *step) report() error {
	_, oerr := writeOutputs(s.a, s.out)
	if oerr != nil {
		oerr = fail("Invalid output", oerr, "The Runtime answered values that are not what its API promises; the outputs named here were not set.")
	}
	if s.planWritten || s.m == nil {
		return oerr
	}
	if _, err := writeSummary(s.a, s.m, renderSummary(s.sum)); err != nil {
		s.a.Warningf("%v", err)
	}
	return oerr
}

// PostMain runs the post step: the cancel backstop for a run the main step
// registered but could not settle. It resolves the settings as the main
// step does, with the Runtime the main step saved.
func PostMain(ctx context.Context, env Env) int {
	a, done := newPostAction(env)
	defer done()
	s := &step{env: env, a: a}
	err := post(ctx, a, func(ctx context.Context, st runState) (deploy.RunCanceller, error) {
		in, _ := readInputs(a)
		s.in = in
		s.m = newMasker(a)
		s.m.Add(in.Token)
		s.m.Add(in.GitHubToken)
		s.gh, _ = loadContext(a)
		root, _ := findRoot(env, in)
		s.root = root
		set, err := resolveSettings(env, in, root)
		if err != nil {
			return nil, err
		}
		s.m.Add(set.Token.Value)
		set.SetAPIURL(deploy.Setting{Value: st.APIURL, Source: deploy.Source{Kind: deploy.FromFlag, Name: "the main step's saved state"}})
		l := s.login(set)
		l.Verify = false
		l.Workspace = func(_ context.Context, sess *deploy.Session) error {
			sess.WorkspaceID = st.WorkspaceID
			return nil
		}
		sess, err := deploy.Authenticate(ctx, l)
		if err != nil {
			return nil, err
		}
		s.m.Add(sess.Settings.Token.Value)
		return sess.Runtime, nil
	}, env.cancelLimit())
	if err != nil {
		annotate(a, s.m, err)
		return deploy.ExitCode(err)
	}
	return 0
}
