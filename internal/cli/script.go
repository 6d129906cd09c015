package cli

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
)

func newScriptCmd(s *Streams) *cobra.Command {
	g := &globalOptions{}
	var list bool
	var limit, offset int
	cmd := &cobra.Command{
		Use:     "script [--list | list | ID_OR_NAME info | info ID_OR_NAME]",
		Aliases: []string{"scripts"},
		Short:   "List and inspect scripts",
		Long: `List and inspect the workspace's scripts (what can be run: a pipeline, a notebook).

  script --list (or script list)   all scripts
  script ID_OR_NAME info           one script with its last run`,
		Example: `  runtime-action script --list
  runtime-action script fruitshop_pipeline.py info`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case list && len(args) == 0, len(args) == 1 && args[0] == "list":
				if err := checkPage(limit, offset); err != nil {
					return err
				}
				return runScriptList(cmd.Context(), s, g, limit, offset)
			case len(args) == 0:
				return cmd.Help()
			case len(args) == 2 && args[1] == "info":
				return runScriptInfo(cmd.Context(), s, g, args[0])
			case len(args) == 2 && args[0] == "info":
				return runScriptInfo(cmd.Context(), s, g, args[1])
			case len(args) == 1 && args[0] == "info":
				return &usageError{"script info needs an ID_OR_NAME, e.g. \"runtime-action script info load.py\"; see \"runtime-action script --help\""}
			}
			return &usageError{fmt.Sprintf("unknown script command %q: use list or info (see \"runtime-action script --help\")", strings.Join(args, " "))}
		},
	}
	bindGlobal(cmd, g)
	cmd.Flags().BoolVar(&list, "list", false, "list the scripts")
	cmd.Flags().IntVar(&limit, "limit", 100, "list at most this many (1 to 1000)")
	cmd.Flags().IntVar(&offset, "offset", 0, "skip this many in the list")
	return cmd
}

func runScriptList(ctx context.Context, s *Streams, g *globalOptions, limit, offset int) error {
	c, err := g.connect(ctx, s)
	if err != nil {
		return connErr(err)
	}
	defer c.Close()
	page, err := c.Client.ListScripts(ctx, c.WorkspaceID, limit, offset)
	if err != nil {
		return c.fail(fmt.Errorf("list scripts: %w", err))
	}
	if g.json() {
		return printJSON(s.Out, page)
	}
	if len(page.Items) == 0 {
		if offset > 0 {
			fmt.Fprintln(s.Err, "No scripts match")
			return nil
		}
		fmt.Fprintf(s.Err, "No scripts yet: deploy one with %q\n", g.hint("deploy SCRIPT"))
		return nil
	}
	t := newTable(s.Out, "NAME", "TYPE", "VERSION", "PROFILE", "SCHEDULE", "LAST RUN", "ID")
	for _, sc := range page.Items {
		last := "-"
		if sc.LastRun != nil {
			last = fmt.Sprintf("#%d %s", sc.LastRun.Number, sc.LastRun.Status)
		}
		t.row(sc.Name, string(sc.ScriptType), strconv.Itoa(sc.Version), deref(sc.Profile, "-"), deref(sc.Schedule, "-"), last, sc.ID)
	}
	t.flush()
	if page.Total > offset+len(page.Items) {
		fmt.Fprintf(s.Err, "Showing %d of %d: use --offset %d for more\n", len(page.Items), page.Total, offset+len(page.Items))
	}
	return nil
}

func runScriptInfo(ctx context.Context, s *Streams, g *globalOptions, ref string) error {
	c, err := g.connect(ctx, s)
	if err != nil {
		return connErr(err)
	}
	defer c.Close()
	sc, err := c.Client.GetScript(ctx, c.WorkspaceID, scriptRef(ref))
	if err != nil {
		return c.fail(notFound(fmt.Errorf("get script %q: %w", ref, err), "script", ref, g.hint("script --list")))
	}
	if g.json() {
		return printJSON(s.Out, sc)
	}
	active := "yes"
	if !sc.Active {
		active = "no"
	}
	pairs := []string{
		"Name", sc.Name,
		"ID", sc.ID,
		"Type", string(sc.ScriptType),
		"Entry point", sc.EntryPoint,
		"Version", strconv.Itoa(sc.Version),
		"Profile", deref(sc.Profile, "-"),
		"Schedule", deref(sc.Schedule, "-"),
		"Next scheduled run", fmtTime(sc.NextScheduledRun),
		"Active", active,
		"URL", orDash(sc.ScriptURL),
		"Created", fmtTimeV(sc.DateAdded),
		"Updated", fmtTimeV(sc.DateUpdated),
	}
	if r := sc.LastRun; r != nil {
		pairs = append(pairs, "Last run", fmt.Sprintf("#%d %s (%s, %s)", r.Number, r.Status, r.ID, fmtTime(r.TimeStarted)))
	} else {
		pairs = append(pairs, "Last run", "-")
	}
	kv(s.Out, pairs...)
	return nil
}
