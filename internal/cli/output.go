package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dlthub/runtime-action/internal/api"
)

// stderrReporter prints the engine's progress on stderr.
type stderrReporter struct{ w io.Writer }

func (r stderrReporter) Progress(msg string) { fmt.Fprintln(r.w, msg) }
func (r stderrReporter) Warn(msg string)     { fmt.Fprintln(r.w, "Warning:", msg) }

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// table prints aligned columns.
type table struct{ tw *tabwriter.Writer }

func newTable(w io.Writer, header ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)}
	t.row(header...)
	return t
}

func (t *table) row(cols ...string) { fmt.Fprintln(t.tw, strings.Join(cols, "\t")) }
func (t *table) flush()             { t.tw.Flush() }

func fmtTime(t *api.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

func fmtTimeV(t api.Time) string { return fmtTime(&t) }

func deref(s *string, dflt string) string {
	if s == nil || *s == "" {
		return dflt
	}
	return *s
}

func fmtDuration(run *api.Run) string {
	if run.Duration != nil {
		return (time.Duration(*run.Duration) * time.Second).String()
	}
	return "-"
}

// kv prints "key: value" lines aligned.
func kv(w io.Writer, pairs ...string) {
	tw := tabwriter.NewWriter(w, 0, 4, 1, ' ', 0)
	for i := 0; i+1 < len(pairs); i += 2 {
		fmt.Fprintf(tw, "%s:\t%s\n", pairs[i], pairs[i+1])
	}
	tw.Flush()
}
