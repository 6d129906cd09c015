package pack

import (
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The manifest is printed the way dlt prints it: PyYAML's yaml.dump with
// allow_unicode=True and sort_keys=False (best width 80, indent 2). A client
// that matches it byte for byte lets anyone diff our manifests against dlt's;
// the content hash does not depend on it. The scalar rules below follow
// PyYAML's emitter (analyze_scalar, choose_scalar_style and the writers), so
// quoting and line folding come out the same.

const (
	yamlBestWidth   = 80
	yamlValueIndent = 4 // a value of a mapping that is an item of the indentless files: list
)

// MarshalManifest prints m as dlt's YAML writer does (see the vectors'
// manifest_yaml).
func MarshalManifest(m Manifest) []byte {
	e := &yamlEmitter{}
	e.writeRaw("engine_version: " + strconv.Itoa(m.EngineVersion) + "\n")
	if len(m.Files) == 0 {
		e.writeRaw("files: []\n")
		return []byte(e.b.String())
	}
	e.writeRaw("files:\n")
	for _, it := range m.Files {
		e.field("- relative_path:", it.RelativePath)
		e.writeRaw("  size_in_bytes: " + strconv.FormatInt(it.SizeInBytes, 10) + "\n")
		if it.SHA3256 != "" { // without: the legacy form (PACKAGING.md)
			e.field("  sha3_256:", it.SHA3256)
		}
		if it.Linkname != "" {
			e.field("  linkname:", it.Linkname)
		}
	}
	return []byte(e.b.String())
}

// yamlEmitter keeps the state PyYAML's emitter uses to decide where to fold
// long lines: the column (in code points) and whether the last thing written
// was whitespace or indentation.
type yamlEmitter struct {
	b          strings.Builder
	column     int
	whitespace bool
	indention  bool
}

func (e *yamlEmitter) writeRaw(s string) {
	e.b.WriteString(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		e.column = utf8.RuneCountInString(s[i+1:])
		e.whitespace, e.indention = true, true
	} else {
		e.column += utf8.RuneCountInString(s)
		e.whitespace, e.indention = false, false
	}
}

// field writes "key: value\n" where key already holds its indicator and the
// value is a string scalar.
func (e *yamlEmitter) field(key string, value string) {
	e.writeRaw(key) // after ':' PyYAML has whitespace=false, indention=false
	switch yamlStyle(value) {
	case '\'':
		e.writeSingleQuoted([]rune(value))
	case '"':
		e.writeDoubleQuoted(value)
	default:
		e.writePlain([]rune(value))
	}
	e.b.WriteByte('\n')
	e.column, e.whitespace, e.indention = 0, true, true
}

func (e *yamlEmitter) write(s string) {
	e.b.WriteString(s)
	e.column += utf8.RuneCountInString(s)
}

func (e *yamlEmitter) writeRunes(r []rune) {
	for _, c := range r {
		e.b.WriteRune(c)
	}
	e.column += len(r)
}

func (e *yamlEmitter) writeIndicator(ind string, needWhitespace bool) {
	if !e.whitespace && needWhitespace {
		ind = " " + ind
	}
	e.write(ind)
	e.whitespace = false
	e.indention = false
}

func (e *yamlEmitter) lineBreak(br rune) {
	e.b.WriteRune(br)
	e.column, e.whitespace, e.indention = 0, true, true
}

func (e *yamlEmitter) writeIndent() {
	if !e.indention || e.column > yamlValueIndent || (e.column == yamlValueIndent && !e.whitespace) {
		e.lineBreak('\n')
	}
	if e.column < yamlValueIndent {
		e.whitespace = true
		e.b.WriteString(strings.Repeat(" ", yamlValueIndent-e.column))
		e.column = yamlValueIndent
	}
}

func isYAMLBreak(c rune) bool {
	return c == '\n' || c == '\x85' || c == '\u2028' || c == '\u2029'
}

func (e *yamlEmitter) writePlain(text []rune) {
	if len(text) == 0 {
		return
	}
	if !e.whitespace {
		e.write(" ")
	}
	e.whitespace, e.indention = false, false
	spaces := false
	start := 0
	for end := 0; end <= len(text); end++ {
		var ch rune = -1
		if end < len(text) {
			ch = text[end]
		}
		// Plain scalars never hold line breaks here (analysis forbids them),
		// so only runs of spaces and runs of other characters remain.
		if spaces {
			if ch != ' ' {
				if start+1 == end && e.column > yamlBestWidth {
					e.writeIndent()
					e.whitespace, e.indention = false, false
				} else {
					e.writeRunes(text[start:end])
				}
				start = end
			}
		} else if ch == -1 || ch == ' ' {
			e.writeRunes(text[start:end])
			start = end
		}
		if ch != -1 {
			spaces = ch == ' '
		}
	}
}

func (e *yamlEmitter) writeSingleQuoted(text []rune) {
	e.writeIndicator("'", true)
	spaces, breaks := false, false
	start := 0
	for end := 0; end <= len(text); end++ {
		var ch rune = -1
		if end < len(text) {
			ch = text[end]
		}
		switch {
		case spaces:
			if ch != ' ' {
				if start+1 == end && e.column > yamlBestWidth && start != 0 && end != len(text) {
					e.writeIndent()
				} else {
					e.writeRunes(text[start:end])
				}
				start = end
			}
		case breaks:
			if ch == -1 || !isYAMLBreak(ch) {
				// A lone line break folds into a space when read back, so
				// "\n" is written as an empty line.
				if text[start] == '\n' {
					e.lineBreak('\n')
				}
				for _, br := range text[start:end] {
					e.lineBreak(br)
				}
				e.writeIndent()
				start = end
			}
		default:
			if ch == -1 || ch == ' ' || isYAMLBreak(ch) || ch == '\'' {
				if start < end {
					e.writeRunes(text[start:end])
					start = end
				}
			}
		}
		if ch == '\'' {
			e.write("''")
			start = end + 1
		}
		if ch != -1 {
			spaces = ch == ' '
			breaks = isYAMLBreak(ch)
		}
	}
	e.writeIndicator("'", false)
}

// yamlEscape is PyYAML's short escape for c, or "".
func yamlEscape(c rune) string {
	switch c {
	case 0:
		return "0"
	case '\a':
		return "a"
	case '\b':
		return "b"
	case '\t':
		return "t"
	case '\n':
		return "n"
	case '\v':
		return "v"
	case '\f':
		return "f"
	case '\r':
		return "r"
	case '\x1b':
		return "e"
	case '"':
		return "\""
	case '\\':
		return "\\"
	case '\x85':
		return "N"
	case '\u00a0':
		return "_"
	case '\u2028':
		return "L"
	case '\u2029':
		return "P"
	}
	return ""
}

// doubleQuotedRaw reports whether c may appear unescaped in a double-quoted
// scalar (PyYAML with allow_unicode).
func doubleQuotedRaw(c rune) bool {
	switch c {
	case '"', '\\', '\x85', '\u2028', '\u2029', '\ufeff':
		return false
	}
	return (c >= 0x20 && c <= 0x7e) || (c >= 0xa0 && c <= 0xd7ff) || (c >= 0xe000 && c <= 0xfffd)
}

func (e *yamlEmitter) writeDoubleQuoted(s string) {
	e.writeIndicator("\"", true)
	// Invalid UTF-8 cannot be carried by YAML; each bad byte becomes \xNN,
	// which reads back as U+00NN. Selection and Verify refuse such names, so
	// this only keeps the output well-formed.
	type unit struct {
		r   rune
		bad bool
	}
	var text []unit
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			text = append(text, unit{rune(s[i]), true})
		} else {
			text = append(text, unit{r, false})
		}
		i += n
	}
	runes := func(a, b int) string {
		var sb strings.Builder
		for _, u := range text[a:b] {
			sb.WriteRune(u.r)
		}
		return sb.String()
	}
	start := 0
	for end := 0; end <= len(text); end++ {
		var ch rune = -1
		bad := false
		if end < len(text) {
			ch, bad = text[end].r, text[end].bad
		}
		if ch == -1 || bad || !doubleQuotedRaw(ch) {
			if start < end {
				e.write(runes(start, end))
				start = end
			}
			if ch != -1 {
				var esc string
				if r := yamlEscape(ch); r != "" && !bad {
					esc = "\\" + r
				} else if ch <= 0xff {
					esc = "\\x" + hex(uint32(ch), 2)
				} else if ch <= 0xffff {
					esc = "\\u" + hex(uint32(ch), 4)
				} else {
					esc = "\\U" + hex(uint32(ch), 8)
				}
				e.write(esc)
				start = end + 1
			}
		}
		if end > 0 && end < len(text)-1 && (ch == ' ' || start >= end) &&
			e.column+(end-start) > yamlBestWidth {
			data := ""
			if start < end {
				data = runes(start, end)
				start = end
			}
			e.write(data + "\\")
			e.writeIndent()
			e.whitespace, e.indention = false, false
			if text[start].r == ' ' {
				e.write("\\")
			}
		}
	}
	e.writeIndicator("\"", false)
}

