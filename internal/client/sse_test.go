package client

import (
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

func TestSSEReader(t *testing.T) {
	tests := []struct {
		name   string
		stream string
		want   []sseEvent
	}{
		{
			name:   "LF, multi-line data, comments",
			stream: ": hello\nevent: log\nid: 12\ndata: line 1\ndata:line 2\ndata: \n\nevent: status\ndata: running\n\n",
			want: []sseEvent{
				{name: "log", id: "12", hasID: true, data: "line 1\nline 2\n"},
				{name: "status", data: "running"},
			},
		},
		{
			name:   "CRLF and lone CR line ends",
			stream: "event: log\r\nid: 3\r\ndata: a\r\n\r\nevent: log\rid: 5\rdata: b\r\r",
			want: []sseEvent{
				{name: "log", id: "3", hasID: true, data: "a"},
				{name: "log", id: "5", hasID: true, data: "b"},
			},
		},
		{
			name:   "an event cut off by the end of the stream is dropped",
			stream: "event: log\nid: 1\ndata: x\n\nevent: log\nid: 2\ndata: y\n",
			want:   []sseEvent{{name: "log", id: "1", hasID: true, data: "x"}},
		},
		{
			name:   "only one space after the colon is stripped; unknown fields ignored",
			stream: "data:  two spaces\nretry: 100\nfoo: bar\n\n",
			want:   []sseEvent{{name: "message", data: " two spaces"}},
		},
		{
			name:   "blank lines between events",
			stream: "\n\n\nevent: status\ndata: completed\n\n\n",
			want:   []sseEvent{{name: "status", data: "completed"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lines := 0
			r := newSSEReader(oneByteReader{strings.NewReader(tt.stream)}, func() { lines++ })
			var got []sseEvent
			for {
				ev, err := r.next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatalf("next: %v", err)
				}
				got = append(got, ev)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("events = %+v\nwant %+v", got, tt.want)
			}
			if lines == 0 {
				t.Fatal("onLine was never called")
			}
		})
	}
}

// oneByteReader hands out one byte per Read, to find parsers that assume a
// line arrives whole (CR then LF in separate reads).
type oneByteReader struct{ r io.Reader }

func (o oneByteReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	return o.r.Read(p[:1])
}

func BenchmarkSSEReader(b *testing.B) {
	var sb strings.Builder
	for range 1000 {
		sb.WriteString("event: log\nid: 123456\ndata: 2026-01-02 03:04:05 INFO pipeline loaded 1000 rows into table events\ndata: \n\n")
	}
	stream := sb.String()
	b.SetBytes(int64(len(stream)))
	for b.Loop() {
		r := newSSEReader(strings.NewReader(stream), nil)
		for {
			if _, err := r.next(); err != nil {
				break
			}
		}
	}
}
