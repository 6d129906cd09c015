package action

import (
	"strings"
	"testing"
	"time"
)

func TestReadInputsDefaults(t *testing.T) {
	a, _ := newAction(t, env{"INPUT_SCRIPT": "pipelines/load.py"})
	in, err := readInputs(a)
	if err != nil {
		t.Fatal(err)
	}
	want := inputs{
		Script: "pipelines/load.py", Command: commandDeploy, Profile: "prod", WorkingDirectory: ".",
		OIDCAudience: "dlt-runtime", Wait: true, Timeout: 30 * time.Minute, CancelOnTimeout: true,
	}
	if in != want {
		t.Errorf("ReadInputs() = %+v\nwant %+v", in, want)
	}
}

func TestReadInputsValues(t *testing.T) {
	e := env{
		"INPUT_SCRIPT":            "  nb/app.py  ",
		"INPUT_COMMAND":           "Run",
		"INPUT_PROFILE":           "dev-2",
		"INPUT_INTERACTIVE":       "TRUE",
		"INPUT_WORKING-DIRECTORY": "ws",
		"INPUT_API-URL":           "https://runtime.example.com/api/",
		"INPUT_AUTH-URL":          "http://127.0.0.1:30000/auth",
		"INPUT_WORKSPACE-ID":      "ws-1",
		"INPUT_TOKEN":             "tok",
		"INPUT_GITHUB-TOKEN":      "ghp_x",
		"INPUT_OIDC-AUDIENCE":     "aud",
		"INPUT_WAIT":              "False",
		"INPUT_TIMEOUT":           "600",
		"INPUT_CANCEL-ON-TIMEOUT": "false",
		"INPUT_CONFIG-TOML":       "[sources]\nx = 1\n",
		"INPUT_SECRETS-TOML":      "[sources]\ny = \"s\"\n",
		"INPUT_DRY-RUN":           "true",
		"INPUT_COMMENT":           "true",
		"INPUT_ENVIRONMENT":       "production",
		"INPUT_REPO-TOKEN":        "ghs_y",
	}
	a, _ := newAction(t, e)
	in, err := readInputs(a)
	if err != nil {
		t.Fatal(err)
	}
	want := inputs{
		Script: "nb/app.py", Command: commandRun, Profile: "dev-2", Interactive: true, WorkingDirectory: "ws",
		APIURL: "https://runtime.example.com/api", AuthURL: "http://127.0.0.1:30000/auth", WorkspaceID: "ws-1",
		Token: "tok", GitHubToken: "ghp_x", OIDCAudience: "aud", Wait: false, Timeout: 10 * time.Minute,
		CancelOnTimeout: false, ConfigTOML: "[sources]\nx = 1", SecretsTOML: "[sources]\ny = \"s\"",
		DryRun: true, Comment: true, Environment: "production", RepoToken: "ghs_y",
	}
	if in != want {
		t.Errorf("ReadInputs() = %+v\nwant %+v", in, want)
	}
}

func TestReadInputsTimeout(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"30m", 30 * time.Minute},
		{"1h30m", 90 * time.Minute},
		{"45s", 45 * time.Second},
		{"90", 90 * time.Second},
	} {
		t.Run(tc.in, func(t *testing.T) {
			a, _ := newAction(t, env{"INPUT_COMMAND": "sync", "INPUT_TIMEOUT": tc.in})
			in, err := readInputs(a)
			if err != nil {
				t.Fatal(err)
			}
			if in.Timeout != tc.want {
				t.Errorf("timeout %q = %v, want %v", tc.in, in.Timeout, tc.want)
			}
		})
	}
}

func TestReadInputsErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  env
		want []string // substrings of the error
	}{
		{"unknown command", env{"INPUT_COMMAND": "destroy"}, []string{`input "command" must be deploy, sync or run, not "destroy"`}},
		{"script required for deploy", env{}, []string{`input "script" is required when command is "deploy"`}},
		{"script required for run", env{"INPUT_COMMAND": "run"}, []string{`input "script" is required when command is "run"`}},
		{"bad boolean", env{"INPUT_COMMAND": "sync", "INPUT_WAIT": "yes"}, []string{`input "wait" must be true or false, not "yes"`}},
		{"bad dry-run", env{"INPUT_COMMAND": "sync", "INPUT_DRY-RUN": "1"}, []string{`input "dry-run" must be true or false`}},
		{"bad interactive", env{"INPUT_COMMAND": "sync", "INPUT_INTERACTIVE": "on"}, []string{`input "interactive"`}},
		{"bad comment", env{"INPUT_COMMAND": "sync", "INPUT_COMMENT": "y"}, []string{`input "comment"`}},
		{"bad cancel-on-timeout", env{"INPUT_COMMAND": "sync", "INPUT_CANCEL-ON-TIMEOUT": "nope"}, []string{`input "cancel-on-timeout"`}},
		{"bad timeout", env{"INPUT_COMMAND": "sync", "INPUT_TIMEOUT": "soon"}, []string{`input "timeout" must be a duration like 30m, 1h30m or 600 (seconds), not "soon"`}},
		{"zero timeout", env{"INPUT_COMMAND": "sync", "INPUT_TIMEOUT": "0"}, []string{`input "timeout" must be positive`}},
		{"negative timeout", env{"INPUT_COMMAND": "sync", "INPUT_TIMEOUT": "-5m"}, []string{`input "timeout" must be positive`}},
		{"bad profile", env{"INPUT_COMMAND": "sync", "INPUT_PROFILE": "../etc"}, []string{`input "profile" "../etc" is not a profile name`}},
		{"bad api-url", env{"INPUT_COMMAND": "sync", "INPUT_API-URL": "runtime.example.com"}, []string{`input "api-url" must be an http:// or https:// URL`}},
		{"api-url with credentials", env{"INPUT_COMMAND": "sync", "INPUT_AUTH-URL": "https://me:hunter2@x.example"}, []string{`input "auth-url" must not hold a user name or password`}},
		{"several at once", env{"INPUT_COMMAND": "sync", "INPUT_WAIT": "maybe", "INPUT_PROFILE": "a b"},
			[]string{`input "wait"`, `input "profile"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, _ := newAction(t, tc.env)
			_, err := readInputs(a)
			if err == nil {
				t.Fatal("ReadInputs() succeeded, want an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q shows the password", err)
			}
		})
	}
}

func TestReadInputsTOMLErrorHidesContent(t *testing.T) {
	for _, tc := range []struct {
		input, content, wantLine string
	}{
		{"secrets-toml", "[sources.github]\napi_key = \"sk-live-51HmXyZ\"\npassword = sk-live-unquoted-777\n", "line 3"},
		{"config-toml", "[a]\nx = 1\n[a]\ny = \"top-secret-value\"\n", "line 3"},
		{"secrets-toml", "key = \"unterminated-secret-888\n", "line 1"},
	} {
		t.Run(tc.input+" "+tc.wantLine, func(t *testing.T) {
			a, out := newAction(t, env{"INPUT_COMMAND": "sync", "INPUT_" + strings.ToUpper(tc.input): tc.content})
			in, err := readInputs(a)
			if err == nil {
				t.Fatal("ReadInputs() succeeded, want a TOML error")
			}
			// The invalid value is kept so that it can be masked before
			// the error is reported.
			if tc.input == "secrets-toml" {
				if _, err := maskSecrets(a, in, ""); err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(out.String(), "::add-mask::sk-live") && !strings.Contains(out.String(), "::add-mask::unterminated-secret-888") {
					t.Errorf("the invalid secrets-toml was not masked: %q", out.String())
				}
			}
			msg := err.Error()
			if !strings.Contains(msg, `input "`+tc.input+`" is not valid TOML`) || !strings.Contains(msg, tc.wantLine) {
				t.Errorf("error %q should name the input and %s", msg, tc.wantLine)
			}
			for _, secret := range []string{"sk-live", "top-secret", "unterminated-secret", "777", "888"} {
				if strings.Contains(msg, secret) {
					t.Errorf("error %q shows content %q", msg, secret)
				}
			}
		})
	}
}
