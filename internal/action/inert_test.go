package action

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode"
)

// runnerCommands reads a job log the way GitHub's runner does and returns
// the commands it would act on: lines end at \n, \r or \r\n; a line is a
// command when it starts with "::" after leading white space, or holds a
// legacy "##[" command; between `::stop-commands::T` and `::T::` nothing
// but the resume line is a command.
func runnerCommands(log string) []string {
	var cmds []string
	stop := ""
	log = strings.ReplaceAll(log, "\r\n", "\n")
	for _, line := range strings.FieldsFunc(log, func(r rune) bool { return r == '\n' || r == '\r' }) {
		l := strings.TrimLeftFunc(line, unicode.IsSpace)
		if stop != "" {
			if l == "::"+stop+"::" {
				stop = ""
			}
			continue
		}
		rest, ok := strings.CutPrefix(l, "::")
		head, data, ok2 := strings.Cut(rest, "::")
		if !ok || !ok2 {
			// The legacy form is tried only when the line is no command.
			if strings.Contains(l, "##[") {
				cmds = append(cmds, "legacy")
			}
			continue
		}
		name, _, _ := strings.Cut(head, " ")
		if name == "stop-commands" {
			stop = data
			if len(data) == 32 && strings.Trim(data, "0123456789abcdef") == "" {
				continue // a block the Action opened, with a random token
			}
		}
		cmds = append(cmds, name)
	}
	return cmds
}

// craftedValues are what a hostile or broken Runtime could answer in an
// email, a name, an error's details or a URL.
var craftedValues = []string{
	"x\n::warning::injected",
	"::warning::injected",
	"  ::error::injected",
	"::stop-commands::x",
	"a\r::add-mask::everything",
	"a\r\n::set-env name=X::1",
	"\u0085::warning::nel",
	"##[set-output name=run-id;]forged",
	"::x::",
	"bold \x1b[1mterminal\x1b[0m",
}

// TestSafeWriterKeepsValuesInert prints the crafted values through every
// kind of message the Action prints; the runner must see only the
// Action's own commands.
func TestSafeWriterKeepsValuesInert(t *testing.T) {
	for _, v := range craftedValues {
		t.Run(strings.ToValidUTF8(v, "?"), func(t *testing.T) {
			var out strings.Builder
			a := newStepAction(Env{Stdout: &out, Getenv: env{}.get})
			a.Group("Authenticate")
			a.Infof("Authenticated as %s with the token input", v)
			a.Infof("%s", v) // a value alone on its line
			a.Infof("Workspace: %s (%s), the default of %s", v, v, v)
			a.Infof("Several lines:\n%s\nand after", v)
			a.EndGroup()
			annotate(a, nil, fail("Runtime unreachable", &jsonErr{v}, "Check api-url ("+v+")"))
			got := runnerCommands(out.String())
			want := []string{"group", "endgroup", "error"}
			if strings.HasPrefix(v, "::warning::") {
				// A value alone on its line that is exactly one of the
				// Action's own commands is the one thing a writer cannot
				// tell apart; it stays an annotation and issues nothing else.
				want = []string{"group", "warning", "endgroup", "error"}
			}
			if !slices.Equal(got, want) {
				t.Errorf("the runner would act on %q, want %q; log:\n%s", got, want, out.String())
			}
			if strings.Contains(out.String(), "\x1b") {
				t.Errorf("a terminal escape reached the log: %q", out.String())
			}
		})
	}
}

type jsonErr struct{ s string }

func (e *jsonErr) Error() string { return "server said: " + e.s }

// TestSafeWriterKeepsOwnCommands: masks, groups and annotations go through
// unchanged, a mask byte for byte.
func TestSafeWriterKeepsOwnCommands(t *testing.T) {
	var out strings.Builder
	a := newStepAction(Env{Stdout: &out, Getenv: env{"GITHUB_ACTIONS": "true"}.get})
	newMasker(a).Add("s3cret\x1bvalue")
	a.Group("Logs")
	a.Warningf("careful: %s", "a\nb")
	a.EndGroup()
	want := "::add-mask::s3cret\x1bvalue\n::group::Logs\n::warning::careful: a%0Ab\n::endgroup::\n"
	if out.String() != want {
		t.Errorf("log = %q, want %q", out.String(), want)
	}
}

// TestMainWithCraftedRuntime runs the main step against a stand-in of the
// Runtime that answers crafted values where the Action prints them: the
// user's email and default workspace name (authentication) and an error's
// details (the deployment sync). None of them may issue a command.
func TestMainWithCraftedRuntime(t *testing.T) {
	for _, v := range craftedValues {
		t.Run(strings.ToValidUTF8(v, "?"), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				if r.URL.Path == "/v1/me" {
					json.NewEncoder(w).Encode(map[string]any{
						"user_id": "5b7c9a1e-0000-4000-8000-000000000001", "email": v + "@example.com", "identity_id": "i",
						"default_workspace":    map[string]any{"id": "5b7c9a1e-0000-4000-8000-000000000002", "name": v},
						"default_organization": map[string]any{"id": "5b7c9a1e-0000-4000-8000-000000000003", "name": v},
					})
					return
				}
				w.WriteHeader(http.StatusBadRequest)
				json.NewEncoder(w).Encode(map[string]any{"status_code": 400, "detail": v})
			}))
			defer srv.Close()
			dir := t.TempDir()
			root := filepath.Join(dir, "ws")
			for name, body := range map[string]string{".dlt/config.toml": "", "job.py": "print(1)\n"} {
				p := filepath.Join(root, name)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			vars := env{
				"GITHUB_ACTIONS": "true", "HOME": dir,
				"INPUT_SCRIPT": "job.py", "INPUT_WORKING-DIRECTORY": root,
				"INPUT_API-URL": srv.URL, "INPUT_TOKEN": "rt-token-for-the-stand-in",
			}
			var out strings.Builder
			code := Main(context.Background(), Env{Stdout: &out, Getenv: vars.get, Cwd: dir})
			log := out.String()
			if code == 0 {
				t.Fatalf("the deployment sync got an error but the step passed:\n%s", log)
			}
			if !strings.Contains(log, "Authenticated as ") {
				t.Fatalf("the step did not get as far as printing the email:\n%s", log)
			}
			for _, c := range runnerCommands(log) {
				if !slices.Contains([]string{"add-mask", "group", "endgroup", "error"}, c) {
					t.Errorf("the runner would act on %q; log:\n%s", c, log)
				}
			}
		})
	}
}

// BenchmarkSafeWriter measures the sanitizing writer on the Action's usual
// output: progress lines, a few with a value that must be neutralised.
func BenchmarkSafeWriter(b *testing.B) {
	lines := [][]byte{
		[]byte("Deployment uploaded: version 12 (4 files, 3.1 kB)\n"),
		[]byte("::group::Logs\n"),
		[]byte("Run #12: running\n"),
		[]byte("Authenticated as a@example.com\n::warning::injected with the token input\n"),
	}
	w := newSafeWriter(io.Discard)
	n := 0
	for _, l := range lines {
		n += len(l)
	}
	b.SetBytes(int64(n))
	b.ReportAllocs()
	for b.Loop() {
		for _, l := range lines {
			w.Write(l)
		}
	}
}
