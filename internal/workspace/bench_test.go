package workspace

import (
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// benchWorkspace makes a workspace of n files totalling about size bytes:
// mostly Python-like code built from templates, some CSV-like data, so the
// content compresses about as real workspaces do (gzip -1 to roughly a
// third) and gzip has real work to do.
func benchWorkspace(b *testing.B, n int, size int64) string {
	b.Helper()
	root := b.TempDir()
	rng := rand.New(rand.NewPCG(7, 11))
	words := strings.Fields(`dlt pipeline source resource data table load destination duckdb
		config secrets value key name id created_at updated_at status count total items page
		cursor request response client session user order product customer invoice payment
		event account region country city amount price currency timestamp offset limit batch
		schema column row record field state incremental merge append replace primary parent
		child nested list dict token auth api endpoint url path query params headers retry`)
	word := func() string { return words[rng.IntN(len(words))] }
	ident := func() string { return word() + "_" + word() }
	codeLine := func(sb *strings.Builder) {
		switch rng.IntN(9) {
		case 0:
			fmt.Fprintf(sb, "def %s(%s, %s=%d):\n", ident(), word(), word(), rng.IntN(1000))
		case 1:
			fmt.Fprintf(sb, "    %s = %s.%s(%q, %s=%d)\n", word(), word(), ident(), word(), word(), rng.IntN(100))
		case 2:
			fmt.Fprintf(sb, "    return [%s for %s in %s if %s.%s > %d]\n", word(), word(), ident(), word(), word(), rng.IntN(500))
		case 3:
			fmt.Fprintf(sb, "@dlt.resource(name=%q, write_disposition=\"merge\", primary_key=\"id\")\n", ident())
		case 4:
			fmt.Fprintf(sb, "from %s.%s import %s, %s\n", word(), word(), ident(), word())
		case 5:
			fmt.Fprintf(sb, "    # %s %s %s %s %s\n", word(), word(), word(), word(), word())
		case 6:
			fmt.Fprintf(sb, "        yield {%q: %s, %q: %d}\n", word(), ident(), word(), rng.IntN(100000))
		case 7:
			fmt.Fprintf(sb, "    if %s is None:\n        raise ValueError(%q)\n", ident(), word()+" "+word())
		default:
			sb.WriteString("\n")
		}
	}
	csvLine := func(sb *strings.Builder) {
		fmt.Fprintf(sb, "%d,%s,%d.%02d,2024-%02d-%02d,%s\n", rng.IntN(1000000), word(), rng.IntN(10000), rng.IntN(100), rng.IntN(12)+1, rng.IntN(28)+1, word())
	}
	per := size / int64(n)
	var sb strings.Builder
	for i := range n {
		sb.Reset()
		target := per/2 + rng.Int64N(per+1) // sizes vary around the mean
		line, ext := codeLine, ".py"
		if i%5 == 0 {
			line, ext = csvLine, ".csv"
		}
		for int64(sb.Len()) < target {
			line(&sb)
		}
		p := filepath.Join(root, fmt.Sprintf("pkg%02d", i%50), fmt.Sprintf("sub%d", i%7), fmt.Sprintf("file%04d%s", i, ext))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(sb.String()), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(root, SettingsDir), 0o755); err != nil {
		b.Fatal(err)
	}
	return root
}

// BenchmarkPackage5000Files50MB measures a deploy's local work: select,
// hash, and write the tar.gz.
func BenchmarkPackage5000Files50MB(b *testing.B) {
	root := benchWorkspace(b, 5000, 50<<20)
	sel, err := SelectDeployment(root)
	if err != nil {
		b.Fatal(err)
	}
	var cw countWriter
	if err := sel.WriteTarGz(&cw); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(sel.Size())
	cpu := cpuTime()
	b.ResetTimer()
	for b.Loop() {
		sel, err := SelectDeployment(root)
		if err != nil {
			b.Fatal(err)
		}
		if err := sel.WriteTarGz(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, cpu)
	b.ReportMetric(float64(cw)/float64(sel.Size()), "ratio")
}

// BenchmarkHashOnly measures selection and hashing alone: the cost of a
// deploy that finds nothing changed.
func BenchmarkHashOnly(b *testing.B) {
	root := benchWorkspace(b, 5000, 50<<20)
	sel, err := SelectDeployment(root)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(sel.Size())
	cpu := cpuTime()
	b.ResetTimer()
	for b.Loop() {
		if _, err := SelectDeployment(root); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, cpu)
}

type countWriter int64

func (c *countWriter) Write(p []byte) (int, error) {
	*c += countWriter(len(p))
	return len(p), nil
}

// reportCPU adds the process CPU time per operation: on a shared machine
// wall time depends on the neighbours, CPU time much less.
func reportCPU(b *testing.B, start time.Duration) {
	if start < 0 {
		return
	}
	b.ReportMetric(float64(cpuTime()-start)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
}
