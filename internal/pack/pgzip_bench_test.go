package pack

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
)

// benchText is n bytes of text with numbers, harder to compress than code.
func benchText(n int) []byte {
	rng := rand.New(rand.NewPCG(7, 11))
	words := strings.Fields(`import dlt def return self pipeline source resource yield for in if else None True False data table load destination`)
	var sb bytes.Buffer
	for sb.Len() < n {
		switch rng.IntN(4) {
		case 0:
			fmt.Fprintf(&sb, "%d,%d.%02d,", rng.IntN(100000), rng.IntN(1000), rng.IntN(100))
		case 1:
			sb.WriteString("\n    ")
		default:
			sb.WriteString(words[rng.IntN(len(words))])
			sb.WriteByte(' ')
		}
	}
	return sb.Bytes()
}

// BenchmarkParallelGzip compresses on all cores, as Write does.
func BenchmarkParallelGzip(b *testing.B) {
	t := benchText(16 << 20)
	b.SetBytes(int64(len(t)))
	for b.Loop() {
		z, _ := newParallelGzip(io.Discard, gzip.BestSpeed, gzipBlockSize)
		z.Write(t)
		z.Close()
	}
}

// BenchmarkSerialGzip is compress/gzip alone, for comparison.
func BenchmarkSerialGzip(b *testing.B) {
	t := benchText(16 << 20)
	b.SetBytes(int64(len(t)))
	for b.Loop() {
		z, _ := gzip.NewWriterLevel(io.Discard, gzip.BestSpeed)
		z.Write(t)
		z.Close()
	}
}
