package server

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dlthub/runtime-action/internal/api"
	"github.com/dlthub/runtime-action/internal/client"
)

func TestLogText(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"abc\n", "abc\n"},
		{"a\r\nb\r\n", "a\nb\n"},
		{"a\rb\r", "a\rb\r"},
		{"a\r\r\nb", "a\r\nb"},
		{"caf\xe9\n", "caf\ufffd\n"},
		{"\xff\xfe", "\ufffd\ufffd"},
		{"é€😀", "é€😀"},
		{"ab\xc3", "ab\ufffd"},
		{"\xe2\x82a", "\ufffd\ufffda"},
		{"\xed\xa0\x80", "\ufffd\ufffd\ufffd"}, // a surrogate is not UTF-8
		{"", ""},
	} {
		// Whole, and cut in two at every byte: the same text.
		for cut := 0; cut <= len(tc.in); cut++ {
			var l logText
			got := string(l.feed([]byte(tc.in[:cut]), false))
			got += string(l.feed([]byte(tc.in[cut:]), false))
			got += string(l.feed(nil, true))
			if got != tc.want {
				t.Errorf("log text of %q cut at %d = %q, want %q", tc.in, cut, got, tc.want)
			}
		}
		// What is held back until the end is never given out before it.
		var l logText
		if open := string(l.feed([]byte(tc.in), false)); !strings.HasPrefix(tc.want, open) {
			t.Errorf("log text of %q before its end = %q, not a start of %q", tc.in, open, tc.want)
		}
	}
}

func TestJSONStringWriter(t *testing.T) {
	t.Parallel()
	for _, s := range []string{
		"", "plain", "q\"b\\s", "\n\r\t\b\f\x00\x01\x1b[31m\x7f", "<a href=\"x\">&amp;</a>",
		"line\u2028sep\u2029", "é€😀\ufffd", strings.Repeat("x\"", 1000),
	} {
		var b bytes.Buffer
		bw := bufio.NewWriter(&b)
		if err := (&jsonStringWriter{w: bw}).write([]byte(s)); err != nil {
			t.Fatal(err)
		}
		bw.Flush()
		want, _ := json.Marshal(s)
		if got := `"` + b.String() + `"`; got != string(want) {
			t.Errorf("escaped %q = %s, want %s", s, got, want)
		}
	}
}

// logBytesScript prints what no valid UTF-8 text holds (Latin-1, stray
// bytes, a cut sequence), CRLF line ends, in several writes.
const logBytesScript = `import sys, time
out = sys.stdout.buffer
for i in range(3):
    out.write(b"caf\xe9 %d\r\n" % i)
    out.write(b"stray \xff\xfe bytes %d\n" % i)
    out.flush()
    time.sleep(0.05)
out.write(b"cut \xe2\x82")
out.flush()
time.sleep(0.05)
out.write(b"\nlast line\n")
`

// TestFollowInvalidUTF8 follows, as the command line does, a run whose log
// is not valid UTF-8 and has CRLF line ends: every line comes once, and the
// text is the logs answer's.
func TestFollowInvalidUTF8(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.LogPollInterval = 10 * time.Millisecond })
	e.deploy(t, map[string]string{"bytes.py": logBytesScript}, "bytes.py")
	run := e.startRun(t, "bytes.py")
	c := client.New(client.Options{APIBaseURL: e.url, Token: e.token})
	var got strings.Builder
	final, err := c.Follow(context.Background(), e.ws, run.ID, client.FollowHandler{OnLog: func(s string) { got.WriteString(s) }})
	if err != nil {
		t.Fatal(err)
	}
	if final.Status != api.StatusCompleted {
		t.Fatalf("run %s", final.Status)
	}
	var want strings.Builder
	for i := range 3 {
		fmt.Fprintf(&want, "caf\ufffd %d\nstray \ufffd\ufffd bytes %d\n", i, i)
	}
	want.WriteString("cut \ufffd\ufffd\nlast line\n")
	if got.String() != want.String() {
		t.Errorf("followed log:\n%q\nwant\n%q", got.String(), want.String())
	}
	var logs api.LogsResponse
	e.get(t, e.wsPath("/runs/", run.ID, "/logs")).decode(t, &logs)
	if *logs.Logs != want.String() {
		t.Errorf("logs answer %q, want %q", *logs.Logs, want.String())
	}
	// The stream resumed in the middle gives the rest of the same text.
	events := readEvents(t, e, e.wsPath("/runs/", run.ID, "/logs/stream"), "")
	for _, ev := range events {
		if ev.event != api.EventLog {
			continue
		}
		end, _ := strconv.Atoi(ev.id)
		var rest strings.Builder
		for _, r := range readEvents(t, e, e.wsPath("/runs/", run.ID, "/logs/stream"), ev.id) {
			if r.event == api.EventLog {
				rest.WriteString(r.data)
			}
		}
		if end > len(want.String()) || want.String()[end:] != rest.String() {
			t.Errorf("resumed at %d: %q", end, rest.String())
		}
	}
}

