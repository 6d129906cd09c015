package action

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/dlthub/runtime-action/internal/api"
	"github.com/dlthub/runtime-action/internal/deploy"
	"github.com/sethvargo/go-githubactions"
)

// actionCommand is what the Action does.
type actionCommand string

// The commands of the `command` input.
const (
	commandDeploy actionCommand = "deploy" // sync deployment and configuration, then run
	commandSync   actionCommand = "sync"   // sync deployment and configuration only
	commandRun    actionCommand = "run"    // run what is already on the Runtime
)

// inputs are the Action's inputs (action.yml), defaults applied and checked.
type inputs struct {
	Script      string
	Command     actionCommand
	Profile     string
	Interactive bool
	// Schedule is the script's cron schedule to set (nil keeps the
	// script's; a pointer to "" removes it), from the schedule input.
	Schedule         *string
	WorkingDirectory string
	APIURL           string
	AuthURL          string
	WorkspaceID      string
	Token            string
	GitHubToken      string
	OIDCAudience     string
	Wait             bool
	Timeout          time.Duration
	CancelOnTimeout  bool
	ConfigTOML       string
	SecretsTOML      string
	DryRun           bool
	Comment          bool
	Environment      string
	RepoToken        string
}

// Defaults of the inputs, the same as action.yml's (a test holds them
// together). The runner fills action.yml's defaults in, a plain `docker run`
// does not, so the code applies them too. repo-token has no default here:
// action.yml's `${{ github.token }}` exists only on a runner.
const (
	defaultCommand          = commandDeploy
	defaultProfile          = "prod"
	defaultWorkingDirectory = "."
	defaultOIDCAudience     = "dlt-runtime"
	defaultTimeout          = 30 * time.Minute
)

// readInputs reads every input of action.yml through a, applies the defaults
// and checks the values. All problems are reported at once, each naming its
// input; a value is never echoed for inputs that may hold secrets. With an
// error the Inputs still hold what was read, so that MaskSecrets can run
// before the error is printed.
func readInputs(a *githubactions.Action) (inputs, error) {
	r := inputReader{a: a}
	in := inputs{
		Script:           r.str("script", ""),
		Command:          actionCommand(strings.ToLower(r.str("command", string(defaultCommand)))),
		Profile:          r.str("profile", defaultProfile),
		Interactive:      r.boolean("interactive", false),
		Schedule:         r.schedule("schedule"),
		WorkingDirectory: r.str("working-directory", defaultWorkingDirectory),
		APIURL:           r.url("api-url"),
		AuthURL:          r.url("auth-url"),
		WorkspaceID:      r.str("workspace-id", ""),
		Token:            r.str("token", ""),
		GitHubToken:      r.str("github-token", ""),
		OIDCAudience:     r.str("oidc-audience", defaultOIDCAudience),
		Wait:             r.boolean("wait", true),
		Timeout:          r.duration("timeout", defaultTimeout),
		CancelOnTimeout:  r.boolean("cancel-on-timeout", true),
		ConfigTOML:       r.toml("config-toml"),
		SecretsTOML:      r.toml("secrets-toml"),
		DryRun:           r.boolean("dry-run", false),
		Comment:          r.boolean("comment", false),
		Environment:      r.str("environment", ""),
		RepoToken:        r.str("repo-token", ""),
	}
	switch in.Command {
	case commandDeploy, commandSync, commandRun:
		if in.Command != commandSync && in.Script == "" {
			r.fail("script", fmt.Sprintf("is required when command is %q: name the script to run, e.g. script: pipelines/load.py", in.Command))
		}
	default:
		r.fail("command", fmt.Sprintf("must be deploy, sync or run, not %q", in.Command))
	}
	if !api.ValidProfile(in.Profile) {
		r.fail("profile", fmt.Sprintf("%q is not a profile name: use letters, digits, '-' and '_' (at most 64, starting with a letter or digit)", in.Profile))
	}
	return in, errors.Join(r.errs...)
}

type inputReader struct {
	a    *githubactions.Action
	errs []error
}

func (r *inputReader) fail(name, msg string) {
	r.errs = append(r.errs, fmt.Errorf("input %q %s", name, msg))
}

func (r *inputReader) str(name, def string) string {
	if v := r.a.GetInput(name); v != "" {
		return v
	}
	return def
}

// schedule reads a 5-field cron schedule (UTC), or "none".
func (r *inputReader) schedule(name string) *string {
	sched, err := deploy.ParseSchedule(strings.TrimSpace(r.a.GetInput(name)))
	if err != nil {
		r.fail(name, "must be "+err.Error())
	}
	return sched
}

func (r *inputReader) boolean(name string, def bool) bool {
	v := r.a.GetInput(name)
	switch strings.ToLower(v) {
	case "":
		return def
	case "true":
		return true
	case "false":
		return false
	}
	r.fail(name, fmt.Sprintf("must be true or false, not %q", v))
	return def
}

// duration reads a Go duration ("90s", "1h30m") or plain seconds ("600").
func (r *inputReader) duration(name string, def time.Duration) time.Duration {
	v := r.a.GetInput(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		n, nerr := strconv.ParseInt(v, 10, 64)
		if nerr != nil || n > int64(1<<63-1)/int64(time.Second) {
			r.fail(name, fmt.Sprintf("must be a duration like 30m, 1h30m or 600 (seconds), not %q", v))
			return def
		}
		d = time.Duration(n) * time.Second
	}
	if d <= 0 {
		r.fail(name, fmt.Sprintf("must be positive, not %q", v))
		return def
	}
	return d
}

func (r *inputReader) url(name string) string {
	v := strings.TrimRight(r.a.GetInput(name), "/")
	if v == "" {
		return ""
	}
	u, err := url.Parse(v)
	if strings.Contains(v, "@") || (err == nil && u.User != nil) {
		// A URL with credentials would print them in every message.
		r.fail(name, "must not hold a user name or password: pass the token in the token input")
		return ""
	}
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		r.fail(name, fmt.Sprintf("must be an http:// or https:// URL, not %q", v))
		return ""
	}
	return v
}

// toml keeps an invalid value too, so MaskSecrets can mask it before the
// error is reported.
func (r *inputReader) toml(name string) string {
	v := r.a.GetInput(name)
	if err := validateTOML(name, v); err != nil {
		r.errs = append(r.errs, err)
	}
	return v
}
