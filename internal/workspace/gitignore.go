package workspace

import (
	"path"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// fallbackIgnore is used when the workspace has no root .gitignore
// (docs/PACKAGING.md).
const fallbackIgnore = "__pycache__/\n*.py[cod]\n.venv/\nvenv/\ndist/\nbuild/\n*.egg-info/\n" +
	".mypy_cache/\n.ruff_cache/\n.pytest_cache/\n.coverage\nhtmlcov/\n*.so\n.DS_Store\n.env\n"

// ignoreRule is one pattern line of a .gitignore.
type ignoreRule struct {
	negate   bool
	dirOnly  bool
	anchored bool   // matched against the whole relative path, not the name
	literal  string // set when the pattern has no wildcards: compare directly
	suffix   string // set for "*<literal>" name patterns: a suffix test
	re       *regexp.Regexp
}

// ignoreList holds a .gitignore's rules in file order; the last rule that
// matches a path decides.
type ignoreList []ignoreRule

// parseGitignore reads .gitignore text with git's rules: comments, blank
// lines, trailing spaces unless escaped, "\#" and "\!", "!" negation, a
// trailing "/" for folders only, anchoring when a slash is present other
// than at the end, and *, ?, [...] and ** wildcards.
func parseGitignore(text string) ignoreList {
	var rules ignoreList
	for line := range strings.SplitSeq(text, "\n") {
		line = strings.TrimSuffix(line, "\r")
		if r, ok := parseIgnoreLine(line); ok {
			rules = append(rules, r)
		}
	}
	return rules
}

func parseIgnoreLine(line string) (ignoreRule, bool) {
	var r ignoreRule
	if line == "" || line[0] == '#' {
		return r, false
	}
	line = trimTrailingSpaces(line)
	if line == "" {
		return r, false
	}
	if line[0] == '!' {
		r.negate = true
		line = line[1:]
	}
	if strings.HasSuffix(line, "/") && !strings.HasSuffix(line, `\/`) {
		r.dirOnly = true
		line = strings.TrimRight(line, "/")
	}
	if line == "" {
		return r, false
	}
	r.anchored = strings.Contains(line, "/")
	line = strings.TrimPrefix(line, "/")
	if line == "" {
		return r, false
	}
	if lit, ok := unescapeLiteral(line); ok {
		r.literal = lit
		return r, true
	}
	if !r.anchored && line[0] == '*' && !strings.HasPrefix(line, "**") {
		if lit, ok := unescapeLiteral(line[1:]); ok && lit != "" {
			r.suffix = lit
			return r, true
		}
	}
	re, err := regexp.Compile("^" + globToRegexp(line) + "$")
	if err != nil {
		return r, false // a pattern git could not match either
	}
	r.re = re
	return r, true
}

// trimTrailingSpaces drops trailing spaces that are not escaped with a
// backslash.
func trimTrailingSpaces(s string) string {
	end := len(s)
	for end > 0 && s[end-1] == ' ' {
		// Count the backslashes before this space.
		bs := 0
		for i := end - 2; i >= 0 && s[i] == '\\'; i-- {
			bs++
		}
		if bs%2 == 1 {
			break
		}
		end--
	}
	return s[:end]
}

// unescapeLiteral returns the pattern with escapes removed when it has no
// wildcard characters.
func unescapeLiteral(p string) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		switch c := p[i]; c {
		case '*', '?', '[':
			return "", false
		case '\\':
			if i+1 < len(p) {
				i++
				b.WriteByte(p[i])
			}
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), true
}

