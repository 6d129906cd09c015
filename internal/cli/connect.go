package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/dlthub/runtime-action/internal/api"
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

// conn is an open connection to a Runtime and a workspace.
type conn struct {
	Root        string
	Cwd         string
	Client      *client.Client
	APIURL      string
	WorkspaceID string
	Embedded    bool
	Settings    workspace.Settings
	// DefaultWorkspace is set when no workspace_id is configured and the
	// caller's default workspace is used without saving it.
	DefaultWorkspace bool
	src              sources
	close            func()
	me               *api.Me // the caller, once asked
}

// Me asks the Runtime who the caller is, once per command.
func (c *conn) Me(ctx context.Context) (*api.Me, error) {
	if c.me == nil {
		me, err := c.Client.Me(ctx)
		if err != nil {
			return nil, err
		}
		c.me = me
	}
	return c.me, nil
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
	root, err = deploy.FindWorkspace(cwd, workspace.GlobalDir(s.Getenv, homeDir(s)))
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

// connect finds the workspace, reads its settings, and opens a client to the
// configured Runtime, or to the embedded one when none is configured.
func (g *globalOptions) connect(ctx context.Context, s *Streams) (*conn, error) {
	if err := g.validate(); err != nil {
		return nil, err
	}
	root, cwd, err := g.findRoot(s)
	if err != nil && !(g.anyWorkspace && errors.Is(err, deploy.ErrNoWorkspace)) {
		return nil, err
	}
	noWorkspace := err
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
		if noWorkspace != nil {
			// The embedded Runtime lives in a workspace.
			return nil, noWorkspace
		}
		if err := c.startEmbedded(ctx, s); err != nil {
			return nil, err
		}
	} else {
		c.src = settingSources(set, s)
		if strings.HasSuffix(strings.TrimRight(set.APIBaseURL, "/"), "/v1") {
			fmt.Fprintf(s.Err, "Warning: the API URL %s (set by %s) ends with /v1: the Runtime's base URL comes without it\n", set.APIBaseURL, c.src.apiURL)
		}
		if set.AuthToken == "" {
			return nil, withCode(ExitAuth, fmt.Errorf(`not logged in to the Runtime at %s: run "runtime-action login", or set RUNTIME__AUTH_TOKEN`, set.APIBaseURL))
		}
		if claims, err := auth.Decode(set.AuthToken); err == nil && !claims.Expiry.IsZero() && !time.Now().Before(claims.Expiry) {
			return nil, withCode(ExitAuth, fmt.Errorf("the token from %s expired at %s: %s", c.src.token, claims.Expiry.UTC().Format(time.RFC3339), c.src.tokenFix))
		}
		authURL := set.AuthBaseURL
		if authURL == "" {
			authURL = strings.TrimRight(set.APIBaseURL, "/") + "/auth"
		}
		c.APIURL = set.APIBaseURL
		c.Client = client.New(client.Options{APIBaseURL: set.APIBaseURL, AuthBaseURL: authURL, Token: set.AuthToken, UserAgent: "runtime-action/" + Version()})
	}
	if err := c.resolveWorkspace(ctx, s, g.anyWorkspace); err != nil {
		c.Close()
		return nil, c.fail(err)
	}
	c.src.workspaceID = c.WorkspaceID
	if c.WorkspaceID != set.WorkspaceID {
		c.src.workspace = ""
	}
	return c, nil
}

