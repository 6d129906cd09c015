package cli

import (
	"context"
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/dlthub/runtime-action/internal/api"
	"github.com/dlthub/runtime-action/internal/client"
	"github.com/dlthub/runtime-action/internal/deploy"
)

// packageCmds describes one package kind for the shared deployment and
// configuration commands.
type packageCmds struct {
	kind  deploy.Kind
	what  string // "code" or "settings"
	sync  func(e *deploy.Engine, ctx context.Context, dry bool) (*deploy.SyncResult, error)
	list  func(ctx context.Context, c *conn, limit, offset int) (any, []pkgRow, int, error)
	get   func(ctx context.Context, c *conn, idOrVersion string) (any, pkgRow, error)
	extra string // extra column (profiles) for configurations
}

// pkgRow is what the text output shows of a package.
type pkgRow struct {
	info     api.PackageInfo
	profiles string
}

func newPackageCmd(s *Streams, p packageCmds) *cobra.Command {
	g := &globalOptions{}
	var listFlag bool
	var limit, offset int
	cmd := &cobra.Command{
		Use:   string(p.kind) + " [sync | list | info [ID_OR_VERSION] | ID_OR_VERSION info]",
		Short: fmt.Sprintf("Sync and inspect the %s (%s) on the Runtime", p.kind, p.what),
		Long: fmt.Sprintf(`Sync and inspect the %[1]s: the workspace's %[2]s as uploaded to the Runtime.

  %[1]s sync [--dry-run]       upload it when it changed
  %[1]s list (or --list)       list the versions, newest first
  %[1]s info [ID_OR_VERSION]   show one version (default: the latest)
  %[1]s ID_OR_VERSION info     the same, in dlt's word order`, p.kind, p.what),
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if listFlag {
				if len(args) > 0 {
					return &usageError{fmt.Sprintf("--list takes no arguments, got %q; see %q", args, cmd.CommandPath()+" --help")}
				}
				return runPackageList(cmd.Context(), s, g, p, limit, offset)
			}
			switch {
			case len(args) == 0:
				return cmd.Help()
			case len(args) == 2 && args[1] == "info":
				return runPackageInfo(cmd.Context(), s, g, p, args[0])
			case len(args) == 2 && args[1] == "list":
				return &usageError{fmt.Sprintf("%s list takes no ID, got %q; see %q", p.kind, args[0], cmd.CommandPath()+" --help")}
			}
			return &usageError{fmt.Sprintf("unknown %s command %q: use sync, list or info (see %q)", p.kind, args[0], cmd.CommandPath()+" --help")}
		},
	}
	bindGlobal(cmd, g)
	cmd.Flags().BoolVar(&listFlag, "list", false, "list the versions, newest first")
	cmd.PersistentFlags().IntVar(&limit, "limit", 100, "list at most this many (1 to 1000)")
	cmd.PersistentFlags().IntVar(&offset, "offset", 0, "skip this many in the list")

	var dry bool
	syncCmd := &cobra.Command{
		Use:   "sync",
		Short: fmt.Sprintf("Upload the %s when its content changed", p.kind),
		Long: fmt.Sprintf(`Upload the %s when its content hash differs from the latest on the Runtime.
With --dry-run nothing is uploaded: the plan is printed (with -o json, one object with the keys
kind, content_hash, file_count, size_in_bytes, files, latest_content_hash, would_upload).`, p.kind),
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPackageSync(cmd.Context(), s, g, p, dry)
		},
	}
	syncCmd.Flags().BoolVar(&dry, "dry-run", false, "upload nothing: print what would be uploaded")
	listCmd := &cobra.Command{
		Use:   "list",
		Short: fmt.Sprintf("List the %s versions, newest first", p.kind),
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPackageList(cmd.Context(), s, g, p, limit, offset)
		},
	}
	infoCmd := &cobra.Command{
		Use:   "info [ID_OR_VERSION]",
		Short: fmt.Sprintf("Show one %s version (default: the latest)", p.kind),
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return &usageError{fmt.Sprintf("%s takes at most one ID_OR_VERSION, got %q; see %q", cmd.CommandPath(), args, cmd.CommandPath()+" --help")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			id := "latest"
			if len(args) == 1 {
				id = args[0]
			}
			return runPackageInfo(cmd.Context(), s, g, p, id)
		},
	}
	cmd.AddCommand(syncCmd, listCmd, infoCmd)
	return cmd
}

