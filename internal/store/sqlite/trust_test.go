package sqlite

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/dlthub/runtime-action/internal/store"
)

func TestTrustRules(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	other, err := f.st.CreateWorkspace(ctx, f.boot.Organization.ID, "other", f.admin)
	if err != nil {
		t.Fatal(err)
	}
	r1, created, err := f.st.AddTrustRule(ctx, store.TrustRule{WorkspaceID: f.ws, RepositoryID: 42, RepositoryOwnerID: 7})
	if err != nil || !created || r1.ID == "" {
		t.Fatalf("add: %+v %v %v", r1, created, err)
	}
	again, created, err := f.st.AddTrustRule(ctx, store.TrustRule{WorkspaceID: f.ws, RepositoryID: 42, RepositoryOwnerID: 7})
	if err != nil || created || again.ID != r1.ID {
		t.Fatalf("adding the same rule again: %+v created=%v %v, want the first one", again, created, err)
	}
	r2, created, err := f.st.AddTrustRule(ctx, store.TrustRule{WorkspaceID: f.ws, RepositoryID: 42, RepositoryOwnerID: 7, Ref: "refs/heads/main"})
	if err != nil || !created || r2.ID == r1.ID {
		t.Fatalf("a rule with a ref is another rule: %+v %v %v", r2, created, err)
	}
	r3, _, err := f.st.AddTrustRule(ctx, store.TrustRule{WorkspaceID: other.ID, RepositoryID: 42, RepositoryOwnerID: 7, Environment: "prod", WorkflowRef: "o/r/.github/workflows/d.yml@refs/heads/main"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.st.AddTrustRule(ctx, store.TrustRule{WorkspaceID: f.ws, RepositoryID: 43, RepositoryOwnerID: 8}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.st.AddTrustRule(ctx, store.TrustRule{WorkspaceID: "no-such-ws", RepositoryID: 1, RepositoryOwnerID: 1}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown workspace: %v, want ErrNotFound", err)
	}

	ids := func(rs []store.TrustRule) []string {
		var out []string
		for _, r := range rs {
			out = append(out, r.ID)
		}
		return out
	}
	for _, tc := range []struct {
		name string
		got  func() ([]store.TrustRule, error)
		want int
	}{
		{"all", func() ([]store.TrustRule, error) { return f.st.TrustRules(ctx, "") }, 4},
		{"workspace", func() ([]store.TrustRule, error) { return f.st.TrustRules(ctx, f.ws) }, 3},
		{"other workspace", func() ([]store.TrustRule, error) { return f.st.TrustRules(ctx, other.ID) }, 1},
		{"for 42/7", func() ([]store.TrustRule, error) { return f.st.TrustRulesFor(ctx, 42, 7) }, 3},
		{"for 42/8", func() ([]store.TrustRule, error) { return f.st.TrustRulesFor(ctx, 42, 8) }, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs, err := tc.got()
			if err != nil || len(rs) != tc.want {
				t.Fatalf("got %v %v, want %d rules", ids(rs), err, tc.want)
			}
		})
	}
	rs, _ := f.st.TrustRulesFor(ctx, 42, 7)
	if rs[2] != r3 {
		t.Fatalf("stored rule %+v, want %+v", rs[2], r3)
	}
	if err := f.st.RemoveTrustRule(ctx, r1.ID); err != nil {
		t.Fatal(err)
	}
	if err := f.st.RemoveTrustRule(ctx, r1.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("removing twice: %v, want ErrNotFound", err)
	}
	if rs, _ := f.st.TrustRulesFor(ctx, 42, 7); len(rs) != 2 || rs[0].ID != r2.ID {
		t.Fatalf("after remove: %v", ids(rs))
	}
}

func TestUseJTI(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	iss := "https://issuer.example"
	exp := f.clk.now().Add(time.Minute)
	if err := f.st.UseJTI(ctx, iss, "j1", exp); err != nil {
		t.Fatal(err)
	}
	if err := f.st.UseJTI(ctx, iss, "j1", exp); !errors.Is(err, store.ErrJTIUsed) {
		t.Fatalf("second use: %v, want ErrJTIUsed", err)
	}
	if err := f.st.UseJTI(ctx, "https://other.example", "j1", exp); err != nil {
		t.Fatalf("the same id of another issuer: %v", err)
	}
	count := func() int {
		var n int
		if err := f.st.w.QueryRowContext(ctx, `SELECT count(*) FROM oidc_used_jtis`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	// Once expired, the records are pruned by the next use.
	f.clk.add(2 * time.Minute)
	if err := f.st.UseJTI(ctx, iss, "j2", f.clk.now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 1 {
		t.Fatalf("%d records after pruning, want 1", n)
	}
}

func TestEnsureServiceUser(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	other, err := f.st.CreateWorkspace(ctx, f.boot.Organization.ID, "other", f.admin)
	if err != nil {
		t.Fatal(err)
	}
	in := store.ServiceUserInput{WorkspaceID: f.ws, Key: "github-repository:42", Email: "repo:octo/app@github-actions"}
	u1, err := f.st.EnsureServiceUser(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if u1.Email != in.Email || u1.DefaultWorkspaceID != f.ws {
		t.Fatalf("user %+v", u1)
	}
	// A renamed repository keeps its user, with the new name.
	in.Email = "repo:octo/renamed@github-actions"
	u2, err := f.st.EnsureServiceUser(ctx, in)
	if err != nil || u2.ID != u1.ID || u2.Email != in.Email {
		t.Fatalf("again: %+v %v", u2, err)
	}
	if got, _ := f.st.User(ctx, u1.ID); got.Email != in.Email {
		t.Fatalf("stored email %q", got.Email)
	}
	// The same key in another workspace is another user, member of that one only.
	u3, err := f.st.EnsureServiceUser(ctx, store.ServiceUserInput{WorkspaceID: other.ID, Key: in.Key, Email: in.Email})
	if err != nil || u3.ID == u1.ID {
		t.Fatalf("other workspace: %+v %v", u3, err)
	}
	for _, tc := range []struct {
		user, ws string
		member   bool
	}{{u1.ID, f.ws, true}, {u1.ID, other.ID, false}, {u3.ID, other.ID, true}, {u3.ID, f.ws, false}} {
		_, err := f.st.MemberWorkspace(ctx, tc.user, tc.ws)
		if (err == nil) != tc.member {
			t.Errorf("user %s in workspace %s: %v, want member=%v", tc.user, tc.ws, err, tc.member)
		}
	}
}
