package action

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/dlthub/runtime-action/internal/deploy"
	"github.com/sethvargo/go-githubactions"
)

// postEntrypoint is the name of the post step's entrypoint: a symbolic link
// to the binary in the image (see the Dockerfile). The runner passes the
// main step's args (`action`) to the post step too, and a container action's
// post-entrypoint is a path without arguments, so the binary tells the two
// steps apart by the name it was started under (os.Args[0]).
const postEntrypoint = "runtime-action-post"

// IsPostStep reports whether argv0 (os.Args[0]) is the post entrypoint.
func IsPostStep(argv0 string) bool { return filepath.Base(argv0) == postEntrypoint }

// State keys saved for the post step, which sees them as STATE_<key>.
// Underscores rather than hyphens keep them valid shell variable names.
const (
	stateRunID       = "run_id"
	stateWorkspaceID = "workspace_id"
	stateAPIURL      = "api_url"
	stateSettled     = "run_settled"
)

// runState is what the post step needs to find a run the main step started.
type runState struct {
	RunID       string
	WorkspaceID string
	APIURL      string
}

// saveRunState records the run for the post step's backstop, once the run
// exists and the main step is going to wait for it. Without GITHUB_STATE it
// does nothing and reports false.
func saveRunState(a *githubactions.Action, st runState) (bool, error) {
	if a.Getenv("GITHUB_STATE") == "" {
		return false, nil
	}
	for _, kv := range [][2]string{
		{stateRunID, st.RunID}, {stateWorkspaceID, st.WorkspaceID}, {stateAPIURL, st.APIURL}, {stateSettled, "false"},
	} {
		if err := fileCommand(func() { a.SaveState(kv[0], kv[1]) }, kv[1]); err != nil {
			return false, fmt.Errorf("save state %q: %w", kv[0], err)
		}
	}
	return true, nil
}

// settleRunState tells the post step to leave the run alone: the main step
// saw it end, cancelled it, or leaves it running on purpose (cancel-on-timeout
// false). Later state lines override earlier ones.
func settleRunState(a *githubactions.Action) error {
	if a.Getenv("GITHUB_STATE") == "" {
		return nil
	}
	if err := fileCommand(func() { a.SaveState(stateSettled, "true") }, ""); err != nil {
		return fmt.Errorf("save state %q: %w", stateSettled, err)
	}
	return nil
}

// readRunState reads, in the post step, the run the main step left behind
// unsettled; ok is false when there is none.
func readRunState(a *githubactions.Action) (st runState, ok bool) {
	get := func(k string) string { return a.Getenv("STATE_" + k) }
	st = runState{RunID: get(stateRunID), WorkspaceID: get(stateWorkspaceID), APIURL: get(stateAPIURL)}
	ok = st.RunID != "" && st.WorkspaceID != "" && get(stateSettled) != "true"
	return st, ok
}

// post is the post step: when the main step registered a run it did not
// settle (it was killed while waiting, before it could cancel the run),
// connect builds a client for the saved Runtime and the run is cancelled if
// it is not terminal. It prints one line saying what it did.
func post(ctx context.Context, a *githubactions.Action, connect func(context.Context, runState) (deploy.RunCanceller, error), limit time.Duration) error {
	st, ok := readRunState(a)
	if !ok {
		a.Infof("%s", "runtime-action post: no run left to clean up")
		return nil
	}
	c, err := connect(ctx, st)
	if err != nil {
		return fmt.Errorf("post step: connect to the Runtime to cancel run %q: %w", st.RunID, err)
	}
	gctx, stop := context.WithTimeout(ctx, limit)
	run, err := c.GetRun(gctx, st.WorkspaceID, st.RunID)
	stop()
	if err != nil {
		return fmt.Errorf("post step: look up run %q: %w", st.RunID, err)
	}
	if run.Status.Terminal() {
		a.Infof("runtime-action post: run %s is %s, nothing to cancel", st.RunID, run.Status)
		return nil
	}
	before := run.Status
	run, err = deploy.CancelDetached(ctx, c, st.WorkspaceID, st.RunID, limit)
	if err != nil {
		return fmt.Errorf("post step: %w", err)
	}
	notice(a, "Run cancelled", fmt.Sprintf("The job ended while run %s (#%d) was %s: the post step cancelled it (now %s).",
		st.RunID, run.Number, before, run.Status))
	return nil
}
