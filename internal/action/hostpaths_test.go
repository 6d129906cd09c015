package action

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseMountInfo(t *testing.T) {
	info := "69 45 0:39 / / rw - overlay overlay rw\n" +
		"90 69 254:0 /root/.cache/act/c6/act /var/run/act rw,relatime - ext4 /dev/vda rw\n" +
		"91 69 254:0 /home/me/my\\040repo /tmp/my\\040repo rw - ext4 /dev/vda rw\n"
	got := parseMountInfo([]byte(info))
	want := []bindMount{{"/", "/"}, {"/root/.cache/act/c6/act", "/var/run/act"}, {"/home/me/my repo", "/tmp/my repo"}}
	if len(got) != len(want) {
		t.Fatalf("mounts = %q", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("mount %d = %q, want %q", i, got[i], want[i])
		}
	}
}

// TestContainerGetenvUnderAct: act passes the host's paths to a container
// action and mounts their folder elsewhere; the file commands and the logs
// file must go through the mount, and logs-file must name the host's path.
func TestContainerGetenvUnderAct(t *testing.T) {
	here := t.TempDir() // the mount point, as this process sees it
	if err := os.MkdirAll(filepath.Join(here, "workflow"), 0o755); err != nil {
		t.Fatal(err)
	}
	hostAct := "/no/such/host/.cache/act/c6/act"
	mounts := func() []bindMount { return []bindMount{{"/", "/"}, {hostAct, here}} }
	vars := env{
		"GITHUB_OUTPUT":       hostAct + "/workflow/outputcmd.txt",
		"GITHUB_STEP_SUMMARY": hostAct + "/workflow/SUMMARY.md",
		"GITHUB_EVENT_PATH":   hostAct + "/workflow/event.json",
		"GITHUB_WORKSPACE":    "/no/such/host/workspace",
		"RUNNER_TEMP":         os.TempDir(), // act sets /tmp, which exists in the image too
		"HOME":                "/root",
	}
	get := containerGetenv(vars.get, mounts)
	for k, want := range map[string]string{
		"GITHUB_OUTPUT":       here + "/workflow/outputcmd.txt",
		"GITHUB_STEP_SUMMARY": here + "/workflow/SUMMARY.md",
		"GITHUB_EVENT_PATH":   here + "/workflow/event.json",
		"GITHUB_WORKSPACE":    "/no/such/host/workspace", // not a file command
		hostFileCommandsDir:   hostAct + "/workflow",
	} {
		if got := get(k); got != want {
			t.Errorf("%q = %q, want %q", k, got, want)
		}
	}
	loc := logDir(get, filepath.Join(t.TempDir(), "github-home"))
	if loc.Dir != here+"/workflow" || loc.HostDir != hostAct+"/workflow" {
		t.Errorf("logs file location = %+v, want the mounted folder, named by its host path", loc)
	}

	// On GitHub's runner (or the host), the paths exist: nothing changes.
	vars["GITHUB_OUTPUT"] = filepath.Join(here, "out")
	if got := get("GITHUB_OUTPUT"); got != vars["GITHUB_OUTPUT"] || get(hostFileCommandsDir) != "" {
		t.Errorf("an existing path was translated: %q", got)
	}
}

// TestRunLogFile: the logs file is readable by the job's later steps (they
// run as another user than the container), and when it cannot be created
// the log still reaches the job log.
func TestRunLogFile(t *testing.T) {
	var out strings.Builder
	dir := t.TempDir()
	rl, err := newRunLog(&out, newMasker(actionTo(&out)), logLocation{Dir: dir, HostDir: "/host/dir"}, 10)
	if err != nil {
		t.Fatal(err)
	}
	rl.Write([]byte("hello\n"))
	if err := rl.Close(); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(rl.Path(), "/host/dir/runtime-action-run-") {
		t.Errorf("path = %q, want it under the host's folder", rl.Path())
	}
	fi, err := os.Stat(filepath.Join(dir, filepath.Base(rl.Path())))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("logs file mode = %v, want 0644", fi.Mode().Perm())
	}

	out.Reset()
	rl, err = newRunLog(&out, newMasker(actionTo(&out)), logLocation{Dir: filepath.Join(dir, "missing"), HostDir: "/h"}, 10)
	if err == nil || rl == nil {
		t.Fatalf("NewRunLog in a missing folder = %v, %v; want a usable log and an error", rl, err)
	}
	rl.Write([]byte("still streamed\n"))
	if err := rl.Close(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "still streamed\n") || rl.Path() != "" {
		t.Errorf("without a file: stdout %q, path %q; want the line streamed and no path", out.String(), rl.Path())
	}
}
