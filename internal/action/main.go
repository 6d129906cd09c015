package action

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sethvargo/go-githubactions"

	"github.com/dlthub/runtime-action/internal/auth"
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
}

func (s *step) now() time.Time {
	if s.env.Now != nil {
		return s.env.Now()
	}
	return time.Now()
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
	in   Inputs
	m    *Masker
	gh   *Context
	root string

	c           *client.Client
	scriptName  string // the script's name on the Runtime ("" for command sync)
	apiURL      string
	authURL     string
	workspaceID string

	out         Outputs
	sum         SummaryData
	planWritten bool // a dry run's plan is the summary
}

// Main runs the Action's main step and returns the process exit code: 0 when
// the run completed (or, for sync and dry runs, the sync succeeded).
func Main(ctx context.Context, env Env) int {
	a := newStepAction(env)
	s := &step{env: env, a: a}
	err := s.main(ctx)
	if err != nil {
		Annotate(a, s.m, err)
		if s.m != nil {
			s.sum.Error = s.m.Redact(errorText(err))
		}
	}
	if rerr := s.report(); rerr != nil {
		Annotate(a, s.m, rerr)
		return 1
	}
	if err != nil {
		return 1
	}
	return 0
}

func errorText(err error) string {
	var f *Failure
	if errors.As(err, &f) && f.Err != nil {
		return f.Err.Error()
	}
	return err.Error()
}

func (s *step) main(ctx context.Context) error {
	in, inErr := ReadInputs(s.a)
	s.in = in
	root, rootErr := findRoot(s.env, in)
	// Mask before anything else is printed, the input errors included.
	m, mErr := MaskSecrets(s.a, in, root)
	s.m = m
	if inErr != nil {
		return Fail("Invalid input", inErr, "Fix the step's `with:` inputs; action.yml lists them with their defaults.")
	}
	if mErr != nil {
		return Fail("Invalid settings file", mErr, "")
	}
	if rootErr != nil {
		return Fail("No dlt workspace", fmt.Errorf("working-directory %q: %w", in.WorkingDirectory, rootErr),
			"Set working-directory to the folder holding .dlt/ (relative to the repository root), and check out the repository first (actions/checkout).")
	}
	s.root = root
	gh, ctxErr := LoadContext(s.a)
	s.gh = gh
	if ctxErr != nil {
		s.a.Warningf("read the workflow event: %v", ctxErr)
	}
	s.sum.Script, s.sum.Profile = in.Script, in.Profile
	if in.Command != CommandSync {
		// Checked before anything is uploaded: a deploy of a script that
		// is not there could only fail after the sync.
		name, err := deploy.ScriptName(root, root, in.Script)
		if err != nil {
			return Fail("Script not found", err, "The script input is a path relative to working-directory ("+in.WorkingDirectory+"), e.g. script: pipelines/load.py; the file must be in the repository.")
		}
		s.scriptName = name
	}
	cleanup, err := WriteProfileFiles(root, in.Profile, in.ConfigTOML, in.SecretsTOML)
	if err != nil {
		return Fail("Invalid TOML input", err, "")
	}
	defer func() {
		if err := cleanup(); err != nil {
			s.a.Warningf("restore the profile files: %v", err)
		}
	}()

	if err := Group(s.a, PhaseAuthenticate, func() error { return s.authenticate(ctx) }); err != nil {
		return err
	}
	eng := &deploy.Engine{Client: s.c, WorkspaceID: s.workspaceID, Root: root, Report: reporter{s.a}}
	if in.Command == CommandDeploy {
		eng.Script = s.scriptName
	}
	if in.DryRun {
		return s.dryRun(ctx, eng)
	}
	if in.Command != CommandRun {
		if err := s.sync(ctx, eng); err != nil {
			return err
		}
		if in.Command == CommandSync {
			return nil
		}
	}
	return s.run(ctx, eng)
}

// reporter prints the engine's progress in the job log.
type reporter struct{ a *githubactions.Action }

func (r reporter) Progress(msg string) { r.a.Infof("%s", msg) }
func (r reporter) Warn(msg string)     { r.a.Warningf("%s", msg) }

