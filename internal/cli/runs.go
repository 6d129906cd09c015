package cli

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/dlthub/runtime-action/internal/api"
	"github.com/dlthub/runtime-action/internal/client"
	"github.com/dlthub/runtime-action/internal/deploy"
)

type runOptions struct {
	global      *globalOptions
	Script      string
	Profile     string
	Interactive bool
	Wait        bool
	Timeout     time.Duration
}

func newRunCmd(s *Streams) *cobra.Command {
	o := &runOptions{global: &globalOptions{}}
	cmd := &cobra.Command{
		Use:   "run SCRIPT",
		Short: "Run a script with the code and settings already on the Runtime",
		Long: `Start a run of a script with the latest deployment and configuration on the Runtime
(nothing is uploaded: use "deploy" or "deployment sync" for that). The script is created
when it does not exist yet. Prints the run ID; with --wait, follows the run to its end.

` + exitCodesHelp,
		Example: `  runtime-action run fruitshop_pipeline.py --wait
  runtime-action run jobs/load.py -p prod`,
		Args: exactArgs(1, "SCRIPT"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Script = args[0]
			return runRun(cmd.Context(), s, o, cmd.Flags().Changed("interactive"))
		},
	}
	bindGlobal(cmd, o.global)
	f := cmd.Flags()
	f.StringVarP(&o.Profile, "profile", "p", "", "profile the run uses (default: the script's, else prod)")
	f.BoolVarP(&o.Interactive, "interactive", "i", false, "the script is an interactive app")
	f.BoolVar(&o.Wait, "wait", false, "follow the run to its end and exit with its outcome")
	f.DurationVar(&o.Timeout, "timeout", 0, "with --wait: stop waiting after this long (0: no limit)")
	return cmd
}

func runRun(ctx context.Context, s *Streams, o *runOptions, typeGiven bool) error {
	if err := checkProfile(o.Profile); err != nil {
		return err
	}
	spec := deploy.ScriptSpec{Profile: o.Profile}
	if typeGiven {
		spec.Type = api.ScriptBatch
		if o.Interactive {
			spec.Type = api.ScriptInteractive
		}
	}
	return deployScript(ctx, s, o.global, o.Script, deploy.Request{
		Steps: deploy.StepsRun, Spec: spec, Profile: o.Profile, Wait: o.Wait,
		Follow: deploy.FollowOptions{Timeout: o.Timeout},
	})
}

type runsOptions struct {
	global *globalOptions
	List   bool
	Number int
	Follow bool
	Limit  int
	Offset int
	Status string
}

// isRunVerb reports whether v is one of the runs command's verbs.
func isRunVerb(v string) bool {
	switch v {
	case "list", "info", "logs", "cancel":
		return true
	}
	return false
}

func newRunsCmd(s *Streams) *cobra.Command {
	o := &runsOptions{global: &globalOptions{}}
	cmd := &cobra.Command{
		Use:   "runs [--list | list | RUN_ID_OR_SCRIPT list|info|logs|cancel]",
		Short: "List and inspect runs, read their logs, cancel them",
		Long: `List and inspect runs.

  runs --list (or runs list)             all runs of the workspace, newest first
  runs SCRIPT list                       the runs of one script
  runs RUN_ID_OR_SCRIPT info             one run (a script name means its latest run;
                                         --number N picks run N of that script)
  runs RUN_ID_OR_SCRIPT logs [-f]        its log; -f follows it until the run ends
  runs RUN_ID_OR_SCRIPT cancel           ask the Runtime to stop it

The verb may also come first: "runs info RUN_ID".`,
		Example: `  runtime-action runs --list
  runtime-action runs fruitshop_pipeline.py logs -f
  runtime-action runs fruitshop_pipeline.py info --number 3
  runtime-action runs 0b6f3c1e-8d2a-4c7e-9a51-3f2e1d0c9b8a cancel`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRuns(cmd.Context(), s, o, args, cmd)
		},
	}
	bindGlobal(cmd, o.global)
	f := cmd.Flags()
	f.BoolVar(&o.List, "list", false, "list the runs of the workspace")
	f.IntVar(&o.Number, "number", 0, "with a script name: run number N of that script")
	f.BoolVarP(&o.Follow, "follow", "f", false, "with logs: follow the log until the run ends")
	f.IntVar(&o.Limit, "limit", 100, "list at most this many (1 to 1000)")
	f.IntVar(&o.Offset, "offset", 0, "skip this many in the list")
	f.StringVar(&o.Status, "status", "", "list only runs in this status ("+statusNames()+")")
	return cmd
}

