package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"github.com/spf13/cobra"

	"github.com/dlthub/runtime-action/internal/api"
	"github.com/dlthub/runtime-action/internal/client"
	"github.com/dlthub/runtime-action/internal/deploy"
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
	if o.setSchedule {
		if err := checkSchedule(o.Schedule); err != nil {
			return err
		}
	}
	c, name, err := connectScript(ctx, s, o.global, o.Script)
	if err != nil {
		return err
	}
	defer c.Close()
	eng := c.engine(stderrReporter{s.Err})
	eng.Script = name
	// A text plan says what each sync would do: no need to say it twice.
	eng.QuietOutcome = o.DryRun && !o.global.json()
	dep, err := eng.SyncDeployment(ctx, o.DryRun)
	if err != nil {
		return c.fail(err)
	}
	conf, err := eng.SyncConfiguration(ctx, o.DryRun)
	if err != nil {
		return c.fail(err)
	}
	spec := deploy.ScriptSpec{Type: api.ScriptBatch, Profile: o.Profile}
	if o.Interactive {
		spec.Type = api.ScriptInteractive
	}
	if o.setSchedule {
		sched := o.Schedule
		if sched == "none" {
			sched = ""
		}
		spec.Schedule = &sched
	}
	if o.DryRun {
		return printDeployPlan(ctx, s, c, o, name, spec, dep, conf)
	}
	return startRun(ctx, s, c, o.global, eng, name, spec, !o.NoWait, o.Timeout)
}

// startRun creates or updates the script, starts a run of it and, when wait
// is set (always on the embedded Runtime, which ends with the command),
// follows it to its end.
func startRun(ctx context.Context, s *Streams, c *conn, g *globalOptions, eng *deploy.Engine, name string, spec deploy.ScriptSpec, wait bool, timeout time.Duration) error {
	script, _, err := eng.UpsertScript(ctx, name, spec)
	if err != nil {
		return c.fail(err)
	}
	run, err := eng.StartRun(ctx, script, spec.Profile)
	if err != nil {
		return c.fail(err)
	}
	fmt.Fprintf(s.Err, "Run #%d of %q started: %s\n", run.Number, script.Name, run.ID)
	if !wait && !c.Embedded {
		return printRunStarted(s, g, run)
	}
	if !wait {
		fmt.Fprintln(s.Err, "The embedded Runtime stops with this command: following the run to its end")
	}
	return waitRun(ctx, s, c, g, run.ID, waitOptions{Timeout: timeout, Interactive: script.ScriptType == api.ScriptInteractive})
}

// checkSchedule refuses what the Runtime would refuse as a schedule, before
// anything is uploaded: a 5-field cron expression (UTC), or "none".
func checkSchedule(sched string) error {
	if sched == "none" {
		return nil
	}
	fields := strings.Fields(sched)
	bad := len(fields) != 5
	if !bad {
		f := fields[0]
		bad = strings.HasPrefix(f, "@") || strings.HasPrefix(f, "TZ=") || strings.HasPrefix(f, "CRON_TZ=")
	}
	var why string
	if !bad {
		if _, err := cron.ParseStandard(sched); err != nil {
			why = ": " + err.Error()
			bad = true
		}
	}
	if bad {
		return &usageError{fmt.Sprintf("invalid --schedule %q%s: use 5 cron fields, minute hour day-of-month month day-of-week, in UTC (e.g. \"0 3 * * *\"), or \"none\" to remove the schedule", sched, why)}
	}
	return nil
}

// checkProfile refuses a profile name that cannot be a file name prefix.
func checkProfile(p string) error {
	if p != "" && !api.ValidProfile(p) {
		return &usageError{fmt.Sprintf("invalid profile name %q: use letters, digits, - and _", p)}
	}
	return nil
}

// connectScript connects and turns the script path into its name.
func connectScript(ctx context.Context, s *Streams, g *globalOptions, script string) (*conn, string, error) {
	if strings.TrimSpace(script) == "" {
		return nil, "", &usageError{"SCRIPT is empty: name the script's file, e.g. pipelines/load.py"}
	}
	c, err := g.connect(ctx, s)
	if err != nil {
		return nil, "", connErr(err)
	}
	name, err := deploy.ScriptName(c.Root, c.Cwd, script)
	if err != nil {
		c.Close()
		return nil, "", err
	}
	return c, name, nil
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
	Deployment    deploy.Plan `json:"deployment"`
	Configuration deploy.Plan `json:"configuration"`
	Script        scriptPlan  `json:"script"`
}

type scriptPlan struct {
	Name        string  `json:"name"`
	EntryPoint  string  `json:"entry_point"`
	ScriptType  string  `json:"script_type"`
	Profile     string  `json:"profile"`
	Exists      bool    `json:"exists"`
	WouldUpdate bool    `json:"would_update"`
	Version     *int    `json:"version"`
	Schedule    *string `json:"schedule"`
}