func hex(v uint32, width int) string {
	s := strings.ToUpper(strconv.FormatUint(uint64(v), 16))
	return strings.Repeat("0", width-len(s)) + s
}

// The implicit resolvers of PyYAML: a plain scalar matching one of them would
// read back as something other than a string, so it gets quoted. Python's $
// also matches before a final newline; such values hold a line break and are
// never plain anyway.
var (
	yamlBool  = regexp.MustCompile(`^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$`)
	yamlFloat = regexp.MustCompile(`^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$`)
	yamlInt   = regexp.MustCompile(`^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$`)
	yamlMerge = regexp.MustCompile(`^(?:<<)$`)
	yamlNull  = regexp.MustCompile(`^(?:~|null|Null|NULL|)$`)
	yamlTime  = regexp.MustCompile(`^(?:[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]|[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?(?:[Tt]|[ \t]+)[0-9][0-9]?:[0-9][0-9]:[0-9][0-9](?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)$`)
	yamlValue = regexp.MustCompile(`^(?:=)$`)
	yamlYAML  = regexp.MustCompile(`^(?:!|&|\*)$`)
)

// resolvesToNonString reports whether PyYAML's resolver would give the plain
// scalar s a tag other than str.
func resolvesToNonString(s string) bool {
	if s == "" {
		return true // null
	}
	switch c := s[0]; {
	case strings.IndexByte("yYnNtTfFoO", c) >= 0 && yamlBool.MatchString(s):
		return true
	case strings.IndexByte("-+0123456789.", c) >= 0 && yamlFloat.MatchString(s):
		return true
	case strings.IndexByte("-+0123456789", c) >= 0 && yamlInt.MatchString(s):
		return true
	case c == '<' && yamlMerge.MatchString(s):
		return true
	case strings.IndexByte("~nN", c) >= 0 && yamlNull.MatchString(s):
		return true
	case strings.IndexByte("0123456789", c) >= 0 && yamlTime.MatchString(s):
		return true
	case c == '=' && yamlValue.MatchString(s):
		return true
	case strings.IndexByte("!&*", c) >= 0 && yamlYAML.MatchString(s):
		return true
	}
	return false
}

