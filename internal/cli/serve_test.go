package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/dlthub/runtime-action/internal/api"
	"github.com/dlthub/runtime-action/internal/server"
)

func TestParseByteSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		err  string
	}{
		{"16777216", 16 << 20, ""},
		{"16MiB", 16 << 20, ""},
		{"16 mib", 16 << 20, ""},
		{"500KB", 500000, ""},
		{"1GiB", 1 << 30, ""},
		{"2gb", 2e9, ""},
		{"10B", 10, ""},
		{"0", 0, "positive"},
		{"-1", 0, "positive"},
		{"MiB", 0, "positive"},
		{"1.5MiB", 0, "unknown unit"},
		{"3 parsecs", 0, "unknown unit"},
		{"99999999999GiB", 0, "too large"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseByteSize(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %d %v, want error %q", got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %d %v, want %d", got, err, tc.want)
			}
		})
	}
}

func TestByteSizeStringReadsBack(t *testing.T) {
	for _, tc := range []struct {
		n    int64
		want string
	}{{16 << 20, "16MiB"}, {1 << 30, "1GiB"}, {1536, "1536"}, {2048, "2KiB"}, {1000, "1000"}, {3 << 30, "3GiB"}, {500000, "500000"}} {
		b := byteSize(tc.n)
		if got := b.String(); got != tc.want {
			t.Errorf("String(%d) = %q, want %q", tc.n, got, tc.want)
		}
		var back byteSize
		if err := back.Set(b.String()); err != nil || back != b {
			t.Errorf("Set(%q) = %d, %v; want %d", b.String(), back, err, tc.n)
		}
	}
}

// runServeCmd runs the command line with env as the environment.
func runServeCmd(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	s := &Streams{In: strings.NewReader(""), Out: &out, Err: &errb, Getenv: func(k string) string { return env[k] }}
	code := Run(context.Background(), args, s)
	return code, out.String(), errb.String()
}

