package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rogpeppe/go-internal/testscript"

	"github.com/dlthub/runtime-action/internal/api"
	"github.com/dlthub/runtime-action/internal/cli"
	"github.com/dlthub/runtime-action/internal/client"
	"github.com/dlthub/runtime-action/internal/githubtest"
	"github.com/dlthub/runtime-action/internal/oidc"
	"github.com/dlthub/runtime-action/internal/server"
)

var update = flag.Bool("update", false, "update testscript golden output in testdata/scripts")

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"runtime-action": func() { os.Exit(cli.Main()) },
	})
}

func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/scripts",
		UpdateScripts:       *update,
		RequireExplicitExec: true,
		Setup: func(env *testscript.Env) error {
			home := filepath.Join(env.WorkDir, "home")
			if err := os.MkdirAll(home, 0o755); err != nil {
				return err
			}
			env.Setenv("HOME", home)
			env.Setenv("EXAMPLES", examplesDir())
			if py := os.Getenv("RUNTIME_SERVER_PYTHON"); py != "" {
				env.Setenv("RUNTIME_SERVER_PYTHON", py)
			}
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"runtime-server": cmdRuntimeServer,
			"capture":        cmdCapture,
			"wait-run":       cmdWaitRun,
			"wait-log":       cmdWaitLog,
			"fake-github":    cmdFakeGitHub,
			"gen-files":      cmdGenFiles,
			"exits":          cmdExits,
			"write-file":     cmdWriteFile,
			"setenv-file":    cmdSetenvFile,
			"no-secret":      cmdNoSecret,
			"sigterm":        cmdSigterm,
			"not-a-runtime":  cmdNotARuntime,
			"oidc-provider":  cmdOIDCProvider,
			"device-auth":    cmdDeviceAuth,
			"github-device":  cmdGitHubDevice,
			"github-rest":    cmdGitHubREST,
		},
	})
}

func examplesDir() string {
	wd, _ := os.Getwd()
	return filepath.Join(wd, "examples")
}

// cmdRuntimeServer starts a Runtime server in the test process, on a free
// loopback port, and points the script's environment at it:
// RUNTIME__API_BASE_URL, RUNTIME__AUTH_BASE_URL, RUNTIME__AUTH_TOKEN (the
// admin token), RUNTIME__WORKSPACE_ID (the default workspace), and
// SERVER_URL, SERVER_DATA, WORKSPACE_ID, ADMIN_TOKEN for the script's own use.
//
//	runtime-server [-noenv] [-max-upload N] [-timeout D] [-grace D] [-oidc-issuer URL] [-pip-args ARGS] [NAME]
func cmdRuntimeServer(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! runtime-server")
	}
	fs := flag.NewFlagSet("runtime-server", flag.ContinueOnError)
	noenv := fs.Bool("noenv", false, "do not set RUNTIME__* variables")
	maxUpload := fs.Int64("max-upload", 0, "upload limit in bytes")
	timeout := fs.Duration("timeout", 0, "run timeout")
	grace := fs.Duration("grace", 500*time.Millisecond, "cancel grace")
	githubAPI := fs.String("github-api", "", "GitHub API base URL")
	oidcIssuer := fs.String("oidc-issuer", "", "issuer of the GitHub Actions ID tokens the OIDC exchange accepts")
	pipArgs := fs.String("pip-args", "", "extra arguments of dependency installs, space-separated")
	githubClientID := fs.String("github-client-id", "", "client id of the device flow login (serve --github-client-id)")
	githubURL := fs.String("github-url", "", "GitHub's web address (serve --github-url)")
	if err := fs.Parse(args); err != nil {
		ts.Fatalf("runtime-server: %v", err)
	}
	name := "server"
	if fs.NArg() > 0 {
		name = fs.Arg(0)
	}
	if *githubAPI == "" {
		*githubAPI = ts.Getenv("GITHUB_API_STANDIN")
	}
	dataDir := filepath.Join(ts.Getenv("WORK"), ".data-"+name)
	py := ts.Getenv("RUNTIME_SERVER_PYTHON")
	if py == "" {
		py = "python3"
	}
	srv, err := server.Start(context.Background(), server.Config{
		DataDir:      dataDir,
		Python:       py,
		MaxUpload:    *maxUpload,
		RunTimeout:   *timeout,
		CancelGrace:  *grace,
		GitHubAPIURL: *githubAPI,
		OIDC:         oidc.Config{Issuer: *oidcIssuer},
		PipArgs:      strings.Fields(*pipArgs),
		DeviceFlow:   server.DeviceFlowConfig{ClientID: *githubClientID, GitHubURL: *githubURL},
	}, "127.0.0.1:0")
	ts.Check(err)
	ts.Defer(func() { srv.Close() })
	url := srv.URL
	c := client.New(client.Options{APIBaseURL: url, AuthBaseURL: srv.AuthURL(), Token: srv.AdminToken()})
	me, err := c.Me(context.Background())
	ts.Check(err)
	prefix := strings.ToUpper(name)
	ts.Setenv(prefix+"_URL", url)
	ts.Setenv(prefix+"_DATA", dataDir)
	ts.Setenv(prefix+"_TOKEN", srv.AdminToken())
	ts.Setenv(prefix+"_WORKSPACE_ID", me.DefaultWorkspace.ID)
	if !*noenv {
		ts.Setenv("RUNTIME__API_BASE_URL", url)
		ts.Setenv("RUNTIME__AUTH_BASE_URL", url+"/auth")
		ts.Setenv("RUNTIME__AUTH_TOKEN", srv.AdminToken())
		ts.Setenv("RUNTIME__WORKSPACE_ID", me.DefaultWorkspace.ID)
	}
}

