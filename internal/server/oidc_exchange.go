package server

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/dlthub/runtime-action/internal/api"
	"github.com/dlthub/runtime-action/internal/oidc"
	"github.com/dlthub/runtime-action/internal/store"
)

// errNoTrustRule is the one answer to a good token that no rule lets in. It
// says nothing about which claim failed (the log does): a caller probing the
// rules learns nothing from it.
const errNoTrustRule = "no trust rule matches this token"

// oidcExchange swaps a GitHub Actions ID token for a Runtime token limited
// to one workspace, whose trust rules the token's claims match. Every
// refusal is a 4xx with a line in the log, at info level, saying why.
func (s *Server) oidcExchange(w http.ResponseWriter, r *http.Request) error {
	x := &oidcAttempt{}
	res, err := s.exchangeOIDC(w, r, x)
	if err != nil {
		var e *Error
		if errors.As(err, &e) && e.Kind != KindInternal {
			level := s.log.Info
			if e.Kind == KindBadGateway {
				level = s.log.Warn
			}
			level("oidc exchange refused", append(x.logAttrs(), "status", e.Kind.Status(), "reason", e.Error())...)
		}
		return err
	}
	s.log.Info("oidc exchange", append(x.logAttrs(), "user", res.ID, "email", res.Email)...)
	writeJSON(w, http.StatusCreated, res)
	return nil
}

// verifyError is the answer to a token the verifier did not accept: 401
// for a wrong token, 502 when the issuer's keys cannot be had.
func verifyError(err error) error {
	var re *oidc.RefusedError
	if errors.As(err, &re) {
		return &Error{Kind: KindUnauthorized, Detail: re.Error()}
	}
	var ie *oidc.IssuerError
	if errors.As(err, &ie) {
		return &Error{Kind: KindBadGateway, Detail: ie.Error(), Err: ie.Err}
	}
	return internal("verify ID token", err)
}

// refused is an ID token that passed verification but cannot be
// exchanged: 401 with detail, as the verifier's refusals.
func refused(format string, args ...any) *Error {
	return errorf(KindUnauthorized, "ID token refused: "+format, args...)
}

// oidcAttempt is what the log says of an exchange: never the token.
type oidcAttempt struct {
	c         *oidc.Claims
	workspace string
	rule      string
}

func (x *oidcAttempt) logAttrs() []any {
	if x.c == nil {
		return nil
	}
	a := []any{"repository", x.c.Repository, "repository_id", x.c.RepositoryID, "repository_owner_id", x.c.RepositoryOwnerID,
		"ref", x.c.Ref, "jti", x.c.ID}
	if x.c.Environment != "" {
		a = append(a, "environment", x.c.Environment)
	}
	if x.workspace != "" {
		a = append(a, "workspace", x.workspace)
	}
	if x.rule != "" {
		a = append(a, "rule", x.rule)
	}
	return a
}

