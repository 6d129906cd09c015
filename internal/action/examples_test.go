package action

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

type workflowFile struct {
	Jobs map[string]struct {
		Environment any `yaml:"environment"`
		Steps       []struct {
			Uses string            `yaml:"uses"`
			Run  string            `yaml:"run"`
			With map[string]string `yaml:"with"`
		} `yaml:"steps"`
	} `yaml:"jobs"`
}

// TestExampleWorkflow checks examples/workflows/deploy.yml for the mistakes
// a copied workflow would carry: a plan that lacks the deploy's settings
// (every plan would show the secrets file as removed), and two GitHub
// deployments per run (the job's environment and the environment input).
func TestExampleWorkflow(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "examples", "workflows", "deploy.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var wf workflowFile
	if err := yaml.Unmarshal(b, &wf); err != nil {
		t.Fatal(err)
	}
	withOf := func(job string) map[string]string {
		for _, s := range wf.Jobs[job].Steps {
			if strings.HasPrefix(s.Uses, "dlthub/runtime-action") {
				return s.With
			}
		}
		t.Fatalf("job %q does not use the Action", job)
		return nil
	}
	plan, deploy := withOf("plan"), withOf("deploy")
	for _, k := range []string{"secrets-toml", "config-toml", "profile", "working-directory", "script"} {
		if plan[k] != deploy[k] {
			t.Errorf("input %s: plan has %q, deploy %q; the plan must see the deploy's settings", k, plan[k], deploy[k])
		}
	}
	for name, job := range wf.Jobs {
		if job.Environment == nil {
			continue
		}
		for _, s := range job.Steps {
			if strings.HasPrefix(s.Uses, "dlthub/runtime-action") && s.With["environment"] != "" {
				t.Errorf("job %s has an environment and sets the environment input: two GitHub deployments per run", name)
			}
		}
	}
}

// runBlocks returns the run: values of the YAML in text (a workflow, or a
// document's code blocks): the rest of the line, or the block scalar's
// lines that are indented deeper than the key.
func runBlocks(text string) []string {
	var blocks []string
	lines := strings.Split(text, "\n")
	for i := 0; i < len(lines); i++ {
		m := runKey.FindStringSubmatch(lines[i])
		if m == nil {
			continue
		}
		block := m[3]
		if strings.HasPrefix(block, "|") || strings.HasPrefix(block, ">") {
			indent := len(m[1])
			for i+1 < len(lines) {
				next := lines[i+1]
				if strings.TrimSpace(next) != "" && len(next)-len(strings.TrimLeft(next, " ")) <= indent {
					break
				}
				block += "\n" + next
				i++
			}
		}
		blocks = append(blocks, block)
	}
	return blocks
}

var runKey = regexp.MustCompile(`^(\s*(- )?)run: *(.*)$`)

// TestOutputsReachShellsThroughEnv: the documentation's workflows pass
// outputs to shell steps through env:, never as ${{ }} inside run:, where a
// value would be pasted into the script.
func TestOutputsReachShellsThroughEnv(t *testing.T) {
	files := []string{filepath.Join("..", "..", "README.md")}
	for _, glob := range []string{"docs/*.md", "examples/workflows/*.yml", "testdata/act/*.yml", "testdata/act/*/*.yml"} {
		m, _ := filepath.Glob(filepath.Join("..", "..", glob))
		files = append(files, m...)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range runBlocks(string(b)) {
			if strings.Contains(m, "${{") {
				t.Errorf("%s: an expression inside run:\n%s", f, m)
			}
		}
	}
}
