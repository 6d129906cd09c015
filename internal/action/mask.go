package action

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/BurntSushi/toml"
	"github.com/sethvargo/go-githubactions"
)

// minMaskLen is the shortest value that is masked. GitHub masks any value,
// but masking "1", "no" or "db" would garble every log line that contains
// them while protecting nothing.
const minMaskLen = 3

// masker registers secret values with the runner (add-mask, only when
// GITHUB_ACTIONS is true) and remembers
// them, to redact text GitHub does not mask for us: the logs file and the
// summary written by this process.
type masker struct {
	a *githubactions.Action

	mu       sync.Mutex
	values   map[string]bool
	replacer *strings.Replacer // rebuilt after Add
	// onRunner: GITHUB_ACTIONS is true, so add-mask lines have a reader.
	// Elsewhere (a plain docker run, other CI) they would print the secret
	// itself, so none are printed: secrets are simply never printed.
	onRunner bool
}

// newMasker returns a Masker that issues add-mask commands through a.
func newMasker(a *githubactions.Action) *masker {
	return &masker{a: a, values: map[string]bool{}, onRunner: a.Getenv("GITHUB_ACTIONS") == "true"}
}

// Add masks v: each line of it on its own, since the runner matches masks
// within one line, skipping lines shorter than MinMaskLen after trimming.
func (m *masker) Add(v string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for line := range strings.SplitSeq(v, "\n") {
		line = strings.TrimSpace(line)
		if len(line) < minMaskLen || m.values[line] {
			continue
		}
		m.values[line] = true
		m.replacer = nil
		if m.onRunner {
			m.a.AddMask(line)
		}
	}
}

// Redact replaces every masked value in s with "***", longest first so that
// a value containing another one is hidden whole.
func (m *masker) Redact(s string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.values) == 0 {
		return s
	}
	if m.replacer == nil {
		vs := make([]string, 0, len(m.values))
		for v := range m.values {
			vs = append(vs, v)
		}
		sort.Slice(vs, func(i, j int) bool { return len(vs[i]) > len(vs[j]) })
		pairs := make([]string, 0, 2*len(vs))
		for _, v := range vs {
			pairs = append(pairs, v, "***")
		}
		m.replacer = strings.NewReplacer(pairs...)
	}
	return m.replacer.Replace(s)
}

// maskSecrets masks, before anything else is printed, every token input and
// every value in the secrets-toml input and in the workspace's secrets files
// (.dlt/**/*secrets.toml). Secrets that turn up later (a token from an
// exchange, a token from the workspace's settings) go through the returned
// masker's Add. workspaceRoot may be "" when there is no workspace yet.
//
// A secrets file that is not valid TOML is masked line by line, whole lines
// and the text after '=' alike, since its values cannot be told apart; a file
// that cannot be read is an error, because it cannot be masked.
func maskSecrets(a *githubactions.Action, in inputs, workspaceRoot string) (*masker, error) {
	m := newMasker(a)
	for _, t := range []string{in.Token, in.GitHubToken, in.RepoToken} {
		m.Add(t)
	}
	maskTOML(m, in.SecretsTOML)
	if workspaceRoot == "" {
		return m, nil
	}
	dir := filepath.Join(workspaceRoot, ".dlt")
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if path == dir && errors.Is(err, fs.ErrNotExist) {
				return fs.SkipAll
			}
			return err
		}
		if d.IsDir() || !strings.HasSuffix(d.Name(), "secrets.toml") {
			return nil
		}
		b, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) && d.Type()&fs.ModeSymlink != 0 {
			return nil // a dangling link holds nothing to mask
		}
		if err != nil {
			return err
		}
		maskTOML(m, string(b))
		return nil
	})
	if err != nil {
		return m, fmt.Errorf("mask the workspace's secrets: %w", err)
	}
	return m, nil
}

// maskTOML masks every string, integer and float value of a TOML document,
// in nested tables and arrays too.
func maskTOML(m *masker, content string) {
	if strings.TrimSpace(content) == "" {
		return
	}
	var doc map[string]any
	if _, err := toml.Decode(content, &doc); err != nil {
		for line := range strings.SplitSeq(content, "\n") {
			m.Add(line)
			if _, after, ok := strings.Cut(line, "="); ok {
				m.Add(strings.Trim(strings.TrimSpace(after), `"'`))
			}
		}
		return
	}
	maskValue(m, doc)
}

func maskValue(m *masker, v any) {
	switch v := v.(type) {
	case string:
		m.Add(v)
	case int64:
		m.Add(strconv.FormatInt(v, 10))
	case float64:
		m.Add(strconv.FormatFloat(v, 'f', -1, 64))
	case map[string]any:
		for _, e := range v {
			maskValue(m, e)
		}
	case []map[string]any:
		for _, e := range v {
			maskValue(m, e)
		}
	case []any:
		for _, e := range v {
			maskValue(m, e)
		}
	}
}