// cmdCapture sets VAR to the first group of REGEX matched in the last
// command's stdout (or stderr with -stderr).
//
//	capture [-stderr] VAR REGEX
func cmdCapture(ts *testscript.TestScript, neg bool, args []string) {
	file := "stdout"
	if len(args) > 0 && args[0] == "-stderr" {
		file, args = "stderr", args[1:]
	}
	if len(args) != 2 {
		ts.Fatalf("usage: capture [-stderr] VAR REGEX")
	}
	re, err := regexp.Compile("(?m)" + args[1])
	ts.Check(err)
	m := re.FindStringSubmatch(ts.ReadFile(file))
	if len(m) < 2 {
		if neg {
			return
		}
		ts.Fatalf("capture: %q does not match %s", args[1], file)
	}
	if neg {
		ts.Fatalf("capture: %q matched %s", args[1], file)
	}
	ts.Setenv(args[0], m[1])
}

// waitTimeout bounds wait-run and wait-log: far more than any run of the
// scripts takes, so that only a run that never gets there fails them.
const waitTimeout = 30 * time.Second

// findRun returns the run named by a run id or a script name (its latest
// run) on the server started by runtime-server; nil while the script has
// no run yet.
func findRun(ts *testscript.TestScript, c *client.Client, ref string) *api.DetailedRun {
	ctx := context.Background()
	ws := ts.Getenv("SERVER_WORKSPACE_ID")
	var run *api.DetailedRun
	var err error
	if _, perr := uuid.Parse(ref); perr == nil {
		run, err = c.GetRun(ctx, ws, ref)
	} else if sc, serr := c.GetScript(ctx, ws, ref); serr == nil {
		run, err = c.LatestRun(ctx, ws, sc.ID)
	} else if !client.IsNotFound(serr) {
		err = serr
	}
	ts.Check(err)
	return run
}

func serverClient(ts *testscript.TestScript) *client.Client {
	return client.New(client.Options{APIBaseURL: ts.Getenv("SERVER_URL"), Token: ts.Getenv("SERVER_TOKEN")})
}

// cmdWaitRun waits until a run reaches STATUS on the server started by
// runtime-server (at most 30 s). A script name means its latest run, once it
// has one. A status says nothing about what the script printed: wait for
// that with wait-log.
//
//	wait-run RUN_ID_OR_SCRIPT STATUS
func cmdWaitRun(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: wait-run RUN_ID_OR_SCRIPT STATUS")
	}
	c := serverClient(ts)
	deadline := time.Now().Add(waitTimeout)
	var last string
	for time.Now().Before(deadline) {
		run := findRun(ts, c, args[0])
		if run == nil {
			time.Sleep(20 * time.Millisecond) // poll interval of the wait
			continue
		}
		last = string(run.Status)
		if last == args[1] {
			if neg {
				ts.Fatalf("run %s reached %s", args[0], last)
			}
			return
		}
		if run.Status.Terminal() {
			break
		}
		time.Sleep(20 * time.Millisecond) // poll interval of the wait
	}
	if !neg {
		ts.Fatalf("run %s is %s, not %s", args[0], last, args[1])
	}
}

