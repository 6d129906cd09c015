package action

import (
	"strings"
	"testing"
)

// TestRenderPlanOlderClientCopy: the same content whose copy on the Runtime
// an older dlt client made is renewed, and the plan says so instead of
// calling it a change.
func TestRenderPlanOlderClientCopy(t *testing.T) {
	md := renderPlan(planData{Packages: []packagePlan{
		{Name: "deployment", Changed: true, OlderClientCopy: true, LatestVersion: 3, Files: []string{"a.py"}, LatestFiles: []string{"a.py"}},
	}})
	want := "**deployment**: the same content as version 3, but the Runtime's copy was made by an older client: version 4 would be uploaded"
	if !strings.Contains(md, want) || strings.Contains(md, "changed") || strings.Contains(md, "```diff") {
		t.Errorf("plan:\n%s\nwant %q and no change claimed", md, want)
	}
}
