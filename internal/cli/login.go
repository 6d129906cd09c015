package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/dlthub/runtime-action/internal/auth"
	"github.com/dlthub/runtime-action/internal/client"
	"github.com/dlthub/runtime-action/internal/deploy"
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
  login --token -          the same, with the token read from stdin (kept out of
                           the shell's history and the process list)
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

// settingsAnywhere resolves the settings (deploy.ResolveSettings, as every
// command does) of the workspace around the current folder when there is
// one, else of the environment and the global files only.
func (g *globalOptions) settingsAnywhere(s *Streams) (deploy.Settings, string, error) {
	root, _, err := g.findRoot(s)
	if err != nil {
		root = ""
	}
	set, err := deploy.ResolveSettings(root, s.Getenv, homeDir(s), deploy.Overrides{
		APIURL:  deploy.Override{Value: g.APIURL, Name: "--api-url"},
		AuthURL: deploy.Override{Value: g.AuthURL, Name: "--auth-url"},
	})
	if err != nil {
		return set, root, fmt.Errorf("read settings: %w", err)
	}
	return set, root, nil
}

func runLogin(ctx context.Context, s *Streams, o *loginOptions) error {
	if o.Token != "" && o.GitHubToken != "" {
		return &usageError{"--token and --github-token exclude each other: pass one"}
	}
	if o.global.Output != "" {
		if err := o.global.validate(); err != nil {
			return err
		}
	}
	set, _, err := o.global.settingsAnywhere(s)
	if err != nil {
		return err
	}
	if set.APIURL.Value == "" {
		return &usageError{"no Runtime to log in to: pass --api-url URL or set RUNTIME__API_BASE_URL (the embedded Runtime needs no login)"}
	}
	opts := client.Options{APIBaseURL: set.APIURL.Value, AuthBaseURL: set.AuthURL.Value, UserAgent: "runtime-action/" + Version()}
	token := o.Token
	if token == "-" {
		line, rerr := bufio.NewReader(s.In).ReadString('\n')
		if token = strings.TrimSpace(line); token == "" {
			if rerr == nil || errors.Is(rerr, io.EOF) {
				rerr = errors.New("stdin is empty")
			}
			return &usageError{fmt.Sprintf("--token -: no token on stdin (%v): pipe it in, e.g. runtime-action login --token - < token.txt", rerr)}
		}
	}
	switch {
	case token != "":
	case o.GitHubToken != "":
		res, err := client.New(opts).TokenExchange(ctx, o.GitHubToken)
		if client.IsStatus(err, http.StatusBadRequest) {
			// The contract's only refusal of a token exchange: GitHub refused
			// the token, or its user may not log in.
			err = &client.Error{Status: http.StatusUnauthorized, Detail: errDetail(err)}
		}
		if err != nil {
			return loginErr(err, "the auth service at "+set.AuthURL.Value+" refused the GitHub token",
				"check the token, and that its GitHub account may log in (on a self-hosted Runtime: serve workspace allow --github LOGIN)")
		}
		token = res.JWT
	default:
		if token, err = deviceFlow(ctx, s, client.New(opts)); err != nil {
			return err
		}
	}
	if err := auth.CheckExpiry(token, time.Now()); errors.Is(err, auth.ErrExpired) {
		c, _ := auth.Decode(token)
		return withCode(ExitAuth, fmt.Errorf("this token expired at %s: log in with a current one", c.Expiry.UTC().Format(time.RFC3339)))
	}
	opts.Token = token
	me, err := client.New(opts).Me(ctx)
	if err != nil {
		return loginErr(err, "the Runtime at "+set.APIURL.Value+" refused the token", "check that it is a token of this Runtime, and that --api-url is right")
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
	fmt.Fprintf(s.Err, "Token stored in %s\n", filepath.Join(dir, "secrets.toml"))
	if s.Getenv("RUNTIME__AUTH_TOKEN") != "" {
		fmt.Fprintln(s.Err, "Warning: RUNTIME__AUTH_TOKEN is set in the environment and wins over the stored token: unset it to use this login")
	}
	if o.global.json() {
		return printJSON(s.Out, map[string]string{"email": me.Email, "user_id": me.UserID, "workspace_id": me.DefaultWorkspace.ID, "workspace_name": me.DefaultWorkspace.Name})
	}
	fmt.Fprintf(s.Out, "Logged in as %s (default workspace %q, %s)\n", me.Email, me.DefaultWorkspace.Name, me.DefaultWorkspace.ID)
	return nil
}

// errDetail is the Runtime's reason in err, else err's text.
func errDetail(err error) string {
	var ae *client.Error
	if errors.As(err, &ae) && ae.Detail != "" {
		return ae.Detail
	}
	return err.Error()
}

// loginErr words a failed login: a refusal (401, 403) exits 7 with what to
// check, an unreachable service exits 6, and the rest says what failed.
func loginErr(err error, refused, fix string) error {
	var ae *client.Error
	if errors.As(err, &ae) && (ae.Status == http.StatusUnauthorized || ae.Status == http.StatusForbidden) {
		why := ae.Detail
		if why == "" {
			why = fmt.Sprintf("HTTP %d", ae.Status)
		}
		return withCode(ExitAuth, fmt.Errorf("%s (%s): %s", refused, why, fix))
	}
	return connErr(fmt.Errorf("log in: %w", err))
}

func deviceFlow(ctx context.Context, s *Streams, c *client.Client) (string, error) {
	start, err := c.DeviceFlowStart(ctx)
	if err != nil {
		var ae *client.Error
		if errors.As(err, &ae) && !ae.NotAPI && ae.Status >= 400 && ae.Status < 500 {
			// The Runtime's reason says what to do instead, when it gives one.
			if ae.Detail != "" && ae.Status != http.StatusNotFound {
				return "", fmt.Errorf("device flow login: %s (runtime-action login --github-token T, or --token T)", ae.Detail)
			}
			return "", errors.New("this Runtime offers no device flow login: log in with --token or --github-token")
		}
		return "", connErr(fmt.Errorf("start the device flow login: %w", err))
	}
	fmt.Fprintf(s.Err, "Open %s and enter the code %s\nWaiting for you to confirm...\n", start.VerificationURI, start.UserCode)
	res, err := c.DeviceFlowPollEvery(ctx, start.DeviceCode, time.Duration(start.Interval)*time.Second)
	if client.IsStatus(err, http.StatusBadRequest) {
		// The contract's only refusal of a poll: declined or expired on
		// GitHub, or a GitHub user who may not log in.
		err = &client.Error{Status: http.StatusUnauthorized, Detail: errDetail(err)}
	}
	if err != nil {
		return "", loginErr(err, "the device flow login was refused", "start it again, or log in with --token or --github-token")
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
	g := &globalOptions{anyWorkspace: true}
	cmd := &cobra.Command{
		Use:   "whoami",
		Short: "Show who is logged in and which workspace the commands use",
		Long: `Show who is logged in, to which Runtime, and which workspace the commands use.
Outside a workspace it shows the login of ~/.dlt (or $DLT_DATA_DIR); with no workspace_id
set it shows your default workspace, and asks nothing.`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := g.connect(ctx, s)
			if err != nil {
				return connErr(err)
			}
			defer c.Close()
			me, err := c.Me(ctx)
			if err != nil {
				return c.fail(fmt.Errorf("get the logged-in user: %w", err))
			}
			ws, err := c.Client.GetWorkspace(ctx, c.WorkspaceID)
			name := ""
			if err == nil {
				name = ws.Name
			} else if !client.IsNotFound(err) {
				return c.fail(err)
			}
			if g.json() {
				return printJSON(s.Out, map[string]any{"email": me.Email, "user_id": me.UserID, "workspace_id": c.WorkspaceID, "workspace_name": name, "embedded": c.Embedded})
			}
			runtime := c.Settings.APIURL.Value
			if c.Embedded {
				runtime += " (embedded, for this command only)"
			}
			wsLine := fmt.Sprintf("%s (%s)", c.WorkspaceID, orDash(name))
			if c.DefaultWorkspace {
				wsLine += ", your default: no workspace_id is set"
			}
			pairs := []string{"Runtime", runtime, "Email", me.Email, "User ID", me.UserID, "Workspace", wsLine}
			if !c.Embedded {
				pairs = append(pairs, "Token", "from "+c.Settings.Token.Source.String()+expiresIn(c.Settings.Token.Value))
			}
			kv(s.Out, pairs...)
			return nil
		},
	}
	bindGlobal(cmd, g)
	return cmd
}

// expiresIn says when a token expires, when it says so itself.
func expiresIn(token string) string {
	c, err := auth.Decode(token)
	if err != nil || c.Expiry.IsZero() {
		return ""
	}
	return ", expires " + c.Expiry.UTC().Format("2006-01-02 15:04:05Z")
}
