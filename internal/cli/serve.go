package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/dlthub/runtime-action/internal/executor"
	"github.com/dlthub/runtime-action/internal/oidc"
	"github.com/dlthub/runtime-action/internal/server"
)

// serveEnvPrefix prefixes the environment forms of the serve flags.
const serveEnvPrefix = "RUNTIME_SERVER_"

// serveOptions are the serve flags; each has an environment form
// RUNTIME_SERVER_<env tag>, and a flag given on the command line wins.
type serveOptions struct {
	Addr              string        `env:"ADDR"`
	DataDir           string        `env:"DATA_DIR"`
	Python            string        `env:"PYTHON"`
	MaxUpload         byteSize      `env:"MAX_UPLOAD"`
	MaxConcurrentRuns int           `env:"MAX_CONCURRENT_RUNS"`
	RunTimeout        time.Duration `env:"RUN_TIMEOUT"`
	CancelGrace       time.Duration `env:"CANCEL_GRACE"`
	PublicURL         string        `env:"PUBLIC_URL"`
	GitHubAPIURL      string        `env:"GITHUB_API_URL"`
	GitHubClientID    string        `env:"GITHUB_CLIENT_ID"`
	GitHubURL         string        `env:"GITHUB_URL"`
	LogLevel          string        `env:"LOG_LEVEL"`
	// EncryptionKey has no flag: a key on a command line is seen by
	// every user of the machine (serve_keys.go).
	EncryptionKey     string        `env:"ENCRYPTION_KEY"`
	EncryptionKeyFile string        `env:"ENCRYPTION_KEY_FILE"`
	AppIdleTimeout    time.Duration `env:"APP_IDLE_TIMEOUT"`
	AppReadyTimeout   time.Duration `env:"APP_READY_TIMEOUT"`
	OIDCIssuer        string        `env:"OIDC_ISSUER"`
	OIDCAudience      string        `env:"OIDC_AUDIENCE"`
	OIDCKeyRefresh    time.Duration `env:"OIDC_KEY_REFRESH"`
	VenvsDir          string        `env:"VENVS_DIR"`
	UV                string        `env:"UV"`
	PipArgs           string        `env:"PIP_ARGS"`
	Sandbox           string        `env:"SANDBOX"`
	RunsDir           string        `env:"RUNS_DIR"`
	RunEnv            []string      `env:"RUN_ENV"`
	connLimits
}

// connLimits are the connection limits of serve (server.Config has their
// meaning and defaults).
type connLimits struct {
	MaxHeaderBytes     byteSize      `env:"MAX_HEADER_BYTES"`
	ReadHeaderTimeout  time.Duration `env:"READ_HEADER_TIMEOUT"`
	ReadTimeout        time.Duration `env:"READ_TIMEOUT"`
	WriteTimeout       time.Duration `env:"WRITE_TIMEOUT"`
	StreamWriteTimeout time.Duration `env:"STREAM_WRITE_TIMEOUT"`
	IdleTimeout        time.Duration `env:"IDLE_TIMEOUT"`
	MaxConnsPerClient  int           `env:"MAX_CONNS_PER_CLIENT"`
}

