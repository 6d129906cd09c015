package action

import (
	"os"
	"strings"
	"testing"
)

// TestRunMarker: a run the main step waits for is left in a marker, which
// the post step reads when the runner gave it no state (act, when the
// workflow is cancelled), and which is gone once the main step ended on its
// own.
func TestRunMarker(t *testing.T) {
	home := t.TempDir()
	vars := env{"GITHUB_RUN_ID": "77", "GITHUB_RUN_ATTEMPT": "1", "GITHUB_JOB": "deploy", "GITHUB_ACTION": "runtime", "RUNNER_TEMP": home}
	a, _ := newAction(t, vars)
	st := runState{RunID: "0b9c1f4e-3a55-4c7e-9d1a-6f1e2b3c4d5e", WorkspaceID: "ws-1", APIURL: "http://127.0.0.1:1"}
	if err := saveRunMarker(a, st); err != nil {
		t.Fatal(err)
	}
	p := runMarkerPath(vars.get)
	if !strings.HasPrefix(p, home+"/runtime-action-77-1-deploy-runtime") {
		t.Fatalf("marker at %q", p)
	}

	get, marker := postGetenv(vars.get)
	if marker != p || get("STATE_run_id") != st.RunID || get("STATE_workspace_id") != "ws-1" || get("STATE_api_url") != st.APIURL || get("STATE_run_settled") != "false" {
		t.Errorf("post step state from the marker: %q %q %q %q", get("STATE_run_id"), get("STATE_workspace_id"), get("STATE_api_url"), marker)
	}

	// The runner's state wins over the marker.
	withState := env{"STATE_run_id": "from-the-runner"}
	for k, v := range vars {
		withState[k] = v
	}
	if get, marker := postGetenv(withState.get); get("STATE_run_id") != "from-the-runner" || marker != "" {
		t.Errorf("the marker overrode the runner's state")
	}

	removeRunMarker(a)
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Errorf("the marker is still there: %v", err)
	}
	if get, _ := postGetenv(vars.get); get("STATE_run_id") != "" {
		t.Errorf("state without a marker: %q", get("STATE_run_id"))
	}
}
