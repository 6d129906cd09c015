package server

import (
	"context"
	"fmt"
	"net"
)

// Running is a server serving in the background of this process: the
// embedded Runtime of the command line, and the tests' Runtime.
type Running struct {
	*Server
	URL    string // http://127.0.0.1:PORT
	cancel context.CancelFunc
	done   chan struct{}
}

// Start opens a server and serves it on addr ("127.0.0.1:0" for a free
// loopback port) until Close. PublicURL defaults to the listener's URL.
func Start(ctx context.Context, cfg Config, addr string) (*Running, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	url := "http://" + ln.Addr().String()
	if cfg.PublicURL == "" {
		cfg.PublicURL = url
	}
	srv, err := Open(ctx, cfg)
	if err != nil {
		ln.Close()
		return nil, err
	}
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r := &Running{Server: srv, URL: url, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		_ = srv.Serve(sctx, ln)
	}()
	return r, nil
}

// AuthURL is the auth service's base URL.
func (r *Running) AuthURL() string { return r.URL + "/auth" }

// Close stops serving, then closes the server.
func (r *Running) Close() error {
	r.cancel()
	<-r.done
	return r.Server.Close()
}
