package dispatch

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/dlthub/runtime-action/internal/api"
	"github.com/dlthub/runtime-action/internal/executor"
	"github.com/dlthub/runtime-action/internal/store"
)

// RestartLine is appended to the log of a run a previous server left active.
const RestartLine = "the server restarted while this run was active"

// Recover fails every run a previous server left active: its processes are
// killed (its recorded process group, checked by the run id in their
// environment so that a reused group id is left alone, then every process
// carrying the run id) and its log says why it ended. It runs before
// Start.
func (sc *Dispatcher) Recover(ctx context.Context) error {
	runs, err := sc.st.ActiveRuns(ctx)
	if err != nil {
		return fmt.Errorf("recover runs: %w", err)
	}
	for _, r := range runs {
		if r.PGID > 0 {
			if err := executor.KillGroup(r.PGID, r.ID); err != nil {
				sc.log.Warn("kill processes of an interrupted run", "run", r.ID, "error", err)
			}
		}
		// Then what the group does not hold, or what no recorded group
		// names: a sandbox orphaned while it was being set up, above all.
		if err := executor.KillRun(r.ID); err != nil {
			sc.log.Warn("kill processes of an interrupted run", "run", r.ID, "error", err)
		}
		if !sc.exec.KeepDirs {
			// Its folder holds the configuration's secrets: it goes with the run.
			if err := os.RemoveAll(filepath.Join(sc.exec.RunsDir, filepath.Base(r.ID))); err != nil {
				sc.log.Warn("remove the folder of an interrupted run", "run", r.ID, "error", err)
			}
		}
		if err := appendLogLine(sc.host.LogPath(r.ID), RestartLine); err != nil {
			sc.log.Warn("write log of an interrupted run", "run", r.ID, "error", err)
		}
		if _, err := sc.st.FinishRun(ctx, r.ID, api.StatusFailed); err != nil && !errors.Is(err, store.ErrTerminal) {
			return fmt.Errorf("recover run %q: %w", r.ID, err)
		}
		sc.log.Info("run failed: the server restarted while it was active", "run", r.ID)
	}
	return nil
}

// appendLogLine appends line to a log, on a line of its own.
func appendLogLine(path, line string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	prefix := ""
	if fi, err := f.Stat(); err == nil && fi.Size() > 0 {
		last := make([]byte, 1)
		if _, err := f.ReadAt(last, fi.Size()-1); err == nil && last[0] != '\n' {
			prefix = "\n"
		}
	}
	_, err = f.WriteString(prefix + line + "\n")
	return errors.Join(err, f.Sync(), f.Close())
}
