//go:build unix

// Package acttest runs the Action end to end with act: workflows kept under
// testdata/act use the Action from the checkout (uses: ./), with the job on
// the host (-P ubuntu-latest=-self-hosted) and the Action's image built
// here without a registry (.ci/image) and never pulled (--pull=false),
// against a Runtime served by the test.
//
// The Action runs in a container on Docker's default bridge network (act
// gives container actions of a job on the host no other), where 127.0.0.1
// is the container itself: the Runtime listens on the bridge's gateway
// address (172.17.0.1 on a default engine), which both the host and the
// containers reach.
//
// act is found in $RUNTIME_ACTION_ACT or on PATH. Without it or without
// Docker the tests skip, except when CI=true or RUNTIME_ACTION_ACT is set:
// then they fail, so that CI never passes without running them.
package acttest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dlthub/runtime-action/internal/api"
	"github.com/dlthub/runtime-action/internal/client"
	"github.com/dlthub/runtime-action/internal/server"
)

// secretValue is the secret the deploy case passes in secrets-toml and its
// script prints: it must never reach the job log.
const secretValue = "hunter2-act-secret"

// repoRoot is the checkout holding this package.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// required reports whether a missing tool fails the test instead of
// skipping it.
func required() bool {
	return os.Getenv("CI") == "true" || os.Getenv("RUNTIME_ACTION_ACT") != ""
}

func missing(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if required() {
		t.Fatalf("%s (CI=true or RUNTIME_ACTION_ACT is set: the act tests must run)", msg)
	}
	t.Skipf("%s; set RUNTIME_ACTION_ACT to the act binary to run the act tests", msg)
}

// tools are what every case needs once: act, Docker and the image.
type tools struct {
	act     string
	image   string // as action.yml names it, without docker://
	gateway string // the bridge network's gateway address
}

var (
	toolsOnce sync.Once
	toolsVal  tools
	toolsErr  error
	toolsMiss string // a tool is missing (skip or fail), not broken
)

func needTools(t *testing.T) tools {
	t.Helper()
	toolsOnce.Do(func() { toolsVal, toolsMiss, toolsErr = findTools(repoRoot(t)) })
	if toolsMiss != "" {
		missing(t, "%s", toolsMiss)
	}
	if toolsErr != nil {
		t.Fatal(toolsErr)
	}
	return toolsVal
}

// imageRef matches the image line of action.yml.
var imageRef = regexp.MustCompile(`(?m)^\s*image:\s*docker://(\S+)\s*$`)

func findTools(root string) (tools, string, error) {
	var tl tools
	tl.act = os.Getenv("RUNTIME_ACTION_ACT")
	if tl.act == "" {
		p, err := exec.LookPath("act")
		if err != nil {
			return tl, "act is not installed", nil
		}
		tl.act = p
	}
	if _, err := os.Stat(tl.act); err != nil {
		return tl, fmt.Sprintf("act not found at %q", tl.act), nil
	}
	if _, err := exec.LookPath("docker"); err != nil {
		return tl, "docker is not installed", nil
	}
	if out, err := exec.Command("docker", "info", "--format", "{{.ServerVersion}}").CombinedOutput(); err != nil {
		return tl, fmt.Sprintf("no Docker engine: %v: %s", err, bytes.TrimSpace(out)), nil
	}
	gw, err := bridgeGateway()
	if err != nil {
		return tl, "", err
	}
	tl.gateway = gw
	y, err := os.ReadFile(filepath.Join(root, "action.yml"))
	if err != nil {
		return tl, "", err
	}
	m := imageRef.FindSubmatch(y)
	if m == nil {
		return tl, "", fmt.Errorf("action.yml names no docker:// image")
	}
	tl.image = string(m[1])
	if strings.Contains(tl.image, "@") {
		return tl, "", fmt.Errorf("action.yml pins %s by digest (a release commit): the image cannot be built locally under that name", tl.image)
	}
	// The Action's image, built as CI builds it, under the name action.yml
	// gives, so that act finds it and pulls nothing.
	cmd := exec.Command("bash", filepath.Join(root, ".ci", "image"), tl.image, "acttest")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return tl, "", fmt.Errorf("build the image: %v\n%s", err, out)
	} else {
		fmt.Fprintf(os.Stderr, "%s", out)
	}
	return tl, "", nil
}

