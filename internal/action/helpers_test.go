package action

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/sethvargo/go-githubactions"
)

// env is a test process environment.
type env map[string]string

// get reads e; GITHUB_ACTIONS is "true" unless e says otherwise, as on a
// runner, so that masks are printed.
func (e env) get(k string) string {
	if v, ok := e[k]; ok || k != "GITHUB_ACTIONS" {
		return v
	}
	return "true"
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newAction returns an Action reading e and printing to the returned buffer.
func newAction(t *testing.T, e env) (*githubactions.Action, *syncBuffer) {
	t.Helper()
	out := &syncBuffer{}
	return githubactions.New(githubactions.WithWriter(out), githubactions.WithGetenv(e.get)), out
}

// actionTo returns an Action printing to w, with an empty environment.
func actionTo(w io.Writer) *githubactions.Action {
	return githubactions.New(githubactions.WithWriter(w), githubactions.WithGetenv(env{}.get))
}

// withFiles adds empty GITHUB_OUTPUT, GITHUB_STATE and GITHUB_STEP_SUMMARY
// files in a temporary folder to e, as the runner does.
func withFiles(t *testing.T, e env) env {
	t.Helper()
	dir := t.TempDir()
	for k, name := range map[string]string{"GITHUB_OUTPUT": "output", "GITHUB_STATE": "state", "GITHUB_STEP_SUMMARY": "summary"} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		e[k] = p
	}
	return e
}

// readFileCommands parses a GITHUB_OUTPUT or GITHUB_STATE file the way the
// runner does: `name=value` lines and `name<<DELIMITER` heredocs. Later
// values of a name win.
func readFileCommands(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if l == "" {
			continue
		}
		if name, delim, ok := strings.Cut(l, "<<"); ok && !strings.Contains(name, "=") {
			var val []string
			i++
			for ; i < len(lines) && lines[i] != delim; i++ {
				val = append(val, lines[i])
			}
			if i == len(lines) {
				t.Fatalf("%s: heredoc %q of %q is not closed", path, delim, name)
			}
			out[name] = strings.Join(val, "\n")
			continue
		}
		name, val, ok := strings.Cut(l, "=")
		if !ok {
			t.Fatalf("%s: line %q is neither name=value nor a heredoc", path, l)
		}
		out[name] = val
	}
	return out
}

// command is a workflow command as the runner reads it from stdout.
type command struct {
	Name    string
	Props   string
	Message string // unescaped
}

// runnerView reads stdout the way the runner does: it returns the workflow
// commands it would act on, honouring ::stop-commands::TOKEN ... ::TOKEN::,
// and the plain text lines.
func runnerView(t *testing.T, stdout string) (cmds []command, text []string) {
	t.Helper()
	stop := ""
	sc := bufio.NewScanner(strings.NewReader(stdout))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		l := sc.Text()
		if stop != "" {
			if l == "::"+stop+"::" {
				stop = ""
				continue
			}
			text = append(text, l)
			continue
		}
		if !strings.HasPrefix(l, "::") {
			text = append(text, l)
			continue
		}
		head, msg, ok := strings.Cut(l[2:], "::")
		if !ok {
			text = append(text, l)
			continue
		}
		name, props, _ := strings.Cut(head, " ")
		msg = strings.NewReplacer("%0A", "\n", "%0D", "\r", "%25", "%").Replace(msg)
		if name == "stop-commands" {
			stop = msg
			continue
		}
		cmds = append(cmds, command{Name: name, Props: props, Message: msg})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return cmds, text
}

func commandsNamed(cmds []command, name string) []command {
	var out []command
	for _, c := range cmds {
		if c.Name == name {
			out = append(out, c)
		}
	}
	return out
}

// writeFiles creates files (path -> content) below root.
func writeFiles(t testing.TB, root string, files map[string]string) {
	t.Helper()
	for p, c := range files {
		full := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