func addConnLimitFlags(f *pflag.FlagSet, o *connLimits) {
	*o = connLimits{MaxHeaderBytes: server.DefaultMaxHeaderBytes, ReadHeaderTimeout: server.DefaultReadHeaderTimeout,
		ReadTimeout: server.DefaultReadTimeout, WriteTimeout: server.DefaultWriteTimeout,
		StreamWriteTimeout: server.DefaultStreamWriteTimeout, IdleTimeout: server.DefaultIdleTimeout,
		MaxConnsPerClient: server.DefaultMaxConnsPerClient}
	f.Var(&o.MaxHeaderBytes, "max-header-bytes", "largest request headers accepted (RUNTIME_SERVER_MAX_HEADER_BYTES)")
	f.DurationVar(&o.ReadHeaderTimeout, "read-header-timeout", o.ReadHeaderTimeout, "time a client has to send a request's headers (RUNTIME_SERVER_READ_HEADER_TIMEOUT)")
	f.DurationVar(&o.ReadTimeout, "read-timeout", o.ReadTimeout, "time a client has to send a whole request, upload included (RUNTIME_SERVER_READ_TIMEOUT)")
	f.DurationVar(&o.WriteTimeout, "write-timeout", o.WriteTimeout, "time to write an answer; log streams and logs have a deadline per write instead (RUNTIME_SERVER_WRITE_TIMEOUT)")
	f.DurationVar(&o.StreamWriteTimeout, "stream-write-timeout", o.StreamWriteTimeout, "longest a write of a log stream, a log or an app's answer may wait for a client that does not read; it is then dropped (RUNTIME_SERVER_STREAM_WRITE_TIMEOUT)")
	f.DurationVar(&o.IdleTimeout, "idle-timeout", o.IdleTimeout, "close a kept-alive connection after this long without a request (RUNTIME_SERVER_IDLE_TIMEOUT)")
	f.IntVar(&o.MaxConnsPerClient, "max-conns-per-client", o.MaxConnsPerClient, "connections open at once from one client address, 0 for no cap (behind a reverse proxy) (RUNTIME_SERVER_MAX_CONNS_PER_CLIENT)")
}

// apply checks the limits and sets them in cfg.
func (o connLimits) apply(cfg *server.Config) error {
	for name, d := range map[string]time.Duration{"read-header-timeout": o.ReadHeaderTimeout, "read-timeout": o.ReadTimeout,
		"write-timeout": o.WriteTimeout, "stream-write-timeout": o.StreamWriteTimeout, "idle-timeout": o.IdleTimeout} {
		if d <= 0 {
			return &usageError{msg: fmt.Sprintf("invalid --%s %s: it must be positive", name, d)}
		}
	}
	if o.MaxConnsPerClient < 0 || o.MaxHeaderBytes > 1<<30 {
		return &usageError{msg: fmt.Sprintf("invalid --max-conns-per-client %d or --max-header-bytes %s", o.MaxConnsPerClient, &o.MaxHeaderBytes)}
	}
	cfg.MaxHeaderBytes = int(o.MaxHeaderBytes)
	cfg.ReadHeaderTimeout, cfg.ReadTimeout, cfg.WriteTimeout = o.ReadHeaderTimeout, o.ReadTimeout, o.WriteTimeout
	cfg.StreamWriteTimeout, cfg.IdleTimeout = o.StreamWriteTimeout, o.IdleTimeout
	cfg.MaxConnsPerClient = o.MaxConnsPerClient
	if o.MaxConnsPerClient == 0 {
		cfg.MaxConnsPerClient = -1
	}
	return nil
}

// defaultDataDir is $XDG_DATA_HOME/runtime-action, else
// ~/.local/share/runtime-action.
func defaultDataDir(getenv func(string) string) string {
	if d := getenv("XDG_DATA_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "runtime-action")
	}
	if h := getenv("HOME"); h != "" {
		return filepath.Join(h, ".local", "share", "runtime-action")
	}
	return ""
}