func (s *Server) exchangeOIDC(w http.ResponseWriter, r *http.Request, x *oidcAttempt) (api.LoginResponse, error) {
	ctx := r.Context()
	o, err := decodeObject(w, r)
	if err != nil {
		return api.LoginResponse{}, err
	}
	tok, err := o.str("token")
	if err != nil {
		return api.LoginResponse{}, err
	}
	tok = strings.TrimSpace(tok)
	if tok == "" {
		return api.LoginResponse{}, badRequest("field \"token\" must not be empty: send the GitHub Actions ID token")
	}
	wantWS := ""
	if p, err := o.optStr("workspace_id"); err != nil {
		return api.LoginResponse{}, err
	} else if p != nil && *p != "" {
		if _, err := uuid.Parse(*p); err != nil {
			return api.LoginResponse{}, badRequest("field \"workspace_id\": %q is not a workspace id (a UUID)", *p)
		}
		wantWS = strings.ToLower(*p)
	}
	c, err := s.oidc.Verify(ctx, tok)
	if err != nil {
		return api.LoginResponse{}, verifyError(err)
	}
	x.c = c
	forbidden := func(format string, args ...any) error {
		return &Error{Kind: KindForbidden, Detail: errNoTrustRule, Err: fmt.Errorf(format, args...)}
	}
	repoID, ok1 := parseGitHubID(c.RepositoryID)
	ownerID, ok2 := parseGitHubID(c.RepositoryOwnerID)
	if !ok1 || !ok2 {
		return api.LoginResponse{}, forbidden("the token's repository_id %q or repository_owner_id %q is not a numeric id", c.RepositoryID, c.RepositoryOwnerID)
	}
	rules, err := s.dir.store.TrustRulesFor(ctx, repoID, ownerID)
	if err != nil {
		return api.LoginResponse{}, internal("find trust rules", err)
	}
	if len(rules) == 0 {
		return api.LoginResponse{}, forbidden("no rule for repository id %d and owner id %d", repoID, ownerID)
	}
	var matched []store.TrustRule
	var misses []string
	for _, rule := range rules {
		if why := ruleMismatch(rule, c); why != "" {
			misses = append(misses, "rule "+rule.ID+": "+why)
			continue
		}
		matched = append(matched, rule)
	}
	if len(matched) == 0 {
		return api.LoginResponse{}, forbidden("%s", strings.Join(misses, "; "))
	}
	var rule store.TrustRule
	var workspaces []string
	seen := map[string]bool{}
	for _, m := range matched {
		if !seen[m.WorkspaceID] {
			seen[m.WorkspaceID] = true
			workspaces = append(workspaces, m.WorkspaceID)
		}
		if wantWS != "" && m.WorkspaceID == wantWS && rule.ID == "" {
			rule = m
		}
	}
	switch {
	case wantWS != "" && rule.ID == "":
		return api.LoginResponse{}, forbidden("the request asks for workspace %s; the token's matching rules are of %s", wantWS, strings.Join(workspaces, ", "))
	case wantWS == "" && len(workspaces) > 1:
		return api.LoginResponse{}, badRequest("the token matches trust rules of %d workspaces (%s): pass workspace_id to choose one (the Action's workspace-id input)",
			len(workspaces), strings.Join(workspaces, ", "))
	case wantWS == "":
		rule = matched[0]
	}
	x.workspace, x.rule = rule.WorkspaceID, rule.ID
	// Used up only now: a token refused above can still be sent again, e.g.
	// with the workspace_id it lacked. The store's insert decides a race
	// between two requests with the same token.
	expires := c.ExpiresAt.Add(s.oidc.Config().Leeway)
	if err := s.dir.store.UseJTI(ctx, s.oidc.Config().Issuer, c.ID, expires); err != nil {
		if errors.Is(err, store.ErrJTIUsed) {
			return api.LoginResponse{}, refused("it was exchanged before (jti %q): request a new one", c.ID)
		}
		return api.LoginResponse{}, internal("record token id", err)
	}
	u, err := s.dir.store.EnsureServiceUser(ctx, store.ServiceUserInput{
		WorkspaceID: rule.WorkspaceID,
		Key:         "github-repository:" + strconv.FormatInt(repoID, 10),
		Email:       serviceEmail(c.Repository, repoID),
	})
	if err != nil {
		return api.LoginResponse{}, internal("find service user", err)
	}
	jwt, err := s.dir.tokens.issue(ctx, s.dir.store, u, rule.WorkspaceID, s.cfg.OIDCTokenTTL)
	if err != nil {
		return api.LoginResponse{}, internal("issue token", err)
	}
	return api.LoginResponse{Email: u.Email, ID: u.ID, JWT: jwt}, nil
}

// ruleMismatch says which claim keeps rule from matching c ("" when it
// matches). The ids were compared by the store's query already; they are
// compared again so that this function alone decides.
func ruleMismatch(rule store.TrustRule, c *oidc.Claims) string {
	repoID, _ := parseGitHubID(c.RepositoryID)
	ownerID, _ := parseGitHubID(c.RepositoryOwnerID)
	switch {
	case repoID != rule.RepositoryID:
		return fmt.Sprintf("repository_id %q is not %d", c.RepositoryID, rule.RepositoryID)
	case ownerID != rule.RepositoryOwnerID:
		return fmt.Sprintf("repository_owner_id %q is not %d", c.RepositoryOwnerID, rule.RepositoryOwnerID)
	case rule.Ref != "" && c.Ref != rule.Ref:
		return fmt.Sprintf("ref %q is not %q", c.Ref, rule.Ref)
	case rule.Environment != "" && c.Environment != rule.Environment:
		return fmt.Sprintf("environment %q is not %q", c.Environment, rule.Environment)
	case rule.WorkflowRef != "" && c.JobWorkflowRef != rule.WorkflowRef:
		return fmt.Sprintf("job_workflow_ref %q is not %q", c.JobWorkflowRef, rule.WorkflowRef)
	}
	return ""
}

// parseGitHubID reads a GitHub id: a positive decimal integer, in the
// token a string of digits and nothing else.
func parseGitHubID(s string) (int64, bool) {
	if s == "" || s[0] < '1' || s[0] > '9' {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, false
	}
	return n, true
}

// repositoryName is what GitHub allows in owner/name.
var repositoryName = regexp.MustCompile(`^[A-Za-z0-9-]{1,39}/[A-Za-z0-9._-]{1,100}$`)

// serviceEmail names a repository's service user for people: the name is
// only a label (the user is found by the repository id), and a name that
// does not look like GitHub's gives way to the id.
func serviceEmail(repository string, id int64) string {
	if !repositoryName.MatchString(repository) {
		repository = "id-" + strconv.FormatInt(id, 10)
	}
	return "repo:" + repository + "@github-actions"
}
