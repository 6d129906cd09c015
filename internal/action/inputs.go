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

// Command is what the Action does.
type Command string

// The commands of the `command` input.
const (
	CommandDeploy Command = "deploy" // sync deployment and configuration, then run
	CommandSync   Command = "sync"   // sync deployment and configuration only
	CommandRun    Command = "run"    // run what is already on the Runtime
)

// Inputs are the Action's inputs (action.yml), defaults applied and checked.
type Inputs struct {
	Script      string
	Command     Command
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
	DefaultCommand          = CommandDeploy
	DefaultProfile          = "prod"
	DefaultWorkingDirectory = "."
	DefaultOIDCAudience     = "dlt-runtime"
	DefaultTimeout          = 30 * time.Minute
)

// ReadInputs reads every input of action.yml through a, applies the defaults
// and checks the values. All problems are reported at once, each naming its
// input; a value is never echoed for inputs that may hold secrets. With an
// error the Inputs still hold what was read, so that MaskSecrets can run
// before the error is printed.
func ReadInputs(a *githubactions.Action) (Inputs, error) {
	r := inputReader{a: a}
	in := Inputs{
		Script:           r.str("script", ""),
		Command:          Command(strings.ToLower(r.str("command", string(DefaultCommand)))),
		Profile:          r.str("profile", DefaultProfile),
		Interactive:      r.boolean("interactive", false),
		Schedule:         r.schedule("schedule"),
		WorkingDirectory: r.str("working-directory", DefaultWorkingDirectory),
		APIURL:           r.url("api-url"),
		AuthURL:          r.url("auth-url"),
		WorkspaceID:      r.str("workspace-id", ""),
		Token:            r.str("token", ""),
		GitHubToken:      r.str("github-token", ""),
		OIDCAudience:     r.str("oidc-audience", DefaultOIDCAudience),
		Wait:             r.boolean("wait", true),
		Timeout:          r.duration("timeout", DefaultTimeout),
		CancelOnTimeout:  r.boolean("cancel-on-timeout", true),
		ConfigTOML:       r.toml("config-toml"),
		SecretsTOML:      r.toml("secrets-toml"),
		DryRun:           r.boolean("dry-run", false),
		Comment:          r.boolean("comment", false),
		Environment:      r.str("environment", ""),
		RepoToken:        r.str("repo-token", ""),
	}
	switch in.Command {
	case CommandDeploy, CommandSync, CommandRun:
		if in.Command != CommandSync && in.Script == "" {
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
	if err := ValidateTOML(name, v); err != nil {
		r.errs = append(r.errs, err)
	}
	return v
}