func newServeCmd(s *Streams) *cobra.Command {
	o := &serveOptions{
		Addr:              server.DefaultAddr,
		DataDir:           defaultDataDir(s.Getenv),
		Python:            server.DefaultPython,
		MaxUpload:         server.DefaultMaxUpload,
		MaxConcurrentRuns: server.DefaultMaxConcurrentRuns,
		RunTimeout:        server.DefaultRunTimeout,
		CancelGrace:       server.DefaultCancelGrace,
		GitHubAPIURL:      server.DefaultGitHubAPIURL,
		GitHubURL:         server.DefaultGitHubURL,
		LogLevel:          "info",
		AppIdleTimeout:    server.DefaultAppIdleTimeout,
		AppReadyTimeout:   server.DefaultAppReadyTimeout,
		OIDCIssuer:        oidc.DefaultIssuer,
		OIDCAudience:      oidc.DefaultAudience,
		OIDCKeyRefresh:    oidc.DefaultKeyRefresh,
		Sandbox:           server.SandboxAuto,
	}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve a self-hosted Runtime",
		Long: `Serve a self-hosted Runtime: the Runtime API v1 at / and the auth service at /auth
on one listener, with its state in a data dir (SQLite database, signing key, admin
token, packages, run logs). Runs are executed as local Python processes, each in a
bubblewrap sandbox (--sandbox; see "Security model" in docs/self-hosting.md).

The first start of an empty data dir creates an organization and a workspace named
"default" and an admin user, and writes the admin's token to <data-dir>/admin.token
(mode 0600). Point a client at the server with

  RUNTIME__API_BASE_URL=http://127.0.0.1:30000
  RUNTIME__AUTH_BASE_URL=http://127.0.0.1:30000/auth
  RUNTIME__AUTH_TOKEN=$(cat <data-dir>/admin.token)

Every flag has an environment form, RUNTIME_SERVER_<NAME> (e.g. RUNTIME_SERVER_ADDR,
RUNTIME_SERVER_DATA_DIR, RUNTIME_SERVER_MAX_UPLOAD); a flag on the command line wins
over the environment.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := applyEnv(cmd, o, s.Getenv); err != nil {
				return err
			}
			return runServe(cmd.Context(), s, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Addr, "addr", o.Addr, "address to listen on, host:port (RUNTIME_SERVER_ADDR)")
	cmd.PersistentFlags().StringVar(&o.DataDir, "data-dir", o.DataDir,
		"folder of the server's state (RUNTIME_SERVER_DATA_DIR; default $XDG_DATA_HOME/runtime-action, else ~/.local/share/runtime-action)")
	f.StringVar(&o.Python, "python", o.Python, "Python interpreter that runs scripts (RUNTIME_SERVER_PYTHON)")
	f.Var(&o.MaxUpload, "max-upload", "largest package accepted, in bytes or with a unit: 16MiB, 500KB, 1GiB (RUNTIME_SERVER_MAX_UPLOAD)")
	f.IntVar(&o.MaxConcurrentRuns, "max-concurrent-runs", o.MaxConcurrentRuns, "runs active at once; more wait in pending (RUNTIME_SERVER_MAX_CONCURRENT_RUNS)")
	f.DurationVar(&o.RunTimeout, "run-timeout", o.RunTimeout, "longest a run may run before it is stopped and failed (RUNTIME_SERVER_RUN_TIMEOUT)")
	f.DurationVar(&o.CancelGrace, "cancel-grace", o.CancelGrace, "time between SIGTERM and SIGKILL when a run is stopped (RUNTIME_SERVER_CANCEL_GRACE)")
	f.StringVar(&o.PublicURL, "public-url", o.PublicURL, "URL the server calls itself in links: script_url, app links, Secure cookies with https (RUNTIME_SERVER_PUBLIC_URL; default: http:// and the listen address, never a request's Host header)")
	f.StringVar(&o.GitHubAPIURL, "github-api-url", o.GitHubAPIURL, "GitHub API asked who a GitHub token belongs to (token exchange, device flow login); GitHub Enterprise: https://HOST/api/v3 (RUNTIME_SERVER_GITHUB_API_URL)")
	f.StringVar(&o.GitHubClientID, "github-client-id", o.GitHubClientID, "client `ID` of a GitHub OAuth App with the device flow enabled: turns on device flow login (dlt runtime login, runtime-action login); no secret needed (RUNTIME_SERVER_GITHUB_CLIENT_ID)")
	f.StringVar(&o.GitHubURL, "github-url", o.GitHubURL, "GitHub's web address, where the device flow runs; GitHub Enterprise: https://HOST (RUNTIME_SERVER_GITHUB_URL)")
	f.StringVar(&o.LogLevel, "log-level", o.LogLevel, "log level on stderr: debug (one line per request), info, warn, error (RUNTIME_SERVER_LOG_LEVEL)")
	f.DurationVar(&o.AppIdleTimeout, "app-idle-timeout", o.AppIdleTimeout, "stop an interactive app after this long without requests; its run ends completed (RUNTIME_SERVER_APP_IDLE_TIMEOUT)")
	f.DurationVar(&o.AppReadyTimeout, "app-ready-timeout", o.AppReadyTimeout, "fail an interactive run whose app does not listen on its port within this time (RUNTIME_SERVER_APP_READY_TIMEOUT)")
	addOIDCFlags(f, o)
	f.StringVar(&o.VenvsDir, "venvs-dir", o.VenvsDir, "folder of the Python environments of deployments with requirements.txt or pyproject.toml dependencies (RUNTIME_SERVER_VENVS_DIR; default <data-dir>/venvs)")
	f.StringVar(&o.UV, "uv", o.UV, `uv executable that makes Python environments, or "none" for python -m venv and pip (RUNTIME_SERVER_UV; default: uv when on PATH)`)
	f.StringVar(&o.PipArgs, "pip-args", o.PipArgs, `extra arguments of every dependency install, space-separated, e.g. "--no-index --find-links /wheels" (RUNTIME_SERVER_PIP_ARGS)`)
	f.StringVar(&o.Sandbox, "sandbox", o.Sandbox, "isolation of runs: auto (bubblewrap, refusing to start without it), bwrap, or none (runs see all the server sees) (RUNTIME_SERVER_SANDBOX)")
	f.StringVar(&o.RunsDir, "runs-dir", o.RunsDir, "parent folder of the run folders, outside the data dir (RUNTIME_SERVER_RUNS_DIR; default <data-dir>-runs)")
	f.StringArrayVar(&o.RunEnv, "run-env", o.RunEnv, "name of a variable of the server's environment that runs get, repeatable (RUNTIME_SERVER_RUN_ENV, comma-separated)")
	addKeyFlags(cmd.PersistentFlags(), o)
	addConnLimitFlags(f, &o.connLimits)
	cmd.AddCommand(newServeTokenCmd(s, o), newServeWorkspaceCmd(s, o), newServeTrustCmd(s, o), newServeKeysCmd(s, o))
	return cmd
}

// applyEnv fills o from RUNTIME_SERVER_* for every flag not given on the
// command line: env values are parsed into o, then the flags that were
// given are set again on top.
func applyEnv(cmd *cobra.Command, o *serveOptions, getenv func(string) string) error {
	given := map[string]string{}
	sliceVals := map[string][]string{}
	visit := func(f *pflag.Flag) {
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			sliceVals[f.Name] = sv.GetSlice()
			return
		}
		given[f.Name] = f.Value.String()
	}
	cmd.Flags().Visit(visit)
	cmd.InheritedFlags().Visit(visit)
	opts := env.Options{Prefix: serveEnvPrefix}
	params, err := env.GetFieldParamsWithOptions(o, opts)
	if err != nil {
		return err
	}
	opts.Environment = map[string]string{}
	for _, p := range params {
		if v := getenv(p.Key); v != "" {
			opts.Environment[p.Key] = v
		}
	}
	if err := env.ParseWithOptions(o, opts); err != nil {
		return &usageError{msg: envError(err)}
	}
	for name, v := range given {
		f := cmd.Flags().Lookup(name)
		if f == nil {
			f = cmd.InheritedFlags().Lookup(name)
		}
		if f != nil {
			if err := f.Value.Set(v); err != nil {
				return &usageError{msg: fmt.Sprintf("flag --%s: %v", name, err)}
			}
		}
	}
	for name, v := range sliceVals {
		if f := cmd.Flags().Lookup(name); f != nil {
			if sv, ok := f.Value.(pflag.SliceValue); ok {
				_ = sv.Replace(v)
			}
		}
	}
	if o.DataDir == "" {
		return &usageError{msg: "no data dir: pass --data-dir or set RUNTIME_SERVER_DATA_DIR (HOME is not set either)"}
	}
	return nil
}

// envError names the variable of each value the env parser refused.
func envError(err error) string {
	var agg env.AggregateError
	if !errors.As(err, &agg) {
		return "environment: " + err.Error()
	}
	t := reflect.TypeOf(serveOptions{})
	var msgs []string
	for _, e := range agg.Errors {
		var pe env.ParseError
		if errors.As(e, &pe) {
			if f, ok := t.FieldByName(pe.Name); ok {
				msgs = append(msgs, fmt.Sprintf("invalid %s%s: %v", serveEnvPrefix, f.Tag.Get("env"), pe.Err))
				continue
			}
		}
		msgs = append(msgs, "environment: "+e.Error())
	}
	return strings.Join(msgs, "; ")
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return l, &usageError{msg: fmt.Sprintf("invalid --log-level %q: expected debug, info, warn or error", s)}
	}
	return l, nil
}

func runServe(ctx context.Context, s *Streams, o *serveOptions) error {
	level, err := parseLevel(o.LogLevel)
	if err != nil {
		return err
	}
	if o.MaxConcurrentRuns < 1 {
		return &usageError{msg: fmt.Sprintf("invalid --max-concurrent-runs %d: at least 1", o.MaxConcurrentRuns)}
	}
	for name, d := range map[string]time.Duration{"run-timeout": o.RunTimeout, "cancel-grace": o.CancelGrace,
		"app-idle-timeout": o.AppIdleTimeout, "app-ready-timeout": o.AppReadyTimeout} {
		if d <= 0 {
			return &usageError{msg: fmt.Sprintf("invalid --%s %s: it must be positive", name, d)}
		}
	}
	if err := checkOIDCFlags(o); err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(s.Err, &slog.HandlerOptions{Level: level}))
	// Processes a run leaves behind come back to us to be reaped, rather
	// than stay zombies.
	if err := executor.BecomeSubreaper(); err != nil {
		logger.Warn("orphaned run processes will be reaped by init", "error", err)
	}
	// Listen first: a taken port is found before the data dir is made or
	// changed (a first start writes keys and the admin token).
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return fmt.Errorf("listen on %q: %w (pass another --addr)", o.Addr, err)
	}
	defer ln.Close()
	cfg := server.Config{
		Addr:              o.Addr,
		DataDir:           o.DataDir,
		Python:            o.Python,
		MaxUpload:         int64(o.MaxUpload),
		MaxConcurrentRuns: o.MaxConcurrentRuns,
		RunTimeout:        o.RunTimeout,
		CancelGrace:       o.CancelGrace,
		PublicURL:         o.PublicURL,
		GitHubAPIURL:      o.GitHubAPIURL,
		DeviceFlow:        server.DeviceFlowConfig{ClientID: o.GitHubClientID, GitHubURL: o.GitHubURL},
		Logger:            logger,
		EncryptionKey:     o.EncryptionKey,
		EncryptionKeyFile: o.EncryptionKeyFile,
		AppIdleTimeout:    o.AppIdleTimeout,
		AppReadyTimeout:   o.AppReadyTimeout,
		OIDC:              oidc.Config{Issuer: o.OIDCIssuer, Audience: o.OIDCAudience, KeyRefresh: o.OIDCKeyRefresh},
		VenvsDir:          o.VenvsDir,
		UV:                o.UV,
		PipArgs:           strings.Fields(o.PipArgs),
		Sandbox:           o.Sandbox,
		RunsDir:           o.RunsDir,
		RunEnvAllow:       o.RunEnv,
	}
	if err := o.connLimits.apply(&cfg); err != nil {
		return err
	}
	srv, err := server.Open(ctx, cfg)
	if err != nil {
		return err
	}
	defer srv.Close()
	url := "http://" + ln.Addr().String()
	if host, port, err := net.SplitHostPort(o.Addr); err == nil && (host == "" || net.ParseIP(host) != nil && net.ParseIP(host).IsUnspecified()) {
		// Listening on every address: show one a browser on this machine can open.
		url = "http://" + net.JoinHostPort("127.0.0.1", portOf(ln.Addr().String(), port))
		fmt.Fprintf(s.Err, "Listening on %s\n", ln.Addr())
	}
	if o.PublicURL != "" {
		url = strings.TrimRight(o.PublicURL, "/")
	}
	fmt.Fprintf(s.Err, "Runtime API at %s, auth service at %s/auth\n", url, url)
	fmt.Fprintf(s.Err, "Data dir: %s\n", srv.DataDir())
	if !srv.Sandboxed() {
		fmt.Fprintln(s.Err, "Warning: --sandbox none: runs are not isolated: their scripts run as the server's user and can read the server's data (keys, database, other runs' secrets)")
	}
	if srv.FirstStart() {
		fmt.Fprintf(s.Err, "First start: created the admin token in %s\n", srv.AdminTokenPath())
	} else {
		fmt.Fprintf(s.Err, "Admin token: %s\n", srv.AdminTokenPath())
	}
	err = srv.Serve(ctx, ln)
	fmt.Fprintln(s.Err, "Stopping: active runs are stopped, pending runs stay pending")
	return errors.Join(err, srv.Close())
}

// portOf is the port of a listener's address, else fallback.
func portOf(addr, fallback string) string {
	if _, p, err := net.SplitHostPort(addr); err == nil {
		return p
	}
	return fallback
}

// openAdmin opens the data dir of o for the admin subcommands.
func openAdmin(cmd *cobra.Command, s *Streams, o *serveOptions) (*server.Admin, error) {
	if err := applyEnv(cmd, o, s.Getenv); err != nil {
		return nil, err
	}
	a, err := server.OpenAdmin(cmd.Context(), o.DataDir)
	if err != nil {
		return nil, err
	}
	if a.Initialized() {
		fmt.Fprintf(s.Err, "Initialized the data dir %s: admin token in %s\n", o.DataDir, a.AdminTokenPath())
	}
	return a, nil
}

// checkTableOutput refuses an -o the admin lists do not print: text (or
// table) and json, as in the client commands.
func checkTableOutput(output string) error {
	switch output {
	case "", "text", "table", "json":
		return nil
	}
	return &usageError{msg: fmt.Sprintf("invalid output format %q: use text or json", output)}
}

// adminRunE runs fn with the data dir's admin functions, closed afterwards.
func adminRunE(s *Streams, o *serveOptions, fn func(cmd *cobra.Command, args []string, a *server.Admin) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		a, err := openAdmin(cmd, s, o)
		if err != nil {
			return err
		}
		defer a.Close()
		return fn(cmd, args, a)
	}
}

func newServeTokenCmd(s *Streams, o *serveOptions) *cobra.Command {
	cmd := groupCmd(&cobra.Command{Use: "token", Short: "Create and revoke tokens of a self-hosted Runtime"})
	var t server.TokenOptions
	create := &cobra.Command{
		Use:   "create",
		Short: "Create a token and print it alone on stdout",
		Long: `Create a token (a JWT signed with the data dir's key) and print it alone on stdout.
It works on the data dir directly, also while a server runs on it. --email names the
user (created when new, default admin@localhost); --workspace restricts the token to
one workspace, whose member the user becomes.`,
		Args: cobra.NoArgs,
		RunE: adminRunE(s, o, func(cmd *cobra.Command, args []string, a *server.Admin) error {
			tok, err := a.CreateToken(cmd.Context(), t)
			if err != nil {
				return err
			}
			fmt.Fprintln(s.Out, tok)
			return nil
		}),
	}
	create.Flags().StringVar(&t.WorkspaceID, "workspace", "", "restrict the token to this workspace id")
	create.Flags().StringVar(&t.Email, "email", server.AdminEmail, "email of the token's user")
	create.Flags().DurationVar(&t.TTL, "ttl", server.DefaultTokenTTL, "lifetime of the token")
	revoke := &cobra.Command{
		Use:   "revoke TOKEN_OR_JTI",
		Short: "Revoke a token, given whole or by its jti",
		Args:  exactArgs(1, "TOKEN_OR_JTI"),
		RunE: adminRunE(s, o, func(cmd *cobra.Command, args []string, a *server.Admin) error {
			jti, err := a.RevokeToken(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(s.Out, "Revoked token %s\n", jti)
			return nil
		}),
	}
	cmd.AddCommand(create, revoke)
	return cmd
}

func newServeWorkspaceCmd(s *Streams, o *serveOptions) *cobra.Command {
	cmd := groupCmd(&cobra.Command{Use: "workspace", Short: "Manage the workspaces of a self-hosted Runtime"})
	create := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a workspace and print its id",
		Args:  exactArgs(1, "NAME"),
		RunE: adminRunE(s, o, func(cmd *cobra.Command, args []string, a *server.Admin) error {
			ws, err := a.CreateWorkspace(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			fmt.Fprintln(s.Out, ws.ID)
			return nil
		}),
	}
	var output string
	list := &cobra.Command{
		Use:     "list",
		Short:   "List the workspaces",
		Args:    cobra.NoArgs,
		PreRunE: func(cmd *cobra.Command, args []string) error { return checkTableOutput(output) },
		RunE: adminRunE(s, o, func(cmd *cobra.Command, args []string, a *server.Admin) error {
			wss, err := a.Workspaces(cmd.Context())
			if err != nil {
				return err
			}
			if output == "json" {
				return printJSON(s.Out, wss)
			}
			t := newTable(s.Out, "ID", "NAME", "CREATED")
			for _, w := range wss {
				t.row(w.ID, w.Name, fmtTimeV(w.DateAdded))
			}
			t.flush()
			return nil
		}),
	}
	list.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	var login, wsID string
	allow := &cobra.Command{
		Use:   "allow --github LOGIN",
		Short: "Let a GitHub account log in by token exchange",
		Long: `Let a GitHub account log in by exchanging its GitHub token (runtime-action login
with a GitHub token) for a token of this Runtime, as a member of a workspace (the
first one unless --workspace is given).`,
		Args: cobra.NoArgs,
		PreRunE: func(cmd *cobra.Command, args []string) error {
			if login == "" {
				return &usageError{msg: "--github LOGIN is required: the GitHub account to let in"}
			}
			return nil
		},
		RunE: adminRunE(s, o, func(cmd *cobra.Command, args []string, a *server.Admin) error {
			if err := a.AllowGitHub(cmd.Context(), login, wsID); err != nil {
				return err
			}
			fmt.Fprintf(s.Out, "GitHub user %s may log in\n", login)
			return nil
		}),
	}
	allow.Flags().StringVar(&login, "github", "", "GitHub login to allow")
	allow.Flags().StringVar(&wsID, "workspace", "", "workspace id (default: the first workspace)")
	cmd.AddCommand(create, list, allow)
	return cmd
}

// byteSize is a size in bytes, given as a number or with a unit (B, KB,
// MB, GB in powers of 1000; KiB, MiB, GiB in powers of 1024).
type byteSize int64

// String prints the size as Set reads it back: with the largest binary
// unit that divides it (16MiB), else in bytes.
func (b *byteSize) String() string {
	n := int64(*b)
	for _, u := range []struct {
		name string
		size int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n > 0 && n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + u.name
		}
	}
	return strconv.FormatInt(n, 10)
}

// Type names the flag's value in help.
func (b *byteSize) Type() string { return "size" }

// Set parses a size.
func (b *byteSize) Set(s string) error {
	v, err := parseByteSize(s)
	if err != nil {
		return err
	}
	*b = byteSize(v)
	return nil
}

// UnmarshalText lets the env parser read a size.
func (b *byteSize) UnmarshalText(t []byte) error { return b.Set(string(t)) }

func parseByteSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	num, unit := t[:i], strings.ToLower(strings.TrimSpace(t[i:]))
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("invalid size %q: expected a positive number of bytes, or one with a unit such as 16MiB", s)
	}
	mult := map[string]int64{"": 1, "b": 1, "kb": 1000, "mb": 1000 * 1000, "gb": 1000 * 1000 * 1000,
		"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30}[unit]
	if mult == 0 {
		return 0, fmt.Errorf("invalid size %q: unknown unit %q (use B, KB, MB, GB, KiB, MiB or GiB)", s, t[i:])
	}
	if n > (1<<62)/mult {
		return 0, fmt.Errorf("invalid size %q: too large", s)
	}
	return n * mult, nil
}
