package server

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dlthub/runtime-action/internal/api"
)

// startEnv serves a fresh data dir as serve does (Serve, with its
// connection limits) on a loopback port.
func startEnv(t *testing.T, mod func(*Config)) *testEnv {
	t.Helper()
	cfg := Config{DataDir: t.TempDir(), CancelGrace: 500 * time.Millisecond}
	if mod != nil {
		mod(&cfg)
	}
	r, err := Start(context.Background(), cfg, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return &testEnv{srv: r.Server, url: r.URL, token: r.AdminToken(), ws: r.DefaultWorkspaceID(), dir: cfg.DataDir}
}

// rawGet sends a GET of path with extra header lines on a connection of
// its own and returns the status line of the answer.
func rawGet(t *testing.T, c net.Conn, path, extra string) string {
	t.Helper()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\n%s\r\n", path, extra)
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return "error: " + err.Error()
	}
	return strings.TrimSpace(line)
}

func TestConnectionsPerClient(t *testing.T) {
	t.Parallel()
	e := startEnv(t, func(c *Config) { c.MaxConnsPerClient = 4 })
	addr := strings.TrimPrefix(e.url, "http://")
	dial := func() net.Conn {
		t.Helper()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	var held []net.Conn
	for range 4 {
		c := dial()
		defer c.Close()
		if got := rawGet(t, c, "/v1/ping", ""); got != "HTTP/1.1 200 OK" {
			t.Fatalf("connection within the cap: %q", got)
		}
		held = append(held, c) // kept alive: still counted
	}
	over := dial()
	defer over.Close()
	b, _ := io.ReadAll(over)
	if !strings.HasPrefix(string(b), "HTTP/1.1 429 ") || !strings.Contains(string(b), "too many connections from your address: at most 4") {
		t.Fatalf("fifth connection: %q", b)
	}
	// Once one closes, another is let in (when the server has seen it go).
	held[0].Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c := dial()
		got := rawGet(t, c, "/v1/ping", "")
		c.Close()
		if got == "HTTP/1.1 200 OK" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no place freed after a close: %q", got)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestMaxHeaderBytes(t *testing.T) {
	t.Parallel()
	e := startEnv(t, nil)
	addr := strings.TrimPrefix(e.url, "http://")
	for _, tc := range []struct {
		size int
		want string
	}{
		{32 << 10, "HTTP/1.1 200 OK"},
		{100 << 10, "HTTP/1.1 431 Request Header Fields Too Large"},
	} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		got := rawGet(t, c, "/v1/ping", "X-Pad: "+strings.Repeat("a", tc.size)+"\r\n")
		c.Close()
		if got != tc.want {
			t.Errorf("%d bytes of headers: %q, want %q", tc.size, got, tc.want)
		}
	}
}

// bigThenSleep prints 20 MB of log, then runs on.
const bigThenSleep = `import sys, time
sys.stdout.buffer.write((b"x" * 99 + b"\n") * 200000)
sys.stdout.flush()
time.sleep(120)
`

