package server

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/dlthub/runtime-action/internal/dispatch"
)

// dispatchHost gives the dispatcher the server's side of a run: its files
// in the data dir, the wake-ups of its log streams and the proxy entry of
// its app.
type dispatchHost struct{ s *Server }

var _ dispatch.Host = dispatchHost{}

// OpenRunConfiguration decrypts the run's configuration (encryption.go).
func (h dispatchHost) OpenRunConfiguration(runID, blob string) (string, []string, error) {
	return h.s.openRunConfiguration(runID, blob)
}

// RemoveRunConfiguration deletes the decrypted configuration (encryption.go).
func (h dispatchHost) RemoveRunConfiguration(runID string) { h.s.removeRunConfiguration(runID) }

// PackagePath is where a deployment package is kept in the data dir.
func (h dispatchHost) PackagePath(blob string) string { return h.s.packagePath(blob) }

// LogPath is where a run's log is kept in the data dir.
func (h dispatchHost) LogPath(runID string) string { return h.s.logPath(runID) }

// StatusChanged wakes the run's log streams.
func (h dispatchHost) StatusChanged(runID string) { h.s.events.statusChanged(runID) }

// LogAppended wakes the run's log streams.
func (h dispatchHost) LogAppended(runID string) { h.s.events.logAppended(runID) }

// OpenApp registers the app of an interactive run with the proxy (apps.go).
func (h dispatchHost) OpenApp(runID, workspaceID, name string, stop func(error)) (dispatch.App, error) {
	a, err := h.s.apps.open(runID, workspaceID, name, stop)
	if err != nil {
		return nil, err
	}
	if h.s.sandboxed {
		// The app gets a network namespace of its own, reached through
		// a socket in a folder of its own, below the runs dir (cleared at
		// start), or in the temporary folder when that path is too long
		// for a Unix socket (108 bytes).
		parent := filepath.Join(h.s.cfg.RunsDir, appSocketsDir)
		if len(parent)+len("/123456789/app.sock") > 100 {
			parent = ""
		}
		dir, err := os.MkdirTemp(parent, "rt-app-")
		if err != nil {
			h.s.apps.close(a)
			return nil, fmt.Errorf("make the socket folder of app %q: %w", name, err)
		}
		h.s.apps.setSocket(a, dir)
	}
	return proxiedApp{s: h.s, a: a}, nil
}

// appSocketsDir is the folder of the apps' socket folders in the runs dir.
const appSocketsDir = ".apps"

// proxiedApp is an app in the proxy's table, as the dispatcher sees it.
type proxiedApp struct {
	s *Server
	a *liveApp
}

// Port is the app's loopback port.
func (p proxiedApp) Port() int { return p.a.port }

// Ready lets requests through and starts the idle clock.
func (p proxiedApp) Ready() { p.a.markReady(p.s.cfg.Now, p.s.cfg.AppIdleTimeout) }

// Socket is the app's Unix socket ("": none, it is reached on its port).
func (p proxiedApp) Socket() string { return p.a.socket() }

// Close unregisters the app, frees its port and removes its socket.
func (p proxiedApp) Close() {
	p.s.apps.close(p.a)
	if p.a.sockDir != "" {
		_ = os.RemoveAll(p.a.sockDir)
	}
}