func TestServeAdminCommands(t *testing.T) {
	dir := t.TempDir()
	other := t.TempDir()
	env := map[string]string{"RUNTIME_SERVER_DATA_DIR": dir, "HOME": t.TempDir()}

	code, out, errs := runServeCmd(t, env, "serve", "workspace", "create", "analytics")
	if code != ExitOK {
		t.Fatalf("workspace create: %d %s", code, errs)
	}
	if !strings.Contains(errs, filepath.Join(dir, "admin.token")) {
		t.Errorf("first use does not say where the admin token is: %q", errs)
	}
	wsID := strings.TrimSpace(out)

	code, out, _ = runServeCmd(t, env, "serve", "workspace", "list", "-o", "json")
	var wss []api.Workspace
	if err := json.Unmarshal([]byte(out), &wss); code != ExitOK || err != nil || len(wss) != 2 || wss[1].ID != wsID || wss[1].Name != "analytics" {
		t.Fatalf("workspace list: %d %v %s", code, err, out)
	}
	for _, o := range [][]string{nil, {"-o", "text"}, {"-o", "table"}} {
		code, out, _ = runServeCmd(t, env, append([]string{"serve", "workspace", "list"}, o...)...)
		if code != ExitOK || !strings.Contains(out, "analytics") || !strings.HasPrefix(out, "ID") {
			t.Errorf("workspace list %v: %q", o, out)
		}
	}
	// A group alone prints its help.
	if code, out, _ := runServeCmd(t, env, "serve", "token"); code != ExitOK || !strings.Contains(out, "Available Commands:") {
		t.Errorf("serve token alone: %d %q", code, out)
	}

	// the flag wins over the environment: this goes to the other dir
	code, out, errs = runServeCmd(t, env, "serve", "token", "create", "--data-dir", other, "--email", "ci@example.com", "--ttl", "1h")
	if code != ExitOK {
		t.Fatalf("token create: %d %s", code, errs)
	}
	tok := strings.TrimSpace(out)
	if strings.Count(out, "\n") != 1 || strings.Count(tok, ".") != 2 {
		t.Errorf("token create prints %q", out)
	}
	code, _, errs = runServeCmd(t, env, "serve", "token", "revoke", tok)
	if code != ExitError || !strings.Contains(errs, "not issued with this data dir's key") {
		t.Errorf("revoke in the env's dir of a token of the other: %d %s", code, errs)
	}
	code, out, errs = runServeCmd(t, env, "serve", "token", "revoke", "--data-dir", other, tok)
	var c jwt.MapClaims
	jwt.NewParser().ParseUnverified(tok, &c)
	if code != ExitOK || !strings.Contains(out, c["jti"].(string)) {
		t.Errorf("revoke: %d %s %s", code, out, errs)
	}

	code, out, errs = runServeCmd(t, env, "serve", "token", "create", "--workspace", wsID)
	if code != ExitOK {
		t.Fatalf("restricted token: %d %s", code, errs)
	}
	c = jwt.MapClaims{}
	jwt.NewParser().ParseUnverified(strings.TrimSpace(out), &c)
	if c["workspace_id"] != wsID || c["email"] != "admin@localhost" {
		t.Errorf("claims %v", c)
	}

	code, out, errs = runServeCmd(t, env, "serve", "workspace", "allow", "--github", "octocat", "--workspace", wsID)
	if code != ExitOK || !strings.Contains(out, "octocat") {
		t.Errorf("allow: %d %s %s", code, out, errs)
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"serve", "workspace", "allow"}, ExitUsage, "--github LOGIN is required"},
		{[]string{"serve", "workspace", "allow", "--github", "-bad-"}, ExitError, "invalid GitHub login"},
		{[]string{"serve", "workspace", "list", "-o", "yaml"}, ExitUsage, `invalid output format "yaml": use text or json`},
		{[]string{"serve", "trust", "list", "-o", "yaml"}, ExitUsage, `invalid output format "yaml": use text or json`},
		{[]string{"serve", "token", "create", "--workspace", "nope"}, ExitError, `workspace "nope" not found`},
		{[]string{"serve", "token", "revoke"}, ExitUsage, `serve token revoke needs TOKEN_OR_JTI; see "runtime-action serve token revoke --help"`},
		{[]string{"serve", "workspace", "create"}, ExitUsage, "serve workspace create needs NAME"},
		{[]string{"serve", "trust", "remove"}, ExitUsage, "serve trust remove needs RULE_ID"},
		// A group of subcommands refuses an unknown one, rather than
		// printing its help and exiting 0.
		{[]string{"serve", "token", "frob"}, ExitUsage, `unknown command "frob" for "runtime-action serve token": use create, revoke`},
		{[]string{"serve", "workspace", "frob"}, ExitUsage, `unknown command "frob" for "runtime-action serve workspace"`},
		{[]string{"serve", "trust", "frob"}, ExitUsage, `unknown command "frob" for "runtime-action serve trust"`},
		{[]string{"serve", "keys", "frob"}, ExitUsage, `unknown command "frob" for "runtime-action serve keys"`},
		{[]string{"serve", "--log-level", "loud"}, ExitUsage, `invalid --log-level "loud"`},
		{[]string{"serve", "--max-upload", "lots"}, ExitUsage, "invalid size"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, _, errs := runServeCmd(t, env, tc.args...)
			if code != tc.code || !strings.Contains(errs, tc.want) {
				t.Errorf("got %d %q, want %d %q", code, errs, tc.code, tc.want)
			}
		})
	}
	bad := map[string]string{"RUNTIME_SERVER_DATA_DIR": dir, "RUNTIME_SERVER_MAX_UPLOAD": "huge"}
	if code, _, errs := runServeCmd(t, bad, "serve"); code != ExitUsage || !strings.Contains(errs, "RUNTIME_SERVER_MAX_UPLOAD") {
		t.Errorf("bad env: %d %s", code, errs)
	}
}

func TestServeHelp(t *testing.T) {
	code, out, _ := runServeCmd(t, map[string]string{"HOME": "/home/u"}, "serve", "--help")
	for _, want := range []string{"--addr", "--data-dir", "--python", "--max-upload", "--max-concurrent-runs", "--run-timeout",
		"--cancel-grace", "--public-url", "--github-api-url", "--log-level", "RUNTIME_SERVER_", "/home/u/.local/share/runtime-action"} {
		if !strings.Contains(out, want) {
			t.Errorf("help lacks %q", want)
		}
	}
	if code != ExitOK {
		t.Errorf("exit %d", code)
	}
	if !strings.Contains(out, `(default 16MiB)`) {
		t.Errorf("the --max-upload default is not shown as the README says it: %s", out)
	}
	for _, args := range [][]string{{"serve", "token", "create", "--help"}, {"serve", "token", "revoke", "--help"},
		{"serve", "workspace", "create", "--help"}, {"serve", "workspace", "list", "--help"}, {"serve", "workspace", "allow", "--help"}} {
		if code, out, _ := runServeCmd(t, nil, args...); code != ExitOK || !strings.Contains(out, "Usage:") {
			t.Errorf("%v: %d", args, code)
		}
	}
}

