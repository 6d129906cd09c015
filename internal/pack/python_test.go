package pack

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestWriteReadableByPython checks that Python's tarfile (what dlt's side
// uses) reads a package written with parallel gzip blocks, and sees the same
// names, bytes and links. Skipped without python3.
func TestWriteReadableByPython(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not found")
	}
	contents := map[string]string{
		"big.csv":     strings.Repeat("id,name,value\n1,a,2.5\n", 200000), // several blocks
		"pipeline.py": "import dlt\n",
		"ünï.py":      "x = 1\n",
	}
	var items []Item
	for p, c := range contents {
		items = append(items, Item{RelativePath: p, SizeInBytes: int64(len(c)), SHA3256: Digest([]byte(c))})
	}
	items = append(items, Item{RelativePath: "link.py", SHA3256: Digest([]byte("pipeline.py")), Linkname: "pipeline.py"})
	Sort(items)
	var buf bytes.Buffer
	err = Write(&buf, Manifest{EngineVersion: 1, Files: items}, func(p string) (io.ReadCloser, error) {
		return io.NopCloser(strings.NewReader(contents[p])), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	pkg := filepath.Join(t.TempDir(), "workspace.tar.gz")
	if err := os.WriteFile(pkg, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	script := `
import base64, hashlib, sys, tarfile
with tarfile.open(sys.argv[1], "r:gz") as tf:
    for m in tf.getmembers():
        if m.issym():
            print(m.name, "->", m.linkname)
        else:
            data = tf.extractfile(m).read()
            print(m.name, len(data), base64.b64encode(hashlib.sha3_256(data).digest()).decode())
`
	out, err := exec.Command(py, "-c", script, pkg).CombinedOutput()
	if err != nil {
		t.Fatalf("python3: %v\n%s", err, out)
	}
	var want strings.Builder
	for _, it := range items {
		if it.Linkname != "" {
			want.WriteString("files/" + it.RelativePath + " -> " + it.Linkname + "\n")
			continue
		}
		want.WriteString("files/" + it.RelativePath + " " + strconv.FormatInt(it.SizeInBytes, 10) + " " + it.SHA3256 + "\n")
	}
	man := MarshalManifest(Manifest{EngineVersion: 1, Files: items})
	want.WriteString("manifest.yaml " + strconv.FormatInt(int64(len(man)), 10) + " " + Digest(man) + "\n")
	if string(out) != want.String() {
		t.Errorf("python3 read:\n%s\nwant:\n%s", out, want.String())
	}
}
