// Package server is the self-hosted Runtime: the API service (Runtime API v1,
// docs/runtime-v1.openapi.yaml) and the auth service on one handler,
// backed by a store.Store; the runs it queues are started by internal/dispatch.
//
// A data dir belongs to one server at a time (Open locks it); the admin
// functions (Admin) work on a data dir beside a running server.
package server

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/dlthub/runtime-action/internal/dispatch"
	"github.com/dlthub/runtime-action/internal/executor"
	"github.com/dlthub/runtime-action/internal/oidc"
	"github.com/dlthub/runtime-action/internal/seal"
)

// Server is a running Runtime on one data dir.
type Server struct {
	cfg  Config
	log  *slog.Logger
	lock *dirLock
	dir  *dataDir
	// sched starts pending runs; cron fires schedules (internal/dispatch).
	sched   *dispatch.Dispatcher
	handler http.Handler
	// oidc verifies GitHub Actions ID tokens for the OIDC exchange.
	oidc *oidc.Verifier
	// events wakes log streams when a run's log or status changes.
	events *runEvents
	// keys encrypt configuration packages (encryption.go).
	keys *seal.Keyring
	cron *dispatch.Cron
	// apps are the apps of active interactive runs, for the proxy.
	apps *appTable
	// devices paces the polls of device flow logins (deviceflow.go).
	devices deviceFlows
	// sandboxed: runs are isolated (Config.Sandbox); apps are then reached
	// through Unix sockets.
	sandboxed bool

	// longAnswers counts the logs answers and log streams being written:
	// with slow clients, they are what holds memory and connections.
	longAnswers atomic.Int64
	// base is what the server calls itself in links (baseURL).
	base atomic.Pointer[string]

	closeOnce sync.Once
	closeErr  error
}

// Open locks the data dir, opens its store (migrating it), bootstraps it on
// first start, fails the runs a previous server left active and starts the
// dispatcher, which starts the pending runs, and the cron of schedules.
func Open(ctx context.Context, cfg Config) (*Server, error) {
	cfg = cfg.withDefaults()
	verifier, err := oidc.NewVerifier(cfg.OIDC, cfg.Now, cfg.Logger)
	if err != nil {
		return nil, fmt.Errorf("open server: %w", err)
	}
	if cfg.DataDir == "" {
		return nil, errors.New("open server: no data dir given: pass --data-dir or set RUNTIME_SERVER_DATA_DIR")
	}
	// Before anything is made: a data dir in a folder runs can read is
	// refused, not created.
	sandbox, interp, err := openSandbox(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("make data dir %q: %w", cfg.DataDir, err)
	}
	lock, err := lockDataDir(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	dir, err := openDataDir(ctx, cfg.DataDir, cfg.Now)
	if err != nil {
		lock.unlock()
		return nil, err
	}
	keys, err := openKeys(ctx, cfg, dir, cfg.Logger)
	if err != nil {
		dir.store.Close()
		lock.unlock()
		return nil, err
	}
	s := &Server{cfg: cfg, log: cfg.Logger, lock: lock, dir: dir, events: newRunEvents()}
	s.oidc = verifier
	s.keys = keys
	s.apps = newAppTable(cfg.Now)
	s.setBase(cfg.PublicURL, cfg.Addr)
	// Uploads that a killed server left half-written.
	if entries, err := os.ReadDir(dir.join(tmpDir)); err == nil {
		for _, e := range entries {
			_ = os.RemoveAll(dir.join(tmpDir, e.Name()))
		}
	}
	if err := os.MkdirAll(cfg.RunsDir, 0o700); err != nil {
		dir.store.Close()
		lock.unlock()
		return nil, fmt.Errorf("make runs dir %q: %w", cfg.RunsDir, err)
	}
	// Sockets of the apps of a server that was killed.
	_ = os.RemoveAll(filepath.Join(cfg.RunsDir, appSocketsDir))
	if err := os.MkdirAll(filepath.Join(cfg.RunsDir, appSocketsDir), 0o700); err != nil {
		dir.store.Close()
		lock.unlock()
		return nil, fmt.Errorf("make runs dir %q: %w", cfg.RunsDir, err)
	}
	// Run folders hold decrypted configurations while their runs last.
	if err := checkPrivate("runs dir", cfg.RunsDir); err != nil {
		dir.store.Close()
		lock.unlock()
		return nil, err
	}
	s.sandboxed = sandbox != nil
	s.sched = dispatch.New(dispatch.Config{
		Store: dir.store, Host: dispatchHost{s}, Log: cfg.Logger,
		MaxConcurrentRuns: cfg.MaxConcurrentRuns, AppReadyTimeout: cfg.AppReadyTimeout,
		Exec: &executor.Executor{
			Python:      cfg.Python,
			RunsDir:     cfg.RunsDir,
			Sandbox:     sandbox,
			Interpreter: interp,
			Grace:       cfg.CancelGrace,
			Timeout:     cfg.RunTimeout,
			LogLimit:    cfg.LogLimit,
			BaseEnv:     cfg.RunEnv,
			KeepDirs:    cfg.KeepRunDirs,

			VenvsDir:   cmp.Or(cfg.VenvsDir, dir.join("venvs")),
			UV:         cfg.UV,
			PipArgs:    cfg.PipArgs,
			InstallEnv: cfg.InstallEnv,

			AppPollInterval: cfg.AppPollInterval,
		}})
	if err := s.sched.Recover(ctx); err != nil {
		dir.store.Close()
		lock.unlock()
		return nil, err
	}
	s.handler = s.routes()
	s.sched.Start()
	s.cron = dispatch.NewCron(dispatch.CronConfig{
		Store: dir.store, Log: cfg.Logger, Now: cfg.Now, Interval: cfg.ScheduleInterval, Started: s.sched.Wake,
	})
	s.cron.Start()
	return s, nil
}

// openSandbox is the sandbox cfg asks for, checked to work, and where the
// interpreter lives; nil for SandboxNone.
func openSandbox(ctx context.Context, cfg Config) (*executor.Sandbox, *executor.Interpreter, error) {
	switch cfg.Sandbox {
	case "", SandboxNone:
		return nil, nil, nil
	case SandboxAuto, SandboxBwrap:
	default:
		return nil, nil, fmt.Errorf("invalid sandbox %q: use auto, bwrap or none", cfg.Sandbox)
	}
	if err := executor.CheckSandbox(ctx, cfg.Bwrap); err != nil {
		return nil, nil, fmt.Errorf("no sandbox for runs: %w; install bubblewrap (Debian and Ubuntu: apt-get install bubblewrap) "+
			"or pass --sandbox none to run scripts unisolated, as the server's user", err)
	}
	// Found once here, not at every run; a wrong interpreter is said by
	// the first run that needs it.
	interp, _ := executor.FindInterpreter(ctx, cfg.Python)
	for _, d := range executor.Shown(interp) {
		for _, own := range []string{cfg.DataDir, cfg.RunsDir} {
			abs, err := filepath.Abs(own)
			if err != nil {
				continue
			}
			if rel, err := filepath.Rel(d, abs); err == nil && filepath.IsLocal(rel) || abs == d {
				return nil, nil, fmt.Errorf("%q is inside %q, which every run can read: put the data dir and the runs dir elsewhere", own, d)
			}
		}
	}
	sb := &executor.Sandbox{Bwrap: cfg.Bwrap}
	if p, err := exec.LookPath("slirp4netns"); err == nil {
		sb.Slirp4netns = p
	} else {
		cfg.Logger.Warn("no slirp4netns: interactive apps get no outbound network (install slirp4netns)")
	}
	return sb, interp, nil
}

// Sandboxed reports whether runs are isolated in a sandbox.
func (s *Server) Sandboxed() bool { return s.sandboxed }

// RunsDir is the parent folder of the run folders.
func (s *Server) RunsDir() string { return s.cfg.RunsDir }

func (s *Server) logPath(runID string) string { return s.dir.join(logsDir, runID+".log") }

// shutdownKey holds, in a request's context, a channel closed when the
// server serving it shuts down.
type shutdownKey struct{}

// Handler is the API service at / (and /api) and the auth service at /auth,
// so a client's auth_base_url is <url>/auth.
func (s *Server) Handler() http.Handler { return s.handler }

// Serve answers requests on ln until ctx is done, then shuts down
// gracefully (requests in flight get ShutdownTimeout). It does not Close.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	// Requests outlive ctx until Shutdown lets them finish; log streams,
	// which could go on for hours, end when the shutdown starts.
	s.setBase(s.cfg.PublicURL, ln.Addr().String())
	shutdown := make(chan struct{})
	base := context.WithValue(context.WithoutCancel(ctx), shutdownKey{}, (<-chan struct{})(shutdown))
	ln = limitPerClient(ln, s.cfg.MaxConnsPerClient)
	hs := &http.Server{
		Handler:           s.handler,
		MaxHeaderBytes:    s.cfg.MaxHeaderBytes,
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		ReadTimeout:       s.cfg.ReadTimeout,
		WriteTimeout:      s.cfg.WriteTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return base },
	}
	hs.RegisterOnShutdown(func() { close(shutdown) })
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	err := hs.Shutdown(sctx)
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	if err != nil {
		return fmt.Errorf("shut down: %w", err)
	}
	return nil
}

