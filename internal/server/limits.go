package server

import (
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// Connection limits: a client may hold a connection, send headers, send a
// body and read an answer only so slowly and so many times at once, so that
// slow or stalled clients cannot make the server hold memory and
// goroutines without end. Serve applies them; the defaults fit uploads of
// MaxUpload over a slow link and log streams that last hours.
const (
	DefaultMaxHeaderBytes     = 64 << 10
	DefaultReadHeaderTimeout  = 10 * time.Second
	DefaultReadTimeout        = 10 * time.Minute
	DefaultWriteTimeout       = 10 * time.Minute
	DefaultIdleTimeout        = 2 * time.Minute
	DefaultStreamWriteTimeout = 30 * time.Second
	DefaultMaxConnsPerClient  = 64
)

// extendWrites gives each write of a long answer (a log stream, a whole
// log) its own deadline instead of one for the whole answer: a client that
// reads, however long the answer, keeps it; one that stops reading for
// StreamWriteTimeout is dropped. The request's read deadline is lifted: a
// GET has no body, and an expiring read deadline would end the answer.
func (s *Server) extendWrites(w http.ResponseWriter) *deadlineWriter {
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	return &deadlineWriter{w: w, rc: rc, d: s.cfg.StreamWriteTimeout}
}

// sendHead sends a long answer's status line and headers at once, under
// the request's WriteTimeout, before extendWrites' deadline per write
// applies to its body. That deadline measures how long a client leaves
// the server's writes waiting; a server that was itself slow to get to
// its first write (seconds without CPU on a loaded machine) would
// otherwise count its own delay against the client and drop it before it
// got a byte: to the client, an answer that never started. An error
// means the client is gone; the body's writes then fail too.
func sendHead(w http.ResponseWriter) error {
	return http.NewResponseController(w).Flush()
}

// deadlineWriter sets the write deadline before each write.
type deadlineWriter struct {
	w  http.ResponseWriter
	rc *http.ResponseController
	d  time.Duration
}

// Write writes p within the writer's timeout.
func (d *deadlineWriter) Write(p []byte) (int, error) {
	_ = d.rc.SetWriteDeadline(time.Now().Add(d.d))
	return d.w.Write(p)
}

// flush sends what is buffered, within the writer's timeout.
func (d *deadlineWriter) flush() error {
	_ = d.rc.SetWriteDeadline(time.Now().Add(d.d))
	return d.rc.Flush()
}

// perClientListener caps the connections open at once from one client
// address; a connection over the cap gets a 429 answer and is closed at
// once, before anything of it is read.
type perClientListener struct {
	net.Listener
	max int

	mu    sync.Mutex
	count map[string]int
}

func limitPerClient(ln net.Listener, max int) net.Listener {
	if max <= 0 {
		return ln
	}
	return &perClientListener{Listener: ln, max: max, count: map[string]int{}}
}

// Accept returns the next connection within the cap.
func (l *perClientListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		host := clientHost(c.RemoteAddr())
		l.mu.Lock()
		over := l.count[host] >= l.max
		if !over {
			l.count[host]++
		}
		l.mu.Unlock()
		if over {
			refuseConn(c, l.max)
			continue
		}
		return &countedConn{Conn: c, release: func() { l.release(host) }}, nil
	}
}

func (l *perClientListener) release(host string) {
	l.mu.Lock()
	if l.count[host]--; l.count[host] <= 0 {
		delete(l.count, host)
	}
	l.mu.Unlock()
}

func clientHost(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}

// refuseConn answers 429 with the contract's error body and closes c; the
// write cannot hold Accept up (a fresh socket's buffer takes it, and it has
// a short deadline).
func refuseConn(c net.Conn, max int) {
	body := fmt.Sprintf(`{"status_code":429,"detail":"too many connections from your address: at most %d at once"}`, max)
	_ = c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	_, _ = fmt.Fprintf(c, "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(body), body)
	_ = c.Close()
}

// countedConn gives its place back when closed (hijacked ones included).
type countedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

// Close closes the connection and frees its place.
func (c *countedConn) Close() error {
	c.once.Do(c.release)
	return c.Conn.Close()
}

// deadlineResponseWriter is a ResponseWriter whose writes each have their
// own deadline (for the app proxy, which takes a ResponseWriter).
type deadlineResponseWriter struct {
	http.ResponseWriter
	dw *deadlineWriter
}

// Write writes p within the stream write timeout.
func (d *deadlineResponseWriter) Write(p []byte) (int, error) { return d.dw.Write(p) }

// Unwrap lets http.ResponseController reach the connection (flushes,
// hijacks of WebSocket upgrades).
func (d *deadlineResponseWriter) Unwrap() http.ResponseWriter { return d.ResponseWriter }
