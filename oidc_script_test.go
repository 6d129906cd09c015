package main

import (
	"flag"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/dlthub/runtime-action/internal/oidctest"
)

// cmdOIDCProvider starts a stand-in for GitHub's OIDC token service (an
// issuer with its discovery document and JWKS, signing RS256 ID tokens with
// GitHub's claims) and for the runner's ID-token endpoint, and sets
// OIDC_ISSUER (for runtime-server -oidc-issuer), OIDC_REQUEST_URL and
// OIDC_REQUEST_TOKEN (for ACTIONS_ID_TOKEN_REQUEST_URL and _TOKEN).
//
//	oidc-provider [-repository OWNER/NAME] [-repository-id N] [-owner-id N] [-ref REF] [-environment NAME]
func cmdOIDCProvider(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! oidc-provider")
	}
	id := oidctest.DefaultIdentity()
	fs := flag.NewFlagSet("oidc-provider", flag.ContinueOnError)
	fs.StringVar(&id.Repository, "repository", id.Repository, "repository claim, OWNER/NAME")
	fs.StringVar(&id.RepositoryID, "repository-id", id.RepositoryID, "repository_id claim")
	fs.StringVar(&id.RepositoryOwnerID, "owner-id", id.RepositoryOwnerID, "repository_owner_id claim")
	fs.StringVar(&id.Ref, "ref", id.Ref, "ref claim")
	fs.StringVar(&id.Environment, "environment", "", "environment claim")
	if err := fs.Parse(args); err != nil {
		ts.Fatalf("oidc-provider: %v", err)
	}
	p, err := oidctest.Start(oidctest.Options{Identity: id})
	ts.Check(err)
	ts.Defer(p.Close)
	ts.Setenv("OIDC_ISSUER", p.URL)
	ts.Setenv("OIDC_REQUEST_URL", p.RunnerURL())
	ts.Setenv("OIDC_REQUEST_TOKEN", p.RequestToken)
}
