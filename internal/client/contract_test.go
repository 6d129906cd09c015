package client

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dlthub/runtime-action/internal/api"
)

// Ids of the stand-in's objects.
const (
	cUser   = "6f1f4c1e-2b7a-4bde-9a52-5d0c6c8c9d10"
	cOrg    = "0b6f3a8e-4f6c-4d44-8a6b-0c1e2d3f4a5b"
	cWS     = "3c2b1a09-8f7e-4d6c-9b5a-4f3e2d1c0b9a"
	cScript = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
	cRun    = "1d2c3b4a-5f6e-4d7c-8b9a-0f1e2d3c4b5a"
	cDep    = "7e6d5c4b-3a29-4817-a6b5-c4d3e2f1a0b9"
)

// pyRun is a run as a Python service may write it: timestamps without a
// zone or with +00:00, nullable properties null or left out, and a property
// this client does not know.
const pyRun = `{"id": "` + cRun + `", "number": 3, "status": "cancelling", "trigger": "schedule",
	"configuration_id": "c0c0c0c0-0000-4000-8000-000000000001", "deployment_id": "` + cDep + `",
	"script_version_id": "5a5a5a5a-0000-4000-8000-000000000002", "workspace_id": "` + cWS + `",
	"date_added": "2026-01-02T03:04:05.123456", "date_updated": "2026-01-02T03:04:06+00:00",
	"duration": null, "time_started": "2026-01-02T03:04:05.5+00:00", "triggered_by": null,
	"compute": {"cpu": 1}}`

// pyScript is a script with only the required properties, and one more.
const pyScript = `{"id": "` + cScript + `", "name": "jobs/load.py", "entry_point": "jobs/load.py", "description": "",
	"script_type": "batch", "active": true, "created_by": "` + cUser + `", "version": 2,
	"script_url": "", "workspace_id": "` + cWS + `",
	"date_added": "2026-01-02T03:04:05", "date_updated": "2026-01-02T03:04:05", "owner": "team"}`

