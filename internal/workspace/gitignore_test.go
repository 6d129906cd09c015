package workspace

import (
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestGitignoreRules(t *testing.T) {
	tests := []struct {
		patterns string
		path     string
		dir      bool
		want     bool
	}{
		{"*.log", "run.log", false, true},
		{"*.log", "a/b/run.log", false, true},
		{"*.log", "run.logx", false, false},
		{"# comment", "# comment", false, false},
		{`\#hash`, "#hash", false, true},
		{`\!bang`, "!bang", false, true},
		{"foo   ", "foo", false, true},
		{`foo\ `, "foo ", false, true},
		{`foo\ `, "foo", false, false},
		{"\n\n", "x", false, false},
		{"/build", "build", true, true},
		{"/build", "sub/build", true, false},
		{"build/", "build", true, true},
		{"build/", "build", false, false},
		{"build/", "a/build", true, true},
		{"build", "a/build", false, true},
		{"doc/frotz", "doc/frotz", false, true},
		{"doc/frotz", "a/doc/frotz", false, false},
		{"doc/frotz/", "doc/frotz", true, true},
		{"**/tmp", "tmp", true, true},
		{"**/tmp", "a/b/tmp", false, true},
		{"**/tmp/", "a/tmp", false, false},
		{"abc/**", "abc/x", false, true},
		{"abc/**", "abc/x/y", false, true},
		{"abc/**", "abc", true, false},
		{"a/**/b", "a/b", false, true},
		{"a/**/b", "a/x/y/b", false, true},
		{"a/**/b", "a/xb", false, false},
		{"?.py", "a.py", false, true},
		{"?.py", "ab.py", false, false},
		{"[abc].txt", "b.txt", false, true},
		{"[abc].txt", "d.txt", false, false},
		{"[!abc].txt", "d.txt", false, true},
		{"[^abc].txt", "a.txt", false, false},
		{"[a-c].txt", "c.txt", false, true},
		{"[]].txt", "].txt", false, true},
		{"[[:digit:]].txt", "7.txt", false, true},
		{"[a-", "[a-", false, true},
		{"a/*.py", "a/x.py", false, true},
		{"a/*.py", "a/b/x.py", false, false},
		{"*.py[cod]", "x.pyc", false, true},
		{"*.csv\n!keep.csv", "keep.csv", false, false},
		{"*.csv\n!keep.csv", "a.csv", false, true},
		{"!keep.csv\n*.csv", "keep.csv", false, true},
		{"a**b", "axxb", false, true},
		{"a**b", "ax/xb", false, false},
		{"*", "anything/at/all", false, true},
		{"/*.py", "x.py", false, true},
		{"/*.py", "a/x.py", false, false},
		{"dir/\r", "dir", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.patterns+"|"+tt.path, func(t *testing.T) {
			if got := parseGitignore(tt.patterns).ignored(tt.path, tt.dir); got != tt.want {
				t.Errorf("ignored(%q, dir=%v) with %q = %v, want %v", tt.path, tt.dir, tt.patterns, got, tt.want)
			}
		})
	}
}

// TestGitignoreMatchesGit compares the deployment selection with what git
// itself leaves untracked-and-not-ignored, over random trees and patterns.
// Skipped when git is not installed.
func TestGitignoreMatchesGit(t *testing.T) {
	git, err := exec.LookPath("git")
	if err != nil {
		t.Skip("git not installed")
	}
	patterns := []string{"*.log", "/build", "build/", "**/tmp/", "*.csv", "!keep.csv", "data/",
		"data/*", "!data/keep.txt", "a/**/b.py", "doc/**", "!doc/readme.md", "?.py", "[ab].txt",
		"[!ab].txt", "sub/", "/sub/x.py", "*.py", "!*.py", "x*", "**/deep", "a/b", "\\#*", "*~",
		"# comment", "", "tmp", "!tmp/", "/doc", "doc/", "c/", "!c/d.txt", "b.py "}
	paths := []string{"run.log", "build/x.txt", "sub/build/y.txt", "a/tmp/z.txt", "tmp/q.txt",
		"a.csv", "keep.csv", "sub/keep.csv", "data/x.csv", "data/keep.txt", "a/b.py", "a/x/y/b.py",
		"doc/readme.md", "doc/x/y.md", "a.py", "ab.py", "a.txt", "c.txt", "sub/x.py", "x.py",
		"xyz/q.md", "deep/v/deep", "a/b", "a/b2/c", "#hash", "file~", "c/d.txt", "c/e.txt",
		"b.py", "q/r/s/t.txt"}
	rng := rand.New(rand.NewPCG(3, 5))
	for round := range 15 {
		var lines []string
		for range rng.IntN(6) + 1 {
			lines = append(lines, patterns[rng.IntN(len(patterns))])
		}
		gi := strings.Join(lines, "\n") + "\n"
		root := t.TempDir()
		writeFile(t, filepath.Join(root, ".gitignore"), gi)
		writeFile(t, filepath.Join(root, ".dlt", "config.toml"), "")
		for _, p := range paths {
			if rng.IntN(3) > 0 {
				writeFile(t, filepath.Join(root, filepath.FromSlash(p)), p)
			}
		}
		cmd := exec.Command(git, "init", "-q")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git init: %v %s", err, out)
		}
		cmd = exec.Command(git, "ls-files", "--others", "--exclude-standard", "-z")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("git ls-files: %v", err)
		}
		var want []string
		for p := range strings.SplitSeq(strings.TrimSuffix(string(out), "\x00"), "\x00") {
			if p != "" && !strings.HasPrefix(p, ".dlt/") {
				want = append(want, p)
			}
		}
		slices.Sort(want)
		sel, err := SelectDeployment(root)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, it := range sel.Files {
			got = append(got, it.RelativePath)
		}
		if !slices.Equal(got, want) {
			t.Errorf("round %d, .gitignore %q:\n got %q\nwant %q", round, gi, got, want)
		}
	}
}