func runPackageSync(ctx context.Context, s *Streams, g *globalOptions, p packageCmds, dry bool) error {
	c, err := g.connect(ctx, s)
	if err != nil {
		return connErr(err)
	}
	defer c.Close()
	eng := c.engine(stderrReporter{s.Err})
	// The result line on stdout says what the sync did.
	eng.QuietOutcome = !g.json()
	res, err := p.sync(eng, ctx, dry)
	if err != nil {
		return c.fail(err)
	}
	if dry {
		if g.json() {
			return printJSON(s.Out, res.Plan)
		}
		printPlanText(s.Out, res)
		fmt.Fprintln(s.Out, "Dry run: nothing was uploaded.")
		return nil
	}
	if g.json() {
		return printJSON(s.Out, syncOutput{Kind: p.kind, Changed: res.Changed, ContentHash: res.Plan.ContentHash, Package: res.Package, Profiles: res.Profiles})
	}
	state := "unchanged"
	if res.Changed {
		state = "uploaded"
	}
	fmt.Fprintf(s.Out, "%s version %d %s (%s, %s; id %s)\n", title(string(p.kind)), res.Package.Version, state,
		deploy.Count(res.Plan.FileCount, "file"), deploy.HumanBytes(res.Plan.SizeInBytes), res.Package.ID)
	return nil
}

// syncOutput is the JSON shape of deployment sync and configuration sync.
type syncOutput struct {
	Kind        deploy.Kind      `json:"kind"`
	Changed     bool             `json:"changed"`
	ContentHash string           `json:"content_hash"`
	Package     *api.PackageInfo `json:"package"`
	Profiles    string           `json:"profiles,omitempty"`
}

func runPackageList(ctx context.Context, s *Streams, g *globalOptions, p packageCmds, limit, offset int) error {
	if err := checkPage(limit, offset); err != nil {
		return err
	}
	c, err := g.connect(ctx, s)
	if err != nil {
		return connErr(err)
	}
	defer c.Close()
	page, rows, total, err := p.list(ctx, c, limit, offset)
	if err != nil {
		return c.fail(fmt.Errorf("list %ss: %w", p.kind, err))
	}
	if g.json() {
		return printJSON(s.Out, page)
	}
	if len(rows) == 0 {
		fmt.Fprintf(s.Err, "No %ss yet: upload one with %q\n", p.kind, g.hint(string(p.kind)+" sync"))
		return nil
	}
	header := []string{"VERSION", "ID", "FILES", "SIZE", "CONTENT HASH", "CREATED"}
	if p.extra != "" {
		header = append(header, p.extra)
	}
	t := newTable(s.Out, header...)
	for _, r := range rows {
		cols := []string{strconv.Itoa(r.info.Version), r.info.ID, strconv.Itoa(r.info.FileCount), deploy.HumanBytes(r.info.Size), r.info.ContentHash, fmtTimeV(r.info.DateAdded)}
		if p.extra != "" {
			cols = append(cols, orDash(r.profiles))
		}
		t.row(cols...)
	}
	t.flush()
	if total > offset+len(rows) {
		fmt.Fprintf(s.Err, "Showing %d of %d: use --offset %d for more\n", len(rows), total, offset+len(rows))
	}
	return nil
}

