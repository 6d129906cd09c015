package cli

import (
	"context"

	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/dlthub/runtime-action/internal/auth"
	"github.com/dlthub/runtime-action/internal/client"
	"github.com/dlthub/runtime-action/internal/workspace"
)

type loginOptions struct {
	global      *globalOptions
	Token       string
	GitHubToken string
}

func newLoginCmd(s *Streams) *cobra.Command {
	o := &loginOptions{global: &globalOptions{}}
	cmd := &cobra.Command{
		Use:   "login",
		Short: "Log in to a Runtime and store the token where dlt keeps it",
		Long: `Log in to the Runtime and store the token in [runtime] auth_token of
~/.dlt/secrets.toml (or $DLT_DATA_DIR/secrets.toml), where "dlt runtime login" keeps it.

  login --token T          check a Runtime token (GET /v1/me) and store it
  login --github-token T   exchange a GitHub token at the auth service
  login                    GitHub device flow: open the address shown, enter the code

An --api-url or --auth-url given here is stored in ~/.dlt/config.toml too.`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Token = o.global.Token
			return runLogin(cmd.Context(), s, o)
		},
	}
	bindGlobal(cmd, o.global)
	cmd.Flags().StringVar(&o.GitHubToken, "github-token", "", "a GitHub `token` to exchange for a Runtime token")
	return cmd
}

// settingsAnywhere reads the settings of the workspace around the current
// folder when there is one, else only the environment and the global files.
func (g *globalOptions) settingsAnywhere(s *Streams) (workspace.Settings, string, error) {
	root, _, err := g.findRoot()
	if err != nil {
		root = ""
	}
	set, err := workspace.Load(root, s.Getenv, homeDir(s))
	if err != nil {
		return set, root, fmt.Errorf("read settings: %w", err)
	}
	if g.APIURL != "" {
		set.APIBaseURL = g.APIURL
	}
	if g.AuthURL != "" {
		set.AuthBaseURL = g.AuthURL
	}
	if set.AuthBaseURL == "" && set.APIBaseURL != "" {
		set.AuthBaseURL = strings.TrimRight(set.APIBaseURL, "/") + "/auth"
	}
	return set, root, nil
}

func runLogin(ctx context.Context, s *Streams, o *loginOptions) error {
	if o.Token != "" && o.GitHubToken != "" {
		return &usageError{"--token and --github-token exclude each other"}
	}
	set, _, err := o.global.settingsAnywhere(s)
	if err != nil {
		return err
	}
	if set.APIBaseURL == "" {
		return &usageError{"no Runtime to log in to: pass --api-url URL or set RUNTIME__API_BASE_URL (the embedded Runtime needs no login)"}
	}
	opts := client.Options{APIBaseURL: set.APIBaseURL, AuthBaseURL: set.AuthBaseURL, UserAgent: "runtime-action/" + Version()}
	token := o.Token
	switch {
	case token != "":
	case o.GitHubToken != "":
		res, err := client.New(opts).TokenExchange(ctx, o.GitHubToken)
		if err != nil {
			return connErr(withAuthCode(fmt.Errorf("exchange the GitHub token: %w", err)))
		}
		token = res.JWT
	default:
		if token, err = deviceFlow(ctx, s, client.New(opts)); err != nil {
			return err
		}
	}
	if err := auth.CheckExpiry(token, time.Now()); err != nil {
		return withCode(ExitAuth, err)
	}
	opts.Token = token
	me, err := client.New(opts).Me(ctx)
	if err != nil {
		return connErr(withAuthCode(fmt.Errorf("check the token: %w", err)))
	}
	dir := workspace.GlobalDir(s.Getenv, homeDir(s))
	if err := workspace.SetKey(filepath.Join(dir, "secrets.toml"), "runtime", "auth_token", token); err != nil {
		return fmt.Errorf("store the token: %w", err)
	}
	cfg := filepath.Join(dir, "config.toml")
	for key, v := range map[string]string{"api_base_url": o.global.APIURL, "auth_base_url": o.global.AuthURL} {
		if v != "" {
			if err := workspace.SetKey(cfg, "runtime", key, v); err != nil {
				return fmt.Errorf("store %s: %w", key, err)
			}
		}
	}
	if o.global.json() {
		return printJSON(s.Out, map[string]string{"email": me.Email, "user_id": me.UserID, "workspace_id": me.DefaultWorkspace.ID, "workspace_name": me.DefaultWorkspace.Name})
	}
	fmt.Fprintf(s.Out, "Logged in as %s (default workspace %q, %s)\n", me.Email, me.DefaultWorkspace.Name, me.DefaultWorkspace.ID)
	fmt.Fprintf(s.Err, "Token stored in %s\n", filepath.Join(dir, "secrets.toml"))
	return nil
}

