package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/dlthub/runtime-action/internal/client"
	"github.com/dlthub/runtime-action/internal/deploy"
	"github.com/dlthub/runtime-action/internal/executor"
	"github.com/dlthub/runtime-action/internal/server"
	"github.com/dlthub/runtime-action/internal/workspace"
)

// globalOptions are the connection flags every client command takes.
type globalOptions struct {
	Dir         string
	APIURL      string
	AuthURL     string
	WorkspaceID string
	Token       string
	Output      string
	// anyWorkspace (whoami) works outside a workspace and with no
	// workspace_id, asking nothing.
	anyWorkspace bool
}

// bindGlobal adds the connection flags to a command and its children.
func bindGlobal(cmd *cobra.Command, g *globalOptions) {
	f := cmd.PersistentFlags()
	f.StringVarP(&g.Dir, "dir", "C", "", "run as if started in `DIR` (the workspace or a folder inside it)")
	f.StringVar(&g.APIURL, "api-url", "", "Runtime API base `URL` (default: RUNTIME__API_BASE_URL, [runtime] api_base_url, else the embedded Runtime)")
	f.StringVar(&g.AuthURL, "auth-url", "", "Runtime auth service base `URL` (default: RUNTIME__AUTH_BASE_URL, [runtime] auth_base_url, else <api-url>/auth)")
	f.StringVar(&g.WorkspaceID, "workspace-id", "", "workspace `ID` (default: RUNTIME__WORKSPACE_ID, [runtime] workspace_id, else your default workspace)")
	f.StringVar(&g.Token, "token", "", "Runtime API `token` (default: RUNTIME__AUTH_TOKEN, [runtime] auth_token in .dlt/secrets.toml or ~/.dlt/secrets.toml)")
	f.StringVarP(&g.Output, "output", "o", "text", "output format: text or json")
}

func (g *globalOptions) json() bool { return g.Output == "json" }

func (g *globalOptions) validate() error {
	switch g.Output {
	case "text", "json":
		return nil
	}
	return &usageError{fmt.Sprintf("invalid output format %q: use text or json", g.Output)}
}

// conn is an open connection to a Runtime and a workspace: the engine's
// session, and what the command line adds (the workspace folder, the
// embedded Runtime).
type conn struct {
	*deploy.Session
	Root     string
	Cwd      string
	Embedded bool
	ctx      context.Context
	close    func()
}

func (c *conn) Close() {
	if c.close != nil {
		c.close()
	}
}

func (c *conn) engine(r deploy.Reporter) *deploy.Engine {
	return &deploy.Engine{Runtime: c.Runtime, WorkspaceID: c.WorkspaceID, Root: c.Root, Report: r}
}

// findRoot finds the workspace from -C or the current folder.
func (g *globalOptions) findRoot(s *Streams) (root, cwd string, err error) {
	cwd, err = os.Getwd()
	if err != nil {
		return "", "", err
	}
	if g.Dir != "" {
		d := g.Dir
		if !filepath.IsAbs(d) {
			d = filepath.Join(cwd, d)
		}
		fi, err := os.Stat(d)
		if err != nil || !fi.IsDir() {
			return "", "", fmt.Errorf("folder %q given with -C does not exist", g.Dir)
		}
		cwd = filepath.Clean(d)
	}
	root, err = workspace.FindRoot(cwd, workspace.GlobalDir(s.Getenv, homeDir(s)))
	if err != nil {
		return "", "", fmt.Errorf("%w: run the command inside a workspace, or pass -C DIR", err)
	}
	return root, cwd, nil
}

// hint is a command line to suggest, with the -C of this one, so that it
// finds the same workspace.
func (g *globalOptions) hint(args string) string {
	h := "runtime-action " + args
	if g.Dir != "" {
		h += " -C " + shellQuote(g.Dir)
	}
	return h
}

// shellQuote quotes s for a shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r == '/' || r == '.' || r == '-' || r == '_' || r == '~' || r == ':' || r == '@' || r == '+' || r == '=' ||
			('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z') || ('0' <= r && r <= '9'))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func homeDir(s *Streams) string {
	if h := s.Getenv("HOME"); h != "" {
		return h
	}
	h, _ := os.UserHomeDir()
	return h
}

