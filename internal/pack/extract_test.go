package pack

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestExtractKeepsForeignFiles: when the folder was not empty, a failed
// extraction removes only what it created.
func TestExtractKeepsForeignFiles(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "sub", "mine.txt"), []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	a, b := file("files/new.py", "x"), file("files/sub/b.py", "y")
	in := targz(t, []entry{a, b, manifestOf(item(a))}) // b is not listed
	_, err := Extract(bytes.NewReader(in), dir, Limits{}, 0)
	checkErr(t, err, "files/sub/b.py", "not listed in manifest.yaml")
	if got, want := listTree(t, dir), []string{"sub/", "sub/mine.txt"}; !slices.Equal(got, want) {
		t.Errorf("tree = %q, want %q", got, want)
	}
}

func TestVerifyToleratesGlobalHeader(t *testing.T) {
	a := file("files/a.py", "x")
	entries := append([]entry{{name: "pax_global_header", typ: 'g'}}, honest(a)...)
	_, err := Verify(bytes.NewReader(targz(t, entries)), Limits{})
	checkErr(t, err, "", "")
}

// TestWriteFailures: a failing destination or file stops Write with that
// error and leaves no goroutine behind.
func TestWriteFailures(t *testing.T) {
	big := strings.Repeat("data,1,2\n", 1<<19) // several compression blocks
	items := []Item{
		{RelativePath: "a", SizeInBytes: int64(len(big)), SHA3256: Digest([]byte(big))},
		{RelativePath: "b", SizeInBytes: 1, SHA3256: Digest([]byte("b"))},
	}
	m := Manifest{EngineVersion: 1, Files: items}
	diskFull := errors.New("disk full")
	tests := []struct {
		name string
		w    io.Writer
		open Opener
		want error
	}{
		{"destination fails", &limitedWriter{left: 1000, err: diskFull}, func(p string) (io.ReadCloser, error) {
			if p == "a" {
				return io.NopCloser(strings.NewReader(big)), nil
			}
			return io.NopCloser(strings.NewReader("b")), nil
		}, diskFull},
		{"file cannot be opened", io.Discard, func(p string) (io.ReadCloser, error) {
			if p == "a" {
				return io.NopCloser(strings.NewReader(big)), nil
			}
			return nil, os.ErrPermission
		}, os.ErrPermission},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := runtime.NumGoroutine()
			err := Write(tt.w, m, tt.open)
			if !errors.Is(err, tt.want) {
				t.Fatalf("error = %v, want %v", err, tt.want)
			}
			// A goroutine that has signalled its end may not have exited
			// yet on a busy machine: wait for the count, generously.
			deadline := time.Now().Add(10 * time.Second)
			for runtime.NumGoroutine() > before {
				if time.Now().After(deadline) {
					t.Fatalf("%d goroutines left running", runtime.NumGoroutine()-before)
				}
				time.Sleep(time.Millisecond)
			}
		})
	}
}

type limitedWriter struct {
	left int
	err  error
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if len(p) > l.left {
		return 0, l.err
	}
	l.left -= len(p)
	return len(p), nil
}
