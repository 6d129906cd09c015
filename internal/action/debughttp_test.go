package action

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dlthub/runtime-action/internal/server"
)

// TestRunnerDebug: a job re-run with debug logging (RUNNER_DEBUG=1) gets a
// debug line per call to the Runtime, with no secret in it; a normal run
// gets none.
func TestRunnerDebug(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "ws")
	writeWorkspace(t, root, 1<<10)
	srv, err := server.Start(context.Background(), server.Config{DataDir: filepath.Join(dir, "data"), MaxConcurrentRuns: 1}, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	for _, debug := range []string{"1", ""} {
		vars := env{
			"GITHUB_ACTIONS": "true", "RUNNER_DEBUG": debug, "HOME": dir,
			"INPUT_SCRIPT": "job.py", "INPUT_WORKING-DIRECTORY": root, "INPUT_DRY-RUN": "true",
			"INPUT_API-URL": srv.URL, "INPUT_TOKEN": srv.AdminToken(),
		}
		var out strings.Builder
		if code := Main(context.Background(), Env{Stdout: &out, Getenv: vars.get, Cwd: dir}); code != 0 {
			t.Fatalf("RUNNER_DEBUG=%q: exit %d:\n%s", debug, code, out.String())
		}
		log := out.String()
		hasDebug := strings.Contains(log, "::debug::GET "+srv.URL+"/v1/me: 200 OK in ")
		if hasDebug != (debug == "1") {
			t.Errorf("RUNNER_DEBUG=%q: debug line present = %v:\n%s", debug, hasDebug, log)
		}
		if i := strings.Index(log, srv.AdminToken()); i >= 0 && !strings.HasPrefix(log[max(0, i-len("::add-mask::")):], "::add-mask::") {
			t.Errorf("the token is printed outside its mask:\n%s", log)
		}
	}
}
