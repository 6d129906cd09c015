package workspace

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// TestLegacyHashOfVectors: for every workspace of the vectors, the hash our
// selection would have had from dlt's runtime CLI of late 2025 is exactly
// the content_hash dlt's own builder computed (testdata/packaging-legacy),
// so a deploy can tell the older client's copy of the same content.
func TestLegacyHashOfVectors(t *testing.T) {
	read := func(p string, v any) {
		t.Helper()
		b, err := os.ReadFile(filepath.Join("..", "..", "testdata", p))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
	}
	var cases map[string]vectorCase
	read("packaging/cases.json", &cases)
	var legacy map[string]map[string]json.RawMessage
	read("packaging-legacy/cases.json", &legacy)
	n := 0
	for name, kinds := range legacy {
		root := materialize(t, cases[name])
		for kind, sel := range map[string]func(string) (*Selection, error){
			"deployment":    SelectDeployment,
			"configuration": SelectConfiguration,
		} {
			raw, ok := kinds[kind]
			if !ok {
				continue
			}
			var want struct {
				ContentHash string `json:"content_hash"`
			}
			if err := json.Unmarshal(raw, &want); err != nil {
				t.Fatal(err)
			}
			n++
			s, err := sel(root)
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.LegacyHash()
			if err != nil || got != want.ContentHash {
				t.Errorf("%s %s: LegacyHash = %q, %v; want dlt's %q", name, kind, got, err, want.ContentHash)
			}
			if got == s.ContentHash() {
				t.Errorf("%s %s: legacy hash equals the current one", name, kind)
			}
		}
	}
	if n != 8 {
		t.Errorf("%d legacy vectors, want 8", n)
	}
}
