package executor

import (
	"context"
	"fmt"
	"io"
	"net"
	"time"
)

// appForwarder runs first in the sandbox of an app that has a network
// namespace of its own: it forks a forwarder from the Unix socket argv[1]
// (in a folder the server holds) to 127.0.0.1:argv[2] inside the app's
// namespace, and execs the app (argv[4:]) in its own place. With argv[3]
// "1", it first waits (3s at most) for the default route slirp4netns sets
// up, so that the app starts with its outbound network. The forwarder
// answers each connection with one byte, 0x01, once the app took it, and
// closes it when the app does not listen: DialApp tells the two apart.
const appForwarder = `import os, socket, sys, threading
import time
sock, port, waitnet, argv = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1", sys.argv[4:]
deadline = time.monotonic() + 3
while waitnet and time.monotonic() < deadline:
    with open("/proc/net/route") as f:
        if any(l.split()[1:2] == ["00000000"] for l in f.readlines()[1:]):
            break
    time.sleep(0.005)
if os.fork() == 0:
    def pipe(a, b):
        try:
            while True:
                d = a.recv(65536)
                if not d:
                    break
                b.sendall(d)
        except OSError:
            pass
        try:
            b.shutdown(socket.SHUT_WR)
        except OSError:
            pass
    def serve(c):
        try:
            u = socket.create_connection(("127.0.0.1", port))
        except OSError:
            c.close()
            return
        c.sendall(b"\x01")
        t = threading.Thread(target=pipe, args=(u, c), daemon=True)
        t.start()
        pipe(c, u)
        t.join()
        c.close()
        u.close()
    try:
        os.unlink(sock)
    except OSError:
        pass
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(sock)
    srv.listen(64)
    while True:
        c, _ = srv.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()
os.execv(argv[0], argv)
`

// DialApp connects to the app behind the Unix socket sock (Job.AppSocket)
// and returns the connection once the app took it; an error when the app
// does not listen (yet).
func DialApp(ctx context.Context, sock string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", sock)
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetReadDeadline(dl)
	}
	var b [1]byte
	if _, err := io.ReadFull(c, b[:]); err != nil || b[0] != 1 {
		c.Close()
		return nil, fmt.Errorf("app behind %s does not listen", sock)
	}
	_ = c.SetReadDeadline(time.Time{})
	return c, nil
}

// appNet reports whether j's app gets a network namespace of its own,
// reached through its Unix socket only: in the sandbox, when the server
// gave it a socket.
func (e *Executor) appNet(j Job) bool {
	return e.Sandbox != nil && j.Interactive && j.AppSocket != ""
}
