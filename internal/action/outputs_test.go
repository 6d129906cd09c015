package action

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestWriteOutputs(t *testing.T) {
	d := 61*time.Second + 600*time.Millisecond
	no := false
	for _, tc := range []struct {
		name string
		o    Outputs
		want map[string]string
	}{
		{"failed before the run", Outputs{DeploymentID: "dep-1", DeploymentVersion: 4, DeploymentChanged: &no},
			map[string]string{"deployment-id": "dep-1", "deployment-version": "4", "deployment-changed": "false"}},
		{"finished run", Outputs{RunID: "run-1", RunNumber: 7, Status: "failed", Duration: &d, LogsFile: "/tmp/x.log"},
			map[string]string{"run-id": "run-1", "run-number": "7", "status": "failed", "duration": "62", "logs-file": "/tmp/x.log"}},
		{"multi-line value", Outputs{ScriptURL: "https://a\nline two\n\nline=four"},
			map[string]string{"script-url": "https://a\nline two\n\nline=four"}},
		{"nothing known", Outputs{}, map[string]string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := withFiles(t, env{})
			a, out := newAction(t, e)
			if _, err := WriteOutputs(a, tc.o); err != nil {
				t.Fatal(err)
			}
			if got := readFileCommands(t, e["GITHUB_OUTPUT"]); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("outputs = %q, want %q", got, tc.want)
			}
			if out.String() != "" {
				t.Errorf("outputs must not go to stdout: %q", out.String())
			}
		})
	}
}

func TestWriteOutputsWithoutGitHub(t *testing.T) {
	a, out := newAction(t, env{})
	names, err := WriteOutputs(a, Outputs{RunID: "r"})
	if err != nil || names != nil || out.String() != "" {
		t.Errorf("without GITHUB_OUTPUT: names %v, err %v, stdout %q; want nothing", names, err, out.String())
	}
	ok, err := WriteSummary(a, nil, "# hi")
	if ok || err != nil {
		t.Errorf("without GITHUB_STEP_SUMMARY: %v %v", ok, err)
	}
}

func TestWriteOutputsRefusesTheDelimiter(t *testing.T) {
	e := withFiles(t, env{})
	a, _ := newAction(t, e)
	_, err := WriteOutputs(a, Outputs{RunID: "ok", ScriptURL: "x\n" + fileCommandDelimiter + "\nstatus<<EOF\ncompleted\nEOF"})
	if err == nil || !strings.Contains(err.Error(), `write output "script-url"`) {
		t.Fatalf("err = %v, want the script-url output refused", err)
	}
	got := readFileCommands(t, e["GITHUB_OUTPUT"])
	if _, injected := got["status"]; injected || got["run-id"] != "ok" {
		t.Errorf("outputs = %q", got)
	}
}

func TestWriteOutputsUnwritableFile(t *testing.T) {
	e := env{"GITHUB_OUTPUT": filepath.Join(t.TempDir(), "no", "such", "dir", "out")}
	a, _ := newAction(t, e)
	_, err := WriteOutputs(a, Outputs{RunID: "r"})
	if err == nil || !strings.Contains(err.Error(), `write output "run-id"`) {
		t.Errorf("err = %v, want an error (not a panic) naming the output", err)
	}
}

func TestWriteSummaryAppends(t *testing.T) {
	e := withFiles(t, env{})
	a, _ := newAction(t, e)
	for _, md := range []string{"# one", "# two"} {
		if ok, err := WriteSummary(a, nil, md); !ok || err != nil {
			t.Fatal(ok, err)
		}
	}
	b, _ := os.ReadFile(e["GITHUB_STEP_SUMMARY"])
	if string(b) != "# one\n# two\n" {
		t.Errorf("summary = %q", b)
	}
}
