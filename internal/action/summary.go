package action

import (
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/dlthub/runtime-action/internal/api"
)

// maxSummaryBytes caps what the Action adds to the job summary: GitHub takes
// at most 1 MiB per step; a little is kept back for what else the step adds.
const maxSummaryBytes = 1<<20 - 16<<10

// packageResult is what became of one package (deployment or configuration).
type packageResult struct {
	ID      string
	Version int
	Changed bool // a new version was uploaded
}

// summaryData is what the job summary reports. Zero fields are unknown and
// left out, so a failure early on still gives a useful summary.
type summaryData struct {
	Status        api.RunStatus // "" when no run was started
	RunID         string
	RunNumber     int
	Script        string
	ScriptURL     string
	Profile       string
	Deployment    *packageResult
	Configuration *packageResult
	Duration      *time.Duration
	Error         string   // why the step failed, if it did (redacted by the caller)
	LogTail       []string // the last lines of the log, oldest first
}

// renderSummary renders the job summary as markdown, under MaxSummaryBytes:
// log lines are dropped, oldest first, and an overlong line is cut, before
// anything else is.
func renderSummary(s summaryData) string {
	head := renderSummaryHead(s)
	if len(s.LogTail) == 0 {
		return cutUTF8(head, maxSummaryBytes)
	}
	lines := s.LogTail
	budget := maxSummaryBytes - len(head) - 256 // the details wrapper and the fences
	// Cut single lines first so that one huge line does not push out all
	// the others, then drop whole lines from the start.
	perLine := min(max(budget/len(lines), 1024), maxTailLine)
	cut := make([]string, len(lines))
	for i, l := range lines {
		if len(l) > perLine {
			l = cutUTF8(l, perLine) + " … (line cut)"
		}
		cut[i] = l
	}
	fence := fenceFor(cut)
	budget -= 2 * len(fence)
	total := 0
	first := len(cut)
	for first > 0 && total+len(cut[first-1])+1 <= budget {
		first--
		total += len(cut[first]) + 1
	}
	cut = cut[first:]
	var b strings.Builder
	b.WriteString(head)
	title := "Last log line"
	if len(cut) != 1 {
		title = fmt.Sprintf("Last %d log lines", len(cut))
	}
	if first > 0 {
		title += fmt.Sprintf(" (%d more left out to fit the summary)", first)
	}
	fmt.Fprintf(&b, "\n<details><summary>%s</summary>\n\n%stext\n", title, fence)
	for _, l := range cut {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	fmt.Fprintf(&b, "%s\n\n</details>\n", fence)
	return cutUTF8(b.String(), maxSummaryBytes)
}

func renderSummaryHead(s summaryData) string {
	var b strings.Builder
	switch {
	case s.Status != "" && s.Script != "":
		fmt.Fprintf(&b, "### %s %s: run%s %s\n\n", statusIcon(s.Status), mdText(s.Script), runLabel(s), s.Status)
	case s.Status != "":
		fmt.Fprintf(&b, "### %s Run%s: %s\n\n", statusIcon(s.Status), runLabel(s), s.Status)
	case s.Error != "":
		b.WriteString("### ❌ runtime-action failed\n\n")
	case s.Deployment != nil && s.Configuration != nil:
		b.WriteString("### ✅ Deployment and configuration synced\n\n")
	default:
		b.WriteString("### runtime-action\n\n")
	}
	if s.Error != "" {
		fmt.Fprintf(&b, "> %s\n\n", strings.ReplaceAll(mdText(s.Error), "\n", "\n> "))
	}
	b.WriteString("| | |\n|---|---|\n")
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, "| %s | %s |\n", k, v)
		}
	}
	if s.Status != "" {
		row("Status", code(string(s.Status)))
	}
	if s.RunID != "" {
		row("Run", code(s.RunID)+numberSuffix(s.RunNumber))
	}
	switch {
	case s.Script != "" && isHTTP(s.ScriptURL):
		row("Script", fmt.Sprintf("[%s](%s)", mdText(s.Script), mdURL(s.ScriptURL)))
	case s.Script != "":
		row("Script", code(s.Script))
	case isHTTP(s.ScriptURL):
		row("Script", mdURL(s.ScriptURL))
	}
	if s.Profile != "" {
		row("Profile", code(s.Profile))
	}
	row("Deployment", packageCell(s.Deployment))
	row("Configuration", packageCell(s.Configuration))
	if s.Duration != nil {
		row("Duration", s.Duration.Round(time.Second).String())
	}
	return b.String()
}

