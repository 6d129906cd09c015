package server

import (
	"log/slog"
	"net/http"
	"path/filepath"
	"time"

	"github.com/dlthub/runtime-action/internal/executor"
	"github.com/dlthub/runtime-action/internal/oidc"
)

// Defaults of Config, used when a field is zero.
const (
	DefaultAddr              = "127.0.0.1:30000"
	DefaultPython            = "python3"
	DefaultMaxUpload         = 16 << 20
	DefaultMaxConcurrentRuns = 4
	DefaultRunTimeout        = 2 * time.Hour
	DefaultCancelGrace       = 10 * time.Second
	DefaultGitHubAPIURL      = "https://api.github.com"
	DefaultLogLimit          = 50 << 20
	DefaultMaxUnpacked       = 256 << 20
	DefaultMaxMembers        = 20000
	DefaultTokenTTL          = 720 * time.Hour
	DefaultAdminTokenTTL     = 10 * 365 * 24 * time.Hour
	DefaultShutdownTimeout   = 10 * time.Second
	DefaultScheduleInterval  = time.Second
	DefaultGitHubTimeout     = 15 * time.Second
	DefaultAppIdleTimeout    = time.Hour
	DefaultAppReadyTimeout   = 30 * time.Second
	DefaultAppLinkTTL        = 5 * time.Minute
	DefaultAppSessionTTL     = 12 * time.Hour
	DefaultLogPollInterval   = 2 * time.Second
)

// MaxOIDCTokenTTL is the longest lifetime of a Runtime token from an OIDC
// exchange (and its default).
const MaxOIDCTokenTTL = time.Hour

// Values of Config.Sandbox.
const (
	SandboxAuto  = "auto"
	SandboxBwrap = "bwrap"
	SandboxNone  = "none"
)

// DefaultRunsDir is where the run folders of the data dir dataDir go when
// no runs dir is given: beside it, never in it, so that nothing of the
// server's own files is below a folder a run may write.
func DefaultRunsDir(dataDir string) string {
	dataDir = filepath.Clean(dataDir)
	return filepath.Join(filepath.Dir(dataDir), filepath.Base(dataDir)+"-runs")
}