// bridgeGateway is the host's address on Docker's default bridge network:
// the gateway its IPAM names, else (an engine that leaves it blank) the
// IPv4 address of the bridge's interface (docker0).
func bridgeGateway() (string, error) {
	out, err := exec.Command("docker", "network", "inspect", "bridge", "--format",
		`{{range .IPAM.Config}}{{.Gateway}} {{end}}|{{index .Options "com.docker.network.bridge.name"}}`).Output()
	if err != nil {
		return "", fmt.Errorf("inspect Docker's bridge network: %w", err)
	}
	gws, ifname, _ := strings.Cut(strings.TrimSpace(string(out)), "|")
	if f := strings.Fields(gws); len(f) > 0 {
		return f[0], nil
	}
	ifc, err := net.InterfaceByName(ifname)
	if err != nil {
		return "", fmt.Errorf("the bridge network's interface %q: %w", ifname, err)
	}
	addrs, err := ifc.Addrs()
	if err != nil {
		return "", err
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil {
			return ipn.IP.String(), nil
		}
	}
	return "", fmt.Errorf("the bridge network's interface %q has no IPv4 address", ifname)
}

// runtimeServer is a Runtime for one case, listening where the Action's
// container reaches it.
type runtimeServer struct {
	url, token, workspace string
	c                     *client.Client
}

