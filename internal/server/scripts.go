package server

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/dlthub/runtime-action/internal/api"
	"github.com/dlthub/runtime-action/internal/dispatch"
	"github.com/dlthub/runtime-action/internal/store"
)

var scriptTypes = []api.ScriptType{api.ScriptBatch, api.ScriptInteractive}

func (s *Server) upsertScript(w http.ResponseWriter, r *http.Request) error {
	c := callFrom(r)
	o, err := decodeObject(w, r)
	if err != nil {
		return err
	}
	in := store.ScriptInput{WorkspaceID: c.ws.ID, CreatedBy: c.p.UserID, Active: true}
	if in.Description, err = o.str("description"); err != nil {
		return err
	}
	if in.EntryPoint, err = o.str("entry_point"); err != nil {
		return err
	}
	if err := checkRelPath("entry_point", in.EntryPoint); err != nil {
		return err
	}
	if in.Name, err = o.str("name"); err != nil {
		return err
	}
	if err := checkRelPath("name", in.Name); err != nil {
		return err
	}
	st, err := o.str("script_type")
	if err != nil {
		return err
	}
	in.ScriptType = api.ScriptType(st)
	if !in.ScriptType.Valid() {
		return enumError("script_type", st, scriptTypes)
	}
	active, err := o.optBool("active")
	if err != nil {
		return err
	}
	if active != nil {
		in.Active = *active
	}
	if in.Profile, err = o.optStr("profile"); err != nil {
		return err
	}
	if in.Profile != nil && !api.ValidProfile(*in.Profile) {
		return badRequest("field \"profile\": invalid profile %q: use letters, digits, - and _ (not first), at most 64", *in.Profile)
	}
	if in.Schedule, err = o.optStr("schedule"); err != nil {
		return err
	}
	if in.Schedule != nil {
		sched, err := dispatch.ParseSchedule(*in.Schedule)
		if err != nil {
			return badRequest("%s", err)
		}
		if in.Active {
			next := sched.Next(s.cfg.Now().UTC()).UTC() // the schedule is in UTC, whatever the local zone
			in.NextScheduledRun = &next
		}
	}
	sc, _, err := s.dir.store.UpsertScript(r.Context(), in)
	if err != nil {
		return internal("save script", err)
	}
	writeJSON(w, http.StatusCreated, apiScript(s.baseURL(), sc))
	return nil
}

func (s *Server) listScripts(w http.ResponseWriter, r *http.Request) error {
	c := callFrom(r)
	pg, err := page(r)
	if err != nil {
		return err
	}
	scripts, total, err := s.dir.store.Scripts(r.Context(), c.ws.ID, pg)
	if err != nil {
		return internal("list scripts", err)
	}
	base := s.baseURL()
	items := make([]api.DetailedScript, len(scripts))
	for i, sc := range scripts {
		if items[i], err = s.detailedScript(r.Context(), base, sc); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, api.Page[api.DetailedScript]{Items: items, Limit: pg.Limit, Offset: pg.Offset, Total: total})
	return nil
}

func (s *Server) detailedScript(ctx context.Context, base string, sc store.Script) (api.DetailedScript, error) {
	d := api.DetailedScript{Script: apiScript(base, sc)}
	last, err := s.dir.store.LatestRun(ctx, store.RunFilter{WorkspaceID: sc.WorkspaceID, ScriptID: sc.ID})
	switch {
	case err == nil:
		run := apiRun(last)
		d.LastRun = &run
	case !errors.Is(err, store.ErrNotFound):
		return d, internal("find last run", err)
	}
	return d, nil
}

// findScript finds a script by id or by name.
func (s *Server) findScript(ctx context.Context, wsID, idOrName string) (store.Script, error) {
	if _, perr := uuid.Parse(idOrName); perr == nil {
		sc, err := s.dir.store.ScriptByID(ctx, wsID, idOrName)
		if !errors.Is(err, store.ErrNotFound) {
			return sc, err
		}
	}
	return s.dir.store.ScriptByName(ctx, wsID, idOrName)
}

