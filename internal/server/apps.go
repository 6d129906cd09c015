package server

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dlthub/runtime-action/internal/executor"
)

// portTries is how many free ports are asked of the kernel before giving up
// on finding one that no app of this server holds.
const portTries = 20

// appTable holds the apps of the interactive runs that are active, for the
// proxy (proxy.go) to find by workspace and script name.
type appTable struct {
	now func() time.Time
	// transport is shared by all proxied requests, so that connections to
	// the apps are reused.
	transport *http.Transport

	mu    sync.Mutex
	apps  map[string][]*liveApp // by appKey; the newest last
	ports map[int]bool          // ports held by the apps above
	socks map[string]string     // the Unix socket of each sandboxed app, by its addr
}

func newAppTable(now func() time.Time) *appTable {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = nil // the apps are on loopback: never through HTTP_PROXY
	at := &appTable{now: now, transport: t, apps: map[string][]*liveApp{}, ports: map[int]bool{}, socks: map[string]string{}}
	// A sandboxed app listens in a network namespace of its own: the
	// proxy reaches it through its socket, held by the server.
	var d net.Dialer
	t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		at.mu.Lock()
		sock := at.socks[addr]
		at.mu.Unlock()
		if sock != "" {
			return executor.DialApp(ctx, sock)
		}
		return d.DialContext(ctx, network, addr)
	}
	return at
}

func appKey(workspaceID, name string) string { return workspaceID + "/" + name }

// liveApp is the app of one active interactive run.
type liveApp struct {
	runID       string
	workspaceID string
	name        string   // the script's name
	segs        []string // name split at "/"
	port        int
	sockDir     string // the folder of its Unix socket, when sandboxed
	// stop cancels the run's context with a cause.
	stop func(error)
	done chan struct{} // closed when the run ended

	mu       sync.Mutex
	ready    bool      // the app listens: requests may go to it
	inflight int       // proxied requests not yet ended (WebSockets included)
	last     time.Time // when the last proxied request ended, or the app got ready
}

// open reserves a free loopback port for an interactive run and registers
// its app, not yet ready. The port is free when chosen: the kernel gave it
// to a listener that is closed at once. A port another app of this server
// still holds (the kernel may hand it out again once closed) is skipped.
func (t *appTable) open(runID, workspaceID, name string, stop func(error)) (*liveApp, error) {
	for range portTries {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port for app %q: %w", name, err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		if err := ln.Close(); err != nil {
			return nil, fmt.Errorf("find a free port for app %q: %w", name, err)
		}
		t.mu.Lock()
		if t.ports[port] {
			t.mu.Unlock()
			continue
		}
		a := &liveApp{runID: runID, workspaceID: workspaceID, name: name, segs: strings.Split(name, "/"),
			port: port, stop: stop, done: make(chan struct{})}
		t.ports[port] = true
		k := appKey(workspaceID, name)
		t.apps[k] = append(t.apps[k], a)
		t.mu.Unlock()
		return a, nil
	}
	return nil, fmt.Errorf("find a free port for app %q: %d ports tried were all held by other apps", name, portTries)
}

// close unregisters a and frees its port; its run has ended.
func (t *appTable) close(a *liveApp) {
	t.mu.Lock()
	k := appKey(a.workspaceID, a.name)
	list := t.apps[k]
	for i, x := range list {
		if x == a {
			list = append(list[:i:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(t.apps, k)
	} else {
		t.apps[k] = list
	}
	delete(t.ports, a.port)
	delete(t.socks, a.addr())
	t.mu.Unlock()
	close(a.done)
}

// match finds the app whose name is the longest prefix of segs (the
// unescaped path segments after /apps/<workspace id>/). With several runs of
// one app, the newest ready one serves; when none is ready, the newest
// starting one is returned so that the caller can say it is starting.
func (t *appTable) match(workspaceID string, segs []string) (*liveApp, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for n := len(segs); n > 0; n-- {
		list := t.apps[appKey(workspaceID, strings.Join(segs[:n], "/"))]
		if len(list) == 0 {
			continue
		}
		for i := len(list) - 1; i >= 0; i-- {
			if list[i].isReady() {
				return list[i], true
			}
		}
		return list[len(list)-1], true
	}
	return nil, false
}

func (a *liveApp) isReady() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.ready
}

// markReady lets requests through and starts the idle clock: with no
// proxied request for idle, the run is stopped (executor.AppIdleError).
func (a *liveApp) markReady(now func() time.Time, idle time.Duration) {
	a.mu.Lock()
	if a.ready {
		a.mu.Unlock()
		return
	}
	a.ready, a.last = true, now()
	a.mu.Unlock()
	go a.watchIdle(now, idle)
}

// begin and end bracket a proxied request. An app with a request in flight
// (an open WebSocket, a long poll) is not idle.
func (a *liveApp) begin() {
	a.mu.Lock()
	a.inflight++
	a.mu.Unlock()
}

func (a *liveApp) end(now time.Time) {
	a.mu.Lock()
	a.inflight--
	a.last = now
	a.mu.Unlock()
}

// idleLeft is how long a may still go without requests.
func (a *liveApp) idleLeft(now time.Time, idle time.Duration) time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.inflight > 0 {
		return idle
	}
	return idle - now.Sub(a.last)
}

func (a *liveApp) watchIdle(now func() time.Time, idle time.Duration) {
	t := time.NewTimer(idle)
	defer t.Stop()
	for {
		select {
		case <-a.done:
			return
		case <-t.C:
		}
		left := a.idleLeft(now(), idle)
		if left <= 0 {
			a.stop(&executor.AppIdleError{Idle: idle})
			return
		}
		t.Reset(left)
	}
}

// setSocket makes the app reached through a socket in dir, its own folder.
func (t *appTable) setSocket(a *liveApp, dir string) {
	t.mu.Lock()
	a.sockDir = dir
	t.socks[a.addr()] = a.socket()
	t.mu.Unlock()
}

// socket is the app's Unix socket, "" when it has none.
func (a *liveApp) socket() string {
	if a.sockDir == "" {
		return ""
	}
	return filepath.Join(a.sockDir, "app.sock")
}

// addr is where the app listens.
func (a *liveApp) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(a.port)) }