// cmdWaitLog waits until the log of a run on the server started by
// runtime-server matches REGEXP (at most 30 s; a script name means its
// latest run). It fails at once when the run ended without the match.
//
//	wait-log RUN_ID_OR_SCRIPT REGEXP
func cmdWaitLog(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! wait-log")
	}
	if len(args) != 2 {
		ts.Fatalf("usage: wait-log RUN_ID_OR_SCRIPT REGEXP")
	}
	re, err := regexp.Compile("(?m)" + args[1])
	ts.Check(err)
	c := serverClient(ts)
	ws := ts.Getenv("SERVER_WORKSPACE_ID")
	deadline := time.Now().Add(waitTimeout)
	var log string
	for time.Now().Before(deadline) {
		run := findRun(ts, c, args[0])
		if run == nil {
			time.Sleep(20 * time.Millisecond) // poll interval of the wait
			continue
		}
		lr, err := c.Logs(context.Background(), ws, run.ID)
		ts.Check(err)
		if lr.Logs != nil {
			log = *lr.Logs
		}
		if re.MatchString(log) {
			return
		}
		if lr.Run.Status.Terminal() {
			// The log may have been read just before the last lines and the
			// end: once ended, one more read has it all.
			lr, err = c.Logs(context.Background(), ws, run.ID)
			ts.Check(err)
			if lr.Logs != nil && re.MatchString(*lr.Logs) {
				return
			}
			ts.Fatalf("run %s ended %s and its log does not match %q:\n%s", args[0], lr.Run.Status, args[1], log)
		}
		time.Sleep(20 * time.Millisecond) // poll interval of the wait
	}
	ts.Fatalf("the log of run %s does not match %q after %s:\n%s", args[0], args[1], waitTimeout, log)
}

