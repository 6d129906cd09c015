package server

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/dlthub/runtime-action/internal/executor"
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
	DefaultGitHubTimeout     = 15 * time.Second
	DefaultLogPollInterval   = 250 * time.Millisecond
)

// Config configures a Server. Only DataDir is required.
type Config struct {
	// Addr is where the command line listens; Serve takes a listener and
	// does not read it.
	Addr string
	// DataDir holds the database, the signing key, the admin token, the
	// packages, the logs and the run folders.
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
	// PublicURL is what the server calls itself in URLs (script_url);
	// empty: the scheme and Host of each request.
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
	// and a new status.
	LogPollInterval time.Duration
	// GitHubClient asks GitHub's API (default: a client with a 15s timeout).
	GitHubClient *http.Client
	// KeepRunDirs keeps run folders after runs (debugging).
	KeepRunDirs bool
	// RunEnv is the environment every run starts from (default:
	// executor.DefaultBaseEnv, a minimal one).
	RunEnv []string
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
		c.RunEnv = executor.DefaultBaseEnv()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}
