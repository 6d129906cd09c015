package bench

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dlthub/runtime-action/internal/client"
	"github.com/dlthub/runtime-action/internal/server"
)

// BenchmarkLogLatency: from a line printed by a script to the same line
// handed to the client's Follow (the log stream over a real loopback
// listener), for lines printed every 20 ms (target: p95 < 250 ms). b.N is
// the number of lines: give it a count, e.g. -benchtime 200x.
//
// The script and the client read the same wall clock: each line carries
// time.time_ns() at its print.
func BenchmarkLogLatency(b *testing.B) {
	e := newEnv(b, server.Config{})
	// The first line waits a little so that the client's stream is open
	// before it: the figure is the stream's, not the connection's.
	e.deploy(b, fmt.Sprintf(`import time
time.sleep(0.3)
for i in range(%d):
    print("T", time.time_ns(), i, flush=True)
    time.sleep(0.02)
`, b.N))
	c := client.New(client.Options{APIBaseURL: e.url, AuthBaseURL: e.url + "/auth", Token: e.token})
	lat := make([]time.Duration, 0, b.N)
	var partial string
	var parseErr error
	onLog := func(text string) {
		now := time.Now()
		text = partial + text
		lines := strings.Split(text, "\n")
		partial = lines[len(lines)-1]
		for _, l := range lines[:len(lines)-1] {
			f := strings.Fields(l)
			if len(f) != 3 || f[0] != "T" {
				continue
			}
			ns, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				parseErr = fmt.Errorf("line %q: %v", l, err)
				continue
			}
			lat = append(lat, now.Sub(time.Unix(0, ns)))
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(b.N)*100*time.Millisecond+time.Minute)
	defer cancel()
	b.ResetTimer()
	run := e.startRun(b)
	final, err := c.Follow(ctx, e.ws, run.ID, client.FollowHandler{OnLog: onLog})
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	if parseErr != nil {
		b.Fatal(parseErr)
	}
	if final.Status != "completed" || len(lat) != b.N {
		b.Fatalf("run %s, %d lines seen of %d", final.Status, len(lat), b.N)
	}
	slices.Sort(lat)
	b.ReportMetric(ms(lat[len(lat)/2]), "p50_ms")
	b.ReportMetric(ms(lat[(len(lat)*95+99)/100-1]), "p95_ms")
	b.ReportMetric(ms(lat[len(lat)-1]), "max_ms")
}