// syncBuffer is a bytes.Buffer safe to read while a command writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestServeSaysWhereItIs: the first lines name a URL one can open: the
// public URL when one is given, a loopback one when listening everywhere.
func TestServeSaysWhereItIs(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"public url", []string{"--addr", "127.0.0.1:0", "--public-url", "https://runtime.example.com/"},
			[]string{"Runtime API at https://runtime.example.com, auth service at https://runtime.example.com/auth\n"}},
		{"every address", []string{"--addr", "0.0.0.0:0"},
			[]string{"Listening on ", "Runtime API at http://127.0.0.1:"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			var errb syncBuffer
			env := map[string]string{"RUNTIME_SERVER_DATA_DIR": t.TempDir()}
			s := &Streams{In: strings.NewReader(""), Out: io.Discard, Err: &errb, Getenv: func(k string) string { return env[k] }}
			done := make(chan int)
			go func() { done <- Run(ctx, append([]string{"serve"}, tc.args...), s) }()
			deadline := time.Now().Add(10 * time.Second)
			for !strings.Contains(errb.String(), "Data dir:") && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			cancel()
			<-done
			for _, w := range tc.want {
				if !strings.Contains(errb.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, errb.String())
				}
			}
		})
	}
}

// TestServeTakenPortChangesNothing: a port in use is found before the data
// dir is made, so a first start that cannot listen leaves no keys behind.
func TestServeTakenPortChangesNothing(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dir := filepath.Join(t.TempDir(), "data")
	code, _, errs := runServeCmd(t, map[string]string{"RUNTIME_SERVER_DATA_DIR": dir}, "serve", "--addr", ln.Addr().String())
	if code != ExitError || !strings.Contains(errs, "(pass another --addr)") || strings.Count(errs, "\n") != 1 {
		t.Errorf("got %d %q", code, errs)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the data dir was made: %v", err)
	}
}

// TestServeAdminBadInputOpensNothing: refused flags leave an empty data dir
// as it was: no keys, no admin token.
func TestServeAdminBadInputOpensNothing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	env := map[string]string{"RUNTIME_SERVER_DATA_DIR": dir}
	for _, args := range [][]string{
		{"serve", "workspace", "allow"},
		{"serve", "trust", "add", "--workspace", "w", "--repository-id", "octo/app", "--repository-owner-id", "7"},
		{"serve", "trust", "list", "-o", "yaml"},
		{"serve", "workspace", "list", "-o", "yaml"},
	} {
		if code, _, errs := runServeCmd(t, env, args...); code != ExitUsage {
			t.Errorf("%v: %d %s", args, code, errs)
		}
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the data dir was made: %v", err)
	}
}

func TestConnLimitsApply(t *testing.T) {
	t.Parallel()
	base := connLimits{MaxHeaderBytes: 64 << 10, ReadHeaderTimeout: time.Second, ReadTimeout: time.Minute,
		WriteTimeout: time.Minute, StreamWriteTimeout: time.Second, IdleTimeout: time.Minute, MaxConnsPerClient: 8}
	for _, tc := range []struct {
		name  string
		mod   func(*connLimits)
		err   string
		conns int
	}{
		{"as given", func(*connLimits) {}, "", 8},
		{"no cap", func(o *connLimits) { o.MaxConnsPerClient = 0 }, "", -1},
		{"negative cap", func(o *connLimits) { o.MaxConnsPerClient = -2 }, "invalid --max-conns-per-client -2", 0},
		{"zero stream write timeout", func(o *connLimits) { o.StreamWriteTimeout = 0 }, "invalid --stream-write-timeout 0s: it must be positive", 0},
		{"negative read timeout", func(o *connLimits) { o.ReadTimeout = -time.Second }, "invalid --read-timeout -1s", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := base
			tc.mod(&o)
			var cfg server.Config
			err := o.apply(&cfg)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || cfg.MaxConnsPerClient != tc.conns || cfg.MaxHeaderBytes != 64<<10 || cfg.StreamWriteTimeout != time.Second {
				t.Fatalf("got %v %+v", err, cfg)
			}
		})
	}
}