// checkPage refuses a --limit or --offset the Runtime would refuse.
func checkPage(limit, offset int) error {
	if limit < 1 || limit > api.MaxLimit {
		return &usageError{fmt.Sprintf("invalid --limit %d: use 1 to %d", limit, api.MaxLimit)}
	}
	if offset < 0 {
		return &usageError{fmt.Sprintf("invalid --offset %d: use 0 or more", offset)}
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func runPackageInfo(ctx context.Context, s *Streams, g *globalOptions, p packageCmds, id string) error {
	c, err := g.connect(ctx, s)
	if err != nil {
		return connErr(err)
	}
	defer c.Close()
	obj, r, err := p.get(ctx, c, id)
	if client.IsNotFound(err) {
		if id == "latest" {
			return fmt.Errorf("no %s in this workspace yet: upload one with %q", p.kind, g.hint(string(p.kind)+" sync"))
		}
		return fmt.Errorf("no %s %q in this workspace: %q lists the versions and ids", p.kind, id, g.hint(string(p.kind)+" list"))
	}
	if err != nil {
		return c.fail(fmt.Errorf("get %s %q: %w", p.kind, id, err))
	}
	if g.json() {
		return printJSON(s.Out, obj)
	}
	pairs := []string{
		"Version", strconv.Itoa(r.info.Version),
		"ID", r.info.ID,
		"Content hash", r.info.ContentHash,
		"Files", strconv.Itoa(r.info.FileCount),
		"Size", deploy.HumanBytes(r.info.Size),
		"Created", fmtTimeV(r.info.DateAdded),
		"Created by", r.info.CreatedBy,
	}
	if p.extra != "" {
		pairs = append(pairs, "Profiles", orDash(r.profiles))
	}
	kv(s.Out, pairs...)
	for _, f := range r.info.Files() {
		fmt.Fprintf(s.Out, "  %s\n", f)
	}
	return nil
}

func newDeploymentCmd(s *Streams) *cobra.Command {
	return newPackageCmd(s, packageCmds{
		kind: deploy.KindDeployment,
		what: "code",
		sync: (*deploy.Engine).SyncDeployment,
		list: func(ctx context.Context, c *conn, limit, offset int) (any, []pkgRow, int, error) {
			page, err := c.Client.ListDeployments(ctx, c.WorkspaceID, limit, offset)
			if err != nil {
				return nil, nil, 0, err
			}
			rows := make([]pkgRow, len(page.Items))
			for i, d := range page.Items {
				rows[i] = pkgRow{info: d}
			}
			return page, rows, page.Total, nil
		},
		get: func(ctx context.Context, c *conn, id string) (any, pkgRow, error) {
			d, err := c.Client.GetDeployment(ctx, c.WorkspaceID, id)
			if err != nil {
				return nil, pkgRow{}, err
			}
			return d, pkgRow{info: *d}, nil
		},
	})
}

func newConfigurationCmd(s *Streams) *cobra.Command {
	return newPackageCmd(s, packageCmds{
		kind:  deploy.KindConfiguration,
		what:  "settings and secrets",
		extra: "PROFILES",
		sync:  (*deploy.Engine).SyncConfiguration,
		list: func(ctx context.Context, c *conn, limit, offset int) (any, []pkgRow, int, error) {
			page, err := c.Client.ListConfigurations(ctx, c.WorkspaceID, limit, offset)
			if err != nil {
				return nil, nil, 0, err
			}
			rows := make([]pkgRow, len(page.Items))
			for i, d := range page.Items {
				rows[i] = pkgRow{info: d.PackageInfo, profiles: d.Profiles}
			}
			return page, rows, page.Total, nil
		},
		get: func(ctx context.Context, c *conn, id string) (any, pkgRow, error) {
			d, err := c.Client.GetConfiguration(ctx, c.WorkspaceID, id)
			if err != nil {
				return nil, pkgRow{}, err
			}
			return d, pkgRow{info: d.PackageInfo, profiles: d.Profiles}, nil
		},
	})
}
