// Package bench holds the self-hosted Runtime's benchmarks, run against a
// server on a real loopback listener (b.N is requests or runs, so give it a
// count rather than a time):
//
//	go test ./bench -run '^$' -bench GetRun -benchtime 20000x
//	go test ./bench -run '^$' -bench RunStart -benchtime 20x
//	go test ./bench -run '^$' -bench RSS50Runs -benchtime 1x
//	go test ./bench -run '^$' -bench LogLatency -benchtime 200x
//
// BenchmarkGetRun reports req/s and p99_ms for GET .../runs/{run} with
// 10,000 runs stored; BenchmarkRunStart the median ms from POST /runs to
// running; BenchmarkRSS50Runs the server's resident memory with 50 sleeping
// runs; BenchmarkLogLatency p50_ms and p95_ms from a line printed by a
// script to the same line given to the client's Follow.
package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/dlthub/runtime-action/internal/api"
	"github.com/dlthub/runtime-action/internal/executor"
	"github.com/dlthub/runtime-action/internal/pack"
	"github.com/dlthub/runtime-action/internal/server"
	"github.com/dlthub/runtime-action/internal/store"
	"github.com/dlthub/runtime-action/internal/store/sqlite"
)

// env is a server on a loopback listener and a client for it.
type env struct {
	srv    *server.Server
	url    string
	token  string
	ws     string
	dir    string
	client *http.Client
}

func newEnv(b *testing.B, cfg server.Config) *env {
	b.Helper()
	cfg.DataDir = b.TempDir()
	srv, err := server.Open(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	b.Cleanup(func() {
		hs.Close()
		srv.Close()
	})
	tr := &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256}
	return &env{srv: srv, url: hs.URL, token: srv.AdminToken(), ws: srv.DefaultWorkspaceID(), dir: cfg.DataDir,
		client: &http.Client{Transport: tr}}
}

func (e *env) do(method, path string, body io.Reader, ct string, out any) (int, error) {
	req, err := http.NewRequest(method, e.url+path, body)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+e.token)
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	res, err := e.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return 0, err
	}
	if res.StatusCode >= 300 {
		return res.StatusCode, fmt.Errorf("%s %s: %d %s", method, path, res.StatusCode, b)
	}
	if out != nil {
		return res.StatusCode, json.Unmarshal(b, out)
	}
	return res.StatusCode, nil
}

func (e *env) ws_(p string) string { return "/v1/workspaces/" + e.ws + p }

func packageOf(b *testing.B, files map[string]string) []byte {
	b.Helper()
	var items []pack.Item
	for p, c := range files {
		items = append(items, pack.Item{RelativePath: p, SizeInBytes: int64(len(c)), SHA3256: pack.Digest([]byte(c))})
	}
	pack.Sort(items)
	var buf bytes.Buffer
	if err := pack.Write(&buf, pack.Manifest{EngineVersion: 1, Files: items}, func(p string) (io.ReadCloser, error) {
		return io.NopCloser(strings.NewReader(files[p])), nil
	}); err != nil {
		b.Fatal(err)
	}
	return buf.Bytes()
}

func (e *env) upload(b *testing.B, kind string, tarball []byte) api.PackageInfo {
	b.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, _ := mw.CreateFormFile("file", "workspace.tar.gz")
	fw.Write(tarball)
	mw.Close()
	var p api.PackageInfo
	if _, err := e.do("POST", e.ws_("/"+kind), &buf, mw.FormDataContentType(), &p); err != nil {
		b.Fatal(err)
	}
	return p
}

// deploy uploads a deployment of one script and a configuration, and
// creates the script.
func (e *env) deploy(b *testing.B, code string) (api.PackageInfo, api.PackageInfo, api.Script) {
	b.Helper()
	dep := e.upload(b, "deployments", packageOf(b, map[string]string{"job.py": code}))
	conf := e.upload(b, "configurations", packageOf(b, map[string]string{"config.toml": "[runtime]\n"}))
	var sc api.Script
	body := `{"name": "job.py", "entry_point": "job.py", "description": "", "script_type": "batch"}`
	if _, err := e.do("POST", e.ws_("/scripts"), strings.NewReader(body), "application/json", &sc); err != nil {
		b.Fatal(err)
	}
	return dep, conf, sc
}

func (e *env) startRun(b *testing.B) api.Run {
	b.Helper()
	var run api.Run
	if _, err := e.do("POST", e.ws_("/runs"), strings.NewReader(`{"script_id_or_name": "job.py"}`), "application/json", &run); err != nil {
		b.Fatal(err)
	}
	return run
}

func (e *env) status(b *testing.B, id string) api.RunStatus {
	b.Helper()
	var run api.Run
	if _, err := e.do("GET", e.ws_("/runs/"+id), nil, "", &run); err != nil {
		b.Fatal(err)
	}
	return run.Status
}