// cmdFakeGitHub starts a stand-in for GitHub's REST API that answers GET /user
// for the tokens given as TOKEN=LOGIN pairs, as GitHub does, and sets
// GITHUB_API_STANDIN to its URL.
//
//	fake-github TOKEN=LOGIN...
func cmdFakeGitHub(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! fake-github")
	}
	users := map[string]string{}
	for _, a := range args {
		tok, login, ok := strings.Cut(a, "=")
		if !ok {
			ts.Fatalf("usage: fake-github TOKEN=LOGIN...")
		}
		users[tok] = login
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /user", func(w http.ResponseWriter, r *http.Request) {
		tok := strings.TrimPrefix(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "), "token ")
		login, ok := users[tok]
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		if !ok {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"message":"Bad credentials","documentation_url":"https://docs.github.com/rest","status":"401"}`)
			return
		}
		fmt.Fprintf(w, `{"login":%q,"id":%d,"type":"User","email":null,"name":"Test User"}`, login, 1000+len(login))
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	ts.Check(err)
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	ts.Defer(func() { srv.Close() })
	ts.Setenv("GITHUB_API_STANDIN", "http://"+ln.Addr().String())
}

// cmdExits runs a command and checks its exit code; its stdout and stderr
// are kept for the stdout and stderr commands that follow.
//
//	exits CODE PROGRAM [ARGS...]
func cmdExits(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exits CODE PROGRAM [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	err = ts.Exec(args[1], args[2:]...)
	got := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			ts.Fatalf("exits: %v", err)
		}
		got = ee.ExitCode()
	}
	if got != want {
		ts.Fatalf("exit code %d, want %d", got, want)
	}
}

// cmdWriteFile writes its arguments as the lines of a file (after the
// script's variable expansion, which the txtar file sections do not get).
//
//	write-file PATH LINE...
func cmdWriteFile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 {
		ts.Fatalf("usage: write-file PATH LINE...")
	}
	path := ts.MkAbs(args[0])
	ts.Check(os.MkdirAll(filepath.Dir(path), 0o755))
	ts.Check(os.WriteFile(path, []byte(strings.Join(args[1:], "\n")+"\n"), 0o644))
}

// cmdSetenvFile sets VAR to the content of FILE, for multi-line values.
//
//	setenv-file VAR FILE
func cmdSetenvFile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: setenv-file VAR FILE")
	}
	ts.Setenv(args[0], ts.ReadFile(args[1]))
}

// cmdNoSecret fails when any VALUE appears in FILE (stdout, stderr or a
// path) outside the ::add-mask:: lines that register it with the runner.
//
//	no-secret FILE VALUE...
func cmdNoSecret(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: no-secret FILE VALUE...")
	}
	text := ts.ReadFile(args[0])
	for i, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "::add-mask::") {
			continue
		}
		for _, v := range args[1:] {
			if v != "" && strings.Contains(line, v) {
				ts.Fatalf("%s line %d holds a secret value: %q", args[0], i+1, line)
			}
		}
	}
}

// cmdSigterm sends SIGTERM to the script's background commands, as the
// runner does to a step when a workflow is cancelled (testscript's own kill
// knows only INT and KILL).
//
//	sigterm
func cmdSigterm(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: sigterm")
	}
	for _, c := range ts.BackgroundCmds() {
		if c.Process != nil {
			ts.Check(c.Process.Signal(syscall.SIGTERM))
		}
	}
}

// cmdNotARuntime starts a web server that answers every request with an HTML
// page, as a proxy or a wrong URL would, and sets NOT_A_RUNTIME_URL.
//
//	not-a-runtime
func cmdNotARuntime(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: not-a-runtime")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	ts.Check(err)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, "<html><body>Welcome to nginx!</body></html>")
	})}
	go srv.Serve(ln)
	ts.Defer(func() { srv.Close() })
	ts.Setenv("NOT_A_RUNTIME_URL", "http://"+ln.Addr().String())
}

// cmdDeviceAuth starts a stand-in for dltHub's auth service that runs the
// GitHub device flow as the contract describes it: the first poll answers
// authorization_pending, the second the JWT given. Sets DEVICE_AUTH_URL.
//
//	device-auth JWT
func cmdDeviceAuth(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: device-auth JWT")
	}
	jwt := args[0]
	var polls atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/github/device-flow/code", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		fmt.Fprint(w, `{"device_code":"dev-code-1","interval":1,"user_code":"WDJB-MJHT","verification_uri":"https://github.com/login/device"}`)
	})
	mux.HandleFunc("POST /v1/github/device-flow/token", func(w http.ResponseWriter, r *http.Request) {
		var req api.GithubDeviceFlowLoginRequest
		w.Header().Set("Content-Type", "application/json")
		if json.NewDecoder(r.Body).Decode(&req) != nil || req.DeviceCode != "dev-code-1" {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"status_code":400,"detail":"bad_device_code"}`)
			return
		}
		if polls.Add(1) == 1 {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"status_code":400,"detail":"authorization_pending"}`)
			return
		}
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"email":"admin@localhost","id":"6f1f4c1e-2b7a-4bde-9a52-5d0c6c8c9d10","jwt":%q}`, jwt)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	ts.Check(err)
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	ts.Defer(func() { srv.Close() })
	ts.Setenv("DEVICE_AUTH_URL", "http://"+ln.Addr().String())
}

// cmdGitHubDevice starts a stand-in for GitHub's device flow and GET /user
// (githubtest) for the OAuth App client id Ov23liScriptTest, whose user
// LOGIN approves every code after its first poll (a poll answered
// authorization_pending), and sets GITHUB_WEB_STANDIN and GITHUB_API_STANDIN
// to its URL. The codes' interval is one second.
//
//	github-device LOGIN
func cmdGitHubDevice(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: github-device LOGIN")
	}
	gh := githubtest.Start(githubtest.Options{ClientID: "Ov23liScriptTest", Interval: 1,
		ApproveAfter: 1, ApproveAs: &githubtest.User{Login: args[0], ID: 4100 + int64(len(args[0]))}})
	ts.Defer(gh.Close)
	ts.Setenv("GITHUB_WEB_STANDIN", gh.URL)
	ts.Setenv("GITHUB_API_STANDIN", gh.URL)
}