func startRuntime(t *testing.T, tl tools) *runtimeServer {
	t.Helper()
	ctx := context.Background()
	srv, err := server.Start(ctx, server.Config{DataDir: filepath.Join(t.TempDir(), "data"), MaxConcurrentRuns: 2}, tl.gateway+":0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	rs := &runtimeServer{url: srv.URL, token: srv.AdminToken()}
	rs.c = client.New(client.Options{APIBaseURL: srv.URL, AuthBaseURL: srv.AuthURL(), Token: rs.token})
	me, err := rs.c.Me(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rs.workspace = me.DefaultWorkspace.ID
	return rs
}

// runs lists the workspace's runs, newest first.
func (rs *runtimeServer) runs(t *testing.T) []api.DetailedRun {
	t.Helper()
	p, err := rs.c.ListRuns(context.Background(), rs.workspace, client.ListRunsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return p.Items
}

// repo makes a git repository holding the Action (action.yml), the test
// workspace and one workflow, as act wants a checkout.
func repo(t *testing.T, workflow string) string {
	t.Helper()
	src := repoRoot(t)
	dir := t.TempDir()
	copyFile(t, filepath.Join(src, "action.yml"), filepath.Join(dir, "action.yml"))
	copyTree(t, filepath.Join(src, "binary"), filepath.Join(dir, "binary"))
	copyTree(t, filepath.Join(src, "testdata", "act", "ws"), filepath.Join(dir, "ws"))
	copyFile(t, filepath.Join(src, "testdata", "act", workflow), filepath.Join(dir, ".github", "workflows", workflow))
	// act names its containers after the workflow: a name of this test's
	// own keeps them apart from another run's on the same engine.
	wf := filepath.Join(dir, ".github", "workflows", workflow)
	b, err := os.ReadFile(wf)
	if err != nil {
		t.Fatal(err)
	}
	b = regexp.MustCompile(`(?m)^name: (.*)$`).ReplaceAll(b, []byte("name: $1 "+runName(t)))
	if err := os.WriteFile(wf, b, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"init", "-q", "-b", "main"},
		{"add", "-A"},
		{"-c", "user.name=act test", "-c", "user.email=act@example.com", "commit", "-q", "-m", "act test"},
	} {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	return dir
}

// runName is this test's part of the workflow's name, and so of act's
// container names: the test and a number that differs from run to run.
func runName(t *testing.T) string {
	return strings.ToLower(strings.TrimPrefix(filepath.Base(filepath.Dir(t.TempDir())), "Test"))
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func copyTree(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		copyFile(t, p, filepath.Join(to, rel))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// actArgs is how every case runs act; the README's act section shows the
// same command.
func actArgs(workflow string, rs *runtimeServer, cache string, secrets ...string) []string {
	args := []string{"push",
		"-W", ".github/workflows/" + workflow,
		"-P", "ubuntu-latest=-self-hosted",
		"--pull=false",
		"--action-cache-path", cache,
		"--var", "RUNTIME_API_URL=" + rs.url,
		"-s", "RUNTIME_TOKEN=" + rs.token,
	}
	for _, s := range secrets {
		args = append(args, "-s", s)
	}
	return args
}

// actRun is one act process with its combined output.
type actRun struct {
	cmd *exec.Cmd
	out *lockedBuffer
}

func startAct(t *testing.T, tl tools, dir string, args []string) *actRun {
	t.Helper()
	cmd := exec.Command(tl.act, args...)
	cmd.Dir = dir
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			cmd.Wait()
		}
	})
	return &actRun{cmd: cmd, out: out}
}

// act runs a workflow to its end and returns act's output and whether the
// job succeeded.
func act(t *testing.T, tl tools, dir string, args []string) (string, bool) {
	t.Helper()
	start := time.Now()
	r := startAct(t, tl, dir, args)
	err := r.cmd.Wait()
	t.Logf("act ran %s in %s", args[2], time.Since(start).Round(100*time.Millisecond))
	return r.out.String(), err == nil
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func mustContain(t *testing.T, out string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(out, w) {
			t.Errorf("act's output lacks %q", w)
		}
	}
	if t.Failed() {
		t.Logf("act's output:\n%s", out)
	}
}

func mustMatch(t *testing.T, out string, patterns ...string) {
	t.Helper()
	for _, p := range patterns {
		if !regexp.MustCompile(p).MatchString(out) {
			t.Errorf("act's output does not match %s", p)
		}
	}
	if t.Failed() {
		t.Logf("act's output:\n%s", out)
	}
}

const uuidRE = `[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`

func TestActDeploy(t *testing.T) {
	tl := needTools(t)
	rs := startRuntime(t, tl)
	dir := repo(t, "deploy.yml")
	out, ok := act(t, tl, dir, actArgs("deploy.yml", rs, t.TempDir(),
		"DLT_SECRETS_TOML=[source]\npassword = \""+secretValue+"\"\n"))
	if !ok {
		t.Fatalf("the job failed:\n%s", out)
	}
	mustMatch(t, out,
		`later step: run `+uuidRE+` #1 ended completed, new deployment: true, `,
		`logs-file mode 644: /`,
		`logs-file holds: \d+ lines`,
		`hello from the Runtime`,
		`Run #1: completed`,
	)
	mustContain(t, out, "::group::Logs", "the password is ***")
	if strings.Contains(out, secretValue) {
		t.Errorf("the secret reached the job log:\n%s", out)
	}
	runs := rs.runs(t)
	if len(runs) != 1 || runs[0].Status != api.StatusCompleted {
		t.Errorf("runs on the Runtime: %+v", runs)
	}
}

func TestActFailingRun(t *testing.T) {
	tl := needTools(t)
	rs := startRuntime(t, tl)
	out, ok := act(t, tl, repo(t, "fail.yml"), actArgs("fail.yml", rs, t.TempDir()))
	if ok {
		t.Fatalf("the job passed, but its run failed:\n%s", out)
	}
	// The annotation (one line: the runner's escaping) quotes the log's end.
	mustMatch(t, out,
		`::error title=Run failed::run #1 of "fail.py" failed%0A%0ALast 3 lines of its log:%0Aloading rows%0Aboom: the source refused the connection%0Aprocess exited with code 3`,
		`Failure - Main \./`,
		`later step: the run ended failed`,
	)
	if runs := rs.runs(t); len(runs) != 1 || runs[0].Status != api.StatusFailed {
		t.Errorf("runs on the Runtime: %+v", runs)
	}
}

func TestActDryRun(t *testing.T) {
	tl := needTools(t)
	rs := startRuntime(t, tl)
	out, ok := act(t, tl, repo(t, "dryrun.yml"), actArgs("dryrun.yml", rs, t.TempDir()))
	if !ok {
		t.Fatalf("the job failed:\n%s", out)
	}
	mustContain(t, out, "runtime-action plan (dry run)", "**deployment**: new, version 1 would be uploaded", "+ hello.py")
	p, err := rs.c.ListDeployments(context.Background(), rs.workspace, 10, 0)
	if err != nil {
		t.Fatal(err)
	}
	if p.Total != 0 || len(rs.runs(t)) != 0 {
		t.Errorf("a dry run uploaded %d deployments and started %d runs", p.Total, len(rs.runs(t)))
	}
}

func TestActTimeoutCancels(t *testing.T) {
	tl := needTools(t)
	rs := startRuntime(t, tl)
	out, ok := act(t, tl, repo(t, "timeout.yml"), actArgs("timeout.yml", rs, t.TempDir()))
	if ok {
		t.Fatalf("the job passed, but its run timed out:\n%s", out)
	}
	mustMatch(t, out, `::error title=Run timed out::run #1 of "sleepy.py" did not end within 5s, so it (was cancelled|is being cancelled)`,
		`sleeping`, `later step: the run is (cancelled|cancelling)`)
	waitStatus(t, rs, api.StatusCancelled)
}

// TestActCancelled interrupts act while the run is active, as a cancelled
// workflow does: the run must end cancelled on the Runtime.
func TestActCancelled(t *testing.T) {
	tl := needTools(t)
	rs := startRuntime(t, tl)
	r := startAct(t, tl, repo(t, "cancel.yml"), actArgs("cancel.yml", rs, t.TempDir()))
	// act stops waiting for the main step's container when interrupted
	// but leaves it behind; it ends once its run is cancelled.
	t.Cleanup(func() {
		out, _ := exec.Command("docker", "ps", "-aq", "--filter", "ancestor="+tl.image, "--filter", "name="+runName(t)).Output()
		if ids := strings.Fields(string(out)); len(ids) > 0 {
			exec.Command("docker", append([]string{"rm", "-f"}, ids...)...).Run()
		}
	})
	waitStatus(t, rs, api.StatusRunning)
	if err := r.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- r.cmd.Wait() }()
	select {
	case err := <-done:
		t.Logf("act ended: %v", err)
	case <-time.After(2 * time.Minute):
		t.Fatalf("act did not end within 2 minutes of SIGINT:\n%s", r.out.String())
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("act's output:\n%s", r.out.String())
		}
	})
	waitStatus(t, rs, api.StatusCancelled)
}

