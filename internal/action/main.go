package action

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/sethvargo/go-githubactions"

	"github.com/dlthub/runtime-action/internal/api"
	"github.com/dlthub/runtime-action/internal/client"
	"github.com/dlthub/runtime-action/internal/deploy"
	"github.com/dlthub/runtime-action/internal/workspace"
)

// Env is what the Action's steps take from the process: streams, variables
// and, for tests, the HTTP client of GitHub's REST API and the time limits.
type Env struct {
	Stdout      io.Writer
	Getenv      func(string) string
	Cwd         string       // the folder working-directory is relative to ("" = the process's)
	GitHubHTTP  *http.Client // nil: http.DefaultClient
	Version     string
	CancelLimit time.Duration // how long cancelling a run may take (default 5s)
	// ClientOptions adjusts the Runtime client (tests shorten the poll interval).
	ClientOptions func(*client.Options)
	// Now is the clock tokens are checked against (nil: time.Now).
	Now func() time.Time
	// Observer, when set, is told what the engine reports too (tests
	// compare the Action with the command line through it).
	Observer deploy.Observer
}

func (e *Env) cancelLimit() time.Duration {
	if e.CancelLimit > 0 {
		return e.CancelLimit
	}
	return 5 * time.Second
}

// step is one execution of the main step: what it learnt so far, so that
// every outcome reports it.
type step struct {
	env  Env
	a    *githubactions.Action
	in   inputs
	m    *masker
	gh   *ghContext
	root string

	scriptName string // the script's name on the Runtime ("" for command sync)
	set        deploy.Settings
	sess       *deploy.Session
	log        *runLog // the run's log while it is followed
	ghDeploy   *ghDeployment
	plans      []packagePlan

	out         outputs
	sum         summaryData
	planWritten bool // a dry run's plan is the summary
}

// Main runs the Action's main step and returns the process exit code: 0 when
// the run completed (or, for sync and dry runs, the sync succeeded), else
// the code deploy.ExitCode gives the command line for the same failure.
func Main(ctx context.Context, env Env) int {
	a := newStepAction(env)
	s := &step{env: env, a: a}
	err := s.main(ctx)
	if err != nil {
		annotate(a, s.m, err)
		if s.m != nil {
			s.sum.Error = s.m.Redact(errorText(err))
		}
	}
	if rerr := s.report(); rerr != nil {
		annotate(a, s.m, rerr)
		if err == nil {
			return deploy.ExitError
		}
	}
	return deploy.ExitCode(err)
}

func errorText(err error) string {
	var f *failure
	if errors.As(err, &f) && f.Err != nil {
		return f.Err.Error()
	}
	return err.Error()
}

