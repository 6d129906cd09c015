package cli

import (
	"os"
	"testing"
)

// TestDevNullIsNoTerminal: CI jobs often give /dev/null as stdin. It is a
// character device, but no one is there to answer a question: taking it for
// a terminal would save the default workspace to .dlt/config.toml unasked.
func TestDevNullIsNoTerminal(t *testing.T) {
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Skip(err)
	}
	defer f.Close()
	if isTerminal(f) {
		t.Errorf("%s is taken for a terminal", os.DevNull)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if isTerminal(r) {
		t.Error("a pipe is taken for a terminal")
	}
}

func TestOneLine(t *testing.T) {
	for in, want := range map[string]string{
		"unknown command \"deplyo\" for \"runtime-action\"\n\nDid you mean this?\n\tdeploy\n": `unknown command "deplyo" for "runtime-action"; did you mean "deploy"?`,
		"unknown command \"r\" for \"runtime-action\"\n\nDid you mean this?\n\trun\n\truns\n": `unknown command "r" for "runtime-action"; did you mean "run" or "runs"?`,
		"unknown flag: --x": "unknown flag: --x",
	} {
		if got := oneLine(in); got != want {
			t.Errorf("oneLine(%q) = %q, want %q", in, got, want)
		}
	}
}
