package workspace

import (
	"io"
	"os"
	"path/filepath"

	"github.com/dlthub/runtime-action/internal/pack"
)

// LegacyHash is the content hash that dlt's runtime CLI of late 2025 would
// report for these files (PACKAGING.md, "Legacy packages"). A Runtime whose
// latest package has it holds this very content, uploaded by that client.
func (s *Selection) LegacyHash() (string, error) {
	return pack.LegacyHashOf(s.Files, func(rel string) (io.ReadCloser, error) {
		return os.Open(filepath.Join(s.Root, filepath.FromSlash(rel)))
	}, func(rel string) (int64, error) {
		fi, err := os.Stat(filepath.Join(s.Root, filepath.FromSlash(rel)))
		if err != nil {
			return 0, err
		}
		return fi.Size(), nil
	})
}