// TestStreamDropsStalledClient: a log stream whose client stops reading is
// dropped after StreamWriteTimeout, while its run goes on.
func TestStreamDropsStalledClient(t *testing.T) {
	t.Parallel()
	e := startEnv(t, func(c *Config) { c.StreamWriteTimeout = 300 * time.Millisecond })
	e.deploy(t, map[string]string{"big.py": bigThenSleep}, "big.py")
	run := e.startRun(t, "big.py")
	// The whole output is in the log file: asked of /logs, its 20 MB
	// would meet the 300ms write timeout on a loaded machine.
	waitFor(t, 30*time.Second, "the script's output in its log", func() bool {
		fi, err := os.Stat(e.srv.logPath(run.ID))
		return err == nil && fi.Size() >= 200000*100
	})
	for _, path := range []string{"/logs/stream", "/logs"} {
		c, err := net.Dial("tcp", strings.TrimPrefix(e.url, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if tcp, ok := c.(*net.TCPConn); ok {
			tcp.SetReadBuffer(4 << 10) // fill up soon
		}
		fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n", e.wsPath("/runs/", run.ID, path), e.token)
		// Read nothing: the server's writes block, then time out.
		waitFor(t, 30*time.Second, path+": the answer to a client that stopped reading to end", func() bool { return e.srv.longAnswers.Load() == 1 })
		waitFor(t, 30*time.Second, path+": the answer to a client that stopped reading to end", func() bool { return e.srv.longAnswers.Load() == 0 })
		var r api.DetailedRun
		e.get(t, e.wsPath("/runs/", run.ID)).decode(t, &r)
		if r.Status != api.StatusRunning {
			t.Fatalf("run %s after its client stalled", r.Status)
		}
	}
}

// TestLongAnswerStarts: a log stream and a whole log start (status line
// and headers) even when every write of their body is past its deadline,
// as happens to a server that was stalled for longer than
// StreamWriteTimeout before it got to write: the deadline counts a
// client's slowness, and a client that reads gets the answer's start.
func TestLongAnswerStarts(t *testing.T) {
	t.Parallel()
	e := startEnv(t, func(c *Config) { c.StreamWriteTimeout = time.Nanosecond })
	e.deploy(t, map[string]string{"big.py": bigThenSleep}, "big.py")
	run := e.startRun(t, "big.py")
	for _, path := range []string{"/logs/stream", "/logs"} {
		c, err := net.Dial("tcp", strings.TrimPrefix(e.url, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if got := rawGet(t, c, e.wsPath("/runs/", run.ID, path), "Authorization: Bearer "+e.token+"\r\n"); got != "HTTP/1.1 200 OK" {
			t.Errorf("%s: answer starts with %q, want the status line", path, got)
		}
	}
}

// waitFor polls cond until it holds, failing the test after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %s", what, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSlowClientsMemory opens 300 slow clients on a serve process, each
// from an address of its own (so the per-address cap lets them all in):
// 100 send a megabyte of headers without ever ending them, 100 open a log
// stream and 100 ask for a 20 MB log, and neither read. Serve's peak
// resident memory (VmHWM) stays under 200 MB.
func TestSlowClientsMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("300 connections and a 20 MB log")
	}
	t.Parallel()
	// A loaded machine may take long to read 300 requests: the header
	// timeout must not close any before the memory is measured.
	cmd, e := serveProcessEnv(t, t.TempDir(), "--stream-write-timeout", "2s", "--read-header-timeout", "2m")
	e.deploy(t, map[string]string{"big.py": bigThenSleep}, "big.py")
	run := e.startRun(t, "big.py")
	e.waitLog(t, run.ID, 30*time.Second, strings.Repeat("x", 99))
	before := vmHWM(t, cmd.Process.Pid)
	addr := strings.TrimPrefix(e.url, "http://")

	const clients = 300
	pad := "X-Pad: " + strings.Repeat("a", 1000) + "\r\n"
	var wg sync.WaitGroup
	conns := make([]net.Conn, clients)
	for i := range clients {
		wg.Go(func() {
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 1+byte(i/250), 1+byte(i%250))}}
			c, err := d.Dial("tcp", addr)
			if err != nil {
				t.Errorf("client %d: %v", i, err)
				return
			}
			conns[i] = c
			if tcp, ok := c.(*net.TCPConn); ok {
				tcp.SetReadBuffer(4 << 10)
			}
			switch i % 3 {
			case 0: // a megabyte of headers, never ended
				io.WriteString(c, "GET /v1/ping HTTP/1.1\r\nHost: x\r\n")
				for range 1000 {
					if _, err := io.WriteString(c, pad); err != nil {
						return // refused: the server closed the connection
					}
				}
			case 1:
				fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n", e.wsPath("/runs/", run.ID, "/logs/stream"), e.token)
			case 2:
				fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n", e.wsPath("/runs/", run.ID, "/logs"), e.token)
			}
			// The server has taken the request up once its answer starts
			// (or it has refused the headers).
			c.SetReadDeadline(time.Now().Add(60 * time.Second))
			b := make([]byte, 12)
			if _, err := io.ReadFull(c, b); err != nil && i%3 != 0 {
				t.Errorf("client %d: no answer: %v", i, err)
			}
		})
	}
	wg.Wait()
	// Every client stalls; the server must still answer others.
	var me api.Me
	e.get(t, "/v1/me").decode(t, &me)
	peak := vmHWM(t, cmd.Process.Pid)
	for _, c := range conns {
		if c != nil {
			c.Close()
		}
	}
	t.Logf("serve peak resident memory: %d MB before, %d MB with 300 slow clients", before>>20, peak>>20)
	if peak > 200<<20 {
		t.Errorf("serve peaked at %d MB with 300 slow clients, want < 200 MB", peak>>20)
	}
}
