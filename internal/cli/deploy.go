package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/dlthub/runtime-action/internal/api"
	"github.com/dlthub/runtime-action/internal/deploy"
	"github.com/dlthub/runtime-action/internal/workspace"
)

type deployOptions struct {
	global      *globalOptions
	Script      string
	Profile     string
	Interactive bool
	NoWait      bool
	Timeout     time.Duration
	DryRun      bool
	Schedule    string
	setSchedule bool
}

func newDeployCmd(s *Streams) *cobra.Command {
	o := &deployOptions{global: &globalOptions{}}
	cmd := &cobra.Command{
		Use:   "deploy SCRIPT",
		Short: "Sync code and settings, then run a script and follow it",
		Long: `Deploy the workspace and run one of its scripts: upload the code (deployment) and the
settings (configuration) when they changed, create or update the script, start a run and
follow it to its end, printing its log.

SCRIPT is the path of the script's file; its name on the Runtime is that path relative
to the workspace root.

` + exitCodesHelp,
		Example: `  runtime-action deploy fruitshop_pipeline.py
  runtime-action deploy -C examples/fruitshop fruitshop_pipeline.py -p prod
  runtime-action deploy app.py -i --no-wait
  runtime-action deploy pipeline.py --dry-run -o json`,
		Args: exactArgs(1, "SCRIPT"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Script = args[0]
			o.setSchedule = cmd.Flags().Changed("schedule")
			return runDeploy(cmd.Context(), s, o)
		},
	}
	bindGlobal(cmd, o.global)
	f := cmd.Flags()
	f.StringVarP(&o.Profile, "profile", "p", "dev", "profile the run uses (its settings come from .dlt/<profile>.*.toml)")
	f.BoolVarP(&o.Interactive, "interactive", "i", false, "the script is an interactive app (notebook, dashboard): print its URL once it runs")
	f.BoolVar(&o.NoWait, "no-wait", false, "start the run and return without following it")
	f.DurationVar(&o.Timeout, "timeout", 0, "stop waiting after this long (e.g. 30m; 0: no limit); the run goes on")
	f.BoolVar(&o.DryRun, "dry-run", false, "upload nothing and start nothing: print what would be done")
	f.StringVar(&o.Schedule, "schedule", "", "run the script on this 5-field cron `schedule` (UTC) too, e.g. \"0 3 * * *\"; \"none\" removes it (default: keep the script's)")
	return cmd
}

// exactArgs is cobra.ExactArgs with a message that names what is missing
// or too much.
func exactArgs(n int, names string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) == n {
			return nil
		}
		help := fmt.Sprintf("see %q", cmd.CommandPath()+" --help")
		switch {
		case n == 0:
			return &usageError{fmt.Sprintf("%s takes no arguments, got %q; %s", cmd.CommandPath(), args, help)}
		case len(args) < n:
			return &usageError{fmt.Sprintf("%s needs %s; %s", cmd.CommandPath(), names, help)}
		}
		return &usageError{fmt.Sprintf("%s takes %s only, got %d arguments: %q; %s", cmd.CommandPath(), names, len(args), args, help)}
	}
}

func runDeploy(ctx context.Context, s *Streams, o *deployOptions) error {
	if o.Profile == "" {
		o.Profile = "dev"
	}
	if err := checkProfile(o.Profile); err != nil {
		return err
	}
	spec := deploy.ScriptSpec{Type: api.ScriptBatch, Profile: o.Profile}
	if o.Interactive {
		spec.Type = api.ScriptInteractive
	}
	if o.setSchedule {
		sched, err := deploy.ParseSchedule(o.Schedule)
		if err != nil || sched == nil {
			if err == nil {
				err = fmt.Errorf("%q: use 5 cron fields, or \"none\" to remove the schedule", o.Schedule)
			}
			return &usageError{fmt.Sprintf("invalid --schedule %v", err)}
		}
		spec.Schedule = sched
	}
	return deployScript(ctx, s, o.global, o.Script, deploy.Request{
		Steps: deploy.StepsDeploy, Spec: spec, Profile: o.Profile, DryRun: o.DryRun, Wait: !o.NoWait,
		Follow: deploy.FollowOptions{Timeout: o.Timeout},
	})
}

