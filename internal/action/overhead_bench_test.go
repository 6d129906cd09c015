package action

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/dlthub/runtime-action/internal/server"
)

// BenchmarkActionOverhead measures the Action's own overhead: from the start
// of the main step to the run being created, against a server on loopback,
// for a 1 MB workspace whose content is already on the Runtime (so each
// iteration hashes, compares, upserts nothing and starts a run).
func BenchmarkActionOverhead(b *testing.B) {
	dir := b.TempDir()
	root := filepath.Join(dir, "ws")
	writeWorkspace(b, root, 1<<20)
	srv, err := server.Start(context.Background(), server.Config{DataDir: filepath.Join(dir, "data"), MaxConcurrentRuns: 2}, "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Close() })

	vars := map[string]string{
		"INPUT_SCRIPT":            "job.py",
		"INPUT_WORKING-DIRECTORY": root,
		"INPUT_API-URL":           srv.URL,
		"INPUT_TOKEN":             srv.AdminToken(),
		"INPUT_WAIT":              "false",
		"HOME":                    dir,
	}
	env := Env{Stdout: io.Discard, Getenv: func(k string) string { return vars[k] }, Cwd: dir}
	if code := Main(context.Background(), env); code != 0 {
		var out bytes.Buffer
		env.Stdout = &out
		Main(context.Background(), env)
		b.Fatalf("first deploy failed:\n%s", out.String())
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if code := Main(context.Background(), env); code != 0 {
			b.Fatalf("deploy %d failed", i)
		}
	}
}

// writeWorkspace makes a workspace of about size bytes in 100 files.
func writeWorkspace(tb testing.TB, root string, size int) {
	tb.Helper()
	must := func(err error) {
		if err != nil {
			tb.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(root, ".dlt"), 0o755))
	must(os.WriteFile(filepath.Join(root, ".dlt", ".workspace"), nil, 0o644))
	must(os.WriteFile(filepath.Join(root, ".dlt", "config.toml"), []byte("[job]\nx = 1\n"), 0o644))
	must(os.WriteFile(filepath.Join(root, "job.py"), []byte("print('ok')\n"), 0o644))
	r := rand.New(rand.NewPCG(1, 2))
	per := size / 100
	for i := 0; i < 100; i++ {
		buf := make([]byte, per)
		for j := range buf {
			buf[j] = "abcdefghij \n"[r.IntN(12)]
		}
		must(os.MkdirAll(filepath.Join(root, "data", fmt.Sprint(i%10)), 0o755))
		must(os.WriteFile(filepath.Join(root, "data", fmt.Sprint(i%10), fmt.Sprintf("f%03d.txt", i)), buf, 0o644))
	}
}
