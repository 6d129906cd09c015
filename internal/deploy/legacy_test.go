package deploy

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dlthub/runtime-action/internal/server"
)

// legacyWorkspace writes the workspace of a vector case (testdata/packaging)
// below a new folder and returns it with the tarball dlt's 2025 builder made
// of its code (testdata/packaging-legacy).
func legacyWorkspace(t *testing.T, name string) (string, []byte) {
	t.Helper()
	b, err := os.ReadFile("../../testdata/packaging/cases.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases map[string]struct {
		Files    map[string]string `json:"files"`
		Symlinks map[string]string `json:"symlinks"`
	}
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	writeFiles(t, root, cases[name].Files)
	for p, target := range cases[name].Symlinks {
		full := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, full); err != nil {
			t.Fatal(err)
		}
	}
	tarball, err := os.ReadFile(filepath.Join("../../testdata/packaging-legacy", name+".deployment.tar.gz"))
	if err != nil {
		t.Fatal(err)
	}
	return root, tarball
}

// TestSyncAfterOlderClient: when the Runtime's latest deployment was
// uploaded by dlt's runtime CLI of late 2025, a deploy of the same content
// uploads once more (our hash differs) and says why instead of claiming a
// change; a real change is not taken for that.
func TestSyncAfterOlderClient(t *testing.T) {
	for _, tc := range []struct {
		name, edit string // edit: a file changed after dlt uploaded
		olderCopy  bool
	}{
		{name: "same content", olderCopy: true},
		{name: "changed content", edit: "pipeline.py"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root, tarball := legacyWorkspace(t, "symlinks")
			e := startServer(t, root, server.Config{})
			rec := &recorder{}
			e.Report = rec
			ctx := context.Background()
			old, err := e.Runtime.UploadDeployment(ctx, e.WorkspaceID, tarball)
			if err != nil {
				t.Fatalf("upload dlt's package: %v", err)
			}
			if tc.edit != "" {
				writeFiles(t, root, map[string]string{tc.edit: "print('edited')\n"})
			}
			reason := "the content is the same as version 1, but the Runtime's copy was made by an older client"

			dry, err := e.SyncDeployment(ctx, true)
			if err != nil {
				t.Fatal(err)
			}
			res, err := e.SyncDeployment(ctx, false)
			if err != nil {
				t.Fatal(err)
			}
			if dry.Plan.OlderClientCopy != tc.olderCopy || res.Plan.OlderClientCopy != tc.olderCopy {
				t.Errorf("OlderClientCopy: dry run %v, sync %v; want %v", dry.Plan.OlderClientCopy, res.Plan.OlderClientCopy, tc.olderCopy)
			}
			if !res.Changed || res.Package.Version != 2 || res.Package.ContentHash == old.ContentHash {
				t.Errorf("sync: changed %v version %d hash %q (dlt's %q); want a new version 2 in the current form",
					res.Changed, res.Package.Version, res.Package.ContentHash, old.ContentHash)
			}
			said := strings.Join(rec.lines, "\n")
			if strings.Count(said, reason) != map[bool]int{true: 2, false: 0}[tc.olderCopy] {
				t.Errorf("progress:\n%s\nwant the reason %q in the dry run's and the upload's line: %v", said, reason, tc.olderCopy)
			}
			again, err := e.SyncDeployment(ctx, false)
			if err != nil {
				t.Fatal(err)
			}
			if again.Changed || again.Plan.OlderClientCopy || again.Package.Version != 2 {
				t.Errorf("next sync: changed %v, older copy %v, version %d; want unchanged version 2", again.Changed, again.Plan.OlderClientCopy, again.Package.Version)
			}
		})
	}
}