func statusNames() string {
	names := make([]string, len(api.RunStatuses))
	for i, st := range api.RunStatuses {
		names[i] = string(st)
	}
	return strings.Join(names, ", ")
}

func runRuns(ctx context.Context, s *Streams, o *runsOptions, args []string, cmd *cobra.Command) error {
	if o.Status != "" && !api.RunStatus(o.Status).Valid() {
		return &usageError{fmt.Sprintf("invalid --status %q: use one of %s", o.Status, statusNames())}
	}
	if err := checkPage(o.Limit, o.Offset); err != nil {
		return err
	}
	if o.Number < 0 {
		return &usageError{fmt.Sprintf("invalid --number %d: run numbers start at 1", o.Number)}
	}
	var target, verb string
	switch {
	case o.List && len(args) == 0, len(args) == 1 && args[0] == "list":
		verb = "list"
	case len(args) == 0:
		return cmd.Help()
	case len(args) == 2 && isRunVerb(args[1]):
		target, verb = args[0], args[1]
	case len(args) == 2 && isRunVerb(args[0]):
		target, verb = args[1], args[0]
	case len(args) == 1 && isRunVerb(args[0]):
		return &usageError{fmt.Sprintf("runs %s needs a RUN_ID_OR_SCRIPT, e.g. \"runtime-action runs %s load.py\"; see \"runtime-action runs --help\"", args[0], args[0])}
	default:
		return &usageError{fmt.Sprintf("unknown runs command %q: use list, info, logs or cancel (see \"runtime-action runs --help\")", strings.Join(args, " "))}
	}
	if o.Follow && verb != "logs" {
		return &usageError{fmt.Sprintf("-f/--follow goes with logs, not %s: \"runtime-action runs RUN_ID_OR_SCRIPT logs -f\"", verb)}
	}
	if o.Number != 0 && (verb == "list" || target == "") {
		return &usageError{"--number N goes with a script name: \"runtime-action runs SCRIPT info --number N\""}
	}
	c, err := o.global.connect(ctx, s)
	if err != nil {
		return connErr(err)
	}
	defer c.Close()
	if verb == "list" {
		scriptID := ""
		if target != "" {
			sc, err := c.Client.GetScript(ctx, c.WorkspaceID, scriptRef(target))
			if err != nil {
				return c.fail(notFound(err, "script", target, o.global.hint("script --list")))
			}
			scriptID = sc.ID
		}
		return listRuns(ctx, s, c, o, scriptID)
	}
	run, err := resolveRun(ctx, c, o.global, target, o.Number)
	if err != nil {
		return c.fail(err)
	}
	switch verb {
	case "info":
		if o.global.json() {
			return printJSON(s.Out, run)
		}
		printRunInfo(s.Out, run)
		return nil
	case "logs":
		if o.Follow && !run.Status.Terminal() {
			return waitRun(ctx, s, c, o.global, run)
		}
		logs, err := c.Client.Logs(ctx, c.WorkspaceID, run.ID)
		if err != nil {
			return c.fail(fmt.Errorf("get the log of run %s: %w", run.ID, err))
		}
		if o.global.json() {
			return printJSON(s.Out, logs)
		}
		text := deref(logs.Logs, "")
		io.WriteString(s.Out, text)
		if text != "" && !strings.HasSuffix(text, "\n") {
			fmt.Fprintln(s.Out)
		}
		return nil
	case "cancel":
		if run.Status.Terminal() {
			return fmt.Errorf("run #%d of %q has already ended (%s): nothing to cancel", run.Number, run.Script.Name, run.Status)
		}
		res, err := c.Client.CancelRun(ctx, c.WorkspaceID, run.ID)
		if err != nil {
			return c.fail(fmt.Errorf("cancel run %s: %w", run.ID, err))
		}
		if o.global.json() {
			return printJSON(s.Out, res)
		}
		fmt.Fprintf(s.Out, "Run #%d of %q: %s\n", res.Number, res.Script.Name, res.Status)
		return nil
	}
	return nil
}

// scriptRef turns what a user typed for a script into its name: a path
// relative to the workspace root, with forward slashes.
func scriptRef(s string) string {
	s = strings.ReplaceAll(s, "\\", "/")
	return strings.TrimPrefix(s, "./")
}

// notFound turns the Runtime's 404 for a thing into a line that says how to
// list what there is; other errors pass.
func notFound(err error, what, ref, list string) error {
	if client.IsNotFound(err) {
		return fmt.Errorf("no %s %q in this workspace: %q lists them", what, ref, list)
	}
	return err
}