// waitStatus waits until the workspace's only run has status want, for at
// most a minute (the run's own events, polled: there is nothing to wait on
// across processes).
func waitStatus(t *testing.T, rs *runtimeServer, want api.RunStatus) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	var runs []api.DetailedRun
	for time.Now().Before(deadline) {
		runs = rs.runs(t)
		if len(runs) == 1 && runs[0].Status == want {
			return
		}
		if len(runs) == 1 && want == api.StatusRunning && runs[0].Status.Terminal() {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("the run did not become %s: %+v", want, runs)
}

// TestActComposite runs the composite action (binary/action.yml) against a
// stand-in of the release downloads on loopback, serving a binary built
// here under the release's name, with the checksums a release commit holds.
func TestActComposite(t *testing.T) {
	tl := needTools(t)
	rs := startRuntime(t, tl)
	dir := repo(t, "composite.yml")

	const version = "v0.0.0-acttest"
	downloads := t.TempDir()
	name := "runtime-action-linux-" + runtime.GOARCH
	bin := filepath.Join(downloads, version, name)
	build := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X github.com/dlthub/runtime-action/internal/cli.stampedVersion="+version, "-o", bin, ".")
	build.Dir = repoRoot(t)
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	sums := fmt.Sprintf("%x  %s\n%x  runtime-action-windows-amd64.exe\n", sha256.Sum256(b), name, sha256.Sum256([]byte("other")))
	for file, content := range map[string]string{"binary/VERSION": version + "\n", "binary/SHA256SUMS": sums} {
		if err := os.WriteFile(filepath.Join(dir, file), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	var fetched []string
	files := http.FileServer(http.Dir(downloads))
	dl := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		fetched = append(fetched, r.URL.Path)
		mu.Unlock()
		files.ServeHTTP(w, r)
	}))
	defer dl.Close()

	args := append(actArgs("composite.yml", rs, t.TempDir()),
		"--var", "DOWNLOAD_URL="+dl.URL, "--var", "TOOL_CACHE="+t.TempDir())
	out, ok := act(t, tl, dir, args)
	if !ok {
		t.Fatalf("the job failed:\n%s", out)
	}
	mustMatch(t, out,
		`runtime-action `+version+` \(linux/`+runtime.GOARCH+`\) downloaded from http://127\.0\.0\.1:\d+, checksum verified`,
		`later step: run `+uuidRE+` ended completed`,
		`runtime-action `+version+` \(linux/`+runtime.GOARCH+`\) from the tool cache`,
		`runtime-action plan \(dry run\)`,
	)
	mu.Lock()
	if len(fetched) != 1 || fetched[0] != "/"+version+"/"+name {
		t.Errorf("downloads = %q, want the one binary once (then the cache)", fetched)
	}
	mu.Unlock()

	// A binary that does not match the commit's checksum is not run.
	if err := os.WriteFile(bin, append(b, 0), 0o755); err != nil {
		t.Fatal(err)
	}
	args = append(actArgs("composite.yml", rs, t.TempDir()),
		"--var", "DOWNLOAD_URL="+dl.URL, "--var", "TOOL_CACHE="+t.TempDir())
	out, ok = act(t, tl, dir, args)
	if ok {
		t.Fatalf("a binary with the wrong checksum was run:\n%s", out)
	}
	mustMatch(t, out, `::error title=Checksum mismatch::`+name+` from http://127\.0\.0\.1:\d+ has sha256 [0-9a-f]{64}, binary/SHA256SUMS says`)
}

// TestImage checks the image act runs: built FROM scratch by .ci/image
// (which fails over 20 MB), it prints the version stamped at build time,
// and holds the post step's entrypoint.
func TestImage(t *testing.T) {
	tl := needTools(t)
	out, err := exec.Command("docker", "run", "--rm", tl.image, "--version").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "runtime-action acttest" {
		t.Errorf("--version in the image: %q, %v; want the stamped version", out, err)
	}
	out, err = exec.Command("docker", "run", "--rm", "--entrypoint", "/runtime-action-post", tl.image).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "no run left to clean up") {
		t.Errorf("the post entrypoint: %q, %v", out, err)
	}
	out, err = exec.Command("docker", "image", "inspect", "--format", "{{.Size}}", tl.image).Output()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("image size: %s bytes", strings.TrimSpace(string(out)))
}
