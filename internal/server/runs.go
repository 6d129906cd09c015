package server

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"strings"

	"github.com/google/uuid"

	"github.com/dlthub/runtime-action/internal/api"
	"github.com/dlthub/runtime-action/internal/store"
)

func (s *Server) createRun(w http.ResponseWriter, r *http.Request) error {
	c := callFrom(r)
	ctx := r.Context()
	o, err := decodeObject(w, r)
	if err != nil {
		return err
	}
	ref, err := o.str("script_id_or_name")
	if err != nil {
		return err
	}
	profile, err := o.optStr("profile")
	if err != nil {
		return err
	}
	sc, err := s.findScript(ctx, c.ws.ID, ref)
	if errors.Is(err, store.ErrNotFound) {
		return notFound("script %q not found", ref)
	}
	if err != nil {
		return internal("find script", err)
	}
	prof := ""
	switch {
	case profile != nil:
		prof = *profile
	case sc.Profile != nil:
		prof = *sc.Profile
	case sc.ScriptType == api.ScriptInteractive:
		prof = "access"
	default:
		prof = "prod"
	}
	if !api.ValidProfile(prof) {
		return badRequest("field \"profile\": invalid profile %q: use letters, digits, - and _ (not first), at most 64", prof)
	}
	by := c.p.UserID
	run, err := s.dir.store.CreateRun(ctx, store.NewRun{
		WorkspaceID: c.ws.ID, ScriptID: sc.ID, Profile: prof, Trigger: api.TriggerManual, TriggeredBy: &by})
	switch {
	case errors.Is(err, store.ErrNoDeployment):
		return badRequest("the workspace has no deployment yet: upload one first")
	case errors.Is(err, store.ErrNoConfiguration):
		return badRequest("the workspace has no configuration yet: upload one first")
	case errors.Is(err, store.ErrNotFound):
		return notFound("script %q not found", ref)
	case err != nil:
		return internal("create run", err)
	}
	s.sched.Wake()
	writeJSON(w, http.StatusCreated, apiRun(run))
	return nil
}

// runOf finds the path's run in the caller's workspace.
func (s *Server) runOf(r *http.Request) (store.Run, error) {
	c := callFrom(r)
	id := r.PathValue("run_id")
	if _, err := uuid.Parse(id); err != nil {
		return store.Run{}, notFound("run %q not found", id)
	}
	run, err := s.dir.store.Run(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && run.WorkspaceID != c.ws.ID) {
		return store.Run{}, notFound("run %q not found", id)
	}
	if err != nil {
		return store.Run{}, internal("find run", err)
	}
	return run, nil
}

func (s *Server) detailedRun(ctx context.Context, base string, run store.Run) (api.DetailedRun, error) {
	sc, err := s.dir.store.ScriptByID(ctx, run.WorkspaceID, run.ScriptID)
	if err != nil {
		return api.DetailedRun{}, internal("find script of run", err)
	}
	return api.DetailedRun{Run: apiRun(run), Script: apiScript(base, sc)}, nil
}

func (s *Server) writeDetailedRun(w http.ResponseWriter, r *http.Request, status int, run store.Run) error {
	d, err := s.detailedRun(r.Context(), s.baseURL(), run)
	if err != nil {
		return err
	}
	writeJSON(w, status, d)
	return nil
}

func (s *Server) getRun(w http.ResponseWriter, r *http.Request) error {
	run, err := s.runOf(r)
	if err != nil {
		return err
	}
	return s.writeDetailedRun(w, r, http.StatusOK, run)
}

// runFilter reads the script_id and status query parameters.
func runFilter(r *http.Request, wsID string) (store.RunFilter, error) {
	f := store.RunFilter{WorkspaceID: wsID}
	q := r.URL.Query()
	if v := q.Get("script_id"); v != "" {
		if _, err := uuid.Parse(v); err != nil {
			return f, badRequest("query parameter \"script_id\": %q is not a UUID", v)
		}
		f.ScriptID = v
	}
	if v := q.Get("status"); v != "" {
		f.Status = api.RunStatus(v)
		if !f.Status.Valid() {
			names := make([]string, len(api.RunStatuses))
			for i, st := range api.RunStatuses {
				names[i] = string(st)
			}
			return f, badRequest("query parameter \"status\": invalid value %q, expected one of %s", v, strings.Join(names, ", "))
		}
	}
	return f, nil
}