// cmdGitHubREST starts a stand-in for GitHub's REST API (deployments,
// deployment statuses, issue comments, with GitHub's paths and JSON shapes)
// that appends each call to $WORK/github-calls as "METHOD PATH BODY", and
// sets GITHUB_API_URL to it.
//
//	github-rest
func cmdGitHubREST(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: github-rest")
	}
	var mu sync.Mutex
	var nextID atomic.Int64
	comments := map[int64]string{}
	logPath := filepath.Join(ts.Getenv("WORK"), "github-calls")
	record := func(r *http.Request) map[string]any {
		var body map[string]any
		b, _ := io.ReadAll(r.Body)
		json.Unmarshal(b, &body)
		mu.Lock()
		defer mu.Unlock()
		f, err := os.OpenFile(logPath, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err == nil {
			fmt.Fprintf(f, "%s %s %s\n", r.Method, r.URL.Path, strings.ReplaceAll(string(b), "\n", "\\n"))
			f.Close()
		}
		return body
	}
	reply := func(w http.ResponseWriter, code int, v any) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(v)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /repos/{owner}/{repo}/deployments", func(w http.ResponseWriter, r *http.Request) {
		body := record(r)
		id := 1000 + nextID.Add(1)
		reply(w, http.StatusCreated, map[string]any{"id": id, "sha": body["ref"], "ref": body["ref"], "environment": body["environment"], "url": fmt.Sprintf("http://%s/repos/o/r/deployments/%d", r.Host, id)})
	})
	mux.HandleFunc("POST /repos/{owner}/{repo}/deployments/{id}/statuses", func(w http.ResponseWriter, r *http.Request) {
		body := record(r)
		reply(w, http.StatusCreated, map[string]any{"id": 2000 + nextID.Add(1), "state": body["state"]})
	})
	mux.HandleFunc("GET /repos/{owner}/{repo}/issues/{n}/comments", func(w http.ResponseWriter, r *http.Request) {
		record(r)
		mu.Lock()
		defer mu.Unlock()
		list := []map[string]any{}
		for id, b := range comments {
			list = append(list, map[string]any{"id": id, "body": b, "html_url": fmt.Sprintf("https://github.com/o/r/pull/1#issuecomment-%d", id)})
		}
		reply(w, http.StatusOK, list)
	})
	mux.HandleFunc("POST /repos/{owner}/{repo}/issues/{n}/comments", func(w http.ResponseWriter, r *http.Request) {
		body := record(r)
		id := 3000 + nextID.Add(1)
		mu.Lock()
		comments[id], _ = body["body"].(string)
		mu.Unlock()
		reply(w, http.StatusCreated, map[string]any{"id": id, "body": body["body"], "html_url": fmt.Sprintf("https://github.com/o/r/pull/1#issuecomment-%d", id)})
	})
	mux.HandleFunc("PATCH /repos/{owner}/{repo}/issues/comments/{id}", func(w http.ResponseWriter, r *http.Request) {
		body := record(r)
		id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
		mu.Lock()
		comments[id], _ = body["body"].(string)
		mu.Unlock()
		reply(w, http.StatusOK, map[string]any{"id": id, "body": body["body"], "html_url": fmt.Sprintf("https://github.com/o/r/pull/1#issuecomment-%d", id)})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		record(r)
		reply(w, http.StatusNotFound, map[string]any{"message": "Not Found", "documentation_url": "https://docs.github.com/rest"})
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	ts.Check(err)
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	ts.Defer(func() { srv.Close() })
	ts.Setenv("GITHUB_API_URL", "http://"+ln.Addr().String())
}

// cmdGenFiles writes N files of SIZE bytes of incompressible data under DIR.
//
//	gen-files DIR N SIZE
func cmdGenFiles(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: gen-files DIR N SIZE")
	}
	n, err := strconv.Atoi(args[1])
	ts.Check(err)
	size, err := strconv.Atoi(args[2])
	ts.Check(err)
	dir := ts.MkAbs(args[0])
	ts.Check(os.MkdirAll(dir, 0o755))
	x := uint64(88172645463325252)
	for i := 0; i < n; i++ {
		b := make([]byte, size)
		for j := range b {
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
			b[j] = byte(x)
		}
		ts.Check(os.WriteFile(filepath.Join(dir, fmt.Sprintf("blob%03d.bin", i)), b, 0o644))
	}
}
