// Package dispatch runs what the self-hosted Runtime has queued: the
// Dispatcher starts pending runs with the executor and records how they
// end, and Cron turns scripts' schedules into pending runs. The HTTP side
// (internal/server) creates and cancels runs and wakes them; it provides
// the files and notifications a run needs through Host.
package dispatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/dlthub/runtime-action/internal/api"
	"github.com/dlthub/runtime-action/internal/executor"
	"github.com/dlthub/runtime-action/internal/store"
)

// retryInterval is how soon the dispatcher tries again after the store
// failed it; otherwise it only wakes when a run is created or finishes.
const retryInterval = time.Second

// errStopped is the cause runs are stopped with when the dispatcher closes.
var errStopped = errors.New("the server stopped")

// Dispatcher starts pending runs in creation order while fewer than
// MaxConcurrentRuns are active, one goroutine per run.
type Dispatcher struct {
	st   store.Store
	exec *executor.Executor
	host Host
	log  *slog.Logger
	max  int
	// appReady is the AppReadyTimeout of interactive jobs.
	appReady time.Duration

	wakeC chan struct{}
	ctx   context.Context // cancelled with errStopped on close
	stop  context.CancelCauseFunc
	// storeCtx outlives ctx so that the results of stopped runs are written.
	storeCtx context.Context
	loopDone chan struct{}
	wg       sync.WaitGroup

	mu     sync.Mutex
	active map[string]context.CancelCauseFunc
}

// New makes a dispatcher; Start starts it.
func New(c Config) *Dispatcher {
	ctx, stop := context.WithCancelCause(context.Background())
	return &Dispatcher{
		st: c.Store, exec: c.Exec, host: c.Host, log: c.Log, max: c.MaxConcurrentRuns, appReady: c.AppReadyTimeout,
		wakeC: make(chan struct{}, 1), ctx: ctx, stop: stop, storeCtx: context.Background(),
		loopDone: make(chan struct{}), active: map[string]context.CancelCauseFunc{},
	}
}

// Start starts dispatching, beginning with the runs already pending.
func (sc *Dispatcher) Start() {
	go sc.loop()
	sc.Wake()
}

// Wake makes the dispatcher look for pending runs; it never blocks.
func (sc *Dispatcher) Wake() {
	select {
	case sc.wakeC <- struct{}{}:
	default:
	}
}

func (sc *Dispatcher) loop() {
	defer close(sc.loopDone)
	var retry <-chan time.Time
	for {
		select {
		case <-sc.ctx.Done():
			return
		case <-sc.wakeC:
		case <-retry:
		}
		retry = nil
		if err := sc.dispatch(); err != nil {
			if sc.ctx.Err() != nil {
				return
			}
			sc.log.Error("dispatch pending runs", "error", err)
			retry = time.After(retryInterval)
		}
	}
}

func (sc *Dispatcher) free() int {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	return sc.max - len(sc.active)
}

// dispatch starts pending runs until the limit is reached or none is left.
func (sc *Dispatcher) dispatch() error {
	for {
		free := sc.free()
		if free <= 0 || sc.ctx.Err() != nil {
			return nil
		}
		runs, err := sc.st.PendingRuns(sc.ctx, free)
		if err != nil {
			return err
		}
		if len(runs) == 0 {
			return nil
		}
		for _, r := range runs {
			// The cancel function is known before the run leaves pending,
			// so a cancel that sees it active always finds it here.
			ctx, cancel := context.WithCancelCause(sc.ctx)
			sc.mu.Lock()
			sc.active[r.ID] = cancel
			sc.mu.Unlock()
			ok, err := sc.st.ClaimRun(sc.ctx, r.ID)
			if err != nil || !ok {
				sc.forget(r.ID)
				cancel(nil)
				if err != nil {
					return err
				}
				continue // cancelled meanwhile
			}
			sc.host.StatusChanged(r.ID)
			sc.wg.Add(1)
			go sc.execute(ctx, r)
		}
	}
}

func (sc *Dispatcher) forget(runID string) {
	sc.mu.Lock()
	delete(sc.active, runID)
	sc.mu.Unlock()
}

// Cancel stops an active run's process; false when the run holds none here.
func (sc *Dispatcher) Cancel(runID string) bool {
	return sc.stopWith(runID, executor.ErrCancelled)
}

// stopWith cancels an active run's context with cause; false when the run
// holds no process here.
func (sc *Dispatcher) stopWith(runID string, cause error) bool {
	sc.mu.Lock()
	c, ok := sc.active[runID]
	sc.mu.Unlock()
	if ok {
		c(cause)
	}
	return ok
}

