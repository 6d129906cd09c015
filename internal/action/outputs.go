package action

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/dlthub/runtime-action/internal/api"
	"github.com/sethvargo/go-githubactions"
)

// outputs are the Action's outputs (action.yml). A zero field is unknown and
// not written, so each outcome writes what it knows: a failure before the run
// exists still reports the deployment it synced.
type outputs struct {
	RunID                string
	RunNumber            int
	Status               api.RunStatus
	ScriptURL            string
	Duration             *time.Duration // written in whole seconds
	DeploymentID         string
	DeploymentVersion    int
	DeploymentChanged    *bool
	ConfigurationID      string
	ConfigurationVersion int
	ConfigurationChanged *bool
	LogsFile             string
}

// fileCommandDelimiter is the fixed heredoc delimiter go-githubactions writes
// around every value in GITHUB_OUTPUT and GITHUB_STATE.
const fileCommandDelimiter = "_GitHubActionsFileCommandDelimeter_"

// writeOutputs writes every known output to GITHUB_OUTPUT and returns the
// names written. Without GITHUB_OUTPUT (act, docker run) it writes nothing.
func writeOutputs(a *githubactions.Action, o outputs) ([]string, error) {
	if a.Getenv("GITHUB_OUTPUT") == "" {
		return nil, nil
	}
	var kv [][2]string
	add := func(k, v string) {
		if v != "" {
			kv = append(kv, [2]string{k, v})
		}
	}
	num := func(n int) string {
		if n == 0 {
			return ""
		}
		return strconv.Itoa(n)
	}
	flag := func(b *bool) string {
		if b == nil {
			return ""
		}
		return strconv.FormatBool(*b)
	}
	add("run-id", o.RunID)
	add("run-number", num(o.RunNumber))
	add("status", string(o.Status))
	add("script-url", o.ScriptURL)
	if o.Duration != nil {
		add("duration", strconv.FormatInt(int64(o.Duration.Round(time.Second)/time.Second), 10))
	}
	add("deployment-id", o.DeploymentID)
	add("deployment-version", num(o.DeploymentVersion))
	add("deployment-changed", flag(o.DeploymentChanged))
	add("configuration-id", o.ConfigurationID)
	add("configuration-version", num(o.ConfigurationVersion))
	add("configuration-changed", flag(o.ConfigurationChanged))
	add("logs-file", o.LogsFile)

	// Values from the Runtime are checked before they are written: a later
	// step may pass them to a shell or a URL, so an id that is not a UUID or
	// a link that is not http(s) fails the step instead of being passed on.
	var bad []error
	valid := kv[:0]
	for _, p := range kv {
		if err := validateOutput(p[0], p[1]); err != nil {
			bad = append(bad, err)
			continue
		}
		valid = append(valid, p)
	}
	kv = valid

	names := make([]string, 0, len(kv))
	for _, p := range kv {
		if err := fileCommand(func() { a.SetOutput(p[0], p[1]) }, p[1]); err != nil {
			return names, fmt.Errorf("write output %q: %w", p[0], err)
		}
		names = append(names, p[0])
	}
	if len(bad) > 0 {
		return names, fmt.Errorf("refuse outputs the Runtime sent: %w", errors.Join(bad...))
	}
	return names, nil
}

// fileCommand runs one of go-githubactions' file commands, which panic when
// the file cannot be written, and refuses a value holding the library's fixed
// delimiter: the runner would end the value there and read the rest as more
// outputs.
func fileCommand(do func(), value string) (err error) {
	if strings.Contains(value, fileCommandDelimiter) {
		return fmt.Errorf("the value holds the file command delimiter %q", fileCommandDelimiter)
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	do()
	return nil
}

// writeSummary appends markdown to the job summary, redacted with m (may be
// nil); without GITHUB_STEP_SUMMARY it does nothing and reports false.
func writeSummary(a *githubactions.Action, m *masker, markdown string) (bool, error) {
	if a.Getenv("GITHUB_STEP_SUMMARY") == "" {
		return false, nil
	}
	if m != nil {
		markdown = m.Redact(markdown)
	}
	if err := fileCommand(func() { a.AddStepSummary(markdown) }, ""); err != nil {
		return false, fmt.Errorf("write the job summary: %w", err)
	}
	return true, nil
}