// authenticate settles the Runtime, the token and the workspace: token
// input, github-token exchange, GitHub OIDC, then the workspace's settings.
func (s *step) authenticate(ctx context.Context) error {
	in := s.in
	set, err := workspace.Load(s.root, s.a.Getenv, s.a.Getenv("HOME"))
	if err != nil {
		return Fail("Invalid settings file", err, "")
	}
	s.m.Add(set.AuthToken)
	s.apiURL = firstNonEmpty(in.APIURL, set.APIBaseURL)
	if s.apiURL == "" {
		return NoRuntimeURL()
	}
	s.authURL = firstNonEmpty(in.AuthURL, set.AuthBaseURL, strings.TrimRight(s.apiURL, "/")+"/auth")
	opts := clientOptionsFor(s.env, s.apiURL, s.authURL)
	token, how, err := s.token(ctx, opts, set)
	if err != nil {
		return err
	}
	s.m.Add(token)
	if c, err := auth.Decode(token); err == nil && !c.Expiry.IsZero() && !s.now().Before(c.Expiry) {
		return Fail("Runtime token expired", fmt.Errorf("the token (%s) expired at %s", how, c.Expiry.UTC().Format(time.RFC3339)),
			"Pass a current token in the token input (update the secret it comes from), or use GitHub OIDC, whose tokens are made for each job.")
	}
	opts.Token = token
	s.c = client.New(opts)
	s.workspaceID = firstNonEmpty(in.WorkspaceID, set.WorkspaceID)
	me, err := s.c.Me(ctx)
	if err != nil {
		if client.IsStatus(err, http.StatusUnauthorized) {
			return Fail("Runtime token refused", err, "The token ("+how+") is invalid or expired: pass a current one in the token input, or use OIDC.")
		}
		return Fail("Runtime unreachable", err, "Check api-url ("+s.apiURL+") and that the Runtime is up.")
	}
	if s.workspaceID == "" {
		s.workspaceID = me.DefaultWorkspace.ID
		s.a.Infof("Workspace: %s (%s), the default of %s; set workspace-id to choose another", me.DefaultWorkspace.Name, s.workspaceID, me.Email)
	}
	s.a.Infof("Authenticated as %s with %s on %s, workspace %s", me.Email, how, s.apiURL, s.workspaceID)
	return nil
}

func (s *step) token(ctx context.Context, opts client.Options, set workspace.Settings) (token, how string, err error) {
	in := s.in
	switch {
	case in.Token != "":
		return in.Token, "the token input", nil
	case in.GitHubToken != "":
		res, err := client.New(opts).TokenExchange(ctx, in.GitHubToken)
		if err != nil {
			return "", "", Fail("GitHub token exchange failed", fmt.Errorf("exchange github-token at %s: %w", s.authURL, err), "Check that the GitHub account is allowed on the Runtime, or pass the token input instead.")
		}
		return res.JWT, "a GitHub token exchange", nil
	}
	if ok, _ := OIDCFromEnv(s.a.Getenv); ok {
		id, err := OIDCToken(ctx, s.a, s.m, s.gh, in.OIDCAudience)
		if err != nil {
			return "", "", err
		}
		res, err := client.New(opts).OIDCExchange(ctx, id, firstNonEmpty(in.WorkspaceID, set.WorkspaceID))
		if errors.Is(err, client.ErrOIDCNotOffered) {
			return "", "", OIDCNotOffered(s.authURL)
		}
		if err != nil {
			return "", "", Fail("GitHub OIDC exchange refused", fmt.Errorf("exchange the GitHub ID token at %s: %w", s.authURL, err),
				"Add a trust rule for this repository on the Runtime (runtime-action serve trust add --workspace ID --repository-id N --repository-owner-id N), or pass the token input.")
		}
		return res.JWT, "GitHub OIDC", nil
	}
	if set.AuthToken != "" {
		return set.AuthToken, "the workspace's settings", nil
	}
	if s.gh != nil && s.gh.PullRequest.FromFork() {
		return "", "", OIDCUnavailable(s.gh)
	}
	return "", "", Fail("No Runtime credentials", errors.New("no token input, no github-token input, no GitHub OIDC token and no [runtime] auth_token in the workspace's settings"),
		"Pass a token from a secret (token: ${{ secrets.RUNTIME_TOKEN }}), or use OIDC:\n\n"+OIDCPermissionsYAML)
}

func clientOptionsFor(env Env, apiURL, authURL string) client.Options {
	opts := client.Options{APIBaseURL: apiURL, AuthBaseURL: authURL, UserAgent: "runtime-action/" + env.Version}
	if env.ClientOptions != nil {
		env.ClientOptions(&opts)
	}
	return opts
}