func (sc *Dispatcher) execute(ctx context.Context, r store.Run) {
	defer sc.wg.Done()
	defer func() {
		sc.forget(r.ID)
		sc.Wake()
	}()
	status := api.StatusFailed
	// The decrypted configuration goes as soon as the run folder holds it,
	// and whatever happens.
	defer sc.host.RemoveRunConfiguration(r.ID)
	job, err := sc.job(r)
	var app App
	if err == nil {
		app, err = sc.openApp(r, &job) // interactive runs: a port and a proxy entry
	}
	if err != nil {
		sc.log.Error("prepare run", "run", r.ID, "error", err)
		if lerr := appendLogLine(sc.host.LogPath(r.ID), err.Error()); lerr != nil {
			sc.log.Error("write run log", "run", r.ID, "error", lerr)
		}
		sc.host.LogAppended(r.ID)
	} else {
		res := sc.exec.Run(ctx, job, executor.Hooks{
			OnStatus: func(st api.RunStatus) {
				if st == api.StatusStarting {
					return // ClaimRun did it
				}
				if app != nil && st == api.StatusRunning {
					app.Ready()
				}
				if err := sc.st.AdvanceRun(sc.storeCtx, r.ID, st); err != nil {
					sc.log.Error("record run status", "run", r.ID, "status", st, "error", err)
				}
				sc.host.StatusChanged(r.ID)
			},
			OnLog: func() { sc.host.LogAppended(r.ID) },
			OnInstallStarted: func(pgid int) {
				sc.host.RemoveRunConfiguration(r.ID)
				if err := sc.st.SetRunPGID(sc.storeCtx, r.ID, pgid); err != nil {
					sc.log.Error("record run process group", "run", r.ID, "error", err)
				}
			},
			OnStarted: func(pgid int) {
				sc.host.RemoveRunConfiguration(r.ID)
				if err := sc.st.SetRunPGID(sc.storeCtx, r.ID, pgid); err != nil {
					sc.log.Error("record run process group", "run", r.ID, "error", err)
				}
			},
		})
		if app != nil {
			app.Close()
		}
		status = res.Status
		sc.log.Info("run ended", "run", r.ID, "status", res.Status, "reason", res.Reason)
	}
	if _, err := sc.st.FinishRun(sc.storeCtx, r.ID, status); err != nil && !errors.Is(err, store.ErrTerminal) {
		sc.log.Error("record run result", "run", r.ID, "error", err)
	}
	sc.host.StatusChanged(r.ID)
}

// job gathers what the executor needs for r: the packages of the run (not
// the latest ones: they may have changed since it was created) and the entry
// point of its script version.
func (sc *Dispatcher) job(r store.Run) (executor.Job, error) {
	ctx := sc.storeCtx
	dep, err := sc.st.PackageByID(ctx, store.KindDeployment, r.WorkspaceID, r.DeploymentID)
	if err != nil {
		return executor.Job{}, fmt.Errorf("find deployment %q of the run: %w", r.DeploymentID, err)
	}
	conf, err := sc.st.PackageByID(ctx, store.KindConfiguration, r.WorkspaceID, r.ConfigurationID)
	if err != nil {
		return executor.Job{}, fmt.Errorf("find configuration %q of the run: %w", r.ConfigurationID, err)
	}
	ver, err := sc.st.ScriptVersionByID(ctx, r.ScriptID, r.ScriptVersionID)
	if err != nil {
		return executor.Job{}, fmt.Errorf("find script version %q of the run: %w", r.ScriptVersionID, err)
	}
	confPath, secrets, err := sc.host.OpenRunConfiguration(r.ID, conf.Blob)
	if err != nil {
		return executor.Job{}, fmt.Errorf("configuration %q of the run: %w", r.ConfigurationID, err)
	}
	return executor.Job{
		RunID:         r.ID,
		WorkspaceID:   r.WorkspaceID,
		Profile:       r.Profile,
		EntryPoint:    ver.EntryPoint,
		Deployment:    sc.host.PackagePath(dep.Blob),
		Configuration: confPath,
		Redact:        secrets,
		LogPath:       sc.host.LogPath(r.ID),
		Interactive:   ver.ScriptType == api.ScriptInteractive,

		DeploymentHash: dep.ContentHash,
	}, nil
}

// openApp gives an interactive job its port and registers its app; it
// returns nil for a batch job. The caller closes the app when the run ends.
func (sc *Dispatcher) openApp(r store.Run, job *executor.Job) (App, error) {
	if !job.Interactive {
		return nil, nil
	}
	scr, err := sc.st.ScriptByID(sc.storeCtx, r.WorkspaceID, r.ScriptID)
	if err != nil {
		return nil, fmt.Errorf("find script of the run: %w", err)
	}
	a, err := sc.host.OpenApp(r.ID, r.WorkspaceID, scr.Name, func(cause error) { sc.stopWith(r.ID, cause) })
	if err != nil {
		return nil, err
	}
	job.Port = a.Port()
	job.AppSocket = a.Socket()
	job.ReadyTimeout = sc.appReady
	return a, nil
}

// Close stops the dispatcher and every active run, and waits for them.
func (sc *Dispatcher) Close() {
	sc.stop(errStopped)
	<-sc.loopDone
	sc.wg.Wait()
}
