package server

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dlthub/runtime-action/internal/api"
)

// echoApp is an http.server app on $PORT that answers with what it was sent.
const echoApp = `import os, json, http.server
port = int(os.environ["PORT"])
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        h = self.headers
        body = json.dumps({"path": self.path, "prefix": h.get("X-Forwarded-Prefix"), "auth": h.get("Authorization"),
            "cookie": h.get("Cookie"), "host": h.get("Host"), "fwd_host": h.get("X-Forwarded-Host"),
            "fwd_proto": h.get("X-Forwarded-Proto"), "method": self.command}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    do_POST = do_GET
    def log_message(self, *a):
        pass
print("serving on", port, flush=True)
http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
`

// wsApp answers an HTTP upgrade with 101 and then echoes every byte, on
// one connection at a time: the least a WebSocket server does, in the
// standard library only.
const wsApp = `import os, socket
port = int(os.environ["PORT"])
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port))
srv.listen(8)
while True:
    c, _ = srv.accept()
    data = b""
    while b"\r\n\r\n" not in data:
        b = c.recv(4096)
        if not b:
            break
        data += b
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    if b"\r\n\r\n" in data and "upgrade: websocket" in head.decode().lower():
        path = lines[0].split(" ")[1]
        c.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nX-Path: %s\r\n\r\n" % path).encode())
        if rest:
            c.sendall(rest)
        while True:
            b = c.recv(4096)
            if not b:
                break
            c.sendall(b)
    c.close()
`

// deployApp uploads a deployment of files and a configuration, and upserts
// an interactive script named entry.
func (e *testEnv) deployApp(t *testing.T, files map[string]string, entry string) api.Script {
	t.Helper()
	if r := e.upload(t, e.wsPath("/deployments"), buildPackage(t, files)); r.status != http.StatusCreated {
		t.Fatalf("upload deployment: %d %s", r.status, r.body)
	}
	conf := buildPackage(t, map[string]string{"config.toml": "[runtime]\n"})
	if r := e.upload(t, e.wsPath("/configurations"), conf); r.status != http.StatusCreated && r.status != http.StatusOK {
		t.Fatalf("upload configuration: %d %s", r.status, r.body)
	}
	r := e.postJSON(t, e.wsPath("/scripts"), map[string]any{"name": entry, "entry_point": entry, "description": "", "script_type": "interactive"})
	if r.status != http.StatusCreated {
		t.Fatalf("upsert script: %d %s", r.status, r.body)
	}
	var sc api.Script
	r.decode(t, &sc)
	return sc
}

func running(s api.RunStatus) bool { return s == api.StatusRunning || s.Terminal() }

// startApp starts a run of the interactive script and waits until it runs.
func (e *testEnv) startApp(t *testing.T, name string) api.DetailedRun {
	t.Helper()
	run := e.startRun(t, name)
	d := e.waitRun(t, run.ID, 15*time.Second, running)
	if d.Status != api.StatusRunning {
		b, _ := os.ReadFile(e.srv.logPath(run.ID))
		t.Fatalf("app run %s: %s\n%s", run.ID, d.Status, b)
	}
	return d
}

// fetched is an answer of the proxy, read whole.
type fetched struct {
	status int
	header http.Header
	body   string
}

// echoed is what echoApp answered.
type echoed struct {
	Path, Prefix, Auth, Cookie, Host, Method string
	FwdHost                                  string `json:"fwd_host"`
	FwdProto                                 string `json:"fwd_proto"`
}

func (f fetched) echo(t *testing.T) echoed {
	t.Helper()
	if f.status != http.StatusOK {
		t.Fatalf("status %d: %s", f.status, f.body)
	}
	var a echoed
	if err := json.Unmarshal([]byte(f.body), &a); err != nil {
		t.Fatalf("decode %q: %v", f.body, err)
	}
	return a
}

