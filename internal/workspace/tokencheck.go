package workspace

import (
	"io"
	"os"
	"path/filepath"

	"github.com/BurntSushi/toml"

	"github.com/dlthub/runtime-action/internal/pack"
)

// maxTokenCheckRead bounds what the check reads of one settings file;
// settings files are a few kilobytes.
const maxTokenCheckRead = 4 << 20

// authTokenWarnings names the configuration files (below dir, the settings
// folder) that hold [runtime] auth_token. The configuration is uploaded and
// every run receives it, so a login token there travels to the Runtime and
// into every script's settings; its place is the user's own
// ~/.dlt/secrets.toml or RUNTIME__AUTH_TOKEN. The value is never read into
// the warning. A file that is not valid TOML is left to dlt to report.
func authTokenWarnings(dir string, files []pack.Item) []string {
	var out []string
	for _, it := range files {
		if !holdsAuthToken(filepath.Join(dir, filepath.FromSlash(it.RelativePath))) {
			continue
		}
		out = append(out, SettingsDir+"/"+it.RelativePath+" holds [runtime] auth_token: it would be uploaded with the configuration "+
			"and every run would receive it; keep the token in ~/.dlt/secrets.toml (where login stores it) or in RUNTIME__AUTH_TOKEN, "+
			"and remove it from this file")
	}
	return out
}

func holdsAuthToken(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxTokenCheckRead))
	if err != nil {
		return false
	}
	var doc struct {
		Runtime map[string]toml.Primitive `toml:"runtime"`
	}
	if _, err := toml.Decode(string(b), &doc); err != nil {
		return false
	}
	_, ok := doc.Runtime["auth_token"]
	return ok
}