func runLabel(s summaryData) string {
	switch {
	case s.RunNumber > 0:
		return fmt.Sprintf(" #%d", s.RunNumber)
	case s.RunID != "":
		return " " + code(s.RunID)
	}
	return ""
}

func numberSuffix(n int) string {
	if n <= 0 {
		return ""
	}
	return fmt.Sprintf(" (#%d)", n)
}

func packageCell(p *packageResult) string {
	if p == nil {
		return ""
	}
	v := fmt.Sprintf("version %d", p.Version)
	if p.Changed {
		return v + ", **new** (content changed)"
	}
	return v + ", unchanged"
}

func statusIcon(s api.RunStatus) string {
	switch s {
	case api.StatusCompleted:
		return "✅"
	case api.StatusFailed:
		return "❌"
	case api.StatusCancelled, api.StatusCancelling:
		return "🚫"
	case api.StatusSkipped:
		return "⏭️"
	}
	return "⏳"
}

// code renders v as inline code, with a fence longer than any backtick run
// inside it.
func code(v string) string {
	v = strings.ReplaceAll(v, "\n", " ")
	n := longestRun(v, '`') + 1
	tick := strings.Repeat("`", n)
	pad := ""
	if strings.HasPrefix(v, "`") || strings.HasSuffix(v, "`") {
		pad = " "
	}
	return tick + pad + strings.ReplaceAll(v, "|", "\\|") + pad + tick
}

// mdText escapes text for a table cell or a paragraph: no HTML, no table
// pipes, no markdown links or emphasis from values the server sent.
func mdText(v string) string {
	r := strings.NewReplacer("\\", "\\\\", "|", "\\|", "<", "&lt;", ">", "&gt;", "[", "\\[", "]", "\\]",
		"*", "\\*", "_", "\\_", "`", "\\`", "\r", "")
	return r.Replace(v)
}

func isHTTP(u string) bool {
	return strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "http://")
}

// mdURL escapes what would end a link target; callers pass only http(s)
// addresses (isHTTP), so a server cannot make a javascript: link.
func mdURL(u string) string {
	return strings.NewReplacer(" ", "%20", "(", "%28", ")", "%29", "|", "%7C", "<", "%3C", ">", "%3E", "\n", "").Replace(u)
}

// fenceFor returns a backtick fence longer than any backtick run in lines,
// so the log cannot close the code block and inject markdown.
func fenceFor(lines []string) string {
	n := 3
	for _, l := range lines {
		n = max(n, longestRun(l, '`')+1)
	}
	return strings.Repeat("`", n)
}

func longestRun(s string, c byte) int {
	best, cur := 0, 0
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			cur++
			best = max(best, cur)
		} else {
			cur = 0
		}
	}
	return best
}

// cutUTF8 returns s cut to at most n bytes, at a rune boundary.
func cutUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// commentMarker is the hidden first line of the Action's pull request
// comment, by which the comment is found again and updated in place.
const commentMarker = "<!-- runtime-action:plan -->"

// maxCommentBytes keeps a comment under GitHub's 65,536 characters.
const maxCommentBytes = 65000

// maxPlanFiles is how many added or removed files a plan lists per package.
const maxPlanFiles = 50

// packagePlan is what a dry run found for one package.
type packagePlan struct {
	Name          string   // "deployment" or "configuration"
	Changed       bool     // the content hash differs from the latest version's
	LatestVersion int      // 0: the Runtime has none yet
	Files         []string // the files the package would hold
	LatestFiles   []string // the latest version's file_names (api.PackageInfo.Files)
	// OlderClientCopy: the same content, but the Runtime's copy was made by
	// an older client (deploy.Plan.OlderClientCopy); not a change.
	OlderClientCopy bool
}