func (s *step) main(ctx context.Context) error {
	in, inErr := readInputs(s.a)
	s.in = in
	root, rootErr := findRoot(s.env, in)
	// Mask before anything else is printed, the input errors included.
	m, mErr := maskSecrets(s.a, in, root)
	s.m = m
	if inErr != nil {
		return &failure{Class: deploy.ClassUsage, Title: "Invalid input", Err: inErr, Fix: "Fix the step's `with:` inputs; action.yml lists them with their defaults."}
	}
	if mErr != nil {
		return fail("Invalid settings file", mErr, "")
	}
	if rootErr != nil {
		return fail("No dlt workspace", fmt.Errorf("working-directory %q: %w", in.WorkingDirectory, rootErr),
			"Set working-directory to the folder holding .dlt/ (relative to the repository root), and check out the repository first (actions/checkout).")
	}
	s.root = root
	gh, ctxErr := loadContext(s.a)
	s.gh = gh
	if ctxErr != nil {
		s.a.Warningf("read the workflow event: %v", ctxErr)
	}
	s.sum.Script, s.sum.Profile = in.Script, in.Profile
	req := deploy.Request{
		Root:    root,
		Profile: in.Profile,
		DryRun:  in.DryRun,
		Wait:    in.Wait,
		Spec:    deploy.ScriptSpec{Type: api.ScriptBatch, Profile: in.Profile, Schedule: in.Schedule},
		Follow: deploy.FollowOptions{Timeout: in.Timeout, CancelOnTimeout: in.CancelOnTimeout, CancelOnInterrupt: true,
			CancelLimit: s.env.cancelLimit(), Interactive: in.Interactive},
	}
	if in.Interactive {
		req.Spec.Type = api.ScriptInteractive
	}
	switch in.Command {
	case commandSync:
		req.Steps = deploy.StepsSync
	case commandRun:
		req.Steps = deploy.StepsRun
	}
	if in.Command != commandSync {
		// Checked before anything is uploaded: a deploy of a script that
		// is not there could only fail after the sync.
		name, err := workspace.ScriptName(root, root, in.Script)
		if err != nil {
			return fail("Script not found", err, "The script input is a path relative to working-directory ("+in.WorkingDirectory+"), e.g. script: pipelines/load.py; the file must be in the repository.")
		}
		s.scriptName, req.Script = name, name
	}
	cleanup, err := writeProfileFiles(root, in.Profile, in.ConfigTOML, in.SecretsTOML)
	if err != nil {
		return fail("Invalid TOML input", err, "")
	}
	defer func() {
		if err := cleanup(); err != nil {
			s.a.Warningf("restore the profile files: %v", err)
		}
	}()
	set, err := resolveSettings(s.env, in, root)
	if err != nil {
		return fail("Invalid settings file", err, "")
	}
	s.m.Add(set.Token.Value)
	if set.APIURL.Value == "" {
		return noRuntimeURL()
	}
	req.Login = s.login(set)
	var obs deploy.Observer = observer{s}
	if s.env.Observer != nil {
		obs = deploy.Tee(obs, s.env.Observer)
	}
	res, err := deploy.Run(ctx, req, obs)
	s.finish(ctx, req, res, err)
	if err != nil {
		return s.explain(err, res)
	}
	if in.DryRun {
		s.writePlan(ctx, res.Plan)
	}
	return nil
}

// resolveSettings resolves the settings with the inputs on top: the main
// step and the post step read them the same way.
func resolveSettings(env Env, in inputs, root string) (deploy.Settings, error) {
	return deploy.ResolveSettings(root, env.Getenv, env.Getenv("HOME"), deploy.Overrides{
		APIURL:      deploy.Override{Value: in.APIURL, Name: "the api-url input"},
		AuthURL:     deploy.Override{Value: in.AuthURL, Name: "the auth-url input"},
		WorkspaceID: deploy.Override{Value: in.WorkspaceID, Name: "the workspace-id input"},
		Token:       deploy.Override{Value: in.Token, Name: "the token input"},
	})
}

// login says how the Action authenticates: the token input, else a
// github-token exchange, else GitHub OIDC, else the workspace's settings.
func (s *step) login(set deploy.Settings) deploy.Login {
	s.set = set
	return deploy.Login{
		Settings: set,
		Client:   s.debugHTTP(clientOptionsFor(s.env)),
		Exchange: s.exchange,
		NoToken:  s.noToken,
		Verify:   true,
		Now:      s.env.Now,
	}
}

