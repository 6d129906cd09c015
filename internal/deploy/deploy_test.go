package deploy

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/dlthub/runtime-action/internal/api"
	"github.com/dlthub/runtime-action/internal/client"
	"github.com/dlthub/runtime-action/internal/pack"
	"github.com/dlthub/runtime-action/internal/server"
)

// startServer runs a Runtime server on loopback for the test and returns an
// engine for the workspace at root.
func startServer(tb testing.TB, root string, cfg server.Config) *Engine {
	tb.Helper()
	cfg.DataDir = filepath.Join(tb.TempDir(), "data")
	srv, err := server.Start(context.Background(), cfg, "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { srv.Close() })
	c := client.New(client.Options{APIBaseURL: srv.URL, AuthBaseURL: srv.AuthURL(), Token: srv.AdminToken()})
	return &Engine{Runtime: c, WorkspaceID: srv.DefaultWorkspaceID(), Root: root}
}

func writeFiles(tb testing.TB, root string, files map[string]string) {
	tb.Helper()
	for p, content := range files {
		full := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
}

func TestSyncDeployment(t *testing.T) {
	root := t.TempDir()
	writeFiles(t, root, map[string]string{
		".dlt/.workspace": "", ".dlt/config.toml": "[a]\nb = 1\n",
		"pipeline.py": "print(1)\n", "helpers/util.py": "x = 1\n", "old.py": "gone soon\n",
	})
	e := startServer(t, root, server.Config{})
	ctx := context.Background()

	steps := []struct {
		name        string
		change      func()
		dry         bool
		wantChanged bool
		wantVersion int
		wantAdded   []string
		wantRemoved []string
	}{
		{name: "first upload", wantChanged: true, wantVersion: 1, wantAdded: []string{"helpers/util.py", "old.py", "pipeline.py"}},
		{name: "unchanged", wantChanged: false, wantVersion: 1},
		{name: "dry run of a change", dry: true, wantChanged: true, wantVersion: 1,
			change: func() {
				writeFiles(t, root, map[string]string{"new.py": "n\n"})
				os.Remove(filepath.Join(root, "old.py"))
			},
			wantAdded: []string{"new.py"}, wantRemoved: []string{"old.py"}},
		{name: "the change", wantChanged: true, wantVersion: 2, wantAdded: []string{"new.py"}, wantRemoved: []string{"old.py"}},
		{name: "a settings change is not a code change", wantChanged: false, wantVersion: 2,
			change: func() { writeFiles(t, root, map[string]string{".dlt/config.toml": "[a]\nb = 2\n"}) }},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if st.change != nil {
				st.change()
			}
			res, err := e.SyncDeployment(ctx, st.dry)
			if err != nil {
				t.Fatal(err)
			}
			if res.Changed != st.wantChanged || res.Plan.WouldUpload != st.wantChanged {
				t.Errorf("changed = %v, would upload = %v, want %v", res.Changed, res.Plan.WouldUpload, st.wantChanged)
			}
			if (res.UploadedBytes > 0) != (st.wantChanged && !st.dry) {
				t.Errorf("uploaded %d bytes", res.UploadedBytes)
			}
			latest, err := e.Runtime.LatestDeployment(ctx, e.WorkspaceID)
			if err != nil || latest == nil {
				t.Fatalf("latest: %v %v", latest, err)
			}
			if latest.Version != st.wantVersion {
				t.Errorf("latest version %d, want %d", latest.Version, st.wantVersion)
			}
			// A dry run reports the latest package on the Runtime, so a plan
			// can say which version it would follow.
			if st.dry && (res.Package == nil || res.Package.ID != latest.ID) {
				t.Errorf("dry run: package %+v, want the latest, version %d", res.Package, latest.Version)
			}
			if got := res.Plan.Added(); !reflect.DeepEqual(got, st.wantAdded) {
				t.Errorf("added %q, want %q", got, st.wantAdded)
			}
			if got := res.Plan.Removed(); !reflect.DeepEqual(got, st.wantRemoved) {
				t.Errorf("removed %q, want %q", got, st.wantRemoved)
			}
		})
	}
}

