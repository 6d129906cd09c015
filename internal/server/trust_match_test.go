package server

import (
	"strings"
	"testing"

	"github.com/dlthub/runtime-action/internal/oidc"
	"github.com/dlthub/runtime-action/internal/store"
)

// TestRuleMismatch checks ruleMismatch on its own: the store's query picks
// rules by the two ids already, so the exchange tests cannot tell whether
// this function compares them too, as its comment promises.
func TestRuleMismatch(t *testing.T) {
	t.Parallel()
	claims := func() *oidc.Claims {
		return &oidc.Claims{
			Repository: "octo/app", RepositoryID: "42", RepositoryOwnerID: "7",
			Ref: "refs/heads/main", Environment: "prod", JobWorkflowRef: "octo/app/.github/workflows/deploy.yml@refs/heads/main",
		}
	}
	rule := store.TrustRule{RepositoryID: 42, RepositoryOwnerID: 7}
	for _, tc := range []struct {
		name   string
		rule   func(*store.TrustRule)
		claims func(*oidc.Claims)
		want   string // "" for a match, else a part of the reason
	}{
		{name: "ids only", want: ""},
		{name: "every claim", rule: func(r *store.TrustRule) {
			r.Ref, r.Environment, r.WorkflowRef = "refs/heads/main", "prod", "octo/app/.github/workflows/deploy.yml@refs/heads/main"
		}, want: ""},
		{name: "another repository", claims: func(c *oidc.Claims) { c.RepositoryID = "43" }, want: `repository_id "43" is not 42`},
		{name: "another owner", claims: func(c *oidc.Claims) { c.RepositoryOwnerID = "8" }, want: `repository_owner_id "8" is not 7`},
		{name: "owner id not a number", claims: func(c *oidc.Claims) { c.RepositoryOwnerID = "07" }, want: `repository_owner_id "07" is not 7`},
		{name: "repository id missing", claims: func(c *oidc.Claims) { c.RepositoryID = "" }, want: `repository_id "" is not 42`},
		{name: "another ref", rule: func(r *store.TrustRule) { r.Ref = "refs/heads/release" }, want: `ref "refs/heads/main" is not "refs/heads/release"`},
		{name: "no environment", rule: func(r *store.TrustRule) { r.Environment = "prod" }, claims: func(c *oidc.Claims) { c.Environment = "" },
			want: `environment "" is not "prod"`},
		{name: "another workflow", rule: func(r *store.TrustRule) { r.WorkflowRef = "octo/app/.github/workflows/other.yml@refs/heads/main" },
			want: `job_workflow_ref "octo/app/.github/workflows/deploy.yml@refs/heads/main" is not`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, c := rule, claims()
			if tc.rule != nil {
				tc.rule(&r)
			}
			if tc.claims != nil {
				tc.claims(c)
			}
			got := ruleMismatch(r, c)
			if tc.want == "" && got != "" {
				t.Errorf("ruleMismatch = %q, want a match", got)
			}
			if tc.want != "" && !strings.Contains(got, tc.want) {
				t.Errorf("ruleMismatch = %q, want a reason holding %q", got, tc.want)
			}
		})
	}
}
