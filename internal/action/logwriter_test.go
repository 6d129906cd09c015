package action

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestLogWriterStopsCommands(t *testing.T) {
	hostile := []string{
		"starting\n",
		"::add-mask::not-from-us\n",
		"::set-env name=PATH::/evil\n",
		"::error title=pwned::from the script\n",
		"partial line without newline",
		" continued\n::endgroup::\n",
		"::stop-commands::guess\n",
		"::guess::\n::warning::after a guessed resume token\n",
		"last bit, no newline",
	}
	var out syncBuffer
	lw := newLogWriter(&out)
	for _, chunk := range hostile {
		if _, err := lw.Write([]byte(chunk)); err != nil {
			t.Fatal(err)
		}
	}
	if err := lw.Close(); err != nil {
		t.Fatal(err)
	}
	cmds, text := runnerView(t, out.String())
	if len(cmds) != 0 {
		t.Errorf("the runner would act on commands from the log: %+v", cmds)
	}
	got := strings.Join(text, "\n")
	want := strings.TrimSuffix(strings.Join(hostile, ""), "\n")
	if got != want {
		t.Errorf("log text changed:\n got %q\nwant %q", got, want)
	}
	if !strings.HasSuffix(out.String(), "no newline\n::"+tokenOf(t, out.String(), 0)+"::\n") {
		t.Errorf("the resume marker must start a line of its own: %q", out.String())
	}
}

var stopRE = regexp.MustCompile(`(?m)^::stop-commands::([0-9a-f]+)$`)

func tokenOf(t *testing.T, s string, i int) string {
	t.Helper()
	m := stopRE.FindAllStringSubmatch(s, -1)
	if len(m) <= i {
		t.Fatalf("no stop-commands block %d in %q", i, s)
	}
	return m[i][1]
}

func TestLogWriterPauseBetweenChunks(t *testing.T) {
	var out syncBuffer
	lw := newLogWriter(&out)
	a := actionTo(&out)
	if err := lw.Pause(); err != nil { // nothing open: nothing printed
		t.Fatal(err)
	}
	_, _ = lw.Write([]byte("one\ntwo"))
	_ = lw.Pause()
	a.Group("status: running")
	a.EndGroup()
	_, _ = lw.Write([]byte("three\n::error::x\n"))
	_ = lw.Close()
	_ = lw.Close() // twice is fine

	s := out.String()
	t1, t2 := tokenOf(t, s, 0), tokenOf(t, s, 1)
	if t1 == t2 || len(t1) < 32 {
		t.Errorf("each block needs its own unguessable token: %q %q", t1, t2)
	}
	cmds, text := runnerView(t, s)
	if len(cmds) != 2 || cmds[0].Name != "group" || cmds[1].Name != "endgroup" {
		t.Errorf("commands between blocks must work, those inside must not: %+v", cmds)
	}
	if strings.Join(text, "|") != "one|two|three|::error::x" {
		t.Errorf("text = %q", text)
	}
}

func TestRunLog(t *testing.T) {
	dir := t.TempDir()
	var out syncBuffer
	a := actionTo(&out)
	m := newMasker(a)
	m.Add("hunter2-secret")
	rl, err := newRunLog(&out, m, logLocation{Dir: dir, HostDir: "/host/temp"}, 3)
	if err != nil {
		t.Fatal(err)
	}
	for _, chunk := range []string{"line 1\r\n", "line 2 hunter2-", "secret\nline 3\n", "line 4 hunter2-secret\n", "tail without newline"} {
		if _, err := rl.Write([]byte(chunk)); err != nil {
			t.Fatal(err)
		}
	}
	if err := rl.Close(); err != nil {
		t.Fatal(err)
	}
	if err := rl.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := rl.Write([]byte("late")); err == nil {
		t.Error("Write after Close must fail")
	}

	if got := rl.Tail(); strings.Join(got, "|") != "line 3|line 4 ***|tail without newline" {
		t.Errorf("Tail() = %q", got)
	}
	if !strings.HasPrefix(rl.Path(), "/host/temp/runtime-action-run-") {
		t.Errorf("Path() = %q, want it under the host folder", rl.Path())
	}
	files, _ := filepath.Glob(filepath.Join(dir, "runtime-action-run-*.log"))
	if len(files) != 1 || filepath.Base(files[0]) != filepath.Base(rl.Path()) {
		t.Fatalf("log files %v, path %q", files, rl.Path())
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	if want := "line 1\nline 2 ***\nline 3\nline 4 ***\ntail without newline"; string(b) != want {
		t.Errorf("logs file = %q, want %q", b, want)
	}
	if strings.Count(out.String(), "hunter2-secret") != 1 {
		// once in the add-mask line; the echo is redacted per chunk, and the
		// one secret split across chunks is left to the runner's masking.
		t.Errorf("stdout shows the secret: %q", out.String())
	}
}

func TestLogDir(t *testing.T) {
	temp := t.TempDir()
	home := t.TempDir()
	for _, tc := range []struct {
		name string
		env  env
		want logLocation
	}{
		{"on the runner", env{"RUNNER_TEMP": temp}, logLocation{temp, temp}},
		{"in a container action", env{"RUNNER_TEMP": "/home/runner/work/_temp", "HOME": home},
			logLocation{home, "/home/runner/work/_temp/_github_home"}},
		{"act or docker run", env{}, logLocation{os.TempDir(), os.TempDir()}},
		{"RUNNER_TEMP missing here, other HOME", env{"RUNNER_TEMP": "/nope", "HOME": "/root"}, logLocation{os.TempDir(), os.TempDir()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := logDir(tc.env.get, home); got != tc.want {
				t.Errorf("logDir() = %+v, want %+v", got, tc.want)
			}
		})
	}
}
