package server

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dlthub/runtime-action/internal/api"
)

func TestScriptVersions(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 10, 17, 0, 0, time.UTC)
	e := newEnv(t, func(c *Config) { c.Now = func() time.Time { return now }; c.PublicURL = "https://rt.example.com/" })
	body := map[string]any{"name": "jobs/load.py", "entry_point": "jobs/load.py", "description": "loads", "script_type": "batch"}
	var sc api.Script
	r := e.postJSON(t, e.wsPath("/scripts"), body)
	r.decode(t, &sc)
	if r.status != http.StatusCreated || sc.Version != 1 || !sc.Active || sc.Profile != nil || sc.Schedule != nil ||
		sc.ScriptURL != "" || sc.WorkspaceID != e.ws || sc.NextScheduledRun != nil || sc.Name != "jobs/load.py" {
		t.Fatalf("create: %d %+v", r.status, sc)
	}
	id := sc.ID
	// the same again changes nothing
	e.postJSON(t, e.wsPath("/scripts"), body).decode(t, &sc)
	if sc.Version != 1 || sc.ID != id {
		t.Errorf("identical upsert: version %d id %s", sc.Version, sc.ID)
	}
	// a change of any field makes a version
	body["schedule"] = "*/15 * * * *"
	body["profile"] = "dev"
	r = e.postJSON(t, e.wsPath("/scripts"), body)
	r.decode(t, &sc)
	if r.status != http.StatusCreated || sc.Version != 2 || sc.ID != id || *sc.Schedule != "*/15 * * * *" || *sc.Profile != "dev" {
		t.Fatalf("update: %d %+v", r.status, sc)
	}
	if want := time.Date(2026, 3, 1, 10, 30, 0, 0, time.UTC); sc.NextScheduledRun == nil || !sc.NextScheduledRun.Equal(want) {
		t.Errorf("next_scheduled_run %v, want %v", sc.NextScheduledRun, want)
	}
	body["active"] = false
	e.postJSON(t, e.wsPath("/scripts"), body).decode(t, &sc)
	if sc.Version != 3 || sc.Active || sc.NextScheduledRun != nil {
		t.Errorf("deactivate: %+v", sc)
	}
	body["script_type"] = "interactive"
	body["name"] = "apps/my app.py"
	e.postJSON(t, e.wsPath("/scripts"), body).decode(t, &sc)
	if sc.Version != 1 || sc.ScriptURL != "https://rt.example.com/apps/"+e.ws+"/apps/my%20app.py/" {
		t.Errorf("interactive: %+v", sc)
	}

	var page api.Page[api.DetailedScript]
	e.get(t, e.wsPath("/scripts")).decode(t, &page)
	if page.Total != 2 || page.Items[0].Name != "apps/my app.py" || page.Items[1].ID != id || page.Items[1].LastRun != nil {
		t.Errorf("list: %+v", page)
	}

	// a name with slashes, encoded as one segment or not, and by id
	for _, path := range []string{"/scripts/jobs%2Fload.py", "/scripts/jobs/load.py", "/scripts/" + id} {
		var d api.DetailedScript
		r := e.get(t, e.wsPath(path))
		r.decode(t, &d)
		if r.status != http.StatusOK || d.ID != id || d.Version != 3 {
			t.Errorf("GET %s: %d %+v", path, r.status, d)
		}
	}
	var vs api.Page[api.ScriptVersion]
	for _, path := range []string{"/scripts/jobs%2Fload.py/versions", "/scripts/jobs/load.py/versions"} {
		r := e.get(t, e.wsPath(path))
		r.decode(t, &vs)
		if r.status != http.StatusOK || vs.Total != 3 || vs.Items[0].Version != 3 || vs.Items[2].Version != 1 || vs.Items[0].ScriptID != id {
			t.Errorf("GET %s: %d %+v", path, r.status, vs)
		}
	}
	v1 := vs.Items[2]
	for path, want := range map[string]int{
		"/scripts/jobs/load.py/versions/latest":   3,
		"/scripts/jobs%2Fload.py/versions/latest": 3,
		"/scripts/jobs/load.py/versions/2":        2,
		"/scripts/" + id + "/versions/" + v1.ID:   1,
	} {
		var v api.ScriptVersion
		r := e.get(t, e.wsPath(path))
		r.decode(t, &v)
		if r.status != http.StatusOK || v.Version != want {
			t.Errorf("GET %s: %d version %d, want %d", path, r.status, v.Version, want)
		}
	}
	if v1.Profile != nil || v1.Schedule != nil || !v1.Active {
		t.Errorf("version 1 changed: %+v", v1)
	}
	for _, path := range []string{"/scripts/nope.py", "/scripts/jobs", "/scripts/jobs/load.py/versions/9",
		"/scripts/jobs/load.py/versions/x", "/scripts/nope.py/versions", "/scripts/jobs/load.py/other"} {
		if r := e.get(t, e.wsPath(path)); r.status != http.StatusNotFound || !strings.Contains(r.detail(t), "not found") {
			t.Errorf("GET %s: %d %s", path, r.status, r.body)
		}
	}
}

