package action

import (
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/sethvargo/go-githubactions"
	"gopkg.in/yaml.v3"
)

type actionYML struct {
	Name     string `yaml:"name"`
	Branding struct {
		Icon  string `yaml:"icon"`
		Color string `yaml:"color"`
	} `yaml:"branding"`
	Inputs map[string]struct {
		Description string  `yaml:"description"`
		Default     *string `yaml:"default"`
	} `yaml:"inputs"`
	Outputs map[string]struct {
		Description string `yaml:"description"`
	} `yaml:"outputs"`
	Runs struct {
		Using          string   `yaml:"using"`
		Image          string   `yaml:"image"`
		Entrypoint     string   `yaml:"entrypoint"`
		Args           []string `yaml:"args"`
		PostEntrypoint string   `yaml:"post-entrypoint"`
		PostIf         string   `yaml:"post-if"`
	} `yaml:"runs"`
}

func loadActionYML(t *testing.T) actionYML {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "action.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var y actionYML
	if err := yaml.Unmarshal(b, &y); err != nil {
		t.Fatalf("action.yml: %v", err)
	}
	return y
}

// TestActionYMLInputsAreRead fails when action.yml declares an input that
// ReadInputs never reads, or ReadInputs reads one action.yml lacks.
func TestActionYMLInputsAreRead(t *testing.T) {
	y := loadActionYML(t)
	var declared []string
	for name, in := range y.Inputs {
		declared = append(declared, name)
		if strings.TrimSpace(in.Description) == "" {
			t.Errorf("input %q has no description", name)
		}
	}
	readSet := map[string]bool{}
	getenv := func(k string) string {
		if name, ok := strings.CutPrefix(k, "INPUT_"); ok {
			readSet[strings.ToLower(name)] = true
		}
		return ""
	}
	_, _ = readInputs(githubactions.New(githubactions.WithWriter(io.Discard), githubactions.WithGetenv(getenv)))
	var read []string
	for n := range readSet {
		read = append(read, n)
	}
	sort.Strings(declared)
	sort.Strings(read)
	if !slices.Equal(declared, read) {
		t.Errorf("inputs declared in action.yml:\n  %v\nread by ReadInputs:\n  %v", declared, read)
	}
}

// TestActionYMLDefaults holds action.yml's defaults and the code's together:
// reading no inputs (a plain docker run) must give what the runner gives.
func TestActionYMLDefaults(t *testing.T) {
	y := loadActionYML(t)
	withDefaults := env{"INPUT_SCRIPT": "x.py"}
	for name, in := range y.Inputs {
		if in.Default == nil || strings.Contains(*in.Default, "${{") {
			continue // expressions exist only on a runner
		}
		withDefaults["INPUT_"+strings.ToUpper(name)] = *in.Default
	}
	a1, _ := newAction(t, withDefaults)
	fromYML, err := readInputs(a1)
	if err != nil {
		t.Fatalf("action.yml's defaults are not valid: %v", err)
	}
	a2, _ := newAction(t, env{"INPUT_SCRIPT": "x.py"})
	fromCode, err := readInputs(a2)
	if err != nil {
		t.Fatal(err)
	}
	if fromYML != fromCode {
		t.Errorf("defaults differ:\naction.yml: %+v\ncode:       %+v", fromYML, fromCode)
	}
	if d := y.Inputs["repo-token"].Default; d == nil || *d != "${{ github.token }}" {
		t.Errorf("repo-token default = %v, want ${{ github.token }}", d)
	}
}

// TestActionYMLOutputsAreWritten fails when action.yml declares an output
// that WriteOutputs never writes, or WriteOutputs writes an undeclared one.
func TestActionYMLOutputsAreWritten(t *testing.T) {
	y := loadActionYML(t)
	e := withFiles(t, env{})
	a, _ := newAction(t, e)
	d := 75 * time.Second
	yes, no := true, false
	names, err := writeOutputs(a, outputs{
		RunID: "0b9c1f4e-3a55-4c7e-9d1a-6f1e2b3c4d5e", RunNumber: 1, Status: "completed", ScriptURL: "https://x", Duration: &d,
		DeploymentID: "7d2e8a10-1b2c-4d3e-8f90-a1b2c3d4e5f6", DeploymentVersion: 2, DeploymentChanged: &yes,
		ConfigurationID: "c0ffee00-1234-4abc-8def-0123456789ab", ConfigurationVersion: 3, ConfigurationChanged: &no, LogsFile: "/tmp/l.log",
	})
	if err != nil {
		t.Fatal(err)
	}
	var written []string
	for name := range readFileCommands(t, e["GITHUB_OUTPUT"]) {
		written = append(written, name)
	}
	var declared []string
	for name, o := range y.Outputs {
		declared = append(declared, name)
		if strings.TrimSpace(o.Description) == "" {
			t.Errorf("output %q has no description", name)
		}
	}
	sort.Strings(written)
	sort.Strings(declared)
	sort.Strings(names)
	if !slices.Equal(declared, written) || !slices.Equal(names, written) {
		t.Errorf("outputs declared in action.yml:\n  %v\nwritten to GITHUB_OUTPUT:\n  %v\nreported: %v", declared, written, names)
	}
}

// prebuiltImage is what action.yml may name: GHCR's image at a tag, and
// after a release also its digest.
var prebuiltImage = regexp.MustCompile(`^docker://ghcr\.io/dlthub/runtime-action:[A-Za-z0-9_.-]+(@sha256:[0-9a-f]{64})?$`)

func TestActionYMLRuns(t *testing.T) {
	y := loadActionYML(t)
	r := y.Runs
	if r.Using != "docker" || !prebuiltImage.MatchString(r.Image) || r.Entrypoint != "/runtime-action" || !slices.Equal(r.Args, []string{"action"}) {
		t.Errorf("runs = %+v, want docker, %s, /runtime-action, [action]", r, prebuiltImage)
	}
	if !IsPostStep(r.PostEntrypoint) || IsPostStep(r.Entrypoint) {
		t.Errorf("post-entrypoint %q must be named %q and the entrypoint %q not", r.PostEntrypoint, postEntrypoint, r.Entrypoint)
	}
	if r.PostIf == "" {
		t.Error("post-if is missing")
	}
	if y.Branding.Icon == "" || y.Branding.Color == "" || y.Name == "" {
		t.Errorf("name and branding are required for the Marketplace: %+v", y)
	}
	// The image build must create the post entrypoint.
	df, err := os.ReadFile(filepath.Join("..", "..", ".ci", "image"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(df), "ln -s runtime-action \"$d/"+postEntrypoint+"\"") {
		t.Errorf(".ci/image does not create %s", r.PostEntrypoint)
	}
}
