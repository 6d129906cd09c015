package pack

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestManifestBudget(t *testing.T) {
	t.Parallel()
	a, b := file("files/a.py", "print(1)\n"), file("files/b.py", "print(2)\n")
	// A deep path of long segments with characters YAML escapes: the most
	// a member's line may honestly take.
	long := "files/" + strings.Repeat(strings.Repeat("\u00e9\t", 60)+"/", 15) + "x.py"
	many := make([]entry, 300)
	for i := range many {
		many[i] = file(fmt.Sprintf("files/%03d/%s", i, strings.Repeat("n", 200)), "")
	}
	padded := func(pad string, files ...entry) []entry {
		p := honest(files...)
		p[len(p)-1].body += pad
		return p
	}
	for _, tc := range []struct {
		name    string
		entries []entry
		refused bool
	}{
		{"two files", honest(a, b), false},
		{"a long escaped path", honest(file(long, "x"), link("files/l", "a.py"), a), false},
		{"300 files", honest(many...), false},
		{"no files, 100 KB of blank lines", padded(strings.Repeat("\n", 100<<10)), true},
		{"two files, 1 MB of blank lines", padded(strings.Repeat("\n", 1<<20), a, b), true},
		{"300 files, 1 MB of blank lines", padded(strings.Repeat("\n", 1<<20), many...), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Verify(bytes.NewReader(targz(t, tc.entries)), Limits{})
			if !tc.refused {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var pe *Error
			if !errors.As(err, &pe) || pe.Member != ManifestName || !strings.Contains(pe.Check, "files justify") {
				t.Fatalf("got %v, want the manifest refused as larger than its files justify", err)
			}
		})
	}
}