// deployScript runs the engine for deploy and run: it connects, renders
// what the engine reports, and prints the result.
func deployScript(ctx context.Context, s *Streams, g *globalOptions, script string, req deploy.Request) error {
	if strings.TrimSpace(script) == "" {
		return &usageError{"SCRIPT is empty: name the script's file, e.g. pipelines/load.py"}
	}
	c, login, err := g.login(ctx, s)
	if err != nil {
		return connErr(err)
	}
	defer c.Close()
	name, err := workspace.ScriptName(c.Root, c.Cwd, script)
	if err != nil {
		return err
	}
	req.Login, req.Root, req.Script = login, c.Root, name
	if !req.Wait && c.Embedded && !req.DryRun {
		fmt.Fprintln(s.Err, "The embedded Runtime stops with this command: following the run to its end")
		req.Wait = true
	}
	var obs deploy.Observer = &textObserver{s: s, g: g, c: c, dryRun: req.DryRun}
	if s.Observer != nil {
		obs = deploy.Tee(obs, s.Observer)
	}
	res, err := deploy.Run(ctx, req, obs)
	if c := deploy.Classify(err); err != nil && g.json() && res.Run != nil && (c == deploy.ClassRunFailed || c == deploy.ClassCancelled) {
		// The run ended: -o json prints it whatever its outcome.
		if perr := printJSON(s.Out, res.Run); perr != nil {
			return perr
		}
	}
	if err != nil {
		return explainRun(err, res, g)
	}
	switch {
	case req.DryRun && g.json():
		return printJSON(s.Out, deployPlan{Deployment: res.Deployment.Plan, Configuration: res.Configuration.Plan, Script: *res.Plan})
	case req.DryRun:
		if res.Deployment != nil {
			printPlanText(s.Out, res.Deployment)
			printPlanText(s.Out, res.Configuration)
		}
		fmt.Fprintf(s.Out, "Script %q (%s): %s\n", res.Plan.Name, res.Plan.Describe(), res.Plan.State())
		fmt.Fprintln(s.Out, "A run would be started. Dry run: nothing was uploaded or started.")
		return nil
	case !req.Wait:
		return printRunStarted(s, g, &res.Run.Run)
	case g.json():
		return printJSON(s.Out, res.Run)
	}
	return nil
}

// explainRun adds to the engine's failures of a run the command lines that
// show or stop it.
func explainRun(err error, res *deploy.Result, g *globalOptions) error {
	var e *deploy.Error
	if !errors.As(err, &e) || e.Fix != "" || res == nil || res.Run == nil {
		return err
	}
	id := res.Run.ID
	switch e.Class {
	case deploy.ClassRunFailed:
		e.Fix = fmt.Sprintf("its log is above, and in %q", g.hint("runs "+id+" logs"))
	case deploy.ClassTimeout:
		e.Fix = fmt.Sprintf("follow it with %q, or stop it with %q", g.hint("runs "+id+" logs -f"), g.hint("runs "+id+" cancel"))
	case deploy.ClassInterrupted:
		e.Fix = fmt.Sprintf("stop it with %q", g.hint("runs "+id+" cancel"))
	}
	return err
}

// textObserver renders the engine's report for a terminal: progress on
// stderr, the run's log on stdout (stderr with -o json).
type textObserver struct {
	s      *Streams
	g      *globalOptions
	c      *conn
	dryRun bool
	phase  deploy.Phase
}

var _ deploy.Observer = (*textObserver)(nil)

func (o *textObserver) Progress(msg string) {
	// A text plan says what each sync would do: no need to say it twice.
	if o.dryRun && !o.g.json() && (o.phase == deploy.PhaseDeployment || o.phase == deploy.PhaseConfiguration) {
		return
	}
	fmt.Fprintln(o.s.Err, msg)
}

func (o *textObserver) Warn(msg string)                        { fmt.Fprintln(o.s.Err, "Warning:", msg) }
func (o *textObserver) PhaseStarted(p deploy.Phase)            { o.phase = p }
func (o *textObserver) PhaseEnded(deploy.Phase, error)         { o.phase = "" }
func (o *textObserver) Authenticated(*deploy.Session)          {}
func (o *textObserver) Synced(*deploy.SyncResult)              {}
func (o *textObserver) Planned(*deploy.ScriptPlan)             {}
func (o *textObserver) ScriptReady(script *api.Script, _ bool) {}

func (o *textObserver) RunStarted(run *api.DetailedRun) {
	fmt.Fprintf(o.s.Err, "Run #%d of %q started: %s\n", run.Number, run.Script.Name, run.ID)
}

