package server

import (
	"fmt"
	"strings"
	"unicode"

	"github.com/dlthub/runtime-action/internal/pack"
)

// checkPackageNames refuses a package whose file paths or link targets hold
// a control character: they are stored (a package's file names) and printed
// by `deployment info`, where a newline or an escape could forge output.
func checkPackageNames(v *pack.Verified) error {
	for _, it := range v.Manifest.Files {
		for _, f := range []struct{ field, value string }{{"relative_path", it.RelativePath}, {"linkname", it.Linkname}} {
			if strings.ContainsFunc(f.value, unicode.IsControl) {
				return &Error{Kind: KindBadRequest,
					Detail: fmt.Sprintf("invalid package: %s: field %q of file %q holds a control character, which is not allowed", pack.ManifestName, f.field, it.RelativePath),
					Extra:  map[string]any{"member": pack.FilesPrefix + it.RelativePath, "check": "control character in " + f.field}}
			}
		}
	}
	return nil
}
