package action

import (
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestRenderSummary(t *testing.T) {
	d := 95 * time.Second
	md := renderSummary(summaryData{
		Status: "completed", RunID: "3f6c", RunNumber: 12, Script: "pipelines/load.py",
		ScriptURL: "https://runtime.example.com/scripts/load", Profile: "prod",
		Deployment:    &packageResult{ID: "d1", Version: 3, Changed: true},
		Configuration: &packageResult{ID: "c1", Version: 2, Changed: false},
		Duration:      &d,
		LogTail:       []string{"loading", "done"},
	})
	for _, want := range []string{
		"### ✅ pipelines/load.py: run #12 completed",
		"| Status | `completed` |",
		"| Run | `3f6c` (#12) |",
		"| Script | [pipelines/load.py](https://runtime.example.com/scripts/load) |",
		"| Profile | `prod` |",
		"| Deployment | version 3, **new** (content changed) |",
		"| Configuration | version 2, unchanged |",
		"| Duration | 1m35s |",
		"<details><summary>Last 2 log lines</summary>\n\n```text\nloading\ndone\n```\n\n</details>",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("summary lacks %q:\n%s", want, md)
		}
	}
}

func TestRenderSummaryOneLogLine(t *testing.T) {
	md := renderSummary(summaryData{Status: "failed", LogTail: []string{"boom"}})
	if !strings.Contains(md, "### ❌ Run: failed") || !strings.Contains(md, "<summary>Last log line</summary>") {
		t.Errorf("summary:\n%s", md)
	}
}

func TestRenderSummarySyncOnly(t *testing.T) {
	md := renderSummary(summaryData{Profile: "prod", Deployment: &packageResult{Version: 2, Changed: true}, Configuration: &packageResult{Version: 1}})
	if !strings.HasPrefix(md, "### ✅ Deployment and configuration synced\n") || !strings.Contains(md, "| Deployment | version 2, **new** (content changed) |") {
		t.Errorf("summary:\n%s", md)
	}
}

func TestRenderSummaryFailureEarly(t *testing.T) {
	md := renderSummary(summaryData{Error: "upload deployment: <b>boom</b> | x", Profile: "prod"})
	if !strings.Contains(md, "### ❌ runtime-action failed") || !strings.Contains(md, "&lt;b&gt;boom&lt;/b&gt; \\| x") {
		t.Errorf("summary:\n%s", md)
	}
	if strings.Contains(md, "<details>") || strings.Contains(md, "| Run |") {
		t.Errorf("unknown fields must be left out:\n%s", md)
	}
}

func TestRenderSummaryEscapesServerValues(t *testing.T) {
	md := renderSummary(summaryData{Status: "failed", Script: "a|b<img src=x>[c](d)", ScriptURL: "javascript:alert(1)"})
	// Inside a code span HTML and links are literal text.
	if !strings.Contains(md, "| Script | `a\\|b<img src=x>[c](d)` |") || strings.Contains(md, "javascript") {
		t.Errorf("server values must not inject markdown or HTML:\n%s", md)
	}
}

// TestRenderSummaryFenceHoldsBackticks: the log cannot close the code block
// and inject markdown into the summary.
func TestRenderSummaryFenceHoldsBackticks(t *testing.T) {
	log := []string{"```", "</details>", "# injected heading", "``````` seven", "~~~"}
	md := renderSummary(summaryData{Status: "failed", LogTail: log})
	fence := strings.Repeat("`", 8)
	if !strings.Contains(md, "\n"+fence+"text\n"+strings.Join(log, "\n")+"\n"+fence+"\n") {
		t.Errorf("the log must sit inside an 8-backtick fence:\n%s", md)
	}
}

func TestRenderSummarySizeCap(t *testing.T) {
	for _, tc := range []struct {
		name  string
		lines []string
	}{
		{"many long lines", repeatLines(300, 20_000)},
		{"one huge line among short ones", append(append(repeatLines(50, 10), strings.Repeat("é", 3<<20)), repeatLines(49, 10)...)},
		{"huge backtick run", []string{strings.Repeat("`", 2<<20), "last"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			md := renderSummary(summaryData{Status: "completed", RunID: "r", LogTail: tc.lines})
			if len(md) > maxSummaryBytes {
				t.Fatalf("summary is %d bytes, over %d", len(md), maxSummaryBytes)
			}
			if !utf8.ValidString(md) {
				t.Error("the summary was cut inside a character")
			}
			if !strings.HasSuffix(md, "</details>\n") || !strings.Contains(md, "| Run | `r` |") {
				t.Errorf("lines must be dropped before the summary's frame: ends %q", md[max(0, len(md)-200):])
			}
			last := tc.lines[len(tc.lines)-1]
			if len(last) < 100 && !strings.Contains(md, last+"\n") {
				t.Error("the newest line must be kept")
			}
		})
	}
	md := renderSummary(summaryData{Status: "completed", LogTail: repeatLines(300, 20_000)})
	if !strings.Contains(md, "more left out to fit the summary") {
		t.Error("the summary must say lines were left out")
	}
}

func repeatLines(n, size int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%04d %s", i, strings.Repeat("x", size))
	}
	return out
}

func TestRenderPlan(t *testing.T) {
	md := renderPlan(planData{
		Script: "pipelines/load.py", Profile: "prod",
		Packages: []packagePlan{
			{Name: "deployment", Changed: true, LatestVersion: 4,
				Files: []string{"pipelines/load.py", "pipelines/new.py", "requirements.txt"}, LatestFiles: []string{"pipelines/load.py", "old.py", "requirements.txt"}},
			{Name: "configuration", Changed: false, LatestVersion: 2, Files: []string{"config.toml"}, LatestFiles: []string{"config.toml"}},
		},
	})
	for _, want := range []string{
		"**deployment**: changed, version 5 would be uploaded (latest is 4; 1 added, 1 removed)",
		"```diff\n+ pipelines/new.py\n```", "```diff\n- old.py\n```",
		"**configuration**: unchanged (version 2)",
		"Nothing was uploaded and nothing was run.",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("plan lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(md, "requirements.txt") || strings.Contains(md, "config.toml") {
		t.Errorf("files present on both sides are not listed:\n%s", md)
	}
}

func TestRenderPlanNewAndSameFiles(t *testing.T) {
	md := renderPlan(planData{Packages: []packagePlan{
		{Name: "deployment", LatestVersion: 0, Files: []string{"a.py", "b.py"}},
		{Name: "configuration", Changed: true, LatestVersion: 1, Files: []string{"secrets.toml"}, LatestFiles: []string{"secrets.toml"}},
	}})
	for _, want := range []string{
		"**deployment**: new, version 1 would be uploaded (2 files)\n\n```diff\n+ a.py\n+ b.py\n```",
		"**configuration**: changed, version 2 would be uploaded (latest is 1; 0 added, 0 removed, same files with new content)",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("plan lacks %q:\n%s", want, md)
		}
	}
}

func TestRenderPlanFitsAComment(t *testing.T) {
	var files []string
	for i := range 5000 {
		files = append(files, fmt.Sprintf("data/%05d-%s.csv", i, strings.Repeat("n", 200)))
	}
	md := renderPlan(planData{Packages: []packagePlan{{Name: "deployment", Changed: true, LatestVersion: 1, Files: files}}})
	if !strings.Contains(md, "+ … and 4950 more") {
		t.Errorf("long lists must be cut:\n%.500s", md)
	}
	if len(md)+len(commentMarker)+1 > maxCommentBytes {
		t.Errorf("plan is %d bytes, too long for a comment", len(md))
	}
}