func isYAMLSpaceOrBreak(c rune) bool {
	return c == 0 || c == ' ' || c == '\t' || c == '\r' || isYAMLBreak(c)
}

// yamlStyle chooses the style PyYAML gives a string value of a block
// mapping: 0 for plain, a single quote or a double quote.
func yamlStyle(s string) rune {
	if !utf8.ValidString(s) {
		return '"'
	}
	text := []rune(s)
	if len(text) == 0 {
		return '\''
	}
	// NEL, LS and PS are line breaks to PyYAML but not all of them read back
	// as themselves (a NEL folds into a space), so such a value is written
	// double-quoted with escapes instead of single-quoted as PyYAML would.
	// Only names no one uses differ from dlt's output.
	for _, c := range text {
		if c == '\x85' || c == '\u2028' || c == '\u2029' {
			return '"'
		}
	}
	var blockIndicators, lineBreaks, special bool
	var leadingSpace, leadingBreak, trailingSpace, trailingBreak, breakSpace, spaceBreak bool
	if strings.HasPrefix(s, "---") || strings.HasPrefix(s, "...") {
		blockIndicators = true
	}
	precededByWS := true
	followedByWS := len(text) == 1 || isYAMLSpaceOrBreak(text[1])
	prevSpace, prevBreak := false, false
	for i, ch := range text {
		if i == 0 {
			if strings.ContainsRune("#,[]{}&*!|>'\"%@`", ch) {
				blockIndicators = true
			}
			if (ch == '?' || ch == ':') && followedByWS {
				blockIndicators = true
			}
			if ch == '-' && followedByWS {
				blockIndicators = true
			}
		} else {
			if ch == ':' && followedByWS {
				blockIndicators = true
			}
			if ch == '#' && precededByWS {
				blockIndicators = true
			}
		}
		if isYAMLBreak(ch) {
			lineBreaks = true
		}
		if !(ch == '\n' || (ch >= 0x20 && ch <= 0x7e)) {
			printable := (ch == 0x85 || (ch >= 0xa0 && ch <= 0xd7ff) || (ch >= 0xe000 && ch <= 0xfffd) ||
				(ch >= 0x10000 && ch < 0x10ffff)) && ch != 0xfeff
			if !printable {
				special = true
			}
		}
		switch {
		case ch == ' ':
			if i == 0 {
				leadingSpace = true
			}
			if i == len(text)-1 {
				trailingSpace = true
			}
			if prevBreak {
				breakSpace = true
			}
			prevSpace, prevBreak = true, false
		case isYAMLBreak(ch):
			if i == 0 {
				leadingBreak = true
			}
			if i == len(text)-1 {
				trailingBreak = true
			}
			if prevSpace {
				spaceBreak = true
			}
			prevSpace, prevBreak = false, true
		default:
			prevSpace, prevBreak = false, false
		}
		precededByWS = isYAMLSpaceOrBreak(ch)
		followedByWS = i+2 >= len(text) || isYAMLSpaceOrBreak(text[i+2])
	}
	allowPlain, allowSingle := true, true
	if leadingSpace || leadingBreak || trailingSpace || trailingBreak {
		allowPlain = false
	}
	if breakSpace {
		allowPlain, allowSingle = false, false
	}
	if spaceBreak || special {
		allowPlain, allowSingle = false, false
	}
	if lineBreaks || blockIndicators {
		allowPlain = false
	}
	if allowPlain && !resolvesToNonString(s) {
		return 0
	}
	if allowSingle {
		return '\''
	}
	return '"'
}
