package workspace

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/BurntSushi/toml"
)

// SetKey sets key to the string value in [section] of the TOML file at
// path, changing only that key's line: comments, order and every other byte
// stay as they were. A missing key is added at the end of its section, a
// missing section at the end of the file, a missing file (and folder) is
// created, mode 0600 for *secrets.toml, else 0644. The write is atomic.
// Dotted keys are not supported.
func SetKey(path, section, key, value string) error {
	if !utf8.ValidString(value) {
		return fmt.Errorf("set %s in %s: the value is not valid UTF-8", key, path)
	}
	doc, mode, err := readTOMLText(path)
	if err != nil {
		return err
	}
	out, err := setKeyText(doc, section, key, value)
	if err != nil {
		return fmt.Errorf("set %s in %s: %w", key, path, err)
	}
	if err := checkStillParses(path, doc, out); err != nil {
		return err
	}
	return writeAtomic(path, []byte(out), mode)
}

// DeleteKey removes key from [section] of the TOML file at path (its whole
// line, or lines for a multi-line value) and reports whether it was there.
// Everything else stays as it was.
func DeleteKey(path, section, key string) (bool, error) {
	doc, mode, err := readTOMLText(path)
	if err != nil {
		return false, err
	}
	if doc == "" {
		return false, nil
	}
	lines := splitLines(doc)
	st, err := findKey(lines, section, key)
	if err != nil {
		return false, fmt.Errorf("delete %s from %s: %w", key, path, err)
	}
	if st.keyFrom < 0 {
		return false, nil
	}
	out := strings.Join(lines[:st.keyFrom], "") + strings.Join(lines[st.keyTo:], "")
	if err := checkStillParses(path, doc, out); err != nil {
		return false, err
	}
	return true, writeAtomic(path, []byte(out), mode)
}

// readTOMLText reads the file, or "" when it does not exist, and the mode a
// rewrite must keep.
func readTOMLText(path string) (string, fs.FileMode, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		mode := fs.FileMode(0o644)
		if strings.HasSuffix(filepath.Base(path), "secrets.toml") {
			mode = 0o600
		}
		return "", mode, nil
	}
	if err != nil {
		return "", 0, fmt.Errorf("read %s: %w", path, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return "", 0, fmt.Errorf("read %s: %w", path, err)
	}
	return string(b), fi.Mode().Perm(), nil
}

// checkStillParses refuses to write an edit that broke a file that was valid
// TOML: our line scanner must never corrupt someone's settings.
func checkStillParses(path, before, after string) error {
	var v map[string]any
	if _, err := toml.Decode(before, &v); err != nil {
		return nil // it was broken before; the edit is no worse
	}
	if _, err := toml.Decode(after, &v); err != nil {
		return fmt.Errorf("edit %s: the change would make the file invalid TOML; edit it by hand", path)
	}
	return nil
}

func writeAtomic(path string, data []byte, mode fs.FileMode) error {
	dir := filepath.Dir(path)
	dirMode := fs.FileMode(0o755)
	if mode&0o077 == 0 {
		dirMode = 0o700
	}
	if err := os.MkdirAll(dir, dirMode); err != nil {
		return fmt.Errorf("create folder for %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// splitLines splits s after each "\n", keeping the line endings, so joining
// the parts gives s back byte for byte.
func splitLines(s string) []string {
	var lines []string
	for s != "" {
		i := strings.IndexByte(s, '\n')
		if i < 0 {
			lines = append(lines, s)
			break
		}
		lines = append(lines, s[:i+1])
		s = s[i+1:]
	}
	return lines
}

// keySpan is where a section and a key sit in a file's lines.
type keySpan struct {
	found      bool // the section exists
	header     int  // line of the section header (-1 for the root table)
	lastEntry  int  // index after the last key/value of the section
	keyFrom    int  // first line of the key (-1 when absent)
	keyTo      int  // index after its last line
	valueStart int  // byte offset of the value in lines[keyFrom]
	valueEnd   int  // byte offset after the value in lines[keyTo-1]
}

func setKeyText(doc, section, key, value string) (string, error) {
	lines := splitLines(doc)
	st, err := findKey(lines, section, key)
	if err != nil {
		return "", err
	}
	nl := "\n"
	if strings.Contains(doc, "\r\n") {
		nl = "\r\n"
	}
	val := tomlString(value)
	if st.keyFrom >= 0 {
		first, last := lines[st.keyFrom], lines[st.keyTo-1]
		repl := first[:st.valueStart] + val + last[st.valueEnd:]
		out := append(cloneLines(lines[:st.keyFrom]), repl)
		return strings.Join(append(out, lines[st.keyTo:]...), ""), nil
	}
	entry := tomlKey(key) + " = " + val + nl
	if st.found {
		at := st.lastEntry
		out := cloneLines(lines[:at])
		if at > 0 && !strings.HasSuffix(out[at-1], "\n") {
			out[at-1] += nl
		}
		out = append(out, entry)
		return strings.Join(append(out, lines[at:]...), ""), nil
	}
	var b strings.Builder
	b.WriteString(doc)
	if doc != "" {
		if !strings.HasSuffix(doc, "\n") {
			b.WriteString(nl)
		}
		b.WriteString(nl)
	}
	b.WriteString("[" + tomlKey(section) + "]" + nl + entry)
	return b.String(), nil
}

func cloneLines(l []string) []string { return append([]string(nil), l...) }

// findKey scans the lines statement by statement (a value may span lines)
// for the section's header and the key.
func findKey(lines []string, section, key string) (keySpan, error) {
	st := keySpan{header: -1, keyFrom: -1}
	in := section == "" // the root table starts at the top
	st.found = in
	for i := 0; i < len(lines); {
		line := lines[i]
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			i++
			continue
		}
		if strings.HasPrefix(trimmed, "[") {
			name, isArray := headerName(trimmed)
			if in {
				return st, nil // the section ends at the next header
			}
			if !isArray && name == section {
				in, st.found, st.header, st.lastEntry = true, true, i, i+1
			}
			i++
			continue
		}
		k, valueStart, ok := parseKey(line)
		if !ok {
			return st, fmt.Errorf("line %d is not a key = value line: edit the file by hand", i+1)
		}
		endLine, valueEnd, err := valueSpan(lines, i, valueStart)
		if err != nil {
			return st, fmt.Errorf("line %d: %w", i+1, err)
		}
		if in {
			if k == key && st.keyFrom < 0 {
				st.keyFrom, st.keyTo, st.valueStart, st.valueEnd = i, endLine+1, valueStart, valueEnd
			}
			st.lastEntry = endLine + 1
		}
		i = endLine + 1
	}
	return st, nil
}

// headerName returns the table name of a header line like "[ runtime ] # x"
// and whether it is an array of tables ("[[x]]").
func headerName(trimmed string) (string, bool) {
	if strings.HasPrefix(trimmed, "[[") {
		end := strings.Index(trimmed, "]]")
		if end < 0 {
			return "", true
		}
		return unquoteKey(strings.TrimSpace(trimmed[2:end])), true
	}
	end := strings.IndexByte(trimmed, ']')
	if end < 0 {
		return "", false
	}
	return unquoteKey(strings.TrimSpace(trimmed[1:end])), false
}

// parseKey reads "key =" at the start of line: a bare key or a quoted one.
// Dotted keys come back whole and so never equal a plain key.
func parseKey(line string) (key string, valueStart int, ok bool) {
	eq := -1
	inQuote := byte(0)
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case inQuote != 0:
			if c == '\\' && inQuote == '"' {
				i++
			} else if c == inQuote {
				inQuote = 0
			}
		case c == '"' || c == '\'':
			inQuote = c
		case c == '=':
			eq = i
		}
		if eq >= 0 {
			break
		}
	}
	if eq < 0 {
		return "", 0, false
	}
	key = unquoteKey(strings.TrimSpace(line[:eq]))
	v := eq + 1
	for v < len(line) && (line[v] == ' ' || line[v] == '\t') {
		v++
	}
	return key, v, true
}

