package server

import (
	"fmt"
	"path"
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

// checkSecretsLinks refuses a configuration whose *secrets.toml is a
// symlink: its values would not be redacted from run logs (only regular
// secrets files are read for that), and the link could point at another
// profile's file or at a file the script wrote itself.
func checkSecretsLinks(v *pack.Verified) error {
	for _, it := range v.Manifest.Files {
		if it.Linkname != "" && strings.HasSuffix(path.Base(it.RelativePath), "secrets.toml") {
			return &Error{Kind: KindBadRequest,
				Detail: fmt.Sprintf("invalid configuration: %q is a symlink (to %q): a secrets file must be a regular file", it.RelativePath, it.Linkname),
				Extra:  map[string]any{"member": pack.FilesPrefix + it.RelativePath, "check": "secrets file is a symlink"}}
		}
	}
	return nil
}
