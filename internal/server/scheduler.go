package server

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/dlthub/runtime-action/internal/api"
	"github.com/dlthub/runtime-action/internal/executor"
	"github.com/dlthub/runtime-action/internal/store"
)

// retryInterval is how soon the dispatcher tries again after the store
// failed it; otherwise it only wakes when a run is created or finishes.
const retryInterval = time.Second

// scheduler starts pending runs in creation order while fewer than max are
// active, one goroutine per run.
type scheduler struct {
	srv  *Server
	st   store.Store
	exec *executor.Executor
	max  int

	wakeC chan struct{}
	ctx   context.Context // cancelled with errServerStopped on close
	stop  context.CancelCauseFunc
	// storeCtx outlives ctx so that the results of stopped runs are written.
	storeCtx context.Context
	loopDone chan struct{}
	wg       sync.WaitGroup

	mu     sync.Mutex
	active map[string]context.CancelCauseFunc
}

func newScheduler(srv *Server, ex *executor.Executor) *scheduler {
	ctx, stop := context.WithCancelCause(context.Background())
	return &scheduler{
		srv: srv, st: srv.dir.store, exec: ex, max: srv.cfg.MaxConcurrentRuns,
		wakeC: make(chan struct{}, 1), ctx: ctx, stop: stop, storeCtx: context.Background(),
		loopDone: make(chan struct{}), active: map[string]context.CancelCauseFunc{},
	}
}

func (sc *scheduler) start() {
	go sc.loop()
	sc.wake()
}

// wake makes the dispatcher look for pending runs; it never blocks.
func (sc *scheduler) wake() {
	select {
	case sc.wakeC <- struct{}{}:
	default:
	}
}

func (sc *scheduler) loop() {
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
			sc.srv.log.Error("dispatch pending runs", "error", err)
			retry = time.After(retryInterval)
		}
	}
}

func (sc *scheduler) free() int {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	return sc.max - len(sc.active)
}

// dispatch starts pending runs until the limit is reached or none is left.
func (sc *scheduler) dispatch() error {
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
			sc.srv.events.statusChanged(r.ID)
			sc.wg.Add(1)
			go sc.execute(ctx, r)
		}
	}
}

func (sc *scheduler) forget(runID string) {
	sc.mu.Lock()
	delete(sc.active, runID)
	sc.mu.Unlock()
}

// cancel stops an active run's process; false when the run holds none here.
func (sc *scheduler) cancel(runID string) bool {
	sc.mu.Lock()
	c, ok := sc.active[runID]
	sc.mu.Unlock()
	if ok {
		c(executor.ErrCancelled)
	}
	return ok
}

func (sc *scheduler) execute(ctx context.Context, r store.Run) {
	defer sc.wg.Done()
	defer func() {
		sc.forget(r.ID)
		sc.wake()
	}()
	status := api.StatusFailed
	// The decrypted configuration goes as soon as the run folder holds it,
	// and whatever happens (encryption.go).
	defer sc.srv.removeRunConfiguration(r.ID)
	job, err := sc.job(r)
	var app *liveApp
	if err == nil {
		app, err = sc.openApp(r, &job) // interactive runs: a port and a proxy entry (apps.go)
	}
	if err != nil {
		sc.srv.log.Error("prepare run", "run", r.ID, "error", err)
		if lerr := appendLogLine(sc.srv.logPath(r.ID), err.Error()); lerr != nil {
			sc.srv.log.Error("write run log", "run", r.ID, "error", lerr)
		}
		sc.srv.events.logAppended(r.ID)
	} else {
		res := sc.exec.Run(ctx, job, executor.Hooks{
			OnStatus: func(st api.RunStatus) {
				if st == api.StatusStarting {
					return // ClaimRun did it
				}
				sc.appStatus(app, st == api.StatusRunning)
				if err := sc.st.AdvanceRun(sc.storeCtx, r.ID, st); err != nil {
					sc.srv.log.Error("record run status", "run", r.ID, "status", st, "error", err)
				}
				sc.srv.events.statusChanged(r.ID)
			},
			OnLog: func() { sc.srv.events.logAppended(r.ID) },
			OnInstallStarted: func(pgid int) {
				sc.srv.removeRunConfiguration(r.ID)
				if err := sc.st.SetRunPGID(sc.storeCtx, r.ID, pgid); err != nil {
					sc.srv.log.Error("record run process group", "run", r.ID, "error", err)
				}
			},
			OnStarted: func(pgid int) {
				sc.srv.removeRunConfiguration(r.ID)
				if err := sc.st.SetRunPGID(sc.storeCtx, r.ID, pgid); err != nil {
					sc.srv.log.Error("record run process group", "run", r.ID, "error", err)
				}
			},
		})
		sc.closeApp(app)
		status = res.Status
		sc.srv.log.Info("run ended", "run", r.ID, "status", res.Status, "reason", res.Reason)
	}
	if _, err := sc.st.FinishRun(sc.storeCtx, r.ID, status); err != nil && !errors.Is(err, store.ErrTerminal) {
		sc.srv.log.Error("record run result", "run", r.ID, "error", err)
	}
	sc.srv.events.statusChanged(r.ID)
}

// job gathers what the executor needs for r: the packages of the run (not
// the latest ones: they may have changed since it was created) and the entry
// point of its script version.
func (sc *scheduler) job(r store.Run) (executor.Job, error) {
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
	confPath, secrets, err := sc.srv.openRunConfiguration(r.ID, conf.Blob)
	if err != nil {
		return executor.Job{}, fmt.Errorf("configuration %q of the run: %w", r.ConfigurationID, err)
	}
	return executor.Job{
		RunID:         r.ID,
		WorkspaceID:   r.WorkspaceID,
		Profile:       r.Profile,
		EntryPoint:    ver.EntryPoint,
		Deployment:    sc.srv.packagePath(dep.Blob),
		Configuration: confPath,
		Redact:        secrets,
		LogPath:       sc.srv.logPath(r.ID),
		Interactive:   ver.ScriptType == api.ScriptInteractive,

		DeploymentHash: dep.ContentHash,
	}, nil
}

// close stops the dispatcher and every active run, and waits for them.
func (sc *scheduler) close() {
	sc.stop(errServerStopped)
	<-sc.loopDone
	sc.wg.Wait()
}