// fetch sends a request without following redirects.
func fetch(t *testing.T, method, rawURL string, header http.Header) fetched {
	t.Helper()
	req, err := http.NewRequest(method, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, rawURL, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return fetched{status: res.StatusCode, header: res.Header, body: string(b)}
}

func bearer(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }

// errorOf checks an answer is the contract's error body with status and
// returns its detail.
func errorOf(t *testing.T, f fetched, status int) string {
	t.Helper()
	var e api.ErrorResponse
	if f.status != status || f.header.Get("Content-Type") != "application/json" || json.Unmarshal([]byte(f.body), &e) != nil || e.StatusCode != status {
		t.Fatalf("got %d %s %q, want a JSON error %d", f.status, f.header.Get("Content-Type"), f.body, status)
	}
	return e.Detail
}

// TestAppProxy: an interactive script's app is reached at script_url with a
// token or a signed link's cookie, gets the path without the prefix and the
// prefix in X-Forwarded-Prefix, never sees the Runtime's credentials, and
// is gone once its run is cancelled.
func TestAppProxy(t *testing.T) {
	t.Parallel()
	var shift atomic.Int64 // the clock, moved to expire links and sessions
	e := newEnv(t, func(c *Config) {
		c.Now = func() time.Time { return time.Now().Add(time.Duration(shift.Load())) }
	})
	sc := e.deployApp(t, map[string]string{"apps/hello.py": echoApp, "batch.py": "print(1)\n"}, "apps/hello.py")
	if r := e.postJSON(t, e.wsPath("/scripts"), map[string]any{"name": "batch.py", "entry_point": "batch.py", "description": "", "script_type": "batch"}); r.status != http.StatusCreated {
		t.Fatalf("upsert batch script: %d %s", r.status, r.body)
	}
	appURL := e.url + "/apps/" + e.ws + "/apps/hello.py/"
	if sc.ScriptURL != appURL {
		t.Fatalf("script_url %q, want %q", sc.ScriptURL, appURL)
	}
	// Before any run: a clear 503, not a 404 or a 502.
	if d := errorOf(t, fetch(t, "GET", appURL, bearer(e.token)), http.StatusServiceUnavailable); !strings.Contains(d, `app "apps/hello.py" is not running`) {
		t.Errorf("detail %q", d)
	}
	run := e.startApp(t, "apps/hello.py")

	t.Run("token", func(t *testing.T) {
		a := fetch(t, "GET", appURL+"static/x%20y.js?v=1", bearer(e.token)).echo(t)
		want := echoed{Path: "/static/x%20y.js?v=1", Prefix: "/apps/" + e.ws + "/apps/hello.py", Host: strings.TrimPrefix(e.url, "http://"),
			FwdHost: strings.TrimPrefix(e.url, "http://"), FwdProto: "http", Method: "GET"}
		if a != want {
			t.Errorf("app saw %+v\nwant      %+v", a, want)
		}
		if a := fetch(t, "POST", appURL, bearer(e.token)).echo(t); a.Path != "/" || a.Method != "POST" {
			t.Errorf("POST: app saw %+v", a)
		}
	})
	t.Run("bare path redirects", func(t *testing.T) {
		f := fetch(t, "GET", strings.TrimSuffix(appURL, "/")+"?a=b", bearer(e.token))
		if f.status != http.StatusPermanentRedirect || f.header.Get("Location") != "/apps/"+e.ws+"/apps/hello.py/?a=b" {
			t.Errorf("got %d Location %q", f.status, f.header.Get("Location"))
		}
	})
	t.Run("no credentials", func(t *testing.T) {
		if d := errorOf(t, fetch(t, "GET", appURL, nil), http.StatusUnauthorized); !strings.Contains(d, "missing credentials") {
			t.Errorf("detail %q", d)
		}
		// no token: 401 whatever the path, so nothing is learnt of what exists
		errorOf(t, fetch(t, "GET", e.url+"/apps/"+e.ws+"/nothing.py/", nil), http.StatusUnauthorized)
		errorOf(t, fetch(t, "GET", e.url+"/apps/00000000-0000-0000-0000-000000000000/x/", nil), http.StatusUnauthorized)
		errorOf(t, fetch(t, "GET", appURL, bearer("not-a-token")), http.StatusUnauthorized)
	})
	t.Run("other workspace", func(t *testing.T) {
		ctx := context.Background()
		b, err := e.srv.Admin().CreateWorkspace(ctx, "B")
		if err != nil {
			t.Fatal(err)
		}
		memberB, err := e.srv.Admin().CreateToken(ctx, TokenOptions{WorkspaceID: b.ID, Email: "bob@example.com"})
		if err != nil {
			t.Fatal(err)
		}
		d := errorOf(t, fetch(t, "GET", appURL, bearer(memberB)), http.StatusNotFound)
		if strings.Contains(d, "hello") {
			t.Errorf("404 leaks the app: %q", d)
		}
		// nor can B mint a link to it
		r := e.do(t, "POST", e.wsPath("/scripts/apps/hello.py/app-link"), memberB, nil, "")
		if r.status != http.StatusNotFound {
			t.Errorf("app-link of a member of B: %d %s", r.status, r.body)
		}
	})
	t.Run("unknown and batch", func(t *testing.T) {
		errorOf(t, fetch(t, "GET", e.url+"/apps/"+e.ws+"/nothing.py/", bearer(e.token)), http.StatusNotFound)
		if d := errorOf(t, fetch(t, "GET", e.url+"/apps/"+e.ws+"/batch.py/", bearer(e.token)), http.StatusNotFound); !strings.Contains(d, "batch script") {
			t.Errorf("detail %q", d)
		}
		errorOf(t, fetch(t, "GET", e.url+"/apps/"+e.ws+"/", bearer(e.token)), http.StatusNotFound)
		if r := e.do(t, "POST", e.wsPath("/scripts/batch.py/app-link"), e.token, nil, ""); r.status != http.StatusBadRequest {
			t.Errorf("app-link of a batch script: %d %s", r.status, r.body)
		}
		if r := e.do(t, "POST", e.wsPath("/scripts/nothing.py/app-link"), e.token, nil, ""); r.status != http.StatusNotFound {
			t.Errorf("app-link of no script: %d %s", r.status, r.body)
		}
	})

	t.Run("signed link", func(t *testing.T) {
		// the name percent-encoded as one segment works as well
		r := e.do(t, "POST", e.wsPath("/scripts/apps%2Fhello.py/app-link"), e.token, nil, "")
		if r.status != http.StatusCreated {
			t.Fatalf("app-link: %d %s", r.status, r.body)
		}
		var link api.AppLinkResponse
		r.decode(t, &link)
		if !strings.HasPrefix(link.URL, appURL+"?access=") {
			t.Fatalf("link %q", link.URL)
		}
		if left := time.Until(link.ExpiresAt.Time) + time.Duration(shift.Load()); left < 4*time.Minute || left > 5*time.Minute {
			t.Errorf("link expires in %s, want 5m", left)
		}
		f := fetch(t, "GET", link.URL+"&theme=dark", nil)
		if f.status != http.StatusSeeOther || f.header.Get("Location") != "/apps/"+e.ws+"/apps/hello.py/?theme=dark" {
			t.Fatalf("link: %d Location %q %s", f.status, f.header.Get("Location"), f.body)
		}
		res := &http.Response{Header: f.header}
		var sess *http.Cookie
		for _, c := range res.Cookies() {
			if c.Name == appCookie {
				sess = c
			}
		}
		if sess == nil || !sess.HttpOnly || sess.SameSite != http.SameSiteLaxMode || sess.Path != "/apps/"+e.ws+"/apps/hello.py" || sess.Secure {
			t.Fatalf("cookie %+v", sess)
		}
		if sess.MaxAge < int((12*time.Hour - time.Minute).Seconds()) {
			t.Errorf("session max-age %d, want 12h", sess.MaxAge)
		}
		withCookie := http.Header{"Cookie": {"theme=dark; " + appCookie + "=" + sess.Value + "; lang=en"}, "Authorization": {"Basic YXBwOnB3"}}
		a := fetch(t, "GET", appURL+"page", withCookie).echo(t)
		if a.Path != "/page" || a.Cookie != "theme=dark; lang=en" || a.Auth != "Basic YXBwOnB3" {
			t.Errorf("with the session cookie the app saw %+v (its own cookies and Authorization pass, the session does not)", a)
		}
		// A Runtime token sent beside the session never reaches the app; a
		// bearer token of the app's own does.
		for _, tc := range []struct{ auth, want string }{
			{"Bearer " + e.token, ""},
			{"bearer  " + e.token, ""},
			{"Bearer app-own-token", "Bearer app-own-token"},
		} {
			h := http.Header{"Cookie": {appCookie + "=" + sess.Value}, "Authorization": {tc.auth}}
			if a := fetch(t, "GET", appURL+"page", h).echo(t); a.Auth != tc.want {
				t.Errorf("session and Authorization %.12q...: the app saw Authorization %.16q..., want %q", tc.auth, a.Auth, tc.want)
			}
		}
		// the cookie is for this app: another workspace's path refuses it
		errorOf(t, fetch(t, "GET", e.url+"/apps/00000000-0000-0000-0000-000000000000/apps/hello.py/", withCookie), http.StatusUnauthorized)

		// A session is no API token, a link no session, an API token no link.
		errorOf(t, fetch(t, "GET", e.url+e.wsPath("/scripts"), bearer(sess.Value)), http.StatusUnauthorized)
		access := strings.TrimPrefix(link.URL, appURL+"?access=")
		errorOf(t, fetch(t, "GET", appURL, http.Header{"Cookie": {appCookie + "=" + access}}), http.StatusUnauthorized)
		errorOf(t, fetch(t, "GET", appURL+"?access="+e.token, nil), http.StatusUnauthorized)
		tampered := access[:len(access)-3] + "AAA"
		errorOf(t, fetch(t, "GET", appURL+"?access="+tampered, nil), http.StatusUnauthorized)

		// 6 minutes on, the link is expired and the session still good;
		// 13 hours on, the session is expired too.
		shift.Store(int64(6 * time.Minute))
		if d := errorOf(t, fetch(t, "GET", link.URL, nil), http.StatusUnauthorized); !strings.Contains(d, "expired or invalid") {
			t.Errorf("expired link: %q", d)
		}
		fetch(t, "GET", appURL, withCookie).echo(t)
		shift.Store(int64(13 * time.Hour))
		if d := errorOf(t, fetch(t, "GET", appURL, withCookie), http.StatusUnauthorized); !strings.Contains(d, "session expired") {
			t.Errorf("expired session: %q", d)
		}
		shift.Store(0)
	})
	t.Run("revoked token", func(t *testing.T) {
		ctx := context.Background()
		tok, err := e.srv.Admin().CreateToken(ctx, TokenOptions{Email: "carol@example.com"})
		if err != nil {
			t.Fatal(err)
		}
		var link api.AppLinkResponse
		r := e.do(t, "POST", e.wsPath("/scripts/apps/hello.py/app-link"), tok, nil, "")
		r.decode(t, &link)
		f := fetch(t, "GET", link.URL, nil)
		if f.status != http.StatusSeeOther {
			t.Fatalf("link: %d %s", f.status, f.body)
		}
		cookie := strings.Split(f.header.Get("Set-Cookie"), ";")[0]
		fetch(t, "GET", appURL, http.Header{"Cookie": {cookie}}).echo(t)
		if _, err := e.srv.Admin().RevokeToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
		errorOf(t, fetch(t, "GET", link.URL, nil), http.StatusUnauthorized)
		errorOf(t, fetch(t, "GET", appURL, http.Header{"Cookie": {cookie}}), http.StatusUnauthorized)
	})

	// Cancel stops the app; its path says so.
	if r := e.postJSON(t, e.wsPath("/runs/", run.ID, "/cancel"), nil); r.status != http.StatusCreated {
		t.Fatalf("cancel: %d %s", r.status, r.body)
	}
	if d := e.waitRun(t, run.ID, 10*time.Second, terminal); d.Status != api.StatusCancelled {
		t.Errorf("cancelled app run ended %s", d.Status)
	}
	errorOf(t, fetch(t, "GET", appURL, bearer(e.token)), http.StatusServiceUnavailable)
	if n := e.srv.apps.count(); n != 0 {
		t.Errorf("%d apps left in the table", n)
	}
}

// TestAppWebSocketAndIdle: an upgrade passes through the proxy both ways;
// the open connection keeps the app from being idle, and once it is closed
// the app is stopped after the idle time, the run completed.
func TestAppWebSocketAndIdle(t *testing.T) {
	t.Parallel()
	const idle = time.Second
	e := newEnv(t, func(c *Config) {
		c.AppIdleTimeout = idle
		// at debug level, requests go through the request log's writer:
		// the upgrade must reach the connection through it
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	e.deployApp(t, map[string]string{"ws.py": wsApp, "control.py": echoApp}, "ws.py")
	// control is an app with no open connection: its stop says the idle
	// time has passed, with no guess of how long that takes on a busy
	// machine. It is kept busy until the WebSocket's last message.
	if r := e.postJSON(t, e.wsPath("/scripts"), map[string]any{"name": "control.py", "entry_point": "control.py", "description": "", "script_type": "interactive"}); r.status != http.StatusCreated {
		t.Fatalf("upsert script: %d %s", r.status, r.body)
	}
	controlURL := e.url + "/apps/" + e.ws + "/control.py/"
	control := e.startApp(t, "control.py")
	stopPings, pinged := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(pinged)
		tick := time.NewTicker(idle / 5)
		defer tick.Stop()
		for {
			select {
			case <-stopPings:
				return
			case <-tick.C:
				req, _ := http.NewRequest(http.MethodGet, controlURL, nil)
				req.Header.Set("Authorization", "Bearer "+e.token)
				if res, err := http.DefaultClient.Do(req); err == nil {
					res.Body.Close()
				}
			}
		}
	}()
	run := e.startApp(t, "ws.py")

	conn, err := net.Dial("tcp", strings.TrimPrefix(e.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /apps/%s/ws.py/socket?x=1 HTTP/1.1\r\nHost: example\r\nAuthorization: Bearer %s\r\n"+
		"Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", e.ws, e.token)
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusSwitchingProtocols || res.Header.Get("X-Path") != "/socket?x=1" {
		t.Fatalf("upgrade: %s %v", res.Status, res.Header)
	}
	echo := func(msg string) {
		t.Helper()
		if _, err := io.WriteString(conn, msg); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, len(msg))
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(br, buf); err != nil || string(buf) != msg {
			t.Fatalf("echo of %q: %q %v", msg, buf, err)
		}
	}
	echo("hello over the upgraded connection")
	// The control app's last request comes after the WebSocket's last
	// message: once it is stopped as idle, the silent WebSocket has been
	// open for longer than the idle time.
	close(stopPings)
	<-pinged
	fetch(t, "GET", controlURL, bearer(e.token)).echo(t)
	if d := e.waitRun(t, control.ID, 10*time.Second, terminal); d.Status != api.StatusCompleted {
		t.Fatalf("the control app ended %s, not completed after the idle time", d.Status)
	}
	echo("still here")
	var d api.DetailedRun
	e.get(t, e.wsPath("/runs/", run.ID)).decode(t, &d)
	if d.Status != api.StatusRunning {
		t.Fatalf("app with an open WebSocket stopped: %s", d.Status)
	}
	conn.Close()
	closed := time.Now()
	d = e.waitRun(t, run.ID, 10*time.Second, terminal)
	if el := time.Since(closed); el < idle-50*time.Millisecond {
		t.Errorf("stopped %s after the last request, before the idle time %s", el, idle)
	}
	if d.Status != api.StatusCompleted {
		t.Errorf("idle app ended %s", d.Status)
	}
	b, _ := os.ReadFile(e.srv.logPath(run.ID))
	if last := lastLogLine(string(b)); last != "stopped after 1s without requests" {
		t.Errorf("last log line %q", last)
	}
}

func lastLogLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

// TestAppStartFailures: an app that exits at once fails its run with its
// output; one that never listens fails after the ready timeout; an app never
// asked for stops after the idle time, completed.
func TestAppStartFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		script, code string
		ready, idle  time.Duration
		status       api.RunStatus
		logHas       []string
	}{
		{"crash.py", "import sys\nprint('Traceback: ModuleNotFoundError: No module named streamlit', file=sys.stderr)\nsys.exit(1)\n",
			0, 0, api.StatusFailed, []string{"No module named streamlit", "app exited with code 1 before listening on port "}},
		{"slow.py", "import time\nprint('loading model', flush=True)\ntime.sleep(30)\n",
			// (the output may not be in: the interpreter may not get to
			// it in time on a loaded machine)
			500 * time.Millisecond, 0, api.StatusFailed, []string{"app did not listen on port ", " within 500ms"}},
		{"idle.py", echoApp,
			0, 200 * time.Millisecond, api.StatusCompleted, []string{"serving on", "stopped after 200ms without requests"}},
	}
	for _, tt := range tests {
		t.Run(tt.script, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, func(c *Config) { c.AppReadyTimeout, c.AppIdleTimeout = tt.ready, tt.idle })
			e.deployApp(t, map[string]string{tt.script: tt.code}, tt.script)
			run := e.startRun(t, tt.script)
			d := e.waitRun(t, run.ID, 15*time.Second, terminal)
			b, _ := os.ReadFile(e.srv.logPath(run.ID))
			if d.Status != tt.status {
				t.Errorf("ended %s, want %s\n%s", d.Status, tt.status, b)
			}
			for _, want := range tt.logHas {
				if !strings.Contains(string(b), want) {
					t.Errorf("log lacks %q:\n%s", want, b)
				}
			}
		})
	}
}

