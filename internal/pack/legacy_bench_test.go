package pack

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"
)

// benchPackages is the same 200 files (16 MB) as a package of the current
// form and as one of dlt's late-2025 form (no digests).
func benchPackages(b *testing.B) (current, legacy []byte, size int64) {
	b.Helper()
	text := benchText(16 << 20)
	chunk := len(text) / 200
	files := map[string][]byte{}
	var items, bare []Item
	for i := range 200 {
		p := fmt.Sprintf("src/mod%03d.py", i)
		files[p] = text[i*chunk : (i+1)*chunk]
		items = append(items, Item{RelativePath: p, SizeInBytes: int64(chunk), SHA3256: Digest(files[p])})
		bare = append(bare, Item{RelativePath: p, SizeInBytes: int64(chunk)})
	}
	open := func(p string) (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(files[p])), nil }
	var c, l bytes.Buffer
	if err := Write(&c, Manifest{EngineVersion: EngineVersion, Files: items}, open); err != nil {
		b.Fatal(err)
	}
	if err := Write(&l, Manifest{EngineVersion: EngineVersion, Files: bare}, open); err != nil {
		b.Fatal(err)
	}
	return c.Bytes(), l.Bytes(), int64(200 * chunk)
}

// BenchmarkVerifyCurrent checks a package with digests: one pass.
func BenchmarkVerifyCurrent(b *testing.B) {
	current, _, size := benchPackages(b)
	b.SetBytes(size)
	for b.Loop() {
		if _, err := Check(func() (io.Reader, error) { return bytes.NewReader(current), nil }, Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCheckLegacy checks a package without digests and computes its
// legacy hash: two passes over the archive.
func BenchmarkCheckLegacy(b *testing.B) {
	_, legacy, size := benchPackages(b)
	b.SetBytes(size)
	for b.Loop() {
		v, err := Check(func() (io.Reader, error) { return bytes.NewReader(legacy), nil }, Limits{})
		if err != nil || !v.Legacy || !strings.HasSuffix(v.ContentHash, "=") {
			b.Fatal(v, err)
		}
	}
}
