package action

import (
	"fmt"
	"io"
	"strings"
	"testing"
)

// BenchmarkRunLogWrite measures the log path of a followed run: line
// splitting, redaction with 50 masked values, the echo, the file and the
// tail, for 1 MiB of log text in 4 KiB chunks.
func BenchmarkRunLogWrite(b *testing.B) {
	m := newMasker(actionTo(io.Discard))
	for i := range 50 {
		m.Add(fmt.Sprintf("secret-value-%03d-abcdef", i))
	}
	var log strings.Builder
	for i := 0; log.Len() < 1<<20; i++ {
		fmt.Fprintf(&log, "2025-01-01 12:00:00 INFO load step %d: wrote 1000 rows to table_%d secret-value-%03d-abcdef\n", i, i%7, i%50)
	}
	text := []byte(log.String())
	b.SetBytes(int64(len(text)))
	b.ResetTimer()
	for range b.N {
		rl, err := newRunLog(io.Discard, m, logLocation{Dir: b.TempDir(), HostDir: "/h"}, 100)
		if err != nil {
			b.Fatal(err)
		}
		for i := 0; i < len(text); i += 4096 {
			if _, err := rl.Write(text[i:min(i+4096, len(text))]); err != nil {
				b.Fatal(err)
			}
		}
		if err := rl.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMaskSecrets measures the masking done before anything is printed,
// on a workspace with three secrets files and a secrets-toml input.
func BenchmarkMaskSecrets(b *testing.B) {
	root := b.TempDir()
	files := map[string]string{".dlt/.workspace": ""}
	for i := range 3 {
		var s strings.Builder
		for j := range 20 {
			fmt.Fprintf(&s, "[sources.s%d]\nkey_%d = \"value-%d-%d-xxxxxxxx\"\n", j, j, i, j)
		}
		files[fmt.Sprintf(".dlt/f%d.secrets.toml", i)] = s.String()
	}
	writeFiles(b, root, files)
	in := inputs{Token: "tok-abcdef", SecretsTOML: "[a]\nb = \"ccc-ddd\"\n"}
	b.ResetTimer()
	for range b.N {
		if _, err := maskSecrets(actionTo(io.Discard), in, root); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRenderSummary renders a summary with 100 log lines.
func BenchmarkRenderSummary(b *testing.B) {
	s := summaryData{Status: "completed", RunID: "r", RunNumber: 3, Script: "p.py", LogTail: repeatLines(100, 120)}
	for range b.N {
		_ = renderSummary(s)
	}
}