// vmHWM is the peak resident memory of a process, in bytes.
func vmHWM(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc to read the memory of serve from: %v", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				t.Fatalf("VmHWM %q: %v", rest, err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no VmHWM in /proc/%d/status", pid)
	return 0
}

// bigLogScript prints 40 MB: lines with characters JSON escapes, and
// non-ASCII ones.
const bigLogScript = `import sys
line = b'{"k": "v\\t<&>"} caf\xc3\xa9 ' + b"x" * 80 + b"\n"
n = 40 * 1000 * 1000 // len(line)
sys.stdout.buffer.write(line * n)
`

// TestLogsMemory reads a 40 MB log 8 times at once from a serve process
// and checks the peak resident memory of that process (VmHWM) stays under
// 150 MB: the log is streamed into the answer, not copied whole.
func TestLogsMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("reads 320 MB of logs")
	}
	t.Parallel()
	cmd, e := serveProcessEnv(t, t.TempDir())
	e.deploy(t, map[string]string{"big.py": bigLogScript}, "big.py")
	run := e.startRun(t, "big.py")
	e.waitRun(t, run.ID, 60*time.Second, terminal)
	before := vmHWM(t, cmd.Process.Pid)

	const readers = 8
	sums := make([][32]byte, readers)
	var wg sync.WaitGroup
	for i := range readers {
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodGet, e.url+e.wsPath("/runs/", run.ID, "/logs"), nil)
			req.Header.Set("Authorization", "Bearer "+e.token)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			defer res.Body.Close()
			h := sha256.New()
			if _, err := io.Copy(h, res.Body); err != nil {
				t.Error(err)
			}
			h.Sum(sums[i][:0])
		})
	}
	wg.Wait()
	peak := vmHWM(t, cmd.Process.Pid)
	t.Logf("serve peak resident memory: %d MB before the reads, %d MB after 8 parallel reads of a 40 MB log", before>>20, peak>>20)
	if peak > 150<<20 {
		t.Errorf("serve peaked at %d MB reading the log 8 times at once, want < 150 MB", peak>>20)
	}

	// The answer is the contract's LogsResponse, as json.Marshal writes it.
	r := e.get(t, e.wsPath("/runs/", run.ID, "/logs"))
	var logs api.LogsResponse
	r.decode(t, &logs)
	if logs.Logs == nil || len(*logs.Logs) < 39_000_000 || !strings.HasSuffix(*logs.Logs, "x\n") || logs.Run.ID != run.ID || logs.Run.Script.Name != "big.py" {
		t.Fatalf("logs answer: run %q, %d bytes of log", logs.Run.ID, len(*logs.Logs))
	}
	want, _ := json.Marshal(logs)
	if !bytes.Equal(r.body, append(want, '\n')) {
		t.Error("logs answer differs from json.Marshal of the same LogsResponse")
	}
	for i, s := range sums {
		if s != sha256.Sum256(r.body) {
			t.Errorf("reader %d got another answer", i)
		}
	}
}
