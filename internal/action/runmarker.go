package action

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"

	"github.com/sethvargo/go-githubactions"
)

// The post step learns about the main step's run from GITHUB_STATE, which
// the runner reads when the main step ends. act does not read it when the
// workflow is cancelled (it stops waiting for the main step's container and
// goes on to the post step), so the main step also leaves a run marker: a
// small file in the folder the logs file goes to (LogDir), which the main
// and post steps' containers both mount. The post step falls back to it
// when the runner gave it no state, and removes it.

// runMarker is the marker's content.
type runMarker struct {
	RunID       string `json:"run_id"`
	WorkspaceID string `json:"workspace_id"`
	APIURL      string `json:"api_url"`
}

var markerUnsafe = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// runMarkerPath names the marker of this step of this job's run, or "" when
// the variables naming it are missing.
func runMarkerPath(getenv func(string) string) string {
	run, job, step := getenv("GITHUB_RUN_ID"), getenv("GITHUB_JOB"), getenv("GITHUB_ACTION")
	if run == "" || job == "" || step == "" {
		return ""
	}
	name := fmt.Sprintf("runtime-action-%s-%s-%s-%s.run", run, getenv("GITHUB_RUN_ATTEMPT"), job, step)
	return filepath.Join(runLogDir(getenv).Dir, markerUnsafe.ReplaceAllString(name, "_"))
}

// saveRunMarker leaves the marker of a run the main step waits for.
func saveRunMarker(a *githubactions.Action, st runState) error {
	p := runMarkerPath(a.Getenv)
	if p == "" {
		return nil
	}
	b, _ := json.Marshal(runMarker(st))
	if err := os.WriteFile(p, b, 0o600); err != nil {
		return fmt.Errorf("save the run for the post step: %w", err)
	}
	return nil
}

// removeRunMarker removes the marker once the main step ended on its own:
// the runner then passes GITHUB_STATE on, settled or not.
func removeRunMarker(a *githubactions.Action) {
	if p := runMarkerPath(a.Getenv); p != "" {
		os.Remove(p)
	}
}

// postGetenv answers the post step's STATE_ variables from the run marker
// when the runner gave none, and reports the marker's path (to remove) or
// "".
func postGetenv(getenv func(string) string) (func(string) string, string) {
	if getenv("STATE_"+stateRunID) != "" {
		return getenv, ""
	}
	p := runMarkerPath(getenv)
	if p == "" {
		return getenv, ""
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return getenv, ""
	}
	var m runMarker
	if json.Unmarshal(b, &m) != nil || m.RunID == "" {
		return getenv, p
	}
	state := map[string]string{
		"STATE_" + stateRunID: m.RunID, "STATE_" + stateWorkspaceID: m.WorkspaceID,
		"STATE_" + stateAPIURL: m.APIURL, "STATE_" + stateSettled: "false",
	}
	return func(k string) string {
		if v, ok := state[k]; ok {
			return v
		}
		return getenv(k)
	}, p
}

// newPostAction is newStepAction for the post step, with the run marker's
// state when the runner gave none; done removes the marker.
func newPostAction(env Env) (a *githubactions.Action, done func()) {
	get, marker := postGetenv(containerGetenv(env.Getenv, readMountInfo))
	a = githubactions.New(githubactions.WithWriter(newSafeWriter(env.Stdout)), githubactions.WithGetenv(get))
	return a, func() {
		if marker != "" {
			if err := os.Remove(marker); err != nil && !errors.Is(err, fs.ErrNotExist) {
				a.Warningf("remove %s: %v", marker, err)
			}
		}
	}
}
