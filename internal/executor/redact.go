package executor

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"
)

// Mask is what a secret is replaced with in a run's log.
const Mask = "***"

// MinSecretLen is the shortest secret value (in characters) that is
// redacted: shorter ones ("1", "yes", "dev") would blank out ordinary text
// and hide nothing worth hiding.
const MinSecretLen = 4

// SecretForms returns what to look for in a log for the secret values:
// each value as it is, each line of a value of several lines, and their
// standard and URL-safe base64 (with and without padding, and as it shows
// inside a longer base64 text at each of the three byte alignments), hex
// (lower and upper case), JSON-escaped (as Go and Python's json modules
// write strings) and URL-encoded forms.
// Forms shorter than MinSecretLen characters are left out; the result has
// no duplicates.
func SecretForms(values []string) []string {
	seen := map[string]bool{}
	var out []string
	add := func(s string) {
		if utf8.RuneCountInString(s) >= MinSecretLen && !seen[s] && strings.Trim(s, "*") != "" {
			seen[s] = true
			out = append(out, s)
		}
	}
	for _, v := range values {
		if utf8.RuneCountInString(v) < MinSecretLen {
			continue
		}
		raw := []string{v}
		if strings.ContainsAny(v, "\r\n") {
			for _, line := range strings.FieldsFunc(v, func(r rune) bool { return r == '\n' || r == '\r' }) {
				raw = append(raw, strings.TrimSpace(line))
			}
		}
		for _, s := range raw {
			if utf8.RuneCountInString(s) < MinSecretLen {
				continue
			}
			add(s)
			b := []byte(s)
			for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
				add(enc.EncodeToString(b))
			}
			for _, f := range base64Cores(b) {
				add(f)
			}
			add(hex.EncodeToString(b))
			add(strings.ToUpper(hex.EncodeToString(b)))
			add(jsonEscape(s, false, false))
			add(jsonEscape(s, true, false))
			add(jsonEscape(s, false, true))
			add(url.QueryEscape(s))
			add(url.PathEscape(s))
		}
	}
	return out
}

// base64Cores returns what base64 of any data holding b shows of b, in
// both alphabets: the encoding of b depends on its offset in the data
// modulo 3 ("user:" + secret, a basic auth header, starts it at 5), and its
// first and last characters may share bits with the bytes around it. For
// each of the three alignments, the characters made of b's bits alone.
func base64Cores(b []byte) []string {
	var out []string
	for k := range 3 {
		data := append(make([]byte, k, k+len(b)), b...)
		// Characters before skip hold bits of the k bytes before b; the
		// last one, when the data does not end on a 3-byte group, bits of
		// the byte after it.
		skip := []int{0, 2, 3}[k]
		for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
			e := enc.EncodeToString(data)
			end := len(e)
			if len(data)%3 != 0 {
				end--
			}
			if end-skip >= MinSecretLen {
				out = append(out, e[skip:end])
			}
		}
	}
	return out
}

// jsonEscape is s inside a JSON string, without the quotes. ascii escapes
// every non-ASCII character as \uXXXX (Python's json.dumps default); html
// escapes <, > and & (Go's json.Marshal default).
func jsonEscape(s string, ascii, html bool) string {
	const hexDigits = "0123456789abcdef"
	var b strings.Builder
	u4 := func(r rune) {
		b.WriteString(`\u`)
		for shift := 12; shift >= 0; shift -= 4 {
			b.WriteByte(hexDigits[(r>>shift)&0xf])
		}
	}
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\b':
			b.WriteString(`\b`)
		case r == '\f':
			b.WriteString(`\f`)
		case r < 0x20:
			u4(r)
		case html && (r == '<' || r == '>' || r == '&'):
			u4(r)
		case html && (r == '\u2028' || r == '\u2029'):
			u4(r)
		case ascii && r > 0x7f:
			if r > 0xffff {
				r -= 0x10000
				u4(0xd800 + (r >> 10))
				u4(0xdc00 + (r & 0x3ff))
			} else {
				u4(r)
			}
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// redactor replaces secrets in a stream of chunks. A chunk's tail that may
// be the start of a secret finishing in the next chunk is held back until
// that chunk comes (or the stream ends), so a secret split across two reads
// of the pipe is still caught, while text that cannot start one is written
// at once (live logs are not delayed by line buffering).
type redactor struct {
	// byFirst holds the patterns by their first byte, longest first, so
	// that a secret is never partly masked by a shorter one it contains.
	byFirst [256][][]byte
	pending []byte
	out     []byte
}

// newRedactor returns a redactor of the secrets and their forms
// (SecretForms), nil when there is nothing to redact.
func newRedactor(secrets []string) *redactor {
	forms := SecretForms(secrets)
	if len(forms) == 0 {
		return nil
	}
	r := &redactor{}
	for _, f := range forms {
		r.byFirst[f[0]] = append(r.byFirst[f[0]], []byte(f))
	}
	for i := range r.byFirst {
		slices.SortStableFunc(r.byFirst[i], func(a, b []byte) int { return len(b) - len(a) })
	}
	return r
}

// feed returns p with the secrets masked, prefixed by what earlier calls
// held back; final flushes everything. The result is valid until the next
// call.
func (r *redactor) feed(p []byte, final bool) []byte {
	buf := p
	if len(r.pending) > 0 {
		buf = append(r.pending, p...)
	}
	out := r.out[:0]
	i := 0
	for i < len(buf) {
		j := i
		for j < len(buf) && r.byFirst[buf[j]] == nil {
			j++
		}
		out = append(out, buf[i:j]...)
		if i = j; i == len(buf) {
			break
		}
		n, partial := r.matchAt(buf[i:], final)
		if partial {
			break
		}
		if n > 0 {
			out = append(out, Mask...)
			i += n
			continue
		}
		out = append(out, buf[i])
		i++
	}
	// buf may share memory with pending: copy moves the tail safely.
	rest := len(buf) - i
	if cap(r.pending) < rest {
		r.pending = make([]byte, 0, max(rest, 64))
	}
	r.pending = r.pending[:rest]
	copy(r.pending, buf[i:])
	r.out = out
	return out
}

// matchAt tells whether b starts with a secret (n is its length), or may
// start with one that continues past its end (partial; never when final).
func (r *redactor) matchAt(b []byte, final bool) (n int, partial bool) {
	for _, p := range r.byFirst[b[0]] {
		if len(b) >= len(p) {
			if bytes.Equal(b[:len(p)], p) {
				return len(p), false
			}
		} else if !final && bytes.HasPrefix(p, b) {
			return 0, true
		}
	}
	return 0, false
}

// flushRedacted writes the output the redactor held back: the process is
// done (or the executor writes a line of its own), so nothing completes it.
func (l *runLog) flushRedacted() {
	if l.redact != nil {
		l.capped(l.redact.feed(nil, true))
	}
}
