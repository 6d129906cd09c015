package server

import (
	"errors"
	"net/http"

	"github.com/dlthub/runtime-action/internal/api"
	"github.com/dlthub/runtime-action/internal/store"
)

func (s *Server) me(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p := principalFrom(ctx)
	u, err := s.dir.store.User(ctx, p.UserID)
	if errors.Is(err, store.ErrNotFound) {
		return errorf(KindUnauthorized, "the token's user does not exist on this server: ask the admin for a new token")
	}
	if err != nil {
		return internal("find user", err)
	}
	wsID := u.DefaultWorkspaceID
	if p.WorkspaceID != "" {
		wsID = p.WorkspaceID
	}
	ws, err := s.dir.store.MemberWorkspace(ctx, u.ID, wsID)
	if errors.Is(err, store.ErrNotFound) {
		return errorf(KindForbidden, "user %q is not a member of any workspace: ask the admin to add them", u.Email)
	}
	if err != nil {
		return internal("find default workspace", err)
	}
	org, err := s.dir.store.Organization(ctx, ws.OrganizationID)
	if err != nil {
		return internal("find organization", err)
	}
	writeJSON(w, http.StatusOK, api.Me{
		DefaultOrganization: apiOrganization(org),
		DefaultWorkspace:    apiWorkspace(ws),
		Email:               u.Email,
		IdentityID:          u.IdentityID,
		UserID:              u.ID,
	})
	return nil
}

func (s *Server) getOrganization(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p := principalFrom(ctx)
	id := r.PathValue("organization_id")
	var org store.Organization
	var err error
	if p.WorkspaceID != "" {
		// a restricted token sees only its workspace's organization
		var ws store.Workspace
		if ws, err = s.dir.store.MemberWorkspace(ctx, p.UserID, p.WorkspaceID); err == nil {
			if ws.OrganizationID != id {
				err = store.ErrNotFound
			} else {
				org, err = s.dir.store.Organization(ctx, id)
			}
		}
	} else {
		org, err = s.dir.store.MemberOrganization(ctx, p.UserID, id)
	}
	if errors.Is(err, store.ErrNotFound) {
		return notFound("organization %q not found", id)
	}
	if err != nil {
		return internal("find organization", err)
	}
	writeJSON(w, http.StatusOK, apiOrganization(org))
	return nil
}

func (s *Server) getWorkspace(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, apiWorkspace(callFrom(r).ws))
	return nil
}
