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
		o    outputs
		want map[string]string
	}{
		{"failed before the run", outputs{DeploymentID: "7d2e8a10-1b2c-4d3e-8f90-a1b2c3d4e5f6", DeploymentVersion: 4, DeploymentChanged: &no},
			map[string]string{"deployment-id": "7d2e8a10-1b2c-4d3e-8f90-a1b2c3d4e5f6", "deployment-version": "4", "deployment-changed": "false"}},
		{"finished run", outputs{RunID: "0b9c1f4e-3a55-4c7e-9d1a-6f1e2b3c4d5e", RunNumber: 7, Status: "failed", Duration: &d, LogsFile: "/tmp/x.log"},
			map[string]string{"run-id": "0b9c1f4e-3a55-4c7e-9d1a-6f1e2b3c4d5e", "run-number": "7", "status": "failed", "duration": "62", "logs-file": "/tmp/x.log"}},
		{"a link", outputs{ScriptURL: "https://runtime.example/scripts/x?tab=runs"},
			map[string]string{"script-url": "https://runtime.example/scripts/x?tab=runs"}},
		{"nothing known", outputs{}, map[string]string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := withFiles(t, env{})
			a, out := newAction(t, e)
			if _, err := writeOutputs(a, tc.o); err != nil {
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
	names, err := writeOutputs(a, outputs{RunID: "r"})
	if err != nil || names != nil || out.String() != "" {
		t.Errorf("without GITHUB_OUTPUT: names %v, err %v, stdout %q; want nothing", names, err, out.String())
	}
	ok, err := writeSummary(a, nil, "# hi")
	if ok || err != nil {
		t.Errorf("without GITHUB_STEP_SUMMARY: %v %v", ok, err)
	}
}

func TestWriteOutputsRefusesTheDelimiter(t *testing.T) {
	e := withFiles(t, env{})
	a, _ := newAction(t, e)
	_, err := writeOutputs(a, outputs{RunID: "0b9c1f4e-3a55-4c7e-9d1a-6f1e2b3c4d5e", ScriptURL: "https://x/\n" + fileCommandDelimiter + "\nstatus<<EOF\ncompleted\nEOF"})
	if err == nil || !strings.Contains(err.Error(), `output script-url`) {
		t.Fatalf("err = %v, want the script-url output refused", err)
	}
	got := readFileCommands(t, e["GITHUB_OUTPUT"])
	if _, injected := got["status"]; injected || got["run-id"] != "0b9c1f4e-3a55-4c7e-9d1a-6f1e2b3c4d5e" {
		t.Errorf("outputs = %q", got)
	}
}

func TestWriteOutputsUnwritableFile(t *testing.T) {
	e := env{"GITHUB_OUTPUT": filepath.Join(t.TempDir(), "no", "such", "dir", "out")}
	a, _ := newAction(t, e)
	_, err := writeOutputs(a, outputs{RunID: "0b9c1f4e-3a55-4c7e-9d1a-6f1e2b3c4d5e"})
	if err == nil || !strings.Contains(err.Error(), `write output "run-id"`) {
		t.Errorf("err = %v, want an error (not a panic) naming the output", err)
	}
}

func TestWriteSummaryAppends(t *testing.T) {
	e := withFiles(t, env{})
	a, _ := newAction(t, e)
	for _, md := range []string{"# one", "# two"} {
		if ok, err := writeSummary(a, nil, md); !ok || err != nil {
			t.Fatal(ok, err)
		}
	}
	b, _ := os.ReadFile(e["GITHUB_STEP_SUMMARY"])
	if string(b) != "# one\n# two\n" {
		t.Errorf("summary = %q", b)
	}
}

// TestWriteOutputsValidates feeds values a Runtime could send: each bad one
// fails with an error naming the output, is not written, and leaves the
// good ones written.
func TestWriteOutputsValidates(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    outputs
		bad  string // the output named in the error
	}{
		{"run id with a newline", outputs{RunID: "0b9c1f4e-3a55-4c7e-9d1a-6f1e2b3c4d5e\nstatus=completed"}, "run-id"},
		{"run id not a uuid", outputs{RunID: "$(curl evil)"}, "run-id"},
		{"deployment id", outputs{DeploymentID: "dep"}, "deployment-id"},
		{"configuration id", outputs{ConfigurationID: "0b9c1f4e-3a55-4c7e-9d1a-6f1e2b3c4d5ex"}, "configuration-id"},
		{"status outside the enum", outputs{Status: "completed; rm -rf /"}, "status"},
		{"javascript link", outputs{ScriptURL: "javascript:alert(1)"}, "script-url"},
		{"link without host", outputs{ScriptURL: "https:///x"}, "script-url"},
		{"link with a space", outputs{ScriptURL: "https://x/a b"}, "script-url"},
		{"negative number", outputs{RunNumber: -3}, "run-number"},
		{"relative logs file", outputs{LogsFile: "logs/run.log"}, "logs-file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := withFiles(t, env{})
			a, _ := newAction(t, e)
			o := tc.o
			if o.DeploymentVersion == 0 {
				o.DeploymentVersion = 2 // a good value, written whatever happens
			}
			names, err := writeOutputs(a, o)
			if err == nil || !strings.Contains(err.Error(), "output "+tc.bad+":") {
				t.Fatalf("err = %v, want one naming %s", err, tc.bad)
			}
			got := readFileCommands(t, e["GITHUB_OUTPUT"])
			if _, written := got[tc.bad]; written {
				t.Errorf("%s was written: %q", tc.bad, got)
			}
			if got["deployment-version"] != "2" || !reflect.DeepEqual(names, []string{"deployment-version"}) {
				t.Errorf("the valid output was not written: %q, names %v", got, names)
			}
		})
	}
}
