package action

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dlthub/runtime-action/internal/api"
)

// TestNoSecretReachesStdout runs the blocks the way the Action's main step
// does, with secrets from every source (token inputs, secrets-toml with a
// multi-line value, the workspace's secrets files), a script that prints
// them all, an error that quotes one, and checks that no secret, nor any
// line of a multi-line one, appears in stdout outside ::add-mask:: lines,
// nor in the summary, the outputs or the logs file.
func TestNoSecretReachesStdout(t *testing.T) {
	root := t.TempDir()
	writeFiles(t, root, map[string]string{
		".dlt/.workspace":          "",
		".dlt/config.toml":         "[runtime]\nworkspace_id = \"ws\"\n",
		".dlt/secrets.toml":        "[destination.bigquery.credentials]\nprivate_key = \"\"\"\n-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0\nBAQEFAASCBKcwggSjAgEAAo\n-----END PRIVATE KEY-----\n\"\"\"\nclient_email = \"loader@proj.iam.example\"\n",
		".dlt/access.secrets.toml": "[sources.rest]\napi_key = \"rk_live_3141592653\"\n",
	})
	secretsInput := "[sources.github]\naccess_token = \"ghp_inputSecretToken99\"\nmulti = '''\nfirst-secret-line\nsecond-secret-line\n'''\n"
	e := withFiles(t, env{
		"INPUT_SCRIPT":       "pipelines/load.py",
		"INPUT_TOKEN":        "rt_runtimeTokenValue42",
		"INPUT_GITHUB-TOKEN": "ghp_exchangeMe77",
		"INPUT_REPO-TOKEN":   "ghs_repoToken55",
		"INPUT_SECRETS-TOML": secretsInput,
		"INPUT_CONFIG-TOML":  "[sources.github]\nowner = \"octo\"\n",
		"RUNNER_TEMP":        t.TempDir(),
	})
	secrets := []string{
		"rt_runtimeTokenValue42", "ghp_exchangeMe77", "ghs_repoToken55", "ghp_inputSecretToken99",
		"first-secret-line", "second-secret-line", "-----BEGIN PRIVATE KEY-----", "MIIEvQIBADANBgkqhkiG9w0",
		"BAQEFAASCBKcwggSjAgEAAo", "-----END PRIVATE KEY-----", "loader@proj.iam.example", "rk_live_3141592653",
		"eyJhbGciOiJSUzI1NiJ9.exchanged-jwt",
	}

	a, out := newAction(t, e)
	in, err := readInputs(a)
	if err != nil {
		t.Fatal(err)
	}
	m, err := maskSecrets(a, in, root)
	if err != nil {
		t.Fatal(err)
	}
	cleanup, err := writeProfileFiles(root, in.Profile, in.ConfigTOML, in.SecretsTOML)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := cleanup(); err != nil {
			t.Error(err)
		}
	}()
	a.Group("Authenticate")
	m.Add("eyJhbGciOiJSUzI1NiJ9.exchanged-jwt") // a token from the exchange
	a.Infof("authenticated")
	a.EndGroup()
	if _, err := saveRunState(a, runState{RunID: "run-1", WorkspaceID: "ws", APIURL: "https://runtime.example.com"}); err != nil {
		t.Fatal(err)
	}
	rl, err := newRunLog(out, m, runLogDir(e.get), 100)
	if err != nil {
		t.Fatal(err)
	}
	// The script prints every secret, in pieces and whole, and tries to
	// unmask them with workflow commands.
	script := "::stop-commands::x\n::x::\n" + strings.Join(secrets, "\n") + "\n" + secretsInput +
		"key=" + secrets[0][:5]
	for i := 0; i < len(script); i += 7 {
		if _, err := rl.Write([]byte(script[i:min(i+7, len(script))])); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := rl.Write([]byte(secrets[0][5:] + " tail\n")); err != nil {
		t.Fatal(err)
	}
	if err := rl.Close(); err != nil {
		t.Fatal(err)
	}
	if err := settleRunState(a); err != nil {
		t.Fatal(err)
	}
	d := 3 * time.Second
	if _, err := writeOutputs(a, outputs{RunID: "0b9c1f4e-3a55-4c7e-9d1a-6f1e2b3c4d5e", Status: api.StatusFailed, Duration: &d, LogsFile: rl.Path()}); err != nil {
		t.Fatal(err)
	}
	runErr := fail("Run failed", errors.New("server said: bad credentials "+secrets[11]), "check secrets-toml")
	if _, err := writeSummary(a, m, renderSummary(summaryData{Status: api.StatusFailed, RunID: "run-1", Error: runErr.Error(), LogTail: rl.Tail()})); err != nil {
		t.Fatal(err)
	}
	annotate(a, m, runErr)

	stdout := out.String()
	for n, line := range strings.Split(stdout, "\n") {
		if strings.HasPrefix(line, "::add-mask::") {
			continue
		}
		for _, s := range secrets {
			if strings.Contains(line, s) {
				t.Errorf("stdout line %d shows secret %q: %q", n+1, s, line)
			}
		}
	}
	cmds, _ := runnerView(t, stdout)
	for _, c := range cmds {
		switch c.Name {
		case "add-mask", "group", "endgroup", "error":
		default:
			t.Errorf("unexpected workflow command %+v (from the script?)", c)
		}
	}
	if n := len(commandsNamed(cmds, "error")); n != 1 {
		t.Errorf("%d error annotations, want 1", n)
	}
	logs, err := os.ReadFile(filepath.Join(e["RUNNER_TEMP"], filepath.Base(rl.Path())))
	if err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{
		"summary": readOr(e["GITHUB_STEP_SUMMARY"]), "outputs": readOr(e["GITHUB_OUTPUT"]),
		"state": readOr(e["GITHUB_STATE"]), "logs file": string(logs),
	} {
		for _, s := range secrets {
			if strings.Contains(content, s) {
				t.Errorf("the %s shows secret %q", name, s)
			}
		}
	}
	if !strings.Contains(string(logs), "*** tail") {
		t.Errorf("a secret split across chunks must be redacted in the logs file: %q", logs)
	}
}