// scriptsSubtree routes GET .../scripts/{rest...} by hand: a script name may
// hold slashes, percent-encoded as one segment (jobs%2Fload.py) or sent as
// they are (jobs/load.py, jobs/load.py/versions/latest). The whole rest as
// a name is tried first, then the /versions forms.
func (s *Server) scriptsSubtree(w http.ResponseWriter, r *http.Request) error {
	c := callFrom(r)
	ctx := r.Context()
	escaped := r.URL.EscapedPath()
	i := strings.Index(escaped, "/scripts/")
	if i < 0 {
		return notFound("no such path: %s %s", r.Method, r.URL.Path)
	}
	segs := strings.Split(escaped[i+len("/scripts/"):], "/")
	name := func(segs []string) (string, bool) {
		parts := make([]string, len(segs))
		for i, seg := range segs {
			p, err := url.PathUnescape(seg)
			if err != nil {
				return "", false
			}
			parts[i] = p
		}
		return strings.Join(parts, "/"), true
	}
	lookup := func(segs []string) (store.Script, bool, error) {
		n, ok := name(segs)
		if !ok || n == "" {
			return store.Script{}, false, nil
		}
		sc, err := s.findScript(ctx, c.ws.ID, n)
		if errors.Is(err, store.ErrNotFound) {
			return sc, false, nil
		}
		if err != nil {
			return sc, false, internal("find script", err)
		}
		return sc, true, nil
	}

	if sc, ok, err := lookup(segs); err != nil {
		return err
	} else if ok {
		d, err := s.detailedScript(ctx, s.baseURL(), sc)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, d)
		return nil
	}
	n := len(segs)
	if n >= 2 && segs[n-1] == "versions" {
		sc, ok, err := lookup(segs[:n-1])
		if err != nil {
			return err
		}
		if ok {
			return s.listScriptVersions(w, r, sc)
		}
	}
	if n >= 3 && segs[n-2] == "versions" {
		sc, ok, err := lookup(segs[:n-2])
		if err != nil {
			return err
		}
		if ok {
			sel, _ := url.PathUnescape(segs[n-1])
			return s.getScriptVersion(w, r, sc, sel)
		}
	}
	full, _ := name(segs)
	return notFound("script %q not found", full)
}

func (s *Server) listScriptVersions(w http.ResponseWriter, r *http.Request, sc store.Script) error {
	pg, err := page(r)
	if err != nil {
		return err
	}
	vs, total, err := s.dir.store.ScriptVersions(r.Context(), sc.ID, pg)
	if err != nil {
		return internal("list script versions", err)
	}
	items := make([]api.ScriptVersion, len(vs))
	for i, v := range vs {
		items[i] = apiScriptVersion(v)
	}
	writeJSON(w, http.StatusOK, api.Page[api.ScriptVersion]{Items: items, Limit: pg.Limit, Offset: pg.Offset, Total: total})
	return nil
}

func (s *Server) getScriptVersion(w http.ResponseWriter, r *http.Request, sc store.Script, sel string) error {
	var v store.ScriptVersion
	var err error
	switch {
	case sel == "latest":
		v, err = s.dir.store.ScriptVersionByID(r.Context(), sc.ID, sc.VersionID)
	case isVersion(sel):
		n, _ := strconv.Atoi(sel)
		v, err = s.dir.store.ScriptVersionByNumber(r.Context(), sc.ID, n)
	default:
		v, err = s.dir.store.ScriptVersionByID(r.Context(), sc.ID, sel)
	}
	if errors.Is(err, store.ErrNotFound) {
		return notFound("version %q of script %q not found", sel, sc.Name)
	}
	if err != nil {
		return internal("find script version", err)
	}
	writeJSON(w, http.StatusOK, apiScriptVersion(v))
	return nil
}