// login finds the workspace, resolves the settings and says how to
// authenticate; it starts the embedded Runtime when none is configured.
// The returned conn is not connected yet: deploy.Authenticate (or the
// deploy's authenticate phase) does that.
func (g *globalOptions) login(ctx context.Context, s *Streams) (*conn, deploy.Login, error) {
	if err := g.validate(); err != nil {
		return nil, deploy.Login{}, err
	}
	root, cwd, err := g.findRoot(s)
	if err != nil && !(g.anyWorkspace && errors.Is(err, workspace.ErrNoWorkspace)) {
		return nil, deploy.Login{}, err
	}
	noWorkspace := err
	set, err := deploy.ResolveSettings(root, s.Getenv, homeDir(s), deploy.Overrides{
		APIURL:      deploy.Override{Value: g.APIURL, Name: "--api-url"},
		AuthURL:     deploy.Override{Value: g.AuthURL, Name: "--auth-url"},
		WorkspaceID: deploy.Override{Value: g.WorkspaceID, Name: "--workspace-id"},
		Token:       deploy.Override{Value: g.Token, Name: "--token"},
	})
	if err != nil {
		return nil, deploy.Login{}, fmt.Errorf("read settings: %w", err)
	}
	c := &conn{Root: root, Cwd: cwd, ctx: ctx}
	opts := client.Options{UserAgent: "runtime-action/" + Version()}
	if set.APIURL.Value == "" {
		if noWorkspace != nil {
			// The embedded Runtime lives in a workspace.
			return nil, deploy.Login{}, noWorkspace
		}
		srv, err := c.startEmbedded(ctx, s)
		if err != nil {
			return nil, deploy.Login{}, err
		}
		embedded := deploy.Source{Kind: deploy.FromEmbedded}
		set.SetAPIURL(deploy.Setting{Value: srv.URL, Source: embedded})
		set.AuthURL = deploy.Setting{Value: srv.AuthURL(), Source: embedded}
		set.Token = deploy.Setting{Value: srv.AdminToken(), Source: embedded}
		set.WorkspaceID = deploy.Setting{}
		// In-process, polling is cheap: follow runs closely.
		opts.PollInterval = 100 * time.Millisecond
	} else if strings.HasSuffix(strings.TrimRight(set.APIURL.Value, "/"), "/v1") {
		fmt.Fprintf(s.Err, "Warning: the API URL %s (set by %s) ends with /v1: the Runtime's base URL comes without it\n", set.APIURL.Value, set.APIURL.Source)
	}
	return c, deploy.Login{
		Settings: set,
		Client:   opts,
		Workspace: func(ctx context.Context, sess *deploy.Session) error {
			return c.resolveWorkspace(ctx, s, sess, g.anyWorkspace)
		},
	}, nil
}

// connect finds the workspace, reads its settings, and opens a session with
// the configured Runtime, or with the embedded one when none is configured.
func (g *globalOptions) connect(ctx context.Context, s *Streams) (*conn, error) {
	c, l, err := g.login(ctx, s)
	if err != nil {
		return nil, err
	}
	sess, err := deploy.Authenticate(ctx, l)
	if err != nil {
		c.Close()
		return nil, err
	}
	c.Session = sess
	return c, nil
}

// startEmbedded starts the Runtime server in this process, with its data in
// the workspace's .dlt/.runtime folder, on a free loopback port.
func (c *conn) startEmbedded(ctx context.Context, s *Streams) (*server.Running, error) {
	dataDir := filepath.Join(c.Root, ".dlt", ".runtime")
	if err := ignoreDataDir(dataDir); err != nil {
		return nil, fmt.Errorf("start the embedded Runtime: %w", err)
	}
	python := s.Getenv("RUNTIME_SERVER_PYTHON")
	if python == "" {
		python = "python3"
	}
	// Orphaned processes of runs come back to this process, to be reaped.
	_ = executor.BecomeSubreaper()
	// One user, their own code: without bubblewrap, a note, not a refusal.
	sandbox := server.SandboxAuto
	if err := executor.CheckSandbox(ctx, "bwrap"); err != nil {
		sandbox = server.SandboxNone
		fmt.Fprintln(s.Err, "Note: runs of the embedded Runtime are not sandboxed (install bubblewrap to isolate them)")
	}
	srv, err := server.Start(ctx, server.Config{DataDir: dataDir, Python: python, Sandbox: sandbox, RunsDir: filepath.Join(dataDir, "runs")}, "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("start the embedded Runtime: %w", err)
	}
	c.Embedded = true
	c.close = func() { srv.Close() }
	// The path as the user would type it where they are, not relative to -C.
	rel := dataDir
	if wd, err := os.Getwd(); err == nil {
		if r, err := filepath.Rel(wd, dataDir); err == nil && !strings.HasPrefix(r, "..") {
			rel = r
		}
	}
	fmt.Fprintf(s.Err, "No Runtime configured: using the embedded Runtime, data in %s (set RUNTIME__API_BASE_URL or [runtime] api_base_url to use another)\n", rel)
	return srv, nil
}