// TestContractShapes: the client reads every answer the contract allows
// (nullable properties null or missing, optional ones missing, properties
// it does not know, timestamps as a Python service writes them, list pages
// without items, 200 or 201) from a stand-in of dltHub's service, and sends
// the fields, paths and parts the contract asks for.
func TestContractShapes(t *testing.T) {
	type sent struct {
		method, path, query, contentType string
		body                             []byte
	}
	var mu sync.Mutex
	var got []sent
	answers := map[string]struct {
		status int
		body   string
	}{
		"GET /v1/me": {200, `{"default_organization": {"id": "` + cOrg + `", "name": "org", "date_added": "2026-01-02T03:04:05.123456",
			"date_updated": "2026-01-02T03:04:05.123456"}, "default_workspace": {"id": "` + cWS + `", "name": "main", "description": null,
			"date_added": "2026-01-02T03:04:05Z", "date_updated": "2026-01-02T03:04:05Z", "settings": {}},
			"email": "a@example.com", "identity_id": "` + cUser + `", "user_id": "` + cUser + `", "plan": "free"}`},
		"GET /v1/workspaces/" + cWS + "/deployments/latest": {200, `{"id": "` + cDep + `", "version": 4, "content_hash": "h", "created_by": "` + cUser + `",
			"file_count": 2, "file_names": "a.py, jobs/load.py", "size": 1234, "workspace_id": "` + cWS + `",
			"date_added": "2026-01-02T03:04:05", "date_updated": "2026-01-02T03:04:05", "storage_key": "x"}`},
		"POST /v1/workspaces/" + cWS + "/configurations": {201, `{"id": "` + cDep + `", "version": 1, "content_hash": "h", "created_by": "` + cUser + `",
			"file_count": 1, "file_names": "config.toml", "size": 99, "workspace_id": "` + cWS + `", "profiles": "",
			"date_added": "2026-01-02T03:04:05", "date_updated": "2026-01-02T03:04:05"}`},
		"GET /v1/workspaces/" + cWS + "/configurations":                         {200, `{"total": 0, "limit": 100, "offset": 0}`},
		"GET /v1/workspaces/" + cWS + "/deployments":                            {200, `{"items": null, "total": 0}`},
		"GET /v1/workspaces/" + cWS + "/scripts/jobs%2Fload.py":                 {200, pyScript},
		"POST /v1/workspaces/" + cWS + "/scripts":                               {201, pyScript},
		"GET /v1/workspaces/" + cWS + "/scripts":                                {200, `{"items": [` + strings.Replace(pyScript, `"owner"`, `"last_run": `+pyRun+`, "owner"`, 1) + `]}`},
		"GET /v1/workspaces/" + cWS + "/scripts/jobs%2Fload.py/versions/latest": {200, strings.Replace(pyScript, `"script_url": "",`, `"script_id": "`+cScript+`",`, 1)},
		"GET /v1/workspaces/" + cWS + "/runs/latest":                            {404, `{"detail": "Not Found"}`},
		"POST /v1/workspaces/" + cWS + "/runs":                                  {201, pyRun},
		"GET /v1/workspaces/" + cWS + "/runs":                                   {200, `{"items": [` + strings.Replace(pyRun, `"compute"`, `"script": `+pyScript+`, "compute"`, 1) + `], "total": 7, "limit": 1, "offset": 2}`},
		"GET /v1/workspaces/" + cWS + "/runs/" + cRun:                           {200, strings.Replace(pyRun, `"compute"`, `"script": `+pyScript+`, "compute"`, 1)},
		"POST /v1/workspaces/" + cWS + "/runs/" + cRun + "/cancel":              {201, strings.Replace(pyRun, `"compute"`, `"script": `+pyScript+`, "compute"`, 1)},
		"GET /v1/workspaces/" + cWS + "/runs/" + cRun + "/logs":                 {200, `{"run": ` + strings.Replace(pyRun, `"compute"`, `"script": `+pyScript+`, "compute"`, 1) + `, "logs": null}`},
		"POST /auth/v1/github/token-exchange":                                   {201, `{"email": "a@example.com", "id": "` + cUser + `", "jwt": "a.b.c", "expires_in": 3600}`},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, sent{r.Method, r.URL.EscapedPath(), r.URL.RawQuery, r.Header.Get("Content-Type"), body})
		mu.Unlock()
		a, ok := answers[r.Method+" "+r.URL.EscapedPath()]
		if !ok {
			a.status, a.body = 404, `{"status_code": 404, "detail": "no such path"}`
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(a.status)
		io.WriteString(w, a.body)
	}))
	t.Cleanup(srv.Close)
	c, _ := newTestClient(t, srv.URL)
	ctx := context.Background()
	last := func(t *testing.T) sent {
		t.Helper()
		mu.Lock()
		defer mu.Unlock()
		if len(got) == 0 {
			t.Fatal("nothing was sent")
		}
		return got[len(got)-1]
	}
	fields := func(t *testing.T, b []byte) map[string]json.RawMessage {
		t.Helper()
		var m map[string]json.RawMessage
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("request body %s: %v", b, err)
		}
		return m
	}
	at := func(s string) time.Time { v, _ := time.Parse(time.RFC3339Nano, s); return v }
	checkRunShape := func(t *testing.T, r api.Run) {
		t.Helper()
		if r.ID != cRun || r.Number != 3 || r.Status != api.StatusCancelling || r.Trigger != api.TriggerSchedule ||
			r.Duration != nil || r.Logs != nil || r.Profile != nil || r.TriggeredBy != nil || r.TimeEnded != nil ||
			r.TimeStarted == nil || !r.TimeStarted.Equal(at("2026-01-02T03:04:05.5Z")) ||
			!r.DateAdded.Equal(at("2026-01-02T03:04:05.123456Z")) || !r.DateUpdated.Equal(at("2026-01-02T03:04:06Z")) {
			t.Errorf("run read as %+v", r)
		}
	}

	for _, tc := range []struct {
		name string
		call func(t *testing.T)
	}{
		{"me", func(t *testing.T) {
			me, err := c.Me(ctx)
			if err != nil || me.UserID != cUser || me.DefaultWorkspace.ID != cWS || me.DefaultWorkspace.Description != nil ||
				me.DefaultOrganization.Description != nil || !me.DefaultOrganization.DateAdded.Equal(at("2026-01-02T03:04:05.123456Z")) {
				t.Errorf("Me = %+v, %v", me, err)
			}
		}},
		{"latest deployment", func(t *testing.T) {
			d, err := c.LatestDeployment(ctx, cWS)
			if err != nil || d == nil || d.Size != 1234 || d.Version != 4 || strings.Join(d.Files(), "|") != "a.py|jobs/load.py" {
				t.Errorf("LatestDeployment = %+v, %v", d, err)
			}
		}},
		{"upload configuration", func(t *testing.T) {
			conf, err := c.UploadConfiguration(ctx, cWS, []byte("tarball"))
			if err != nil || conf.ID != cDep || conf.Profiles != "" {
				t.Fatalf("UploadConfiguration = %+v, %v", conf, err)
			}
			s := last(t)
			if !strings.HasPrefix(s.contentType, "multipart/form-data; boundary=") ||
				!strings.Contains(string(s.body), `Content-Disposition: form-data; name="file"; filename="configurations.tar.gz"`) ||
				!strings.Contains(string(s.body), "Content-Type: application/x-tar") {
				t.Errorf("upload sent %s:\n%s", s.contentType, s.body)
			}
		}},
		{"list without items", func(t *testing.T) {
			p, err := c.ListConfigurations(ctx, cWS, 0, 0)
			if err != nil || p.Items == nil || len(p.Items) != 0 || p.Total != 0 || p.Limit != 100 {
				t.Errorf("ListConfigurations = %+v, %v", p, err)
			}
			if q := last(t).query; q != "" {
				t.Errorf("query %q, want none: the server's defaults", q)
			}
		}},
		{"list with null items", func(t *testing.T) {
			p, err := c.ListDeployments(ctx, cWS, 0, 0)
			if err != nil || p.Items == nil || len(p.Items) != 0 {
				t.Errorf("ListDeployments = %+v, %v", p, err)
			}
		}},
		{"script by name", func(t *testing.T) {
			s, err := c.GetScript(ctx, cWS, "jobs/load.py")
			if err != nil || s.ID != cScript || s.LastRun != nil || s.Profile != nil || s.Schedule != nil || s.NextScheduledRun != nil {
				t.Errorf("GetScript = %+v, %v", s, err)
			}
		}},
		{"upsert script", func(t *testing.T) {
			s, err := c.UpsertScript(ctx, cWS, api.CreateScriptRequest{Name: "jobs/load.py", EntryPoint: "jobs/load.py", ScriptType: api.ScriptBatch})
			if err != nil || s.ID != cScript || s.Version != 2 {
				t.Fatalf("UpsertScript = %+v, %v", s, err)
			}
			req := last(t)
			m := fields(t, req.body)
			for _, k := range []string{"description", "entry_point", "name", "script_type"} {
				if _, ok := m[k]; !ok {
					t.Errorf("required field %q not sent: %s", k, req.body)
				}
			}
			if string(m["script_type"]) != `"batch"` || string(m["description"]) != `""` || req.contentType != "application/json" {
				t.Errorf("sent %s %s", req.contentType, req.body)
			}
			if _, ok := m["active"]; ok {
				t.Errorf("active sent though not set (its default is true): %s", req.body)
			}
		}},
		{"scripts with last run", func(t *testing.T) {
			p, err := c.ListScripts(ctx, cWS, 0, 0)
			if err != nil || len(p.Items) != 1 || p.Items[0].LastRun == nil || p.Total != 1 {
				t.Fatalf("ListScripts = %+v, %v", p, err)
			}
			checkRunShape(t, *p.Items[0].LastRun)
		}},
		{"latest script version", func(t *testing.T) {
			v, err := c.LatestScriptVersion(ctx, cWS, "jobs/load.py")
			if err != nil || v.ScriptID != cScript || v.Version != 2 {
				t.Errorf("LatestScriptVersion = %+v, %v", v, err)
			}
		}},
		{"latest run of none, FastAPI's 404", func(t *testing.T) {
			r, err := c.LatestRun(ctx, cWS, cScript)
			if err != nil || r != nil {
				t.Errorf("LatestRun = %+v, %v", r, err)
			}
			if q := last(t).query; q != "script_id="+cScript {
				t.Errorf("query %q", q)
			}
		}},
		{"create run", func(t *testing.T) {
			prof := "prod"
			r, err := c.CreateRun(ctx, cWS, api.CreateRunRequest{ScriptIDOrName: "jobs/load.py", Profile: &prof}, cScript)
			if err != nil {
				t.Fatal(err)
			}
			checkRunShape(t, *r)
			req := last(t)
			if m := fields(t, req.body); string(m["script_id_or_name"]) != `"jobs/load.py"` || string(m["profile"]) != `"prod"` {
				t.Errorf("sent %s", req.body)
			}
		}},
		{"runs", func(t *testing.T) {
			p, err := c.ListRuns(ctx, cWS, ListRunsOptions{Status: api.StatusCancelling, Limit: 1, Offset: 2})
			if err != nil || len(p.Items) != 1 || p.Total != 7 || p.Limit != 1 || p.Offset != 2 || p.Items[0].Script.ID != cScript {
				t.Fatalf("ListRuns = %+v, %v", p, err)
			}
			checkRunShape(t, p.Items[0].Run)
			if q := last(t).query; q != "limit=1&offset=2&status=cancelling" {
				t.Errorf("query %q", q)
			}
		}},
		{"run", func(t *testing.T) {
			r, err := c.GetRun(ctx, cWS, cRun)
			if err != nil || r.Script.Name != "jobs/load.py" {
				t.Fatalf("GetRun = %+v, %v", r, err)
			}
			checkRunShape(t, r.Run)
		}},
		{"cancel", func(t *testing.T) {
			r, err := c.CancelRun(ctx, cWS, cRun)
			if err != nil || r.Status != api.StatusCancelling {
				t.Errorf("CancelRun = %+v, %v", r, err)
			}
		}},
		{"logs null", func(t *testing.T) {
			l, err := c.Logs(ctx, cWS, cRun)
			if err != nil || l.Logs != nil || l.Run.ID != cRun {
				t.Errorf("Logs = %+v, %v", l, err)
			}
		}},
		{"token exchange", func(t *testing.T) {
			l, err := c.TokenExchange(ctx, "ghp_x")
			if err != nil || l.JWT != "a.b.c" || l.ID != cUser {
				t.Errorf("TokenExchange = %+v, %v", l, err)
			}
			if m := fields(t, last(t).body); string(m["access_token"]) != `"ghp_x"` {
				t.Errorf("sent %s", last(t).body)
			}
		}},
	} {
		t.Run(tc.name, tc.call)
	}
}