// planData is a dry run's result.
type planData struct {
	Script  string
	Profile string
	// ScriptPlan says what would happen to the script, e.g. "would be
	// created (batch, profile prod, no schedule)"; "" for a sync.
	ScriptPlan string
	Packages   []packagePlan
}

// renderPlan renders a dry run's plan as markdown: per package, whether it
// changed and which files would be added or removed compared to the latest
// version. It stays under MaxCommentBytes so it fits a pull request comment.
func renderPlan(p planData) string {
	var b strings.Builder
	b.WriteString("### runtime-action plan (dry run)\n\n")
	if p.Script != "" {
		fmt.Fprintf(&b, "Script %s", code(p.Script))
		if p.Profile != "" {
			fmt.Fprintf(&b, ", profile %s", code(p.Profile))
		}
		b.WriteString(". Nothing was uploaded and nothing was run.\n\n")
	}
	if p.ScriptPlan != "" {
		fmt.Fprintf(&b, "**script** %s: %s\n\n", code(p.Script), mdText(p.ScriptPlan))
	}
	for _, pk := range p.Packages {
		added, removed := diffFiles(pk.Files, pk.LatestFiles)
		switch {
		case pk.LatestVersion == 0:
			fmt.Fprintf(&b, "**%s**: new, version 1 would be uploaded (%d files)\n", mdText(pk.Name), len(pk.Files))
		case pk.Changed && pk.OlderClientCopy:
			fmt.Fprintf(&b, "**%s**: the same content as version %d, but the Runtime's copy was made by an older client: version %d would be uploaded\n",
				mdText(pk.Name), pk.LatestVersion, pk.LatestVersion+1)
		case pk.Changed:
			fmt.Fprintf(&b, "**%s**: changed, version %d would be uploaded (latest is %d; %d added, %d removed",
				mdText(pk.Name), pk.LatestVersion+1, pk.LatestVersion, len(added), len(removed))
			if len(added) == 0 && len(removed) == 0 {
				b.WriteString(", same files with new content")
			}
			b.WriteString(")\n")
		default:
			fmt.Fprintf(&b, "**%s**: unchanged (version %d)\n", mdText(pk.Name), pk.LatestVersion)
		}
		if pk.LatestVersion == 0 {
			added, removed = pk.Files, nil
		}
		if pk.Changed && !pk.OlderClientCopy || pk.LatestVersion == 0 {
			listFiles(&b, "+", added)
			listFiles(&b, "-", removed)
		}
		b.WriteString("\n")
	}
	return cutUTF8(b.String(), maxCommentBytes-len(commentMarker)-1)
}

func listFiles(b *strings.Builder, sign string, files []string) {
	if len(files) == 0 {
		return
	}
	fence := fenceFor(files)
	fmt.Fprintf(b, "\n%sdiff\n", fence)
	for i, f := range files {
		if i == maxPlanFiles {
			fmt.Fprintf(b, "%s … and %d more\n", sign, len(files)-maxPlanFiles)
			break
		}
		fmt.Fprintf(b, "%s %s\n", sign, strings.ReplaceAll(f, "\n", " "))
	}
	fmt.Fprintf(b, "%s\n", fence)
}

// diffFiles returns the files in now but not in before, and the other way
// round, both sorted.
func diffFiles(now, before []string) (added, removed []string) {
	in := func(list []string) map[string]bool {
		m := make(map[string]bool, len(list))
		for _, f := range list {
			m[f] = true
		}
		return m
	}
	nowSet, beforeSet := in(now), in(before)
	for f := range nowSet {
		if !beforeSet[f] {
			added = append(added, f)
		}
	}
	for f := range beforeSet {
		if !nowSet[f] {
			removed = append(removed, f)
		}
	}
	sort.Strings(added)
	sort.Strings(removed)
	return added, removed
}