// startEmbedded starts the Runtime server in this process, with its data in
// the workspace's .dlt/.runtime folder, on a free loopback port.
func (c *conn) startEmbedded(ctx context.Context, s *Streams) error {
	dataDir := filepath.Join(c.Root, ".dlt", ".runtime")
	if err := ignoreDataDir(dataDir); err != nil {
		return fmt.Errorf("start the embedded Runtime: %w", err)
	}
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
	c.Embedded, c.APIURL = true, srv.URL
	c.close = func() { srv.Close() }
	// In-process, polling is cheap: follow runs closely.
	c.Client = client.New(client.Options{APIBaseURL: srv.URL, AuthBaseURL: srv.AuthURL(), Token: srv.AdminToken(), UserAgent: "runtime-action/" + Version(), PollInterval: 100 * time.Millisecond})
	// The path as the user would type it where they are, not relative to -C.
	rel := dataDir
	if wd, err := os.Getwd(); err == nil {
		if r, err := filepath.Rel(wd, dataDir); err == nil && !strings.HasPrefix(r, "..") {
			rel = r
		}
	}
	fmt.Fprintf(s.Err, "No Runtime configured: using the embedded Runtime, data in %s (set RUNTIME__API_BASE_URL or [runtime] api_base_url to use another)\n", rel)
	return nil
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
func (c *conn) resolveWorkspace(ctx context.Context, s *Streams, anyWorkspace bool) error {
	set := c.Settings
	if c.Embedded {
		me, err := c.Me(ctx)
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
	me, err := c.Me(ctx)
	if err != nil {
		return fmt.Errorf("get the logged-in user: %w", err)
	}
	remote := me.DefaultWorkspace.ID
	cfg := filepath.Join(c.Root, ".dlt", "config.toml")
	switch {
	case set.WorkspaceID == "" && anyWorkspace:
		c.WorkspaceID, c.DefaultWorkspace = remote, true
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
		if s.IsTerminal && !anyWorkspace && ask(s, "Replace it with your default workspace in .dlt/config.toml?") {
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

// sources say where the API URL and the token came from, for the next step
// an error suggests.
type sources struct {
	apiURL   string // e.g. "RUNTIME__API_BASE_URL", "--api-url", a file
	token    string // e.g. "RUNTIME__AUTH_TOKEN", "--token", a file
	tokenFix string // what to do about a refused or expired token
	// workspaceID is the workspace the commands address once known, and
	// workspace where it was set ("" when it is the caller's default).
	workspaceID, workspace string
}

// settingSources describes where the API URL and the token were set.
func settingSources(set workspace.Settings, s *Streams) sources {
	global := filepath.Join(workspace.GlobalDir(s.Getenv, homeDir(s)), "secrets.toml")
	src := sources{apiURL: describeSource(set.Source["api_base_url"], "--api-url"), token: describeSource(set.Source["auth_token"], "--token")}
	if set.WorkspaceID != "" {
		src.workspace = describeSource(set.Source["workspace_id"], "--workspace-id")
	}
	switch from := set.Source["auth_token"]; {
	case from == "flag":
		src.tokenFix = "pass a valid one with --token"
	case strings.HasPrefix(from, "RUNTIME__"):
		src.tokenFix = "set " + from + " to a valid one (it wins over the token \"runtime-action login\" stores)"
	case from == global:
		src.tokenFix = `run "runtime-action login" again`
	case from != "":
		src.tokenFix = "replace [runtime] auth_token in " + from + `, or remove it and run "runtime-action login"`
	default:
		src.tokenFix = `run "runtime-action login" again`
	}
	return src
}

func describeSource(from, flag string) string {
	switch from {
	case "":
		return "the settings"
	case "flag":
		return flag
	}
	return from
}

// fail gives connection and auth failures their exit codes and a next
// step that names where the URL or the token came from.
func (c *conn) fail(err error) error { return failWith(err, c.src) }

// connErr is fail for errors met before a connection exists.
func connErr(err error) error { return failWith(err, sources{}) }

func failWith(err error, src sources) error {
	if err == nil {
		return nil
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return err
	}
	var ce *client.ConnError
	if errors.As(err, &ce) {
		hint := "check that it is running and that the URL is right"
		if src.apiURL != "" {
			hint += " (set by " + src.apiURL + ")"
		}
		return withCode(ExitConnection, fmt.Errorf("%s: %s", ce.Error(), hint))
	}
	var ae *client.Error
	if errors.As(err, &ae) && ae.Status == http.StatusNotFound && !ae.NotAPI && src.workspaceID != "" && strings.Contains(ae.Detail, src.workspaceID) {
		// The workspace itself is unknown, or the token may not use it.
		from := "your default"
		if src.workspace != "" {
			from = "set by " + src.workspace
		}
		return fmt.Errorf("%w: the Runtime has no workspace %s for this token (%s); \"runtime-action whoami\" shows the token's default workspace", err, src.workspaceID, from)
	}
	if errors.As(err, &ae) && ae.Status == http.StatusUnauthorized {
		why := ae.Detail
		if why == "" {
			why = "HTTP 401"
		}
		from, fix := "the token", `run "runtime-action login" again, or pass a valid token with --token or RUNTIME__AUTH_TOKEN`
		if src.token != "" {
			from, fix = "the token from "+src.token, src.tokenFix
		}
		return withCode(ExitAuth, fmt.Errorf("the Runtime refused %s (%s): %s", from, why, fix))
	}
	return err
}
