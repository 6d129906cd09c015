package client

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/dlthub/runtime-action/internal/api"
)

func TestScriptNamesAreOneSegment(t *testing.T) {
	tests := []struct {
		name     string
		script   string
		wantPath string
	}{
		{"slashes", "jobs/load.py", "/v1/workspaces/ws-0001/scripts/jobs%2Fload.py"},
		{"spaces and query characters", "my job?.py#1", "/v1/workspaces/ws-0001/scripts/my%20job%3F.py%231"},
		{"percent sign", "100%/x", "/v1/workspaces/ws-0001/scripts/100%25%2Fx"},
		{"dot dot", "..", "/v1/workspaces/ws-0001/scripts/%2E%2E"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			f.script.Name = tt.script
			var gotName, gotRaw string
			f.inject = func(w http.ResponseWriter, r *http.Request) bool {
				gotRaw = r.RequestURI
				return false
			}
			c, _ := newTestClient(t, f.srv.URL)
			s, err := c.GetScript(context.Background(), testWS, tt.script)
			if err != nil {
				t.Fatalf("GetScript: %v (sent %s)", err, gotRaw)
			}
			gotName = s.Name
			if gotRaw != tt.wantPath {
				t.Errorf("request URI = %q, want %q", gotRaw, tt.wantPath)
			}
			if gotName != tt.script {
				t.Errorf("server saw name %q, want %q", gotName, tt.script)
			}
			v, err := c.LatestScriptVersion(context.Background(), testWS, tt.script)
			if err != nil || v.Name != tt.script {
				t.Fatalf("LatestScriptVersion = %+v, %v", v, err)
			}
			if gotRaw != tt.wantPath+"/versions/latest" {
				t.Errorf("request URI = %q, want %q", gotRaw, tt.wantPath+"/versions/latest")
			}
		})
	}
	t.Run("unknown script is not found", func(t *testing.T) {
		f := newFake(t)
		c, _ := newTestClient(t, f.srv.URL)
		_, err := c.GetScript(context.Background(), testWS, "jobs/other.py")
		if !IsNotFound(err) || err.Error() != `GET /v1/workspaces/ws-0001/scripts/jobs%2Fother.py: script "jobs/other.py" not found (HTTP 404)` {
			t.Fatalf("error = %v", err)
		}
	})
}

func TestUploadDeployment(t *testing.T) {
	pkg := bytes.Repeat([]byte("tarball-bytes\x00\x01"), 1000)
	f := newFake(t)
	failures := 2
	var bodies [][]byte
	f.inject = func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodPost {
			return false
		}
		if r.Header.Get("Authorization") != "Bearer "+testToken {
			writeErr(w, 401, "no token")
			return true
		}
		b, _ := io.ReadAll(r.Body)
		bodies = append(bodies, b)
		r.Body = io.NopCloser(bytes.NewReader(b))
		if failures > 0 {
			failures--
			writeErr(w, 503, "warming up")
			return true
		}
		return false
	}
	c, clk := newTestClient(t, f.srv.URL)
	d, err := c.UploadDeployment(context.Background(), testWS, pkg)
	if err != nil {
		t.Fatalf("UploadDeployment: %v", err)
	}
	if d.Version != 1 || d.Size != int64(len(pkg)) {
		t.Fatalf("deployment = %+v", d)
	}
	if len(bodies) != 3 || !bytes.Equal(bodies[0], bodies[2]) || len(clk.slept()) != 2 {
		t.Fatalf("sent %d bodies (same: %v), slept %v; want 3 identical bodies and 2 sleeps", len(bodies), len(bodies) == 3 && bytes.Equal(bodies[0], bodies[2]), clk.slept())
	}
	// The same content again makes no new version (the contract's idempotency).
	d2, err := c.UploadDeployment(context.Background(), testWS, pkg)
	if err != nil || d2.ID != d.ID {
		t.Fatalf("second upload = %+v, %v; want the same deployment", d2, err)
	}
	latest, err := c.LatestDeployment(context.Background(), testWS)
	if err != nil || latest.ID != d.ID {
		t.Fatalf("LatestDeployment = %+v, %v", latest, err)
	}
}