func TestSyncConfigurationProfiles(t *testing.T) {
	root := t.TempDir()
	writeFiles(t, root, map[string]string{
		".dlt/.workspace": "", ".dlt/config.toml": "[a]\nb = 1\n", ".dlt/prod.secrets.toml": "[a]\nc = \"s\"\n",
		".dlt/access.secrets.toml": "[a]\nc = \"t\"\n", ".dlt/profile-name": "dev\n", "p.py": "",
	})
	e := startServer(t, root, server.Config{})
	res, err := e.SyncConfiguration(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	if res.Profiles != "access, prod" || res.Plan.FileCount != 3 || !res.Changed {
		t.Errorf("profiles %q, files %d, changed %v", res.Profiles, res.Plan.FileCount, res.Changed)
	}
	again, err := e.SyncConfiguration(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	if again.Changed || again.UploadedBytes != 0 || again.Package.ID != res.Package.ID {
		t.Errorf("second sync changed %v, uploaded %d", again.Changed, again.UploadedBytes)
	}
}

func TestUpsertScript(t *testing.T) {
	root := t.TempDir()
	writeFiles(t, root, map[string]string{".dlt/.workspace": "", "jobs/load.py": ""})
	e := startServer(t, root, server.Config{})
	ctx := context.Background()
	sched, prod := "0 3 * * *", "prod"
	// Someone set a schedule and a description elsewhere: deploys keep them.
	if _, err := e.Runtime.UpsertScript(ctx, e.WorkspaceID, api.CreateScriptRequest{
		Name: "jobs/load.py", EntryPoint: "jobs/load.py", ScriptType: api.ScriptBatch, Description: "nightly", Schedule: &sched, Profile: &prod,
	}); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name        string
		spec        ScriptSpec
		wantChanged bool
		wantVersion int
		wantType    api.ScriptType
		wantProfile string
	}{
		{"nothing asked: unchanged", ScriptSpec{}, false, 1, api.ScriptBatch, "prod"},
		{"same profile: unchanged", ScriptSpec{Type: api.ScriptBatch, Profile: "prod"}, false, 1, api.ScriptBatch, "prod"},
		{"another profile: new version", ScriptSpec{Profile: "dev"}, true, 2, api.ScriptBatch, "dev"},
		{"interactive: new version", ScriptSpec{Type: api.ScriptInteractive}, true, 3, api.ScriptInteractive, "dev"},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			s, changed, err := e.UpsertScript(ctx, "jobs/load.py", st.spec)
			if err != nil {
				t.Fatal(err)
			}
			if changed != st.wantChanged || s.Version != st.wantVersion || s.ScriptType != st.wantType || s.Profile == nil || *s.Profile != st.wantProfile {
				t.Errorf("changed %v version %d type %s profile %v", changed, s.Version, s.ScriptType, s.Profile)
			}
			if s.Schedule == nil || *s.Schedule != sched || s.Description != "nightly" {
				t.Errorf("schedule %v, description %q: not kept", s.Schedule, s.Description)
			}
		})
	}
	// A schedule asked for replaces the kept one; "" removes it.
	every := "*/5 * * * *"
	s, changed, err := e.UpsertScript(ctx, "jobs/load.py", ScriptSpec{Schedule: &every})
	if err != nil || !changed || s.Schedule == nil || *s.Schedule != every {
		t.Fatalf("set schedule: %+v %v %v", s, changed, err)
	}
	if _, changed, _ = e.UpsertScript(ctx, "jobs/load.py", ScriptSpec{Schedule: &every}); changed {
		t.Error("the same schedule again made a new version")
	}
	none := ""
	s, changed, err = e.UpsertScript(ctx, "jobs/load.py", ScriptSpec{Schedule: &none})
	if err != nil || !changed || s.Schedule != nil {
		t.Fatalf("remove schedule: %+v %v %v", s, changed, err)
	}
	bad := "every day"
	if _, _, err := e.UpsertScript(ctx, "jobs/load.py", ScriptSpec{Schedule: &bad}); err == nil || !strings.Contains(err.Error(), "invalid schedule") {
		t.Fatalf("invalid schedule: %v", err)
	}

	// A new script gets batch by default.
	writeFiles(t, root, map[string]string{"other.py": ""})
	s, changed, err = e.UpsertScript(ctx, "other.py", ScriptSpec{})
	if err != nil || !changed || s.ScriptType != api.ScriptBatch || s.Version != 1 {
		t.Fatalf("new script: %+v %v %v", s, changed, err)
	}
}

