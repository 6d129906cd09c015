package deploy

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/dlthub/runtime-action/internal/server"
	"github.com/dlthub/runtime-action/internal/workspace"
)

// genWorkspace writes a workspace of n files holding size bytes in all, of
// text-like content so that compression has real work to do.
func genWorkspace(tb testing.TB, root string, n, size int) {
	tb.Helper()
	writeFiles(tb, root, map[string]string{".dlt/.workspace": "", ".dlt/config.toml": "[a]\nb = 1\n"})
	r := rand.New(rand.NewPCG(5, 6))
	words := []string{"select ", "from ", "pipeline ", "load ", "dlt ", "0", "1", "\n", "resource ", "id, "}
	per := size / n
	buf := make([]byte, 0, per+16)
	for i := 0; i < n; i++ {
		buf = buf[:0]
		for len(buf) < per {
			buf = append(buf, words[r.IntN(len(words))]...)
		}
		p := filepath.Join(root, fmt.Sprintf("src/m%02d/f%04d.py", i%50, i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(p, buf[:per], 0o644); err != nil {
			tb.Fatal(err)
		}
	}
}

// BenchmarkNoopDeploy syncs an unchanged workspace of 5,000 files and 50 MB:
// the files are hashed once, nothing is compressed or uploaded. Compare with
// BenchmarkHashOnly5000Files50MB, the cost of hashing alone.
func BenchmarkNoopDeploy5000Files50MB(b *testing.B) {
	root := b.TempDir()
	genWorkspace(b, root, 5000, 50<<20)
	e := startServer(b, root, server.Config{MaxUpload: 1 << 30})
	ctx := context.Background()
	if _, err := e.SyncDeployment(ctx, false); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(50 << 20)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := e.SyncDeployment(ctx, false)
		if err != nil {
			b.Fatal(err)
		}
		if res.Changed || res.UploadedBytes != 0 {
			b.Fatalf("no-op deploy uploaded %d bytes", res.UploadedBytes)
		}
	}
}

// BenchmarkHashOnly5000Files50MB is the selection and hashing of the same
// workspace, without any Runtime.
func BenchmarkHashOnly5000Files50MB(b *testing.B) {
	root := b.TempDir()
	genWorkspace(b, root, 5000, 50<<20)
	b.SetBytes(50 << 20)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := workspace.SelectDeployment(root); err != nil {
			b.Fatal(err)
		}
	}
}