func TestScriptNamedLikeVersions(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, name := range []string{"a", "a/versions"} {
		e.postJSON(t, e.wsPath("/scripts"), map[string]any{"name": name, "entry_point": "a.py", "description": "", "script_type": "batch"})
	}
	// the exact full name wins over the versions form
	var d api.DetailedScript
	e.get(t, e.wsPath("/scripts/a/versions")).decode(t, &d)
	if d.Name != "a/versions" {
		t.Errorf("got script %q", d.Name)
	}
}

func TestScriptBadInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	valid := func() map[string]any {
		return map[string]any{"name": "a.py", "entry_point": "a.py", "description": "d", "script_type": "batch"}
	}
	with := func(k string, v any) map[string]any {
		m := valid()
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	for _, tc := range []struct {
		name string
		body any
		want string
	}{
		{"malformed", `{"name": `, "malformed JSON body"},
		{"not an object", `[1]`, "malformed JSON body"},
		{"empty", ``, "malformed JSON body"},
		{"missing entry_point", with("entry_point", nil), `field "entry_point" is required`},
		{"missing name", with("name", nil), `field "name" is required`},
		{"missing description", with("description", nil), `field "description" is required`},
		{"missing script_type", with("script_type", nil), `field "script_type" is required`},
		{"name not a string", with("name", 3), `field "name": expected a string, got number`},
		{"active not a bool", with("active", "yes"), `field "active": expected a boolean, got string`},
		{"unknown type", with("script_type", "foo"), `field "script_type": invalid value "foo", expected one of batch, interactive`},
		{"empty name", with("name", ""), `field "name" must not be empty`},
		{"leading slash", with("name", "/etc/x.py"), `field "name"`},
		{"dot dot", with("entry_point", "a/../../x.py"), `".." segment`},
		{"NUL", with("entry_point", "a\x00.py"), "NUL"},
		{"double slash", with("name", "jobs//load.py"), `field "name": "jobs//load.py" must not hold an empty or "." segment`},
		{"dot segment", with("entry_point", "./load.py"), `field "entry_point": "./load.py" must not hold an empty or "." segment`},
		{"trailing slash", with("name", "jobs/"), `field "name": "jobs/" must not hold an empty or "." segment`},
		{"bad profile", with("profile", "../x"), `field "profile": invalid profile`},
		{"schedule 6 fields", with("schedule", "0 * * * * *"), `invalid schedule "0 * * * * *"`},
		{"schedule descriptor", with("schedule", "@daily"), `invalid schedule "@daily"`},
		{"schedule garbage", with("schedule", "a b c d e"), `invalid schedule "a b c d e"`},
		{"schedule range", with("schedule", "61 * * * *"), `invalid schedule "61 * * * *"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.postJSON(t, e.wsPath("/scripts"), tc.body)
			if r.status != http.StatusBadRequest {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			if d := r.detail(t); !strings.Contains(d, tc.want) {
				t.Errorf("detail %q lacks %q", d, tc.want)
			}
		})
	}
	var page api.Page[api.Script]
	e.get(t, e.wsPath("/scripts")).decode(t, &page)
	if page.Total != 0 {
		t.Errorf("bad input stored %d scripts", page.Total)
	}
	// unknown fields are tolerated
	if r := e.postJSON(t, e.wsPath("/scripts"), with("color", "blue")); r.status != http.StatusCreated {
		t.Errorf("unknown field: %d %s", r.status, r.body)
	}
}

func TestPaging(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, q := range []struct{ query, want string }{
		{"limit=0", `"limit"`}, {"limit=1001", `"limit"`}, {"limit=x", `"limit"`}, {"limit=", `"limit"`},
		{"offset=-1", `"offset"`}, {"offset=a", `"offset"`},
	} {
		for _, path := range []string{"/scripts", "/runs", "/deployments", "/configurations", "/scripts/x/versions"} {
			if path == "/scripts/x/versions" {
				e.postJSON(t, e.wsPath("/scripts"), map[string]any{"name": "x", "entry_point": "x.py", "description": "", "script_type": "batch"})
			}
			r := e.get(t, e.wsPath(path, "?", q.query))
			if r.status != http.StatusBadRequest || !strings.Contains(r.detail(t), q.want) {
				t.Errorf("%s?%s: %d %s", path, q.query, r.status, r.body)
			}
		}
	}
	var page api.Page[api.Script]
	if r := e.get(t, e.wsPath("/scripts?limit=1000&offset=5")); r.status != http.StatusOK {
		t.Errorf("limit 1000: %d", r.status)
	} else if r.decode(t, &page); page.Limit != 1000 || page.Offset != 5 || page.Total != 1 || len(page.Items) != 0 {
		t.Errorf("page: %+v", page)
	}
}
