package dispatch

import (
	"log/slog"
	"time"

	"github.com/dlthub/runtime-action/internal/executor"
	"github.com/dlthub/runtime-action/internal/store"
)

// Host is what the dispatcher needs from the server it runs in: the run's
// files, and the notifications of log streams and apps.
type Host interface {
	// OpenRunConfiguration decrypts the configuration package blob for
	// runID into a file of its own and returns its path and the secret
	// values the run's log must not show.
	OpenRunConfiguration(runID, blob string) (path string, secrets []string, err error)
	// RemoveRunConfiguration deletes that file; it is safe to call more
	// than once.
	RemoveRunConfiguration(runID string)
	// PackagePath is where the deployment package blob is kept.
	PackagePath(blob string) string
	// LogPath is where the log of runID is kept.
	LogPath(runID string) string
	// StatusChanged and LogAppended wake the watchers of runID.
	StatusChanged(runID string)
	LogAppended(runID string)
	// OpenApp reserves a port for the app of an interactive run and
	// registers it, not yet ready; stop ends the run with a cause.
	OpenApp(runID, workspaceID, name string, stop func(cause error)) (App, error)
}

// App is the app of one active interactive run, as the server's proxy
// holds it.
type App interface {
	// Port is where the app is to listen on loopback.
	Port() int
	// Socket is the Unix socket the server reaches a sandboxed app
	// through (executor.Job.AppSocket); "" when it reaches the port.
	Socket() string
	// Ready lets requests through: the run is running.
	Ready()
	// Close unregisters the app: its run has ended.
	Close()
}

// Config configures a Dispatcher.
type Config struct {
	Store store.Store
	Exec  *executor.Executor
	Host  Host
	Log   *slog.Logger
	// MaxConcurrentRuns is how many runs may be active at once.
	MaxConcurrentRuns int
	// AppReadyTimeout is how long an interactive run's app may take to
	// listen.
	AppReadyTimeout time.Duration
}
