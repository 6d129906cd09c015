package sqlite

import (
	"context"
	"errors"
	"testing"

	"github.com/dlthub/runtime-action/internal/store"
)

// TestUserForGitHub: a GitHub user is found by its numeric id once bound;
// a renamed login follows its account, a recycled one does not.
func TestUserForGitHub(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	allow := func(login string) store.User {
		t.Helper()
		u, err := f.st.EnsureUser(ctx, store.UserInput{GitHubLogin: login, WorkspaceID: f.ws})
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	login := func(id int64, name string) (store.User, error) {
		t.Helper()
		return f.st.UserForGitHub(ctx, id, name)
	}
	alice := allow("alice")
	for _, step := range []struct {
		name    string
		id      int64
		login   string
		want    string // user id; "" for ErrNotFound
		stored  string // the login the user holds after
		boundTo int64
	}{
		{"first exchange binds the allowed login", 101, "Alice", alice.ID, "alice", 101},
		{"same account again", 101, "alice", alice.ID, "alice", 101},
		{"the login taken by another account", 202, "alice", "", "", 0},
		{"the account, renamed", 101, "alice-2", alice.ID, "alice-2", 101},
		{"an account never allowed", 303, "mallory", "", "", 0},
	} {
		u, err := login(step.id, step.login)
		if step.want == "" {
			if !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("%s: got %+v %v, want not found", step.name, u, err)
			}
			continue
		}
		if err != nil || u.ID != step.want || u.GitHubID != step.boundTo {
			t.Fatalf("%s: got %+v %v, want user %s bound to %d", step.name, u, err, step.want, step.boundTo)
		}
		if got, _ := f.st.User(ctx, u.ID); got.GitHubLogin != step.stored || got.GitHubID != step.boundTo {
			t.Fatalf("%s: stored login %q id %d, want %q %d", step.name, got.GitHubLogin, got.GitHubID, step.stored, step.boundTo)
		}
	}
	// The recycled login is the first user's no more: allowed again, it is
	// a new user, which the new account binds.
	again := allow("alice")
	if again.ID == alice.ID {
		t.Fatal("allowing the recycled login gave the first account's user")
	}
	if u, err := login(202, "alice"); err != nil || u.ID != again.ID {
		t.Fatalf("new account of the login: %+v %v", u, err)
	}
	if u, err := login(101, "alice-2"); err != nil || u.ID != alice.ID {
		t.Fatalf("first account: %+v %v", u, err)
	}
	if _, err := login(0, "alice"); err == nil {
		t.Error("id 0 accepted")
	}
}