func unquoteKey(k string) string {
	if len(k) >= 2 && (k[0] == '"' || k[0] == '\'') && k[len(k)-1] == k[0] {
		if k[0] == '\'' {
			return k[1 : len(k)-1]
		}
		var v string
		if _, err := toml.Decode("k = "+k, &struct {
			K *string `toml:"k"`
		}{&v}); err == nil {
			return v
		}
	}
	return k
}

// valueSpan finds where the value starting at lines[i][start] ends: the
// line index and byte offset just after it (before any comment).
func valueSpan(lines []string, i, start int) (int, int, error) {
	line := lines[i]
	rest := line[start:]
	switch {
	case strings.HasPrefix(rest, `"""`), strings.HasPrefix(rest, "'''"):
		delim := rest[:3]
		pos := start + 3
		for li := i; li < len(lines); li++ {
			l := lines[li]
			for pos < len(l) {
				if delim[0] == '"' && l[pos] == '\\' {
					pos += 2
					continue
				}
				if strings.HasPrefix(l[pos:], delim) {
					end := pos + 3
					for end < len(l) && l[end] == delim[0] { // up to two quotes may close the content
						end++
					}
					return li, end, nil
				}
				pos++
			}
			pos = 0
		}
		return 0, 0, errors.New("unterminated multi-line string")
	case strings.HasPrefix(rest, `"`), strings.HasPrefix(rest, "'"):
		q := rest[0]
		for p := start + 1; p < len(line); p++ {
			if q == '"' && line[p] == '\\' {
				p++
				continue
			}
			if line[p] == q {
				return i, p + 1, nil
			}
		}
		return 0, 0, errors.New("unterminated string")
	case strings.HasPrefix(rest, "["), strings.HasPrefix(rest, "{"):
		depth := 0
		for li := i; li < len(lines); li++ {
			l := lines[li]
			p := 0
			if li == i {
				p = start
			}
			for ; p < len(l); p++ {
				switch c := l[p]; c {
				case '#':
					p = len(l)
				case '"', '\'':
					q := c
					for p++; p < len(l) && l[p] != q; p++ {
						if q == '"' && l[p] == '\\' {
							p++
						}
					}
				case '[', '{':
					depth++
				case ']', '}':
					depth--
					if depth == 0 {
						return li, p + 1, nil
					}
				}
			}
		}
		return 0, 0, errors.New("unterminated array or table")
	}
	end := start
	for end < len(line) && line[end] != '#' && line[end] != '\n' && line[end] != '\r' {
		end++
	}
	for end > start && (line[end-1] == ' ' || line[end-1] == '\t') {
		end--
	}
	return i, end, nil
}

// tomlString quotes s as a TOML basic string.
func tomlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\b':
			b.WriteString(`\b`)
		case '\t':
			b.WriteString(`\t`)
		case '\n':
			b.WriteString(`\n`)
		case '\f':
			b.WriteString(`\f`)
		case '\r':
			b.WriteString(`\r`)
		default:
			if r < 0x20 || r == 0x7f {
				fmt.Fprintf(&b, `\u%04X`, r)
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

// tomlKey writes k bare when TOML allows it, else quoted.
func tomlKey(k string) string {
	if k == "" {
		return `""`
	}
	for _, r := range k {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return tomlString(k)
		}
	}
	return k
}
