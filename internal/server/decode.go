package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/dlthub/runtime-action/internal/api"
	"github.com/dlthub/runtime-action/internal/store"
)

// maxJSONBody bounds the JSON bodies of the API: they are a few fields.
const maxJSONBody = 1 << 20

// object is a JSON request body read field by field, so that an error can
// name the field that is missing or of the wrong type. Unknown fields are
// tolerated: newer clients may send more.
type object map[string]json.RawMessage

func decodeObject(w http.ResponseWriter, r *http.Request) (object, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxJSONBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, &Error{Kind: KindTooLarge, Detail: fmt.Sprintf("JSON body is over the limit of %d bytes", mbe.Limit),
				Extra: map[string]any{"limit": mbe.Limit}}
		}
		return nil, badRequest("read body: %v", err)
	}
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, badRequest("malformed JSON body: the body is empty, expected an object")
	}
	if body[0] != '{' {
		return nil, badRequest("malformed JSON body: expected an object, got %s", jsonType(body))
	}
	var o object
	if err := json.Unmarshal(body, &o); err != nil {
		return nil, badRequest("malformed JSON body: %v", err)
	}
	return o, nil
}

// jsonType names the JSON type of a raw value, for error messages.
func jsonType(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '"':
		return "string"
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "number"
}

func isNull(raw json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(raw), []byte("null")) }

// str reads a required string field (null counts as missing).
func (o object) str(name string) (string, error) {
	raw, ok := o[name]
	if !ok || isNull(raw) {
		return "", badRequest("field %q is required", name)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", badRequest("field %q: expected a string, got %s", name, jsonType(raw))
	}
	return s, checkText(name, s)
}

// nonEmptyStr is str for a field that must also not be empty.
func (o object) nonEmptyStr(name string) (string, error) {
	s, err := o.str(name)
	if err == nil && s == "" {
		err = badRequest("field %q must not be empty", name)
	}
	return s, err
}

// checkText refuses a string field holding a control character (newline,
// carriage return, tab, escape, NUL, DEL, the C1 controls): every string of
// a request is stored or compared with what is, and is printed later by
// the command line, the Action and the logs, where such a character could
// forge a line or a terminal escape.
func checkText(field, s string) error {
	i := strings.IndexFunc(s, unicode.IsControl)
	if i < 0 {
		return nil
	}
	r, _ := utf8.DecodeRuneInString(s[i:])
	name := map[rune]string{0: "NUL", '\n': "newline", '\r': "carriage return", '\t': "tab", 0x1b: "escape", 0x7f: "DEL"}[r]
	if name != "" {
		name = " (" + name + ")"
	}
	return badRequest("field %q: control character %U%s at byte %d is not allowed", field, r, name, i)
}

// optStr reads an optional string field that may be null.
func (o object) optStr(name string) (*string, error) {
	raw, ok := o[name]
	if !ok || isNull(raw) {
		return nil, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, badRequest("field %q: expected a string or null, got %s", name, jsonType(raw))
	}
	return &s, checkText(name, s)
}

// optBool reads an optional boolean field.
func (o object) optBool(name string) (*bool, error) {
	raw, ok := o[name]
	if !ok || isNull(raw) {
		return nil, nil
	}
	var b bool
	if err := json.Unmarshal(raw, &b); err != nil {
		return nil, badRequest("field %q: expected a boolean, got %s", name, jsonType(raw))
	}
	return &b, nil
}

// page reads limit and offset from the query.
func page(r *http.Request) (store.Page, error) {
	p := store.Page{Limit: api.DefaultLimit}
	q := r.URL.Query()
	if v := q.Get("limit"); v != "" || q.Has("limit") {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > api.MaxLimit {
			return p, badRequest("query parameter \"limit\": expected an integer from 1 to %d, got %q", api.MaxLimit, v)
		}
		p.Limit = n
	}
	if v := q.Get("offset"); v != "" || q.Has("offset") {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return p, badRequest("query parameter \"offset\": expected an integer of 0 or more, got %q", v)
		}
		p.Offset = n
	}
	return p, nil
}

// checkRelPath checks a script name or entry point: a relative path inside
// the workspace, so it can never name something outside the run folder.
func checkRelPath(field, p string) error {
	switch {
	case p == "":
		return badRequest("field %q must not be empty", field)
	case strings.ContainsRune(p, 0):
		return badRequest("field %q: %q holds a NUL byte", field, p)
	case strings.HasPrefix(p, "/"):
		return badRequest("field %q: %q must be a relative path, without a leading slash", field, p)
	case strings.Contains(p, "\\"):
		return badRequest("field %q: %q must use forward slashes", field, p)
	case len(p) > 1024:
		return badRequest("field %q: %q is longer than 1024 bytes", field, p)
	}
	for _, seg := range strings.Split(p, "/") {
		switch seg {
		case "..":
			return badRequest("field %q: %q must not hold a \"..\" segment", field, p)
		case ".", "":
			// A script is found by its name in a path, unencoded too, and
			// the router redirects paths with such segments elsewhere: the
			// script could be created but never read back.
			return badRequest("field %q: %q must not hold an empty or \".\" segment (write it as a clean relative path)", field, p)
		}
	}
	return nil
}

// enumError names a field, its value and the values allowed.
func enumError[T ~string](field, got string, allowed []T) error {
	names := make([]string, len(allowed))
	for i, a := range allowed {
		names[i] = string(a)
	}
	return badRequest("field %q: invalid value %q, expected one of %s", field, got, strings.Join(names, ", "))
}
