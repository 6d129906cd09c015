package server

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dlthub/runtime-action/internal/api"
	"github.com/dlthub/runtime-action/internal/dispatch"
)

// faultScript prints its start once, then a numbered line every 100 ms, 20
// in all; a child of its own sleeps meanwhile, so that a killed server
// leaves a process behind for the next one to clean up.
const faultScript = `import os, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
print("START", os.environ["RUNTIME__RUN_ID"], flush=True)
for i in range(20):
    print("LINE", i, flush=True)
    time.sleep(0.1)
child.kill()
`

// TestServerKilledTenTimes starts runs on a serve process and kills it with
// SIGKILL, ten times in a row, each time starting it again on the same data
// dir; some runs are active at each kill, some still pending. Then: no run
// is left active, none started twice, every log still holds what it held
// just before each kill, its lines without a gap, and no process of any run
// is left.
func TestServerKilledTenTimes(t *testing.T) {
	t.Parallel()
	const (
		kills     = 10
		perCycle  = 4 // with 3 at most running, one more waits pending at each kill
		maxActive = "3"
	)
	dir := t.TempDir()
	logOf := func(id string) string {
		b, err := os.ReadFile(filepath.Join(dir, logsDir, id+".log"))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		return string(b)
	}
	cmd, e := serveProcessEnv(t, dir, "--max-concurrent-runs", maxActive)
	e.deploy(t, map[string]string{"fault.py": faultScript}, "fault.py")

	var ids []string
	// before[id] is each log as read just before each kill.
	before := map[string][]string{}
	began := time.Now()
	for k := range kills {
		if k > 0 {
			cmd, e.url = serveProcess(t, dir, "--max-concurrent-runs", maxActive)
		}
		for range perCycle {
			ids = append(ids, e.startRun(t, "fault.py").ID)
		}
		// Let the runs get going: wait until a script is running (its START
		// is in its log; a fixed sleep may end before any python starts on
		// a busy machine), then a little longer each time, so that kills
		// fall at different points of a run's life.
		waitRunning := time.Now().Add(60 * time.Second)
		for !scriptRunning(ids, logOf) {
			if time.Now().After(waitRunning) {
				t.Fatalf("no script running 60s after server start %d", k+1)
			}
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(time.Duration(40*k) * time.Millisecond)
		for _, id := range ids {
			before[id] = append(before[id], logOf(id))
		}
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()
	}
	// The last start runs what is still pending to its end.
	_, e.url = serveProcess(t, dir, "--max-concurrent-runs", "64")
	deadline := time.Now().Add(60 * time.Second)
	for _, id := range ids {
		e.waitRun(t, id, time.Until(deadline), terminal)
	}
	t.Logf("%d kills and restarts, %d runs, in %s", kills, len(ids), time.Since(began).Round(time.Millisecond))

	var list api.Page[api.Run]
	for _, s := range []api.RunStatus{api.StatusPending, api.StatusStarting, api.StatusRunning, api.StatusFinalizing, api.StatusCancelling} {
		e.get(t, e.wsPath("/runs?status="+string(s))).decode(t, &list)
		if list.Total != 0 {
			t.Errorf("%d runs still %s", list.Total, s)
		}
	}

	line := regexp.MustCompile(`^LINE (\d+)$`)
	counts := map[string]int{}
	for _, id := range ids {
		var run api.DetailedRun
		e.get(t, e.wsPath("/runs/", id)).decode(t, &run)
		log := logOf(id)
		for _, b := range before[id] {
			if !strings.HasPrefix(log, b) {
				t.Errorf("run %s: the log lost text it held before a kill:\nbefore %q\nnow    %q", id, b, log)
			}
		}
		starts := strings.Count(log, "START "+id+"\n")
		restarts := strings.Count(log, dispatch.RestartLine+"\n")
		next := 0
		for _, l := range strings.Split(strings.TrimSuffix(log, "\n"), "\n") {
			if m := line.FindStringSubmatch(l); m != nil {
				if n, _ := strconv.Atoi(m[1]); n != next {
					t.Errorf("run %s: LINE %d where LINE %d was due:\n%s", id, n, next, log)
				}
				next++
			}
		}
		switch {
		case starts > 1:
			t.Errorf("run %s started %d times:\n%s", id, starts, log)
		case restarts > 1:
			t.Errorf("run %s was ended by %d restarts:\n%s", id, restarts, log)
		case run.Status == api.StatusCompleted && (starts != 1 || next != 20 || restarts != 0):
			t.Errorf("run %s completed with %d starts, %d lines, %d restart lines:\n%s", id, starts, next, restarts, log)
		case run.Status == api.StatusFailed && restarts != 1:
			t.Errorf("run %s failed but not by a restart:\n%s", id, log)
		case run.Status != api.StatusCompleted && run.Status != api.StatusFailed:
			t.Errorf("run %s ended %s", id, run.Status)
		}
		if run.Status == api.StatusFailed && !strings.HasSuffix(log, dispatch.RestartLine+"\n") {
			t.Errorf("run %s: the restart line is not last:\n%s", id, log)
		}
		switch {
		case run.Status == api.StatusCompleted:
			counts["completed"]++
		case starts == 1:
			counts["killed while running"]++
		default:
			counts["killed before its script started"]++
		}
		counts["started once"] += starts
		counts["lines checked"] += next
		if pids := procsOfRun(t, id); len(pids) > 0 {
			t.Errorf("run %s: processes left: %s", id, describeProcs(pids))
			counts["processes left"] += len(pids)
		}
	}
	t.Logf("runs: %d; %s", len(ids), fmtCounts(counts))
	if counts["killed while running"] == 0 || counts["completed"] == 0 {
		t.Errorf("the kills did not hit both running and pending runs: %v", counts)
	}
}

// scriptRunning reports whether the script of one of the runs is running
// now: it printed its START and neither its last line nor the restart line.
func scriptRunning(ids []string, logOf func(string) string) bool {
	for _, id := range ids {
		log := logOf(id)
		if strings.Contains(log, "START "+id+"\n") && !strings.Contains(log, "LINE 19\n") && !strings.Contains(log, dispatch.RestartLine) {
			return true
		}
	}
	return false
}

// describeProcs tells what each process is: pid, state, parent, process
// group, session (from its stat) and command line.
func describeProcs(pids []int) string {
	var parts []string
	for _, p := range pids {
		st, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
		cl, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p))
		parts = append(parts, fmt.Sprintf("%q %q", strings.TrimSpace(string(st)), strings.ReplaceAll(string(cl), "\x00", " ")))
	}
	return strings.Join(parts, "; ")
}

func fmtCounts(c map[string]int) string {
	var parts []string
	for _, k := range []string{"completed", "killed while running", "killed before its script started", "started once", "lines checked", "processes left"} {
		parts = append(parts, fmt.Sprintf("%s: %d", k, c[k]))
	}
	return strings.Join(parts, ", ")
}
