package action

import (
	"errors"
	"strings"
	"testing"

	"github.com/dlthub/runtime-action/internal/api"
)

// TestRunFailureQuotesTheLog: the annotation of a failed run is what the
// run's page shows first, so it quotes the last lines of the log.
func TestRunFailureQuotesTheLog(t *testing.T) {
	run := func(st api.RunStatus) *api.DetailedRun {
		return &api.DetailedRun{Run: api.Run{Number: 3, Status: st}, Script: api.Script{ScriptFields: api.ScriptFields{Name: "load.py"}}}
	}
	for _, tc := range []struct {
		name      string
		status    api.RunStatus
		tail      []string
		title     string
		want, not []string
	}{
		{"completed", api.StatusCompleted, nil, "", nil, nil},
		{"no log", api.StatusFailed, nil, "Run failed", []string{`run #3 of "load.py" failed`, `"Logs" group`}, []string{"Last"}},
		{"one line", api.StatusFailed, []string{"boom"}, "Run failed", []string{"Last line of its log:\nboom\n\n"}, nil},
		{"the last five", api.StatusFailed, []string{"1", "2", "3", "4", "5", "6", "7"}, "Run failed",
			[]string{"Last 5 lines of its log:\n3\n4\n5\n6\n7\n\n"}, []string{"\n2\n"}},
		{"skipped", api.StatusSkipped, nil, "Run skipped", []string{"skipped"}, nil},
		{"cancelled", api.StatusCancelled, []string{"x"}, "Run cancelled", []string{"was cancelled"}, []string{"Last"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := runFailure(run(tc.status), tc.tail)
			if tc.title == "" {
				if err != nil {
					t.Fatalf("error %v", err)
				}
				return
			}
			var f *failure
			if !errors.As(err, &f) || f.Title != tc.title {
				t.Fatalf("error %#v, want title %q", err, tc.title)
			}
			msg := f.Err.Error() + "\n\n" + f.Fix
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("annotation lacks %q:\n%s", w, msg)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(msg, n) {
					t.Errorf("annotation holds %q:\n%s", n, msg)
				}
			}
		})
	}
}