// ignoreDataDir makes the embedded Runtime's data folder and puts a
// .gitignore in it, so that git never offers to commit its database, keys
// and admin token, whatever the workspace's own .gitignore says.
func ignoreDataDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	p := filepath.Join(dir, ".gitignore")
	if _, err := os.Stat(p); err == nil {
		return nil
	}
	return os.WriteFile(p, []byte("# the embedded Runtime's data: never commit it\n*\n"), 0o600)
}

// resolveWorkspace settles which workspace the commands address, as dlt does:
// with none set locally, the default workspace of the caller, saved to
// .dlt/config.toml when the user agrees.
//
// With anyWorkspace (whoami), no question is asked and a missing
// workspace_id is no error: the default workspace is reported as such.
func (c *conn) resolveWorkspace(ctx context.Context, s *Streams, sess *deploy.Session, anyWorkspace bool) error {
	set := sess.Settings.WorkspaceID
	if c.Embedded {
		me, err := sess.Me(ctx)
		if err != nil {
			return fmt.Errorf("embedded Runtime: %w", err)
		}
		sess.WorkspaceID = me.DefaultWorkspace.ID
		return nil
	}
	if set.Value != "" && set.Source.Kind != deploy.FromWorkspace {
		sess.WorkspaceID = set.Value
		return nil
	}
	me, err := sess.Me(ctx)
	if err != nil {
		return fmt.Errorf("get the logged-in user: %w", err)
	}
	remote := me.DefaultWorkspace.ID
	cfg := filepath.Join(c.Root, ".dlt", "config.toml")
	switch {
	case set.Value == "" && anyWorkspace:
		sess.WorkspaceID, sess.DefaultWorkspace = remote, true
	case set.Value == "":
		if !s.IsTerminal {
			return deploy.Errorf(deploy.ClassUsage, "", "no workspace_id set for this workspace: pass --workspace-id %s (your default workspace), set RUNTIME__WORKSPACE_ID, or add workspace_id to [runtime] in .dlt/config.toml", remote)
		}
		sess.WorkspaceID = remote
		if ask(s, fmt.Sprintf("Use your default workspace %q (%s) and save it to .dlt/config.toml?", me.DefaultWorkspace.Name, remote)) {
			if err := workspace.SetKey(cfg, "runtime", "workspace_id", remote); err != nil {
				return fmt.Errorf("save workspace_id: %w", err)
			}
			fmt.Fprintf(s.Err, "Saved workspace_id to %s\n", cfg)
		}
	case set.Value != remote:
		sess.WorkspaceID = set.Value
		fmt.Fprintf(s.Err, "Warning: .dlt/config.toml names workspace %s, but your default workspace is %s\n", set.Value, remote)
		if s.IsTerminal && !anyWorkspace && ask(s, "Replace it with your default workspace in .dlt/config.toml?") {
			if err := workspace.SetKey(cfg, "runtime", "workspace_id", remote); err != nil {
				return fmt.Errorf("save workspace_id: %w", err)
			}
			sess.WorkspaceID = remote
		}
	default:
		sess.WorkspaceID = set.Value
	}
	return nil
}

// ask asks a yes/no question on the terminal; yes is the default.
func ask(s *Streams, q string) bool {
	fmt.Fprintf(s.Err, "%s [Y/n] ", q)
	line, err := bufio.NewReader(s.In).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return false
	}
	a := strings.ToLower(strings.TrimSpace(line))
	return a == "" || a == "y" || a == "yes"
}

// fail gives a Runtime's error the next step to take, naming where the
// setting at fault came from (its exit code follows from its class).
func (c *conn) fail(err error) error { return c.Explain(c.ctx, err) }

// connErr is fail for errors met before a session exists.
func connErr(err error) error {
	return (&deploy.Session{}).Explain(context.Background(), err)
}
