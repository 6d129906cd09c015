package action

import (
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

type compositeYML struct {
	Inputs map[string]struct {
		Description string  `yaml:"description"`
		Default     *string `yaml:"default"`
	} `yaml:"inputs"`
	Outputs map[string]struct {
		Description string `yaml:"description"`
		Value       string `yaml:"value"`
	} `yaml:"outputs"`
	Runs struct {
		Using string `yaml:"using"`
		Steps []struct {
			ID  string            `yaml:"id"`
			Env map[string]string `yaml:"env"`
			Run string            `yaml:"run"`
		} `yaml:"steps"`
	} `yaml:"runs"`
}

// TestBinaryActionMatches holds the composite action (binary/action.yml,
// for macOS and Windows runners) and the container action together: the
// same inputs with the same defaults and descriptions, the same outputs,
// every input passed to the binary as the runner passes it to the
// container (INPUT_<NAME>), and every output taken from the binary's step.
func TestBinaryActionMatches(t *testing.T) {
	y := loadActionYML(t)
	b, err := os.ReadFile(filepath.Join("..", "..", "binary", "action.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var c compositeYML
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatalf("binary/action.yml: %v", err)
	}
	names := func(m map[string]bool) []string {
		var out []string
		for k := range m {
			out = append(out, k)
		}
		sort.Strings(out)
		return out
	}
	in1, in2, out1, out2 := map[string]bool{}, map[string]bool{}, map[string]bool{}, map[string]bool{}
	for k := range y.Inputs {
		in1[k] = true
	}
	for k := range c.Inputs {
		in2[k] = true
	}
	for k := range y.Outputs {
		out1[k] = true
	}
	for k := range c.Outputs {
		out2[k] = true
	}
	if !slices.Equal(names(in1), names(in2)) {
		t.Errorf("inputs differ:\naction.yml:        %v\nbinary/action.yml: %v", names(in1), names(in2))
	}
	if !slices.Equal(names(out1), names(out2)) {
		t.Errorf("outputs differ:\naction.yml:        %v\nbinary/action.yml: %v", names(out1), names(out2))
	}
	for k, a := range y.Inputs {
		bi, ok := c.Inputs[k]
		if !ok {
			continue
		}
		if a.Description != bi.Description || (a.Default == nil) != (bi.Default == nil) || (a.Default != nil && *a.Default != *bi.Default) {
			t.Errorf("input %s differs: %+v / %+v", k, a, bi)
		}
	}
	if c.Runs.Using != "composite" {
		t.Fatalf("binary/action.yml runs using %q, want composite", c.Runs.Using)
	}
	var run map[string]string
	for _, s := range c.Runs.Steps {
		if s.ID == "run" {
			run = s.Env
			if !strings.Contains(s.Run, `"$RUNTIME_ACTION_BIN" action`) {
				t.Errorf("the run step does not start the binary's action command: %q", s.Run)
			}
		}
	}
	for k := range y.Inputs {
		if want := "${{ inputs." + k + " }}"; run["INPUT_"+strings.ToUpper(k)] != want {
			t.Errorf("the run step passes INPUT_%s = %q, want %q", strings.ToUpper(k), run["INPUT_"+strings.ToUpper(k)], want)
		}
	}
	for k, o := range c.Outputs {
		if want := "${{ steps.run.outputs." + k + " }}"; o.Value != want {
			t.Errorf("output %s = %q, want %q", k, o.Value, want)
		}
		if o.Description != y.Outputs[k].Description {
			t.Errorf("output %s: description differs", k)
		}
	}
}