// findRoot finds the workspace from the working-directory input, relative to
// the step's folder: the main step and the post step both need it.
func findRoot(env Env, in Inputs) (string, error) {
	cwd := env.Cwd
	if cwd == "" {
		cwd, _ = os.Getwd()
	}
	dir := in.WorkingDirectory
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(cwd, dir)
	}
	return deploy.FindWorkspace(dir, workspace.GlobalDir(env.Getenv, env.Getenv("HOME")))
}

// workspaceSettingsFor reads the workspace's settings for the post step,
// which has no use for an error: it only looks for a token.
func workspaceSettingsFor(s *step, env Env) workspace.Settings {
	root, err := findRoot(env, s.in)
	if err != nil {
		return workspace.Settings{}
	}
	set, _ := workspace.Load(root, env.Getenv, env.Getenv("HOME"))
	return set
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

func (s *step) sync(ctx context.Context, eng *deploy.Engine) error {
	var dep, conf *deploy.SyncResult
	err := Group(s.a, PhaseDeployment, func() (err error) {
		dep, err = eng.SyncDeployment(ctx, false)
		return err
	})
	if err != nil {
		return Fail("Deployment sync failed", err, "")
	}
	changed := dep.Changed
	s.out.DeploymentID, s.out.DeploymentVersion, s.out.DeploymentChanged = dep.Package.ID, dep.Package.Version, &changed
	s.sum.Deployment = &PackageResult{ID: dep.Package.ID, Version: dep.Package.Version, Changed: dep.Changed}
	err = Group(s.a, PhaseConfiguration, func() (err error) {
		conf, err = eng.SyncConfiguration(ctx, false)
		return err
	})
	if err != nil {
		return Fail("Configuration sync failed", err, "")
	}
	cchanged := conf.Changed
	s.out.ConfigurationID, s.out.ConfigurationVersion, s.out.ConfigurationChanged = conf.Package.ID, conf.Package.Version, &cchanged
	s.sum.Configuration = &PackageResult{ID: conf.Package.ID, Version: conf.Package.Version, Changed: conf.Changed}
	return nil
}

func (s *step) dryRun(ctx context.Context, eng *deploy.Engine) error {
	var plans []PackagePlan
	for _, k := range []struct {
		phase Phase
		sync  func(context.Context, bool) (*deploy.SyncResult, error)
	}{{PhaseDeployment, eng.SyncDeployment}, {PhaseConfiguration, eng.SyncConfiguration}} {
		var res *deploy.SyncResult
		err := Group(s.a, k.phase, func() (err error) {
			res, err = k.sync(ctx, true)
			return err
		})
		if err != nil {
			return Fail("Dry run failed", err, "")
		}
		pp := PackagePlan{Name: string(res.Plan.Kind), Changed: res.Plan.WouldUpload, LatestFiles: res.Plan.LatestFiles}
		if res.Package != nil {
			pp.LatestVersion = res.Package.Version
		}
		for _, it := range res.Plan.Files {
			pp.Files = append(pp.Files, it.RelativePath)
		}
		plans = append(plans, pp)
	}
	plan := RenderPlan(PlanData{Script: s.in.Script, Profile: s.in.Profile, Packages: plans})
	if ok, err := WriteSummary(s.a, s.m, plan); err != nil {
		s.a.Warningf("%v", err)
	} else if ok {
		s.a.Infof("Dry run: nothing was uploaded or run; the plan is in the job summary")
	} else {
		// No job summary (act, a plain docker run): the plan goes to the
		// log, where file names cannot act as workflow commands.
		s.a.Infof("Dry run: nothing was uploaded or run. The plan:")
		w := NewLogWriter(s.env.Stdout)
		io.WriteString(w, s.m.Redact(plan))
		w.Pause()
	}
	s.sum = SummaryData{} // the plan is the summary
	s.planWritten = true
	if s.in.Comment {
		if url, err := CommentPlan(ctx, s.a, s.gh, s.in.RepoToken, s.m.Redact(plan), s.env.GitHubHTTP); err != nil {
			s.a.Warningf("comment the plan on the pull request: %v", err)
		} else if url != "" {
			s.a.Infof("plan posted: %s", url)
		}
	}
	return nil
}
