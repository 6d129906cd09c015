package action

import (
	"fmt"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/dlthub/runtime-action/internal/api"
)

// uuidPattern is the canonical textual form of a UUID (the contract's
// format: uuid), in lower or upper case.
var uuidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// outputKinds says what each output must look like.
var outputKinds = map[string]string{
	"run-id": "uuid", "deployment-id": "uuid", "configuration-id": "uuid",
	"run-number": "number", "deployment-version": "number", "configuration-version": "number", "duration": "number",
	"deployment-changed": "bool", "configuration-changed": "bool",
	"status": "status", "script-url": "url", "logs-file": "path",
}

// validateOutput checks one output's value against its kind; the error
// names the output and quotes the value.
func validateOutput(name, v string) error {
	kind, ok := outputKinds[name]
	if !ok {
		return fmt.Errorf("output %q is not declared in action.yml", name)
	}
	var why string
	switch kind {
	case "uuid":
		if !uuidPattern.MatchString(v) {
			why = "is not a UUID"
		}
	case "number":
		if n, err := strconv.ParseUint(v, 10, 63); err != nil || strconv.FormatUint(n, 10) != v {
			why = "is not a whole number"
		}
	case "bool":
		if v != "true" && v != "false" {
			why = "is not true or false"
		}
	case "status":
		if !api.RunStatus(v).Valid() {
			why = "is not a run status of the contract"
		}
	case "url":
		why = checkHTTPURL(v)
	case "path":
		if !filepath.IsAbs(v) || strings.ContainsAny(v, "\r\n\x00") {
			why = "is not an absolute path on one line"
		}
	}
	if why == "" {
		return nil
	}
	shown := v
	if len(shown) > 200 {
		shown = cutUTF8(shown, 200) + "..."
	}
	return fmt.Errorf("output %s: %q %s", name, shown, why)
}

// checkHTTPURL says what is wrong with u as a link for a later step, or "".
func checkHTTPURL(u string) string {
	if strings.ContainsFunc(u, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return "holds spaces or control characters"
	}
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
		return "is not an http(s) URL"
	}
	return ""
}