// Config configures a Server. Only DataDir is required.
type Config struct {
	// Addr is where the command line listens; Serve takes a listener and
	// does not read it (links name Addr until Serve starts).
	Addr string
	// DataDir holds the database, the signing key, the admin token, the
	// packages and the logs; the run folders are in RunsDir, outside it.
	DataDir string
	// Python is the interpreter runs use.
	Python string
	// MaxUpload is the largest package tarball accepted, in bytes.
	MaxUpload int64
	// MaxConcurrentRuns is how many runs may be active at once; more wait
	// in pending.
	MaxConcurrentRuns int
	// RunTimeout is the longest a run may run (its process is then stopped
	// and the run failed).
	RunTimeout time.Duration
	// CancelGrace is the time between SIGTERM and SIGKILL.
	CancelGrace time.Duration
	// PublicURL is what the server calls itself in links (script_url, app
	// links; https makes the app session cookie Secure); empty: http:// and
	// the address Serve listens on (Addr until then). A request's Host
	// header is never used.
	PublicURL string
	// GitHubAPIURL is GitHub's API, asked GET {GitHubAPIURL}/user on a
	// token exchange (GitHub Enterprise: https://HOST/api/v3).
	GitHubAPIURL string
	// LogLimit caps each run's log, in bytes.
	LogLimit int64
	// MaxUnpacked and MaxMembers bound what an uploaded package may
	// unpack to, so that a gzip bomb is refused rather than inflated.
	MaxUnpacked int64
	MaxMembers  int
	// TokenTTL is the lifetime of tokens from a GitHub token exchange.
	TokenTTL time.Duration
	// ShutdownTimeout is how long Serve waits for requests in flight once
	// its context is done.
	ShutdownTimeout time.Duration
	// LogPollInterval is how often a log stream looks for new log text
	// and a new status on its own. It is only a safety net: the executor
	// and the dispatcher wake the streams of a run as soon as its log grows
	// or its status changes.
	LogPollInterval time.Duration
	// GitHubClient asks GitHub's API (default: a client with a 15s timeout).
	GitHubClient *http.Client
	// KeepRunDirs keeps run folders after runs (debugging).
	KeepRunDirs bool
	// RunEnv is the environment every run starts from (default:
	// executor.DefaultBaseEnv(RunEnvAllow...): LANG and the allowed
	// variables of the server's environment).
	RunEnv []string
	// RunEnvAllow names variables of the server's environment that runs
	// get (serve --run-env); nothing else of it reaches them.
	RunEnvAllow []string
	// Sandbox is how runs are isolated: SandboxBwrap (each run in a
	// bubblewrap sandbox; Open fails when bwrap cannot make one),
	// SandboxAuto (the same, with an error that says what to do), or
	// SandboxNone ("" too: runs are processes of the server's user that
	// see what it sees).
	Sandbox string
	// Bwrap is the bubblewrap executable (default "bwrap", on PATH).
	Bwrap string
	// RunsDir is the parent folder of the run folders, outside the data
	// dir (default: <DataDir>-runs, beside it).
	RunsDir string
	// VenvsDir holds the Python environments of deployments that declare
	// dependencies (requirements.txt, pyproject.toml), one per deployment
	// content hash (default: <DataDir>/venvs).
	VenvsDir string
	// UV is the uv executable environments are made with ("": uv when on
	// PATH; executor.UVNone: never, python -m venv and pip instead).
	UV string
	// PipArgs are appended to every dependency install command, e.g.
	// --no-index --find-links DIR.
	PipArgs []string
	// InstallEnv is added to RunEnv for dependency installs (nil:
	// executor.DefaultInstallEnv, the server's PIP_*, UV_* and proxy
	// variables).
	InstallEnv []string
	// OIDC configures the verification of the ID tokens of the GitHub OIDC
	// exchange (defaults: internal/oidc).
	OIDC oidc.Config
	// OIDCTokenTTL is the lifetime of the Runtime tokens an OIDC exchange
	// issues (at most, and by default, MaxOIDCTokenTTL).
	OIDCTokenTTL time.Duration
	// DeviceFlow configures the GitHub device flow login (deviceflow.go).
	DeviceFlow DeviceFlowConfig
	// AppIdleTimeout stops an interactive run whose app got no request
	// for this long; the run ends completed (apps.go).
	AppIdleTimeout time.Duration
	// AppReadyTimeout is how long an app may take to listen on its port
	// before its run fails.
	AppReadyTimeout time.Duration
	// AppPollInterval is how often a starting app's port is tried
	// (default executor.DefaultAppPollInterval).
	AppPollInterval time.Duration
	// AppLinkTTL is the lifetime of a signed app link, AppSessionTTL the
	// lifetime of the app session cookie it sets (capped at its token's).
	AppLinkTTL    time.Duration
	AppSessionTTL time.Duration
	// EncryptionKey holds the keys configuration packages are encrypted
	// with: base64 of 32 bytes each, separated by newlines or commas; the
	// last one encrypts, all decrypt. EncryptionKeyFile is a file holding
	// them instead. With neither, <DataDir>/encryption.key is used, made on
	// the first start (see encryption.go).
	EncryptionKey     string
	EncryptionKeyFile string
	// ScheduleInterval is how often schedules are checked for due ticks
	// against Now (default 1s).
	ScheduleInterval time.Duration
	// Connection limits (limits.go; zero: the Default* of each).
	// MaxHeaderBytes bounds a request's headers. ReadHeaderTimeout bounds
	// reading them, ReadTimeout the whole request with its body (an
	// upload), WriteTimeout writing an answer; log streams and whole logs
	// are written with StreamWriteTimeout per write instead, so that a
	// client that stops reading is dropped whatever the length of the
	// answer. IdleTimeout closes a kept-alive connection without requests.
	// MaxConnsPerClient caps the connections open at once from one
	// address (negative: no cap, e.g. behind a reverse proxy, where every
	// client has the proxy's address).
	MaxHeaderBytes     int
	ReadHeaderTimeout  time.Duration
	ReadTimeout        time.Duration
	WriteTimeout       time.Duration
	StreamWriteTimeout time.Duration
	IdleTimeout        time.Duration
	MaxConnsPerClient  int
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger receives the server's log (nil: discarded).
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	set := func(p *int64, v int64) {
		if *p <= 0 {
			*p = v
		}
	}
	setD := func(p *time.Duration, v time.Duration) {
		if *p <= 0 {
			*p = v
		}
	}
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	if c.Python == "" {
		c.Python = DefaultPython
	}
	set(&c.MaxUpload, DefaultMaxUpload)
	if c.MaxConcurrentRuns <= 0 {
		c.MaxConcurrentRuns = DefaultMaxConcurrentRuns
	}
	setD(&c.RunTimeout, DefaultRunTimeout)
	setD(&c.CancelGrace, DefaultCancelGrace)
	if c.GitHubAPIURL == "" {
		c.GitHubAPIURL = DefaultGitHubAPIURL
	}
	set(&c.LogLimit, DefaultLogLimit)
	set(&c.MaxUnpacked, DefaultMaxUnpacked)
	if c.MaxMembers <= 0 {
		c.MaxMembers = DefaultMaxMembers
	}
	setD(&c.TokenTTL, DefaultTokenTTL)
	setD(&c.ShutdownTimeout, DefaultShutdownTimeout)
	setD(&c.LogPollInterval, DefaultLogPollInterval)
	if c.GitHubClient == nil {
		c.GitHubClient = &http.Client{Timeout: DefaultGitHubTimeout}
	}
	if c.RunEnv == nil {
		c.RunEnv = executor.DefaultBaseEnv(c.RunEnvAllow...)
	}
	if c.Bwrap == "" {
		c.Bwrap = "bwrap"
	}
	if c.RunsDir == "" && c.DataDir != "" {
		c.RunsDir = DefaultRunsDir(c.DataDir)
	}
	setD(&c.AppIdleTimeout, DefaultAppIdleTimeout)
	setD(&c.AppReadyTimeout, DefaultAppReadyTimeout)
	setD(&c.AppPollInterval, executor.DefaultAppPollInterval)
	setD(&c.AppLinkTTL, DefaultAppLinkTTL)
	setD(&c.AppSessionTTL, DefaultAppSessionTTL)
	if c.MaxHeaderBytes <= 0 {
		c.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	setD(&c.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	setD(&c.ReadTimeout, DefaultReadTimeout)
	setD(&c.WriteTimeout, DefaultWriteTimeout)
	setD(&c.StreamWriteTimeout, DefaultStreamWriteTimeout)
	setD(&c.IdleTimeout, DefaultIdleTimeout)
	if c.MaxConnsPerClient == 0 {
		c.MaxConnsPerClient = DefaultMaxConnsPerClient
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	setD(&c.ScheduleInterval, DefaultScheduleInterval)
	c.OIDC = c.OIDC.WithDefaults()
	if c.OIDCTokenTTL <= 0 || c.OIDCTokenTTL > MaxOIDCTokenTTL {
		c.OIDCTokenTTL = MaxOIDCTokenTTL
	}
	c.DeviceFlow = c.DeviceFlow.withDefaults()
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}
