package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/dlthub/runtime-action/internal/api"
	"github.com/dlthub/runtime-action/internal/store"
)

// githubUser is the part of GitHub's GET /user answer the exchange reads.
type githubUser struct {
	Login string  `json:"login"`
	ID    int64   `json:"id"`
	Email *string `json:"email"`
}

// tokenExchange swaps a GitHub access token for a Runtime token: GitHub says
// whose token it is, and that login must have been allowed in a workspace
// (serve workspace allow --github LOGIN). The first exchange binds the user
// to the account's numeric id, by which it is found from then on. The contract lists 400 as the only
// refusal of this operation, so a token GitHub refuses and a login that is
// not allowed are both 400, with a detail that tells them apart.
func (s *Server) tokenExchange(w http.ResponseWriter, r *http.Request) error {
	o, err := decodeObject(w, r)
	if err != nil {
		return err
	}
	ghToken, err := o.nonEmptyStr("access_token")
	if err != nil {
		return err
	}
	gu, err := s.githubWhoAmI(r, ghToken)
	if err != nil {
		return err
	}
	res, err := s.admitGitHubUser(r.Context(), gu)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, res)
	return nil
}

// admitGitHubUser issues a Runtime token to the GitHub user gu if an admin
// allowed them (serve workspace allow --github); the token exchange and the
// device flow let in the same users this one way.
func (s *Server) admitGitHubUser(ctx context.Context, gu githubUser) (api.LoginResponse, error) {
	// The account, not its login: a login can be renamed and taken by
	// another account, which must not become the allowed user.
	u, err := s.dir.store.UserForGitHub(ctx, gu.ID, gu.Login)
	if errors.Is(err, store.ErrNotFound) {
		return api.LoginResponse{}, badRequest("github user %q is not allowed on this Runtime: an admin runs `runtime-action serve workspace allow --github %s`",
			gu.Login, gu.Login)
	}
	if err != nil {
		return api.LoginResponse{}, internal("find user", err)
	}
	email := gu.Login + "@users.noreply.github.com"
	if gu.Email != nil && *gu.Email != "" {
		email = *gu.Email
	}
	if u.Email != email {
		if err := s.dir.store.SetUserEmail(ctx, u.ID, email); err != nil {
			return api.LoginResponse{}, internal("update user", err)
		}
		u.Email = email
	}
	tok, err := s.dir.tokens.issue(ctx, s.dir.store, u, "", s.cfg.TokenTTL)
	if err != nil {
		return api.LoginResponse{}, internal("issue token", err)
	}
	return api.LoginResponse{Email: email, ID: u.ID, JWT: tok}, nil
}

// githubWhoAmI asks GitHub's API who owns token. The token goes only into
// the request's Authorization header, never into an error.
func (s *Server) githubWhoAmI(r *http.Request, token string) (githubUser, error) {
	endpoint := strings.TrimRight(s.cfg.GitHubAPIURL, "/") + "/user"
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, endpoint, nil)
	if err != nil {
		return githubUser{}, internal("ask github", err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("X-GitHub-Api-Version", "2022-11-28")
	req.Header.Set("User-Agent", "runtime-action-server")
	resp, err := s.cfg.GitHubClient.Do(req)
	if err != nil {
		return githubUser{}, &Error{Kind: KindBadGateway, Detail: fmt.Sprintf("cannot reach github at %q: try again later", endpoint), Err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return githubUser{}, &Error{Kind: KindBadGateway, Detail: "read github's answer to GET /user", Err: err}
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized:
		return githubUser{}, badRequest("github token refused: GitHub answered 401 to GET /user (expired or revoked?)")
	case resp.StatusCode != http.StatusOK:
		return githubUser{}, errorf(KindBadGateway, "github answered HTTP %d to GET /user", resp.StatusCode)
	}
	var gu githubUser
	if err := json.Unmarshal(body, &gu); err != nil || gu.Login == "" || gu.ID <= 0 {
		return githubUser{}, errorf(KindBadGateway, "github's answer to GET /user holds no login or no numeric id")
	}
	return gu, nil
}