func withAuthCode(err error) error {
	if client.IsStatus(err, 401) || client.IsStatus(err, 403) {
		return withCode(ExitAuth, err)
	}
	return err
}

func deviceFlow(ctx context.Context, s *Streams, c *client.Client) (string, error) {
	start, err := c.DeviceFlowStart(ctx)
	if err != nil {
		return "", connErr(fmt.Errorf("start the device flow login: %w (log in with --token or --github-token instead)", err))
	}
	fmt.Fprintf(s.Err, "Open %s and enter the code %s\nWaiting for you to confirm...\n", start.VerificationURI, start.UserCode)
	res, err := c.DeviceFlowPollEvery(ctx, start.DeviceCode, time.Duration(start.Interval)*time.Second)
	if err != nil {
		return "", connErr(withAuthCode(fmt.Errorf("device flow login: %w", err)))
	}
	return res.JWT, nil
}

func newLogoutCmd(s *Streams) *cobra.Command {
	return &cobra.Command{
		Use:   "logout",
		Short: "Remove the stored token",
		Long:  "Remove [runtime] auth_token from ~/.dlt/secrets.toml (or $DLT_DATA_DIR/secrets.toml); nothing else in the file changes.",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := filepath.Join(workspace.GlobalDir(s.Getenv, homeDir(s)), "secrets.toml")
			removed, err := workspace.DeleteKey(path, "runtime", "auth_token")
			if err != nil {
				return fmt.Errorf("remove the token: %w", err)
			}
			if !removed {
				fmt.Fprintf(s.Out, "Not logged in (no token in %s)\n", path)
				return nil
			}
			fmt.Fprintf(s.Out, "Logged out: token removed from %s\n", path)
			if s.Getenv("RUNTIME__AUTH_TOKEN") != "" {
				fmt.Fprintln(s.Err, "Note: RUNTIME__AUTH_TOKEN is still set in the environment")
			}
			return nil
		},
	}
}

func newWhoamiCmd(s *Streams) *cobra.Command {
	g := &globalOptions{}
	cmd := &cobra.Command{
		Use:   "whoami",
		Short: "Show who is logged in and which workspace the commands use",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := g.connect(ctx, s)
			if err != nil {
				return connErr(err)
			}
			defer c.Close()
			me, err := c.Client.Me(ctx)
			if err != nil {
				return connErr(fmt.Errorf("get the logged-in user: %w", err))
			}
			ws, err := c.Client.GetWorkspace(ctx, c.WorkspaceID)
			name := ""
			if err == nil {
				name = ws.Name
			} else if !client.IsNotFound(err) {
				return connErr(err)
			}
			if g.json() {
				return printJSON(s.Out, map[string]any{"email": me.Email, "user_id": me.UserID, "workspace_id": c.WorkspaceID, "workspace_name": name, "embedded": c.Embedded})
			}
			kv(s.Out, "Email", me.Email, "User ID", me.UserID, "Workspace", fmt.Sprintf("%s (%s)", c.WorkspaceID, orDash(name)))
			return nil
		},
	}
	bindGlobal(cmd, g)
	return cmd
}