func TestTooLargeListsLargestFiles(t *testing.T) {
	root := t.TempDir()
	files := map[string]string{".dlt/.workspace": "", "p.py": "print(1)\n"}
	r := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 12; i++ {
		b := make([]byte, 3000+i*100)
		for j := range b {
			b[j] = byte(r.IntN(256))
		}
		files[fmt.Sprintf("data/f%02d.bin", i)] = string(b)
	}
	writeFiles(t, root, files)
	e := startServer(t, root, server.Config{MaxUpload: 10000})
	_, err := e.SyncDeployment(context.Background(), false)
	if err == nil {
		t.Fatal("upload over the limit succeeded")
	}
	msg := err.Error()
	for _, want := range []string{"413", "data/f11.bin", "data/f02.bin", ".gitignore"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	// Only the ten largest are listed: f00 and f01 are the smallest.
	if strings.Contains(msg, "data/f00.bin") || strings.Contains(msg, "data/f01.bin") {
		t.Errorf("error lists more than the ten largest files:\n%s", msg)
	}
}

func TestPlanAddedRemoved(t *testing.T) {
	tests := []struct {
		files, latest, added, removed []string
	}{
		{[]string{"a", "b"}, nil, []string{"a", "b"}, nil},
		{[]string{"a", "b"}, []string{"a", "b"}, nil, nil},
		{[]string{"a", "c"}, []string{"b", "a"}, []string{"c"}, []string{"b"}},
		{nil, []string{"z", "y"}, nil, []string{"y", "z"}},
	}
	for _, tt := range tests {
		p := Plan{LatestFiles: tt.latest}
		for _, f := range tt.files {
			p.Files = append(p.Files, packItem(f))
		}
		if got := p.Added(); !reflect.DeepEqual(got, tt.added) {
			t.Errorf("Added(%v, %v) = %v, want %v", tt.files, tt.latest, got, tt.added)
		}
		if got := p.Removed(); !reflect.DeepEqual(got, tt.removed) {
			t.Errorf("Removed(%v, %v) = %v, want %v", tt.files, tt.latest, got, tt.removed)
		}
	}
}

func packItem(path string) pack.Item { return pack.Item{RelativePath: path} }

// recorder keeps the engine's progress lines.
type recorder struct{ lines []string }

func (r *recorder) Progress(msg string) { r.lines = append(r.lines, msg) }
func (r *recorder) Warn(msg string)     { r.lines = append(r.lines, "warning: "+msg) }

func TestProgressSaysWhatChanged(t *testing.T) {
	root := t.TempDir()
	writeFiles(t, root, map[string]string{".dlt/.workspace": "", "load.py": "print(1)\n"})
	e := startServer(t, root, server.Config{})
	rec := &recorder{}
	e.Report = rec
	ctx := context.Background()
	if _, err := e.SyncDeployment(ctx, false); err != nil {
		t.Fatal(err)
	}
	if _, err := e.SyncDeployment(ctx, false); err != nil {
		t.Fatal(err)
	}
	writeFiles(t, root, map[string]string{"more.py": ""})
	if _, err := e.SyncDeployment(ctx, true); err != nil {
		t.Fatal(err)
	}
	every := "*/15 * * * *"
	if _, _, err := e.UpsertScript(ctx, "load.py", ScriptSpec{Profile: "prod", Schedule: &every}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.UpsertScript(ctx, "load.py", ScriptSpec{Profile: "prod"}); err != nil {
		t.Fatal(err)
	}
	none := ""
	if _, _, err := e.UpsertScript(ctx, "load.py", ScriptSpec{Profile: "dev", Schedule: &none}); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"Uploading deployment: 1 file, ",
		"Deployment uploaded: version 1",
		"Deployment unchanged: version 1 (1 file, 9 B)",
		"Deployment would be uploaded as version 2 (2 files, 9 B); dry run: nothing uploaded",
		`Script "load.py" created (batch, profile prod, schedule "*/15 * * * *")`,
		`Script "load.py" unchanged: version 1 (batch, profile prod, schedule "*/15 * * * *")`,
		`Script "load.py" updated to version 2: profile prod -> dev, schedule "*/15 * * * *" -> none`,
	}
	if len(rec.lines) != len(want) {
		t.Fatalf("progress:\n%s", strings.Join(rec.lines, "\n"))
	}
	for i, w := range want {
		if !strings.HasPrefix(rec.lines[i], w) {
			t.Errorf("line %d = %q, want %q", i, rec.lines[i], w)
		}
	}

	// QuietOutcome leaves the outcome to the caller.
	rec.lines = nil
	e.QuietOutcome = true
	if _, err := e.SyncDeployment(ctx, false); err != nil {
		t.Fatal(err)
	}
	if len(rec.lines) != 1 || !strings.HasPrefix(rec.lines[0], "Uploading deployment: 2 files") {
		t.Errorf("quiet outcome: %q", rec.lines)
	}
}

func TestSyncRefusesAScriptLeftOut(t *testing.T) {
	root := t.TempDir()
	writeFiles(t, root, map[string]string{".dlt/.workspace": "", ".gitignore": "scratch/\n", "scratch/try.py": "", "load.py": ""})
	e := startServer(t, root, server.Config{})
	e.Script = "scratch/try.py"
	_, err := e.SyncDeployment(context.Background(), false)
	if err == nil || !strings.Contains(err.Error(), `script "scratch/try.py" would not be deployed`) {
		t.Fatalf("error %v", err)
	}
	if latest, err := e.Runtime.LatestDeployment(context.Background(), e.WorkspaceID); err != nil || latest != nil {
		t.Errorf("something was uploaded: %+v %v", latest, err)
	}
	e.Script = "load.py"
	if _, err := e.SyncDeployment(context.Background(), false); err != nil {
		t.Fatal(err)
	}
}