func TestCancelRun(t *testing.T) {
	f := newFake(t)
	run := f.createRun(nil)
	t.Run("cancels", func(t *testing.T) {
		c, _ := newTestClient(t, f.srv.URL)
		got, err := c.CancelRun(context.Background(), testWS, run.ID)
		if err != nil || got.Status != api.StatusCancelled {
			t.Fatalf("CancelRun = %+v, %v", got, err)
		}
	})
	t.Run("terminal without a retry is an error", func(t *testing.T) {
		c, _ := newTestClient(t, f.srv.URL)
		_, err := c.CancelRun(context.Background(), testWS, run.ID)
		if !IsStatus(err, 400) || !strings.Contains(err.Error(), "terminal state") {
			t.Fatalf("CancelRun error = %v", err)
		}
	})
	t.Run("a retry that finds it ended returns the run", func(t *testing.T) {
		r2 := f.createRun(nil)
		cut := true
		f.setInject(func(w http.ResponseWriter, r *http.Request) bool {
			if r.Method == http.MethodPost && cut {
				cut = false
				f.setRun(r2.ID, api.StatusCancelled, "")
				hijackClose(t, w)
				return true
			}
			return false
		})
		defer f.setInject(nil)
		c, _ := newTestClient(t, f.srv.URL)
		got, err := c.CancelRun(context.Background(), testWS, r2.ID)
		if err != nil || got.ID != r2.ID || got.Status != api.StatusCancelled {
			t.Fatalf("CancelRun = %+v, %v", got, err)
		}
	})
}

func TestListRunsQuery(t *testing.T) {
	f := newFake(t)
	var query string
	f.inject = func(w http.ResponseWriter, r *http.Request) bool {
		query = r.URL.RawQuery
		return false
	}
	c, _ := newTestClient(t, f.srv.URL)
	f.createRun(nil)
	page, err := c.ListRuns(context.Background(), testWS, ListRunsOptions{ScriptID: "script-1", Status: api.StatusPending, Limit: 10, Offset: 5})
	if err != nil {
		t.Fatalf("ListRuns: %v", err)
	}
	if query != "limit=10&offset=5&script_id=script-1&status=pending" {
		t.Fatalf("query = %q", query)
	}
	if len(page.Items) != 1 {
		t.Fatalf("items = %d", len(page.Items))
	}
	if _, err := c.ListRuns(context.Background(), testWS, ListRunsOptions{}); err != nil || query != "" {
		t.Fatalf("ListRuns without options: query %q, %v", query, err)
	}
}

func TestUpsertScript(t *testing.T) {
	f := newFake(t)
	var mu sync.Mutex
	var got []api.CreateScriptRequest
	f.inject = func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodPost {
			return false
		}
		var req api.CreateScriptRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || r.Header.Get("Content-Type") != "application/json" {
			writeErr(w, 400, "bad body")
			return true
		}
		mu.Lock()
		got = append(got, req)
		first := len(got) == 1
		mu.Unlock()
		if first {
			writeErr(w, 504, "gateway timeout")
			return true
		}
		s := f.script
		s.Name, s.EntryPoint, s.Schedule = req.Name, req.EntryPoint, req.Schedule
		writeJSON(w, 201, s)
		return true
	}
	c, _ := newTestClient(t, f.srv.URL)
	cron := "0 * * * *"
	s, err := c.UpsertScript(context.Background(), testWS, api.CreateScriptRequest{Name: "jobs/load.py", EntryPoint: "jobs/load.py", ScriptType: api.ScriptBatch, Schedule: &cron})
	if err != nil || s.Name != "jobs/load.py" || s.Schedule == nil || *s.Schedule != cron {
		t.Fatalf("UpsertScript = %+v, %v", s, err)
	}
	if len(got) != 2 || !reflect.DeepEqual(got[0], got[1]) {
		t.Fatalf("requests = %+v; want the same request twice", got)
	}
}

func TestUploadConfigurationPart(t *testing.T) {
	f := newFake(t)
	f.inject = func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodPost {
			return false
		}
		file, hdr, err := r.FormFile("file")
		if err != nil {
			writeErr(w, 400, err.Error())
			return true
		}
		data, _ := io.ReadAll(file)
		if hdr.Filename != "configurations.tar.gz" || hdr.Header.Get("Content-Type") != "application/x-tar" || string(data) != "conf" {
			writeErr(w, 400, "wrong part "+hdr.Filename)
			return true
		}
		writeJSON(w, 201, api.Configuration{PackageInfo: api.PackageInfo{ID: "conf-1", Version: 1}, Profiles: "prod"})
		return true
	}
	c, _ := newTestClient(t, f.srv.URL)
	conf, err := c.UploadConfiguration(context.Background(), testWS, []byte("conf"))
	if err != nil || conf.ID != "conf-1" || conf.Profiles != "prod" {
		t.Fatalf("UploadConfiguration = %+v, %v", conf, err)
	}
}