// Close stops the dispatcher (active runs are stopped and end failed with
// "the server stopped"; pending runs stay pending for the next start),
// closes the store and unlocks the data dir.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.cron.Close()
		s.sched.Close()
		s.closeErr = errors.Join(s.dir.store.Close(), s.lock.unlock())
	})
	return s.closeErr
}

// AdminToken is the admin token made on the first start ("" when
// admin.token was removed since).
func (s *Server) AdminToken() string { return s.dir.adminToken() }

// AdminTokenPath is where the admin token is kept.
func (s *Server) AdminTokenPath() string { return s.dir.join(adminTokenFile) }

// FirstStart reports whether Open found an empty data dir and bootstrapped it.
func (s *Server) FirstStart() bool { return s.dir.firstStart }

// DataDir is the absolute path of the data dir.
func (s *Server) DataDir() string { return s.dir.path }

// DefaultWorkspaceID is the id of the workspace the first start made.
func (s *Server) DefaultWorkspaceID() string { return s.dir.boot.Workspace.ID }

// Admin manages tokens and workspaces of the server's data dir.
func (s *Server) Admin() *Admin { return &Admin{dir: s.dir, shared: true} }

// baseURL is what the server calls itself in links (script_url, app
// links, the Secure flag of the app session cookie): --public-url, else
// the address it listens on. Never the Host header of a request, which the
// client chooses: a link built from it could send a user, with a token in
// its query, to another host.
func (s *Server) baseURL() string { return *s.base.Load() }

// setBase sets baseURL from the public URL, else from the listen address
// (an unspecified host, such as 0.0.0.0, as 127.0.0.1).
func (s *Server) setBase(publicURL, addr string) {
	base := strings.TrimRight(publicURL, "/")
	if base == "" {
		base = "http://" + addr
		if host, port, err := net.SplitHostPort(addr); err == nil {
			if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
				host = "127.0.0.1"
			}
			base = "http://" + net.JoinHostPort(host, port)
		}
	}
	s.base.Store(&base)
}

func (s *Server) packagePath(blob string) string {
	return s.dir.join(packagesDir, filepath.Base(blob)+".tar.gz")
}