// globToRegexp translates a gitignore pattern (leading slash removed) to a
// regular expression over slash-separated paths.
func globToRegexp(p string) string {
	var b strings.Builder
	segs := strings.Split(p, "/")
	slashDone := false // the previous piece already ends with "/"
	for i, seg := range segs {
		if seg == "**" {
			switch {
			case len(segs) == 1:
				b.WriteString(".*")
			case i == 0:
				b.WriteString("(?:.*/)?") // leading "**/": any folders, or none
			case i == len(segs)-1:
				b.WriteString("/.*") // trailing "/**": everything inside
			default:
				b.WriteString("/(?:.*/)?") // "/**/": zero or more folders
			}
			slashDone = true
			continue
		}
		if i > 0 && !slashDone {
			b.WriteByte('/')
		}
		slashDone = false
		b.WriteString(segmentToRegexp(seg))
	}
	return b.String()
}

// segmentToRegexp translates one path segment: * and ? never match "/", and
// "**" inside a segment is a plain "*".
func segmentToRegexp(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '*':
			for i+1 < len(s) && s[i+1] == '*' {
				i++
			}
			b.WriteString("[^/]*")
		case '?':
			b.WriteString("[^/]")
		case '\\':
			if i+1 < len(s) {
				i++
				b.WriteString(regexp.QuoteMeta(s[i : i+1]))
			}
		case '[':
			if cls, n, ok := bracket(s[i:]); ok {
				b.WriteString(cls)
				i += n - 1
			} else {
				b.WriteString(`\[`) // no closing bracket: a literal
			}
		default:
			b.WriteString(regexp.QuoteMeta(s[i : i+1]))
		}
	}
	return b.String()
}

// bracket translates a [...] class at the start of s into a regexp class
// and says how many bytes it used. "!" or "^" negates, a "]" first is a
// literal, "\\" escapes, ranges and [:alpha:] classes pass through. A class
// never matches "/".
func bracket(s string) (string, int, bool) {
	var b strings.Builder
	b.WriteString("[")
	i := 1
	if i < len(s) && (s[i] == '!' || s[i] == '^') {
		b.WriteString("^/")
		i++
	}
	first := true
	for i < len(s) {
		c := s[i]
		switch {
		case c == ']' && !first:
			b.WriteString("]")
			if b.String() == "[]" {
				return "", 0, false
			}
			return b.String(), i + 1, true
		case c == '[' && strings.HasPrefix(s[i:], "[:"):
			end := strings.Index(s[i+2:], ":]")
			if end < 0 {
				b.WriteString(`\[`)
				i++
				break
			}
			b.WriteString(s[i : i+2+end+2])
			i += 2 + end + 2
		case c == '-' && !first && i+1 < len(s) && s[i+1] != ']':
			b.WriteByte('-')
			i++
		case c == '\\' && i+1 < len(s):
			i++
			i += classLiteral(&b, s[i:])
		default:
			i += classLiteral(&b, s[i:])
		}
		first = false
	}
	return "", 0, false
}

// classLiteral writes the character at the start of s as a literal inside a
// regexp class and returns its length in bytes.
func classLiteral(b *strings.Builder, s string) int {
	r, n := utf8.DecodeRuneInString(s)
	if r < utf8.RuneSelf && !unicode.IsLetter(r) && !unicode.IsDigit(r) {
		b.WriteByte('\\') // RE2 accepts any escaped punctuation in a class
	}
	b.WriteString(s[:n])
	return n
}

// match reports whether the rule matches the slash-separated path rel.
func (r *ignoreRule) match(rel, name string, isDir bool) bool {
	if r.dirOnly && !isDir {
		return false
	}
	subject := name
	if r.anchored {
		subject = rel
	}
	switch {
	case r.literal != "":
		return subject == r.literal
	case r.suffix != "":
		return strings.HasSuffix(subject, r.suffix)
	}
	return r.re.MatchString(subject)
}

// ignored reports whether rel (a folder when isDir) is ignored: the last
// matching rule decides.
func (l ignoreList) ignored(rel string, isDir bool) bool {
	name := path.Base(rel)
	ignored := false
	for i := range l {
		if l[i].match(rel, name, isDir) {
			ignored = !l[i].negate
		}
	}
	return ignored
}