// resolveRun finds the run a user means: a run ID, or a script (ID or name)
// whose latest run, or run number n, is meant.
func resolveRun(ctx context.Context, c *conn, g *globalOptions, target string, n int) (*api.DetailedRun, error) {
	if _, err := uuid.Parse(target); err == nil && n == 0 {
		run, err := c.Client.GetRun(ctx, c.WorkspaceID, target)
		if err == nil {
			return run, nil
		}
		if !client.IsNotFound(err) {
			return nil, fmt.Errorf("get run %s: %w", target, err)
		}
	}
	sc, err := c.Client.GetScript(ctx, c.WorkspaceID, scriptRef(target))
	if err != nil {
		if client.IsNotFound(err) {
			return nil, fmt.Errorf("no run or script %q in this workspace: %q and %q list them", target, g.hint("runs --list"), g.hint("script --list"))
		}
		return nil, fmt.Errorf("get script %q: %w", target, err)
	}
	if n == 0 {
		run, err := c.Client.LatestRun(ctx, c.WorkspaceID, sc.ID)
		if err != nil {
			return nil, fmt.Errorf("get the latest run of %q: %w", sc.Name, err)
		}
		if run == nil {
			return nil, fmt.Errorf("script %q has no runs yet: start one with %q", sc.Name, g.hint("run "+shellQuote(sc.Name)))
		}
		return run, nil
	}
	for offset := 0; ; offset += api.MaxLimit {
		page, err := c.Client.ListRuns(ctx, c.WorkspaceID, client.ListRunsOptions{ScriptID: sc.ID, Limit: api.MaxLimit, Offset: offset})
		if err != nil {
			return nil, fmt.Errorf("list runs of %q: %w", sc.Name, err)
		}
		for i := range page.Items {
			if page.Items[i].Number == n {
				return &page.Items[i], nil
			}
		}
		if len(page.Items) < api.MaxLimit || offset+len(page.Items) >= page.Total {
			return nil, fmt.Errorf("script %q has no run number %d: %q lists its runs", sc.Name, n, g.hint("runs "+shellQuote(sc.Name)+" list"))
		}
	}
}

func listRuns(ctx context.Context, s *Streams, c *conn, o *runsOptions, scriptID string) error {
	page, err := c.Client.ListRuns(ctx, c.WorkspaceID, client.ListRunsOptions{ScriptID: scriptID, Status: api.RunStatus(o.Status), Limit: o.Limit, Offset: o.Offset})
	if err != nil {
		return c.fail(fmt.Errorf("list runs: %w", err))
	}
	if o.global.json() {
		return printJSON(s.Out, page)
	}
	if len(page.Items) == 0 {
		switch {
		case o.Status != "" || o.Offset > 0:
			fmt.Fprintln(s.Err, "No runs match")
		default:
			fmt.Fprintf(s.Err, "No runs yet: start one with %q\n", o.global.hint("deploy SCRIPT"))
		}
		return nil
	}
	t := newTable(s.Out, "NUMBER", "SCRIPT", "STATUS", "TRIGGER", "PROFILE", "STARTED", "DURATION", "ID")
	for _, r := range page.Items {
		t.row(strconv.Itoa(r.Number), r.Script.Name, string(r.Status), string(r.Trigger), deref(r.Profile, "-"), fmtTime(r.TimeStarted), fmtDuration(&r.Run), r.ID)
	}
	t.flush()
	if page.Total > o.Offset+len(page.Items) {
		fmt.Fprintf(s.Err, "Showing %d of %d: use --offset %d for more\n", len(page.Items), page.Total, o.Offset+len(page.Items))
	}
	return nil
}

func printRunInfo(w io.Writer, r *api.DetailedRun) {
	url := []string{}
	if r.Script.ScriptURL != "" {
		url = []string{"URL", r.Script.ScriptURL}
	}
	kv(w, append([]string{
		"Run", fmt.Sprintf("#%d", r.Number),
		"ID", r.ID,
		"Script", r.Script.Name,
		"Status", string(r.Status),
		"Trigger", string(r.Trigger),
		"Profile", deref(r.Profile, "-"),
		"Created", fmtTimeV(r.DateAdded),
		"Started", fmtTime(r.TimeStarted),
		"Ended", fmtTime(r.TimeEnded),
		"Duration", fmtDuration(&r.Run),
		"Deployment", r.DeploymentID,
		"Configuration", r.ConfigurationID,
		"Script version", r.ScriptVersionID,
	}, url...)...)
}
