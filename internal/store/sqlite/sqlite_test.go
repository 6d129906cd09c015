package sqlite

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/dlthub/runtime-action/internal/api"
	"github.com/dlthub/runtime-action/internal/store"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type fixture struct {
	st    *Store
	clk   *clock
	boot  store.BootstrapResult
	ws    string
	admin string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	clk := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	st, err := Open(context.Background(), filepath.Join(t.TempDir(), "runtime.db"), Options{Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	boot, created, err := st.Bootstrap(context.Background(), store.Bootstrap{OrganizationName: "org", WorkspaceName: "ws", AdminEmail: "admin@localhost"})
	if err != nil || !created {
		t.Fatalf("bootstrap: %v %v", created, err)
	}
	return &fixture{st: st, clk: clk, boot: boot, ws: boot.Workspace.ID, admin: boot.Admin.ID}
}

func (f *fixture) pkg(t *testing.T, kind store.PackageKind, hash string) (store.Package, bool) {
	t.Helper()
	p, created, err := f.st.CreatePackage(context.Background(), store.Package{Kind: kind, WorkspaceID: f.ws, ContentHash: hash,
		Blob: "blob-" + hash, CreatedBy: f.admin, FileCount: 1, FileNames: "a.py", Size: 10}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p, created
}

func (f *fixture) script(t *testing.T, name string) store.Script {
	t.Helper()
	sc, _, err := f.st.UpsertScript(context.Background(), store.ScriptInput{WorkspaceID: f.ws, Name: name, EntryPoint: name,
		ScriptType: api.ScriptBatch, Active: true, CreatedBy: f.admin})
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

func TestOpenTwiceAndBootstrapOnce(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "runtime.db")
	b := store.Bootstrap{OrganizationName: "o", WorkspaceName: "w", AdminEmail: "a@b"}
	var first store.BootstrapResult
	for i := range 3 {
		st, err := Open(ctx, path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		res, created, err := st.Bootstrap(ctx, b)
		if err != nil || created != (i == 0) {
			t.Fatalf("open %d: created %v, %v", i, created, err)
		}
		if i == 0 {
			first = res
		} else if res.Organization.ID != first.Organization.ID || res.Workspace.ID != first.Workspace.ID || res.Admin.ID != first.Admin.ID {
			t.Errorf("open %d: bootstrap result changed", i)
		}
		var n int
		st.r.QueryRow(`SELECT count(*) FROM schema_migrations`).Scan(&n)
		if files, _ := fs.ReadDir(migrationFiles, "migrations"); n != len(files) {
			t.Errorf("%d migrations recorded, want one per file (%d)", n, len(files))
		}
		st.Close()
	}
}

func TestPackages(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for _, tc := range []struct {
		kind    store.PackageKind
		hash    string
		version int
		created bool
	}{
		{store.KindDeployment, "h1", 1, true},
		{store.KindDeployment, "h1", 1, false},
		{store.KindConfiguration, "h1", 1, true}, // kinds count apart
		{store.KindDeployment, "h2", 2, true},
		{store.KindDeployment, "h1", 3, true}, // only the latest's hash counts
		{store.KindDeployment, "h1", 3, false},
	} {
		t.Run(fmt.Sprint(tc.kind, tc.hash, tc.version), func(t *testing.T) {
			p, created := f.pkg(t, tc.kind, tc.hash)
			if p.Version != tc.version || created != tc.created {
				t.Errorf("version %d created %v, want %d %v", p.Version, created, tc.version, tc.created)
			}
		})
	}
	list, total, err := f.st.Packages(ctx, store.KindDeployment, f.ws, store.Page{Limit: 2})
	if err != nil || total != 3 || len(list) != 2 || list[0].Version != 3 || list[1].Version != 2 {
		t.Errorf("list: %d %+v %v", total, list, err)
	}
	if p, err := f.st.PackageByVersion(ctx, store.KindDeployment, f.ws, 2); err != nil || p.ContentHash != "h2" {
		t.Errorf("by version: %+v %v", p, err)
	}
	if _, err := f.st.PackageByID(ctx, store.KindConfiguration, f.ws, list[0].ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a deployment's id as a configuration: %v", err)
	}
	// a failing commit hook leaves no row
	_, _, err = f.st.CreatePackage(ctx, store.Package{Kind: store.KindDeployment, WorkspaceID: f.ws, ContentHash: "h9", Blob: "b9", CreatedBy: f.admin},
		func(store.Package) error { return errors.New("disk full") })
	if err == nil {
		t.Fatal("no error from a failing commit")
	}
	if _, total, _ := f.st.Packages(ctx, store.KindDeployment, f.ws, store.Page{Limit: 10}); total != 3 {
		t.Errorf("a failed create left a row: total %d", total)
	}
	if used, _ := f.st.BlobInUse(ctx, "b9"); used {
		t.Error("blob of a failed create in use")
	}
	if used, _ := f.st.BlobInUse(ctx, "blob-h2"); !used {
		t.Error("blob not in use")
	}
}

func TestUpsertScript(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	prof, sched := "dev", "0 * * * *"
	base := store.ScriptInput{WorkspaceID: f.ws, Name: "a.py", EntryPoint: "a.py", ScriptType: api.ScriptBatch, Active: true, CreatedBy: f.admin}
	steps := []struct {
		name    string
		mod     func(*store.ScriptInput)
		version int
		changed bool
	}{
		{"create", func(*store.ScriptInput) {}, 1, true},
		{"same", func(*store.ScriptInput) {}, 1, false},
		{"description", func(in *store.ScriptInput) { in.Description = "d" }, 2, true},
		{"profile", func(in *store.ScriptInput) { in.Profile = &prof }, 3, true},
		{"same profile, other pointer", func(in *store.ScriptInput) { p := "dev"; in.Profile = &p }, 3, false},
		{"schedule", func(in *store.ScriptInput) { in.Schedule = &sched }, 4, true},
		{"inactive", func(in *store.ScriptInput) { in.Active = false }, 5, true},
		{"type", func(in *store.ScriptInput) { in.ScriptType = api.ScriptInteractive }, 6, true},
		{"entry point", func(in *store.ScriptInput) { in.EntryPoint = "b.py" }, 7, true},
		{"schedule removed", func(in *store.ScriptInput) { in.Schedule = nil }, 8, true},
	}
	in := base
	var id string
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			s.mod(&in)
			f.clk.add(time.Second)
			sc, changed, err := f.st.UpsertScript(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			if sc.Version != s.version || changed != s.changed {
				t.Errorf("version %d changed %v, want %d %v", sc.Version, changed, s.version, s.changed)
			}
			if id == "" {
				id = sc.ID
			} else if sc.ID != id {
				t.Errorf("id changed")
			}
			got, err := f.st.ScriptByName(ctx, f.ws, "a.py")
			if err != nil || got.VersionID != sc.VersionID || got.EntryPoint != in.EntryPoint {
				t.Errorf("read back: %+v %v", got, err)
			}
		})
	}
	vs, total, err := f.st.ScriptVersions(ctx, id, store.Page{Limit: 3, Offset: 1})
	if err != nil || total != 8 || len(vs) != 3 || vs[0].Version != 7 {
		t.Fatalf("versions: %d %+v %v", total, vs, err)
	}
	v1, err := f.st.ScriptVersionByNumber(ctx, id, 1)
	if err != nil || v1.Description != "" || v1.Profile != nil || !v1.Active {
		t.Errorf("version 1: %+v %v", v1, err)
	}
	if _, err := f.st.ScriptVersionByID(ctx, "other", v1.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a version through another script: %v", err)
	}
}

func TestRunLifecycle(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	sc := f.script(t, "a.py")
	newRun := store.NewRun{WorkspaceID: f.ws, ScriptID: sc.ID, Profile: "prod", Trigger: api.TriggerManual}
	if _, err := f.st.CreateRun(ctx, newRun); !errors.Is(err, store.ErrNoDeployment) {
		t.Errorf("without deployment: %v", err)
	}
	f.pkg(t, store.KindDeployment, "d1")
	if _, err := f.st.CreateRun(ctx, newRun); !errors.Is(err, store.ErrNoConfiguration) {
		t.Errorf("without configuration: %v", err)
	}
	conf, _ := f.pkg(t, store.KindConfiguration, "c1")
	if _, err := f.st.CreateRun(ctx, store.NewRun{WorkspaceID: f.ws, ScriptID: "nope", Profile: "prod", Trigger: api.TriggerManual}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown script: %v", err)
	}
	var runs []store.Run
	for i := 1; i <= 3; i++ {
		f.clk.add(time.Second)
		r, err := f.st.CreateRun(ctx, newRun)
		if err != nil {
			t.Fatal(err)
		}
		if r.Number != i || r.Status != api.StatusPending || r.ConfigurationID != conf.ID || r.ScriptVersionID != sc.VersionID {
			t.Errorf("run %d: %+v", i, r)
		}
		runs = append(runs, r)
	}
	pend, err := f.st.PendingRuns(ctx, 2)
	if err != nil || len(pend) != 2 || pend[0].ID != runs[0].ID || pend[1].ID != runs[1].ID {
		t.Fatalf("pending: %+v %v", pend, err)
	}
	// run 1: claimed, running, finished after 90s
	if ok, err := f.st.ClaimRun(ctx, runs[0].ID); !ok || err != nil {
		t.Fatalf("claim: %v %v", ok, err)
	}
	if ok, _ := f.st.ClaimRun(ctx, runs[0].ID); ok {
		t.Error("claimed twice")
	}
	f.st.AdvanceRun(ctx, runs[0].ID, api.StatusRunning)
	f.st.SetRunPGID(ctx, runs[0].ID, 4242)
	active, _ := f.st.ActiveRuns(ctx)
	if len(active) != 1 || active[0].PGID != 4242 || active[0].Status != api.StatusRunning || active[0].TimeStarted == nil {
		t.Errorf("active: %+v", active)
	}
	f.clk.add(90 * time.Second)
	done, err := f.st.FinishRun(ctx, runs[0].ID, api.StatusCompleted)
	if err != nil || done.Status != api.StatusCompleted || *done.Duration != 90 || done.TimeEnded == nil {
		t.Errorf("finish: %+v %v", done, err)
	}
	if _, err := f.st.FinishRun(ctx, runs[0].ID, api.StatusFailed); !errors.Is(err, store.ErrTerminal) {
		t.Errorf("finish twice: %v", err)
	}
	// cancel: pending at once, active to cancelling, terminal refused
	for _, tc := range []struct {
		name  string
		id    string
		setup func(id string)
		want  api.RunStatus
		err   error
	}{
		{"terminal", runs[0].ID, func(string) {}, "", store.ErrTerminal},
		{"pending", runs[1].ID, func(string) {}, api.StatusCancelled, nil},
		{"running", runs[2].ID, func(id string) { f.st.ClaimRun(ctx, id); f.st.AdvanceRun(ctx, id, api.StatusRunning) }, api.StatusCancelling, nil},
		{"cancelling again", runs[2].ID, func(string) {}, api.StatusCancelling, nil},
		{"unknown", "nope", func(string) {}, "", store.ErrNotFound},
	} {
		t.Run("cancel "+tc.name, func(t *testing.T) {
			tc.setup(tc.id)
			r, err := f.st.CancelRun(ctx, tc.id)
			if !errors.Is(err, tc.err) || (tc.err == nil && r.Status != tc.want) {
				t.Errorf("got %s %v, want %s %v", r.Status, err, tc.want, tc.err)
			}
		})
	}
	// a cancelling run is not moved back by a late status
	f.st.AdvanceRun(ctx, runs[2].ID, api.StatusFinalizing)
	if r, _ := f.st.Run(ctx, runs[2].ID); r.Status != api.StatusCancelling {
		t.Errorf("advance overwrote cancelling: %s", r.Status)
	}
	if r, _ := f.st.Run(ctx, runs[1].ID); r.TimeEnded == nil || r.TimeStarted != nil || r.Duration != nil {
		t.Errorf("cancelled pending run: %+v", r)
	}
	// a cancelling run ends cancelled, whatever its process did
	if r, err := f.st.FinishRun(ctx, runs[2].ID, api.StatusCompleted); err != nil || r.Status != api.StatusCancelled || r.Duration == nil {
		t.Errorf("finish a cancelling run: %+v %v", r, err)
	}
	if r, _ := f.st.Run(ctx, runs[2].ID); r.Status != api.StatusCancelled {
		t.Errorf("stored status of a finished cancelling run: %s", r.Status)
	}

	// lists and filters
	other := f.script(t, "b.py")
	f.st.CreateRun(ctx, store.NewRun{WorkspaceID: f.ws, ScriptID: other.ID, Profile: "prod", Trigger: api.TriggerManual})
	for _, tc := range []struct {
		name   string
		filter store.RunFilter
		total  int
	}{
		{"all", store.RunFilter{WorkspaceID: f.ws}, 4},
		{"script", store.RunFilter{WorkspaceID: f.ws, ScriptID: sc.ID}, 3},
		{"other script", store.RunFilter{WorkspaceID: f.ws, ScriptID: other.ID}, 1},
		{"status", store.RunFilter{WorkspaceID: f.ws, Status: api.StatusCancelled}, 2},
		{"script and status", store.RunFilter{WorkspaceID: f.ws, ScriptID: other.ID, Status: api.StatusPending}, 1},
		{"other workspace", store.RunFilter{WorkspaceID: "x"}, 0},
	} {
		t.Run("list "+tc.name, func(t *testing.T) {
			list, total, err := f.st.Runs(ctx, tc.filter, store.Page{Limit: 100})
			if err != nil || total != tc.total || len(list) != tc.total {
				t.Errorf("total %d (%d items), want %d: %v", total, len(list), tc.total, err)
			}
			for i := 1; i < len(list); i++ {
				if list[i-1].Created.Before(list[i].Created) {
					t.Error("not newest first")
				}
			}
		})
	}
	latest, err := f.st.LatestRun(ctx, store.RunFilter{WorkspaceID: f.ws, ScriptID: sc.ID})
	if err != nil || latest.ID != runs[2].ID {
		t.Errorf("latest: %v %v", latest.ID, err)
	}
}

func TestUsersTokensWorkspaces(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	ws2, err := f.st.CreateWorkspace(ctx, f.boot.Organization.ID, "second", f.admin)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.CreateWorkspace(ctx, "nope", "x"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("workspace in unknown organization: %v", err)
	}
	u, err := f.st.EnsureUser(ctx, store.UserInput{GitHubLogin: "Alice", WorkspaceID: ws2.ID})
	if err != nil || u.Email != "Alice@users.noreply.github.com" || u.DefaultWorkspaceID != ws2.ID {
		t.Fatalf("github user: %+v %v", u, err)
	}
	again, err := f.st.EnsureUser(ctx, store.UserInput{GitHubLogin: "alice", WorkspaceID: f.ws})
	if err != nil || again.ID != u.ID || again.DefaultWorkspaceID != ws2.ID {
		t.Errorf("same login: %+v %v", again, err)
	}
	for _, tc := range []struct {
		user, ws string
		member   bool
	}{
		{u.ID, ws2.ID, true}, {u.ID, f.ws, true}, {f.admin, ws2.ID, true}, {f.admin, f.ws, true}, {"nobody", f.ws, false},
	} {
		_, err := f.st.MemberWorkspace(ctx, tc.user, tc.ws)
		if (err == nil) != tc.member {
			t.Errorf("member %s of %s: %v", tc.user, tc.ws, err)
		}
	}
	if _, err := f.st.MemberOrganization(ctx, u.ID, f.boot.Organization.ID); err != nil {
		t.Errorf("member organization: %v", err)
	}
	if _, err := f.st.MemberOrganization(ctx, "nobody", f.boot.Organization.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("non-member organization: %v", err)
	}
	if err := f.st.RecordToken(ctx, store.Token{JTI: "j1", UserID: u.ID, Expires: f.clk.now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if rev, _ := f.st.TokenRevoked(ctx, "j1"); rev {
		t.Error("revoked before revoke")
	}
	if err := f.st.RevokeToken(ctx, "j1"); err != nil {
		t.Fatal(err)
	}
	if rev, _ := f.st.TokenRevoked(ctx, "j1"); !rev {
		t.Error("not revoked")
	}
	if err := f.st.RevokeToken(ctx, "j2"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown jti: %v", err)
	}
	if rev, err := f.st.TokenRevoked(ctx, "j2"); rev || err != nil {
		t.Errorf("unknown jti revoked %v %v", rev, err)
	}
}

func TestImportRuns(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	sc := f.script(t, "a.py")
	dep, _ := f.pkg(t, store.KindDeployment, "d")
	conf, _ := f.pkg(t, store.KindConfiguration, "c")
	var runs []store.Run
	for i := 1; i <= 500; i++ {
		runs = append(runs, store.Run{ID: fmt.Sprint("run-", i), WorkspaceID: f.ws, ScriptID: sc.ID, ScriptVersionID: sc.VersionID,
			DeploymentID: dep.ID, ConfigurationID: conf.ID, Number: i, Status: api.StatusCompleted, Trigger: api.TriggerSchedule, Profile: "prod"})
	}
	if err := f.st.ImportRuns(ctx, runs); err != nil {
		t.Fatal(err)
	}
	if _, total, _ := f.st.Runs(ctx, store.RunFilter{WorkspaceID: f.ws}, store.Page{Limit: 1}); total != 500 {
		t.Errorf("total %d", total)
	}
	// a duplicate number fails the whole import
	dup := []store.Run{runs[0], runs[1]}
	dup[0].ID, dup[1].ID = "x1", "x2"
	dup[1].Number = 501
	dup[0].Number = 501
	if err := f.st.ImportRuns(ctx, dup); err == nil {
		t.Fatal("duplicate number imported")
	}
	if _, err := f.st.Run(ctx, "x1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a failed import left run x1: %v", err)
	}
	// the next run created gets the next number
	r, err := f.st.CreateRun(ctx, store.NewRun{WorkspaceID: f.ws, ScriptID: sc.ID, Profile: "prod", Trigger: api.TriggerManual})
	if err != nil || r.Number != 501 {
		t.Errorf("next run: %d %v", r.Number, err)
	}
}