func (s *step) exchange(ctx context.Context, opts client.Options) (deploy.Setting, bool, error) {
	in := s.in
	exchanged := func(jwt, how string) (deploy.Setting, bool, error) {
		s.m.Add(jwt)
		return deploy.Setting{Value: jwt, Source: deploy.Source{Kind: deploy.FromExchange, Name: how}}, true, nil
	}
	if in.GitHubToken != "" {
		res, err := client.New(opts).TokenExchange(ctx, in.GitHubToken)
		if err != nil {
			return deploy.Setting{}, false, fail("GitHub token exchange failed", fmt.Errorf("exchange github-token at %s: %w", opts.AuthBaseURL, err), "Check that the GitHub account is allowed on the Runtime, or pass the token input instead.")
		}
		return exchanged(res.JWT, "a GitHub token exchange")
	}
	if ok, _ := oidcFromEnv(s.a.Getenv); !ok {
		return deploy.Setting{}, false, nil
	}
	id, err := oidcToken(ctx, s.a, s.m, s.gh, in.OIDCAudience)
	if err != nil {
		return deploy.Setting{}, false, err
	}
	res, err := client.New(opts).OIDCExchange(ctx, id, s.set.WorkspaceID.Value)
	if errors.Is(err, client.ErrOIDCNotOffered) {
		return deploy.Setting{}, false, oidcNotOffered(opts.AuthBaseURL)
	}
	if err != nil {
		return deploy.Setting{}, false, fail("GitHub OIDC exchange refused", fmt.Errorf("exchange the GitHub ID token at %s: %w", opts.AuthBaseURL, err),
			"Add a trust rule for this repository on the Runtime (runtime-action serve trust add --workspace ID --repository-id N --repository-owner-id N), or pass the token input.")
	}
	return exchanged(res.JWT, "GitHub OIDC")
}

func (s *step) noToken(deploy.Settings) error {
	if s.gh != nil && s.gh.PullRequest.FromFork() {
		return oidcUnavailable(s.gh)
	}
	return &failure{Class: deploy.ClassAuth, Title: "No Runtime credentials",
		Err: errors.New("no token input, no github-token input, no GitHub OIDC token and no [runtime] auth_token in the workspace's settings"),
		Fix: "Pass a token from a secret (token: ${{ secrets.RUNTIME_TOKEN }}), or use OIDC:\n\n" + oidcPermissionsYAML}
}

func clientOptionsFor(env Env) client.Options {
	opts := client.Options{UserAgent: "runtime-action/" + env.Version}
	if env.ClientOptions != nil {
		env.ClientOptions(&opts)
	}
	return opts
}

// findRoot finds the workspace from the working-directory input, relative to
// the step's folder: the main step and the post step both need it.
func findRoot(env Env, in inputs) (string, error) {
	cwd := env.Cwd
	if cwd == "" {
		cwd, _ = os.Getwd()
	}
	dir := in.WorkingDirectory
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(cwd, dir)
	}
	return workspace.FindRoot(dir, workspace.GlobalDir(env.Getenv, env.Getenv("HOME")))
}

// writePlan puts a dry run's plan in the job summary (or the log) and, when
// asked, in a pull request comment.
func (s *step) writePlan(ctx context.Context, sp *deploy.ScriptPlan) {
	data := planData{Script: s.in.Script, Profile: s.in.Profile, Packages: s.plans}
	if sp != nil {
		data.ScriptPlan = fmt.Sprintf("%s (%s)", sp.State(), sp.Describe())
	}
	plan := renderPlan(data)
	if ok, err := writeSummary(s.a, s.m, plan); err != nil {
		s.a.Warningf("%v", err)
	} else if ok {
		s.a.Infof("Dry run: nothing was uploaded or run; the plan is in the job summary")
	} else {
		// No job summary (act, a plain docker run): the plan goes to the
		// log, where file names cannot act as workflow commands.
		s.a.Infof("Dry run: nothing was uploaded or run. The plan:")
		w := newLogWriter(s.env.Stdout)
		io.WriteString(w, s.m.Redact(plan))
		w.Pause()
	}
	s.sum = summaryData{} // the plan is the summary
	s.planWritten = true
	if s.in.Comment {
		if url, err := commentPlan(ctx, s.a, s.gh, s.in.RepoToken, s.m.Redact(plan), s.env.GitHubHTTP); err != nil {
			s.a.Warningf("comment the plan on the pull request: %v", err)
		} else if url != "" {
			s.a.Infof("plan posted: %s", url)
		}
	}
}