func (s *Server) listRuns(w http.ResponseWriter, r *http.Request) error {
	c := callFrom(r)
	f, err := runFilter(r, c.ws.ID)
	if err != nil {
		return err
	}
	pg, err := page(r)
	if err != nil {
		return err
	}
	runs, total, err := s.dir.store.Runs(r.Context(), f, pg)
	if err != nil {
		return internal("list runs", err)
	}
	base := s.baseURL()
	scripts := map[string]api.Script{}
	items := make([]api.DetailedRun, len(runs))
	for i, run := range runs {
		sc, ok := scripts[run.ScriptID]
		if !ok {
			st, err := s.dir.store.ScriptByID(r.Context(), run.WorkspaceID, run.ScriptID)
			if err != nil {
				return internal("find script of run", err)
			}
			sc = apiScript(base, st)
			scripts[run.ScriptID] = sc
		}
		items[i] = api.DetailedRun{Run: apiRun(run), Script: sc}
	}
	writeJSON(w, http.StatusOK, api.Page[api.DetailedRun]{Items: items, Limit: pg.Limit, Offset: pg.Offset, Total: total})
	return nil
}

func (s *Server) getLatestRun(w http.ResponseWriter, r *http.Request) error {
	c := callFrom(r)
	f, err := runFilter(r, c.ws.ID)
	if err != nil {
		return err
	}
	run, err := s.dir.store.LatestRun(r.Context(), f)
	if errors.Is(err, store.ErrNotFound) {
		return notFound("no run found")
	}
	if err != nil {
		return internal("find latest run", err)
	}
	return s.writeDetailedRun(w, r, http.StatusOK, run)
}

func (s *Server) cancelRun(w http.ResponseWriter, r *http.Request) error {
	run, err := s.runOf(r)
	if err != nil {
		return err
	}
	if run.Status.Terminal() {
		return badRequest("run %q is in a terminal state (%s): nothing to cancel", run.ID, run.Status)
	}
	run, err = s.dir.store.CancelRun(r.Context(), run.ID)
	if errors.Is(err, store.ErrTerminal) {
		return badRequest("run %q is in a terminal state: nothing to cancel", r.PathValue("run_id"))
	}
	if err != nil {
		return internal("cancel run", err)
	}
	s.events.statusChanged(run.ID)
	if run.Status == api.StatusCancelling {
		s.sched.Cancel(run.ID)
	}
	return s.writeDetailedRun(w, r, http.StatusCreated, run)
}

// getRunLogs answers the whole log as the contract's LogsResponse. The log
// is read from its file and escaped into the answer a piece at a time (up to
// 50 MB per log, several readers at once: a whole copy per request would
// not do).
func (s *Server) getRunLogs(w http.ResponseWriter, r *http.Request) error {
	run, err := s.runOf(r)
	if err != nil {
		return err
	}
	d, err := s.detailedRun(r.Context(), s.baseURL(), run)
	if err != nil {
		return err
	}
	head, err := json.Marshal(d)
	if err != nil {
		return internal("encode run", err)
	}
	// The run was read first: when it is terminal, the executor had
	// written the whole log before, so what is read now is complete.
	if _, err := os.Stat(s.logPath(run.ID)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return internal("read run log", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_ = sendHead(w)
	// Up to 50 MB: each write has its own deadline rather than one for
	// the answer (limits.go).
	s.longAnswers.Add(1)
	defer s.longAnswers.Add(-1)
	bw := bufio.NewWriterSize(s.extendWrites(w), logReadSize)
	bw.WriteString(`{"run":`)
	bw.Write(head)
	bw.WriteString(`,"logs":"`)
	js := &jsonStringWriter{w: bw}
	err = newLogCursor(s.logPath(run.ID)).next(run.Status.Terminal(), 0, func(text []byte, _ int64) error {
		return js.write(text)
	})
	if err != nil {
		// The answer has started: cut it off, so that the client sees a
		// broken answer rather than a shorter log.
		s.log.Error("read run log", "run", run.ID, "error", err)
		panic(http.ErrAbortHandler)
	}
	bw.WriteString("\"}\n")
	_ = bw.Flush()
	return nil
}
