// Package executor runs one script of a run as a local Python process: it
// makes the run folder from the stored packages, starts the process in its own
// process group, writes its output to the run's log and stops it on cancel or
// timeout.
package executor

import (
	"context"
	"errors"
	"time"

	"github.com/dlthub/runtime-action/internal/api"
)

// ErrCancelled is the cause to cancel a Run's context with when a user asked
// for the run to stop: the result is then StatusCancelled. Any other cause
// (server shutdown, say) ends the run as StatusFailed.
var ErrCancelled = errors.New("run cancelled")

// Executor runs jobs. Its fields are its configuration; it holds no state
// between runs, so one Executor serves concurrent Run calls.
type Executor struct {
	Python   string        // interpreter, "python3" by default
	RunsDir  string        // parent folder of run folders
	Grace    time.Duration // SIGTERM to SIGKILL on cancel and timeout (default 10s)
	Timeout  time.Duration // longest a run may run (0: no limit)
	LogLimit int64         // log cap in bytes (default 50 MiB)
	BaseEnv  []string      // environment every run starts from (default: a minimal one)
	KeepDirs bool          // keep run folders after the run (debugging)
}

// Job is one run to execute.
type Job struct {
	RunID         string
	WorkspaceID   string
	Profile       string
	EntryPoint    string // relative path in the deployment
	Deployment    string // path of the stored deployment tar.gz
	Configuration string // path of the stored configuration tar.gz
	LogPath       string // the run's log file, appended to
	Env           []string
}

// Hooks report progress; nil hooks are skipped.
type Hooks struct {
	OnStatus  func(api.RunStatus) // starting, running, finalizing
	OnStarted func(pid int)       // the process group id, once the process runs
}

// Result is how a run ended.
type Result struct {
	Status   api.RunStatus // completed, failed or cancelled
	ExitCode int           // -1 when the process did not exit on its own
	Reason   string        // one line, also the last line of the log on failure
}

// Run executes j and returns once its process group is gone.
func (e *Executor) Run(ctx context.Context, j Job, h Hooks) Result { panic("todo") }