func printDeployPlan(ctx context.Context, s *Streams, c *conn, o *deployOptions, name string, spec deploy.ScriptSpec, dep, conf *deploy.SyncResult) error {
	sp := scriptPlan{Name: name, EntryPoint: name, ScriptType: string(spec.Type), Profile: spec.Profile, WouldUpdate: true}
	existing, err := c.Client.GetScript(ctx, c.WorkspaceID, name)
	if err != nil && !client.IsNotFound(err) {
		return c.fail(fmt.Errorf("get script %q: %w", name, err))
	}
	if spec.Schedule != nil && *spec.Schedule != "" {
		sp.Schedule = spec.Schedule
	}
	if existing != nil {
		v := existing.Version
		sp.Exists, sp.Version = true, &v
		if spec.Schedule == nil {
			sp.Schedule = existing.Schedule
		}
		sp.WouldUpdate = existing.EntryPoint != name || string(existing.ScriptType) != sp.ScriptType || deref(existing.Profile, "") != spec.Profile ||
			(spec.Schedule != nil && deref(existing.Schedule, "") != *spec.Schedule)
	}
	if o.global.json() {
		return printJSON(s.Out, deployPlan{Deployment: dep.Plan, Configuration: conf.Plan, Script: sp})
	}
	printPlanText(s.Out, dep)
	printPlanText(s.Out, conf)
	state := "would be created"
	if sp.Exists && sp.WouldUpdate {
		now := existing.Script
		now.EntryPoint, now.ScriptType = name, api.ScriptType(sp.ScriptType)
		now.Profile, now.Schedule = &sp.Profile, sp.Schedule
		state = "would be updated: " + deploy.ScriptChanges(&existing.Script, &now)
	} else if sp.Exists {
		state = "unchanged"
	}
	sched := "no schedule"
	if sp.Schedule != nil {
		sched = fmt.Sprintf("schedule %q", *sp.Schedule)
	}
	fmt.Fprintf(s.Out, "Script %q (%s, profile %s, %s): %s\n", name, sp.ScriptType, spec.Profile, sched, state)
	fmt.Fprintln(s.Out, "A run would be started. Dry run: nothing was uploaded or started.")
	return nil
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

type waitOptions struct {
	Timeout     time.Duration
	Interactive bool
	// LogsJSON prints the run's LogsResponse with -o json, as "runs logs"
	// does without -f, rather than the final run.
	LogsJSON bool
}

// waitRun follows a run to its end, printing status changes on stderr and
// the log text on stdout (stderr with -o json), and turns the outcome into an
// exit code.
func waitRun(ctx context.Context, s *Streams, c *conn, g *globalOptions, runID string, o waitOptions) error {
	fctx := ctx
	if o.Timeout > 0 {
		var cancel context.CancelFunc
		fctx, cancel = context.WithTimeout(ctx, o.Timeout)
		defer cancel()
	}
	logw := s.Out
	if g.json() {
		logw = s.Err
	}
	var last api.RunStatus
	urlShown := false
	final, err := c.Client.Follow(fctx, c.WorkspaceID, runID, client.FollowHandler{
		OnLog: func(text string) { io.WriteString(logw, text) },
		OnStatus: func(run *api.DetailedRun) {
			if run.Status != last {
				last = run.Status
				fmt.Fprintf(s.Err, "Run #%d: %s\n", run.Number, run.Status)
			}
			if o.Interactive && !urlShown && run.Status == api.StatusRunning && run.Script.ScriptURL != "" {
				urlShown = true
				fmt.Fprintf(s.Err, "App running at %s\n", run.Script.ScriptURL)
				// A signed link opens the app in a browser without a token
				// (this project's server; other Runtimes have no such
				// endpoint, and the URL above is all there is).
				if link, err := c.Client.AppLink(fctx, c.WorkspaceID, run.Script.Name); err == nil {
					fmt.Fprintf(s.Err, "Open it in a browser with this link (valid for %s): %s\n",
						time.Until(link.ExpiresAt.Time).Round(time.Minute), link.URL)
				}
				if !c.Embedded {
					fmt.Fprintln(s.Err, "Following the app's log: Ctrl-C stops following, the app keeps running")
				}
			}
		},
	})
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			return withCode(ExitTimeout, fmt.Errorf("stopped waiting for run %s after %s; it goes on: follow it with %q, or stop it with %q",
				runID, o.Timeout, g.hint("runs "+runID+" logs -f"), g.hint("runs "+runID+" cancel")))
		}
		if ctx.Err() != nil {
			return withCode(ExitInterrupt, fmt.Errorf("interrupted: stopped following run %s, which keeps running on the Runtime: stop it with %q", runID, g.hint("runs "+runID+" cancel")))
		}
		return c.fail(fmt.Errorf("follow run %s: %w", runID, err))
	}
	if g.json() {
		var v any = final
		if o.LogsJSON {
			logs, err := c.Client.Logs(ctx, c.WorkspaceID, runID)
			if err != nil {
				return c.fail(fmt.Errorf("get the log of run %s: %w", runID, err))
			}
			v = logs
		}
		if err := printJSON(s.Out, v); err != nil {
			return err
		}
	}
	return runOutcome(final, g)
}

// runOutcome maps a terminal run to the command's exit code.
func runOutcome(run *api.DetailedRun, g *globalOptions) error {
	switch run.Status {
	case api.StatusCompleted:
		return nil
	case api.StatusCancelled:
		return &exitError{code: ExitCancelled, msg: fmt.Sprintf("run #%d of %q was cancelled", run.Number, run.Script.Name)}
	case api.StatusSkipped:
		return &exitError{code: ExitFailed, msg: fmt.Sprintf("run #%d of %q was skipped: its previous run was still active", run.Number, run.Script.Name)}
	default:
		return &exitError{code: ExitFailed, msg: fmt.Sprintf("run #%d of %q %s: its log is above, and in %q", run.Number, run.Script.Name, run.Status, g.hint("runs "+run.ID+" logs"))}
	}
}