func (o *textObserver) RunStatus(run *api.DetailedRun) {
	fmt.Fprintf(o.s.Err, "Run #%d: %s\n", run.Number, run.Status)
}

func (o *textObserver) Log(text string) {
	w := o.s.Out
	if o.g.json() {
		w = o.s.Err
	}
	io.WriteString(w, text)
}

func (o *textObserver) AppReady(url string, link *api.AppLinkResponse) {
	fmt.Fprintf(o.s.Err, "App running at %s\n", url)
	if link != nil {
		fmt.Fprintf(o.s.Err, "Open it in a browser with this link (valid for %s): %s\n",
			time.Until(link.ExpiresAt.Time).Round(time.Minute), link.URL)
	}
	if !o.c.Embedded {
		fmt.Fprintln(o.s.Err, "Following the app's log: Ctrl-C stops following, the app keeps running")
	}
}

// checkProfile refuses a profile name that cannot be a file name prefix.
func checkProfile(p string) error {
	if p != "" && !api.ValidProfile(p) {
		return &usageError{fmt.Sprintf("invalid profile name %q: use letters, digits, - and _", p)}
	}
	return nil
}

func printRunStarted(s *Streams, g *globalOptions, run *api.Run) error {
	if g.json() {
		return printJSON(s.Out, run)
	}
	fmt.Fprintln(s.Out, run.ID)
	return nil
}

// deployPlan is the JSON shape of deploy --dry-run.
type deployPlan struct {
	Deployment    deploy.Plan       `json:"deployment"`
	Configuration deploy.Plan       `json:"configuration"`
	Script        deploy.ScriptPlan `json:"script"`
}

// printPlanText prints what a sync would do: the files of a first upload,
// else the files added and removed since the latest version.
func printPlanText(w io.Writer, res *deploy.SyncResult) {
	p := &res.Plan
	size := fmt.Sprintf("%s, %s", deploy.Count(p.FileCount, "file"), deploy.HumanBytes(p.SizeInBytes))
	switch {
	case res.Package == nil:
		fmt.Fprintf(w, "%s: would upload version 1 (%s)\n", title(string(p.Kind)), size)
		for _, it := range p.Files {
			link := ""
			if it.Linkname != "" {
				link = " -> " + it.Linkname
			}
			fmt.Fprintf(w, "  + %s  (%s)%s\n", it.RelativePath, deploy.HumanBytes(it.SizeInBytes), link)
		}
	case p.WouldUpload:
		added, removed := p.Added(), p.Removed()
		fmt.Fprintf(w, "%s: would upload version %d (%s; %d added, %d removed since version %d)\n",
			title(string(p.Kind)), res.Package.Version+1, size, len(added), len(removed), res.Package.Version)
		for _, f := range added {
			fmt.Fprintf(w, "  + %s\n", f)
		}
		for _, f := range removed {
			fmt.Fprintf(w, "  - %s\n", f)
		}
		switch {
		case p.OlderClientCopy:
			fmt.Fprintln(w, "  (the same content: the Runtime's copy was made by an older client)")
		case len(added) == 0 && len(removed) == 0:
			fmt.Fprintln(w, "  (the same files, with changed content)")
		}
	default:
		fmt.Fprintf(w, "%s: unchanged, version %d (%s): nothing to upload\n", title(string(p.Kind)), res.Package.Version, size)
	}
}

// title is s with its first letter in upper case, to start a line.
func title(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// waitRun follows a run to its end (runs logs -f), printing status changes
// on stderr and the log text on stdout (stderr with -o json), and turns the
// outcome into an exit code.
func waitRun(ctx context.Context, s *Streams, c *conn, g *globalOptions, run *api.DetailedRun) error {
	final, err := deploy.Follow(ctx, c.Session, run, deploy.FollowOptions{}, &textObserver{s: s, g: g, c: c})
	res := &deploy.Result{Run: final}
	if err != nil {
		return explainRun(err, res, g)
	}
	if g.json() {
		logs, err := c.Client.Logs(ctx, c.WorkspaceID, run.ID)
		if err != nil {
			return c.fail(fmt.Errorf("get the log of run %s: %w", run.ID, err))
		}
		if err := printJSON(s.Out, logs); err != nil {
			return err
		}
	}
	return explainRun(deploy.RunOutcome(final), res, g)
}
