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

	"github.com/dlthub/runtime-action/internal/auth"
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

// conn is an open connection to a Runtime and a workspace.
type conn struct {
	Root        string
	Cwd         string
	Client      *client.Client
	WorkspaceID string
	Embedded    bool
	Settings    workspace.Settings
	close       func()
}

func (c *conn) Close() {
	if c.close != nil {
		c.close()
	}
}

func (c *conn) engine(r deploy.Reporter) *deploy.Engine {
	return &deploy.Engine{Client: c.Client, WorkspaceID: c.WorkspaceID, Root: c.Root, Report: r}
}

// findRoot finds the workspace from -C or the current folder.
func (g *globalOptions) findRoot() (root, cwd string, err error) {
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
	root, err = workspace.Find(cwd)
	if err != nil {
		return "", "", err
	}
	return root, cwd, nil
}

func homeDir(s *Streams) string {
	if h := s.Getenv("HOME"); h != "" {
		return h
	}
	h, _ := os.UserHomeDir()
	return h
}

// connect finds the workspace, reads its settings, and opens a client to the
// configured Runtime, or to the embedded one when none is configured.
func (g *globalOptions) connect(ctx context.Context, s *Streams) (*conn, error) {
	if err := g.validate(); err != nil {
		return nil, err
	}
	root, cwd, err := g.findRoot()
	if err != nil {
		return nil, err
	}
	set, err := workspace.Load(root, s.Getenv, homeDir(s))
	if err != nil {
		return nil, fmt.Errorf("read settings: %w", err)
	}
	if set.Source == nil {
		set.Source = map[string]string{}
	}
	for key, p := range map[string]struct{ flag, dst *string }{
		"api_base_url":  {&g.APIURL, &set.APIBaseURL},
		"auth_base_url": {&g.AuthURL, &set.AuthBaseURL},
		"workspace_id":  {&g.WorkspaceID, &set.WorkspaceID},
		"auth_token":    {&g.Token, &set.AuthToken},
	} {
		if *p.flag != "" {
			*p.dst = *p.flag
			set.Source[key] = "flag"
		}
	}
	c := &conn{Root: root, Cwd: cwd, Settings: set}
	if set.APIBaseURL == "" {
		if err := c.startEmbedded(ctx, s); err != nil {
			return nil, err
		}
	} else {
		if set.AuthToken == "" {
			return nil, withCode(ExitAuth, errors.New(`not logged in: run "runtime-action login" or set RUNTIME__AUTH_TOKEN`))
		}
		if err := auth.CheckExpiry(set.AuthToken, time.Now()); err != nil {
			return nil, withCode(ExitAuth, err)
		}
		authURL := set.AuthBaseURL
		if authURL == "" {
			authURL = strings.TrimRight(set.APIBaseURL, "/") + "/auth"
		}
		c.Client = client.New(client.Options{APIBaseURL: set.APIBaseURL, AuthBaseURL: authURL, Token: set.AuthToken, UserAgent: "runtime-action/" + Version()})
	}
	if err := c.resolveWorkspace(ctx, s); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// startEmbedded starts the Runtime server in this process, with its data in
// the workspace's .dlt/.runtime folder, on a free loopback port.
func (c *conn) startEmbedded(ctx context.Context, s *Streams) error {
	dataDir := filepath.Join(c.Root, ".dlt", ".runtime")
	python := s.Getenv("RUNTIME_SERVER_PYTHON")
	if python == "" {
		python = "python3"
	}
	// Orphaned processes of runs come back to this process, to be reaped.
	_ = executor.BecomeSubreaper()
	srv, err := server.Start(ctx, server.Config{DataDir: dataDir, Python: python}, "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("start the embedded Runtime: %w", err)
	}
	c.Embedded = true
	c.close = func() { srv.Close() }
	// In-process, polling is cheap: follow runs closely.
	c.Client = client.New(client.Options{APIBaseURL: srv.URL, AuthBaseURL: srv.AuthURL(), Token: srv.AdminToken(), UserAgent: "runtime-action/" + Version(), PollInterval: 100 * time.Millisecond})
	rel, err := filepath.Rel(c.Cwd, dataDir)
	if err != nil || strings.HasPrefix(rel, "..") {
		rel = dataDir
	}
	fmt.Fprintf(s.Err, "No Runtime configured: using the embedded Runtime, data in %s (set RUNTIME__API_BASE_URL or [runtime] api_base_url to use another)\n", rel)
	return nil
}

// resolveWorkspace settles which workspace the commands address, as dlt does:
// with none set locally, the default workspace of the caller, saved to
// .dlt/config.toml when the user agrees.
func (c *conn) resolveWorkspace(ctx context.Context, s *Streams) error {
	set := c.Settings
	if c.Embedded {
		me, err := c.Client.Me(ctx)
		if err != nil {
			return fmt.Errorf("embedded Runtime: %w", err)
		}
		c.WorkspaceID = me.DefaultWorkspace.ID
		return nil
	}
	local := filepath.Join(c.Root, ".dlt") + string(filepath.Separator)
	if set.WorkspaceID != "" && !strings.HasPrefix(set.Source["workspace_id"], local) {
		c.WorkspaceID = set.WorkspaceID
		return nil
	}
	me, err := c.Client.Me(ctx)
	if err != nil {
		return connErr(fmt.Errorf("get the logged-in user: %w", err))
	}
	remote := me.DefaultWorkspace.ID
	cfg := filepath.Join(c.Root, ".dlt", "config.toml")
	switch {
	case set.WorkspaceID == "":
		if !s.IsTerminal {
			return withCode(ExitUsage, fmt.Errorf("no workspace_id set for this workspace: pass --workspace-id %s (your default workspace), set RUNTIME__WORKSPACE_ID, or add workspace_id to [runtime] in .dlt/config.toml", remote))
		}
		c.WorkspaceID = remote
		if ask(s, fmt.Sprintf("Use your default workspace %q (%s) and save it to .dlt/config.toml?", me.DefaultWorkspace.Name, remote)) {
			if err := workspace.SetKey(cfg, "runtime", "workspace_id", remote); err != nil {
				return fmt.Errorf("save workspace_id: %w", err)
			}
			fmt.Fprintf(s.Err, "Saved workspace_id to %s\n", cfg)
		}
	case set.WorkspaceID != remote:
		c.WorkspaceID = set.WorkspaceID
		fmt.Fprintf(s.Err, "Warning: .dlt/config.toml names workspace %s, but your default workspace is %s\n", set.WorkspaceID, remote)
		if s.IsTerminal && ask(s, "Replace it with your default workspace in .dlt/config.toml?") {
			if err := workspace.SetKey(cfg, "runtime", "workspace_id", remote); err != nil {
				return fmt.Errorf("save workspace_id: %w", err)
			}
			c.WorkspaceID = remote
		}
	default:
		c.WorkspaceID = set.WorkspaceID
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

// connErr gives connection and auth failures their exit codes.
func connErr(err error) error {
	if err == nil {
		return nil
	}
	var ce *client.ConnError
	if errors.As(err, &ce) {
		return withCode(ExitConnection, err)
	}
	if client.IsStatus(err, 401) {
		return withCode(ExitAuth, fmt.Errorf("%w\nthe Runtime refused the token: run \"runtime-action login\" again or check RUNTIME__AUTH_TOKEN", err))
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return err
	}
	return err
}