// BenchmarkGetRun: GET /v1/workspaces/{id}/runs/{run} from concurrent
// clients with 10,000 runs stored (target: >= 2,000 req/s, p99 < 20 ms).
func BenchmarkGetRun(b *testing.B) {
	const nRuns, clients = 10000, 16
	e := newEnv(b, server.Config{})
	dep, conf, sc := e.deploy(b, "print(1)\n")
	var ver api.ScriptVersion
	if _, err := e.do("GET", e.ws_("/scripts/job.py/versions/latest"), nil, "", &ver); err != nil {
		b.Fatal(err)
	}
	st, err := sqlite.Open(context.Background(), filepath.Join(e.dir, "runtime.db"), sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	runs := make([]store.Run, nRuns)
	ids := make([]string, nRuns)
	start := time.Now().Add(-nRuns * time.Minute)
	for i := range runs {
		t0 := start.Add(time.Duration(i) * time.Minute)
		t1 := t0.Add(30 * time.Second)
		d := int64(30)
		ids[i] = uuid.NewString()
		runs[i] = store.Run{ID: ids[i], WorkspaceID: e.ws, ScriptID: sc.ID, ScriptVersionID: ver.ID, DeploymentID: dep.ID,
			ConfigurationID: conf.ID, Number: i + 1, Status: api.StatusCompleted, Trigger: api.TriggerManual, Profile: "prod",
			TimeStarted: &t0, TimeEnded: &t1, Duration: &d, Created: t0, Updated: t1}
	}
	if err := st.ImportRuns(context.Background(), runs); err != nil {
		b.Fatal(err)
	}
	st.Close()

	lat := make([][]time.Duration, clients)
	b.ResetTimer()
	begin := time.Now()
	var wg sync.WaitGroup
	var firstErr error
	var errOnce sync.Once
	for c := range clients {
		n := b.N / clients
		if c < b.N%clients {
			n++
		}
		wg.Add(1)
		go func(c, n int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(c), 7))
			lat[c] = make([]time.Duration, 0, n)
			for range n {
				id := ids[rng.IntN(nRuns)]
				t := time.Now()
				if _, err := e.do("GET", e.ws_("/runs/"+id), nil, "", nil); err != nil {
					errOnce.Do(func() { firstErr = err })
					return
				}
				lat[c] = append(lat[c], time.Since(t))
			}
		}(c, n)
	}
	wg.Wait()
	elapsed := time.Since(begin)
	b.StopTimer()
	if firstErr != nil {
		b.Fatal(firstErr)
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
	b.ReportMetric(ms(all[len(all)*99/100]), "p99_ms")
	b.ReportMetric(ms(all[len(all)/2]), "p50_ms")
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// BenchmarkRunStart: time from POST /runs to the run being seen running,
// for a trivial script (target: median < 100 ms). The run is polled every
// millisecond; each run ends before the next starts. Two cases: runs in the
// bubblewrap sandbox (serve's default where bwrap works) and without.
func BenchmarkRunStart(b *testing.B) {
	for _, sandbox := range []string{server.SandboxBwrap, server.SandboxNone} {
		b.Run("sandbox="+sandbox, func(b *testing.B) {
			if sandbox != server.SandboxNone {
				if err := executor.CheckSandbox(context.Background(), "bwrap"); err != nil {
					b.Skipf("no sandbox here: %v", err)
				}
			}
			benchRunStart(b, server.Config{Sandbox: sandbox})
		})
	}
}

func benchRunStart(b *testing.B, cfg server.Config) {
	e := newEnv(b, cfg)
	e.deploy(b, "import time\ntime.sleep(0.2)\n")
	var took []time.Duration
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		run := e.startRun(b)
		for {
			s := e.status(b, run.ID)
			if s == api.StatusRunning || s.Terminal() || s == api.StatusFinalizing {
				took = append(took, time.Since(t0))
				if s != api.StatusRunning {
					b.Fatalf("run %s went to %s before it was seen running", run.ID, s)
				}
				break
			}
			time.Sleep(time.Millisecond)
		}
		b.StopTimer()
		for !e.status(b, run.ID).Terminal() {
			time.Sleep(5 * time.Millisecond)
		}
		b.StartTimer()
	}
	b.StopTimer()
	slices.Sort(took)
	b.ReportMetric(ms(took[len(took)/2]), "median_ms")
	b.ReportMetric(ms(took[len(took)-1]), "max_ms")
}

// BenchmarkRSS50Runs: the server's resident memory (this process: the
// server runs in it) with 50 concurrent sleeping runs (target < 200 MB).
func BenchmarkRSS50Runs(b *testing.B) {
	const n = 50
	e := newEnv(b, server.Config{MaxConcurrentRuns: n, CancelGrace: time.Second})
	e.deploy(b, "import time\nprint('up', flush=True)\ntime.sleep(600)\n")
	var rss, peak float64
	for range b.N {
		runs := make([]api.Run, n)
		for i := range runs {
			runs[i] = e.startRun(b)
		}
		deadline := time.Now().Add(60 * time.Second)
		for _, r := range runs {
			for e.status(b, r.ID) != api.StatusRunning {
				if time.Now().After(deadline) {
					b.Fatalf("run %s not running after 60s", r.ID)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
		var list api.Page[api.Run]
		if _, err := e.do("GET", e.ws_("/runs?status=running"), nil, "", &list); err != nil || list.Total != n {
			b.Fatalf("%d runs running, want %d: %v", list.Total, n, err)
		}
		rss, peak = vm("VmRSS"), vm("VmHWM")
		for _, r := range runs {
			e.do("POST", e.ws_("/runs/"+r.ID+"/cancel"), strings.NewReader("{}"), "application/json", nil)
		}
		for _, r := range runs {
			for !e.status(b, r.ID).Terminal() {
				time.Sleep(20 * time.Millisecond)
			}
		}
	}
	b.ReportMetric(rss, "rss_MB")
	b.ReportMetric(peak, "peak_rss_MB")
}

// vm reads a memory figure of this process from /proc/self/status, in MB.
func vm(field string) float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 64)
			return kb / 1024
		}
	}
	return -1
}