// TestAppTable: the longest running name wins, the prefix is stripped and
// sent in X-Forwarded-Prefix, names with escapes match, and the newest ready
// run of an app serves. The apps are Go servers registered directly.
func TestAppTable(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	backend := func(id string) int {
		hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "%s %s %s", id, r.URL.EscapedPath(), r.Header.Get("X-Forwarded-Prefix"))
		}))
		t.Cleanup(hs.Close)
		u, _ := url.Parse(hs.URL)
		_, port, _ := net.SplitHostPort(u.Host)
		var p int
		fmt.Sscan(port, &p)
		return p
	}
	register := func(name, id string, ready bool) *liveApp {
		a, err := e.srv.apps.open("run-"+id, e.ws, name, func(error) {})
		if err != nil {
			t.Fatal(err)
		}
		e.srv.apps.mu.Lock()
		delete(e.srv.apps.ports, a.port)
		a.port = backend(id)
		e.srv.apps.mu.Unlock()
		if ready {
			a.markReady(time.Now, time.Hour)
		}
		t.Cleanup(func() { e.srv.apps.close(a) })
		return a
	}
	register("tools", "A", true)
	register("tools/dash.py", "B", true)
	register("my app.py", "C", true)
	register("dup.py", "D1", true)
	register("dup.py", "D2", true)
	register("dup.py", "D3", false) // starting: D2 serves meanwhile
	register("late.py", "E", false)
	base := e.url + "/apps/" + e.ws + "/"
	tests := []struct {
		path, want string
		status     int
	}{
		{"tools/x/y", "A /x/y /apps/" + e.ws + "/tools", 200},
		{"tools/dash.py/", "B / /apps/" + e.ws + "/tools/dash.py", 200},
		{"tools/dash.py/a%2Fb", "B /a%2Fb /apps/" + e.ws + "/tools/dash.py", 200},
		{"tools/dash.pyc/", "A /dash.pyc/ /apps/" + e.ws + "/tools", 200},
		{"my%20app.py/q", "C /q /apps/" + e.ws + "/my%20app.py", 200},
		{"dup.py/", "D2 / /apps/" + e.ws + "/dup.py", 200},
		{"late.py/", "", 503},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			f := fetch(t, "GET", base+tt.path, bearer(e.token))
			if f.status != tt.status || (tt.want != "" && f.body != tt.want) {
				t.Errorf("got %d %q, want %d %q", f.status, f.body, tt.status, tt.want)
			}
			if tt.status == 503 && f.header.Get("Retry-After") == "" {
				t.Errorf("503 of a starting app without Retry-After")
			}
		})
	}
}

func TestDropCookie(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want []string }{
		{[]string{"a=1; " + appCookie + "=x; b=2"}, []string{"a=1; b=2"}},
		{[]string{appCookie + "=x"}, nil},
		{[]string{appCookie + "=x", "c=3"}, []string{"c=3"}},
		{[]string{"a=1;b=2"}, []string{"a=1; b=2"}},
		{[]string{appCookie + "_other=1"}, []string{appCookie + "_other=1"}},
	}
	for _, tt := range tests {
		h := http.Header{"Cookie": tt.in}
		dropCookie(h, appCookie)
		if got := h.Values("Cookie"); strings.Join(got, "|") != strings.Join(tt.want, "|") {
			t.Errorf("dropCookie(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// count is how many apps are registered.
func (t *appTable) count() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, l := range t.apps {
		n += len(l)
	}
	return n
}
