package workspace

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/BurntSushi/toml"
)

// Settings are the [runtime] settings of a workspace.
type Settings struct {
	APIBaseURL  string
	AuthBaseURL string
	WorkspaceID string
	AuthToken   string
	// Source maps a key (api_base_url, auth_base_url, workspace_id,
	// auth_token) to where its value came from, for messages: an
	// environment variable's name or a file's path. Never the value.
	Source map[string]string
}

// The keys of the [runtime] section and their environment variables.
var settingKeys = []struct {
	key, env string
	field    func(*Settings) *string
}{
	{"api_base_url", "RUNTIME__API_BASE_URL", func(s *Settings) *string { return &s.APIBaseURL }},
	{"auth_base_url", "RUNTIME__AUTH_BASE_URL", func(s *Settings) *string { return &s.AuthBaseURL }},
	{"workspace_id", "RUNTIME__WORKSPACE_ID", func(s *Settings) *string { return &s.WorkspaceID }},
	{"auth_token", "RUNTIME__AUTH_TOKEN", func(s *Settings) *string { return &s.AuthToken }},
}

// RuntimeSection is the TOML table that holds the settings.
const RuntimeSection = "runtime"

// GlobalDir is dlt's global settings folder: $DLT_DATA_DIR when set, else
// <home>/.dlt; "" when neither is known.
func GlobalDir(env func(string) string, home string) string {
	if d := env("DLT_DATA_DIR"); d != "" {
		return d
	}
	if home == "" {
		return ""
	}
	return filepath.Join(home, SettingsDir)
}

// Load reads the settings of the workspace at root (root may be "" outside a
// workspace). The first source holding a key wins: the RUNTIME__* environment
// variables, the workspace's .dlt/secrets.toml and .dlt/config.toml, then the
// same two files in the global folder (GlobalDir). Secrets come before config
// in each folder, as in dlt. Flags are the caller's to apply on top.
func Load(root string, env func(string) string, home string) (Settings, error) {
	s := Settings{Source: map[string]string{}}
	for _, k := range settingKeys {
		if v := env(k.env); v != "" {
			*k.field(&s) = v
			s.Source[k.key] = k.env
		}
	}
	var files []string
	if root != "" {
		d := filepath.Join(root, SettingsDir)
		files = append(files, filepath.Join(d, "secrets.toml"), filepath.Join(d, "config.toml"))
	}
	if g := GlobalDir(env, home); g != "" {
		files = append(files, filepath.Join(g, "secrets.toml"), filepath.Join(g, "config.toml"))
	}
	for _, f := range files {
		vals, err := readRuntimeSection(f)
		if err != nil {
			return Settings{}, err
		}
		for _, k := range settingKeys {
			if v, ok := vals[k.key]; ok && s.Source[k.key] == "" && v != "" {
				*k.field(&s) = v
				s.Source[k.key] = f
			}
		}
	}
	return s, nil
}

// readRuntimeSection returns the string keys of [runtime] in the TOML file
// at path; a missing file has none. Errors never quote the file's content:
// it may hold secrets.
func readRuntimeSection(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read settings: %w", err)
	}
	var doc map[string]any
	if _, err := toml.Decode(string(b), &doc); err != nil {
		return nil, tomlError(path, err)
	}
	sec, ok := doc[RuntimeSection]
	if !ok {
		return nil, nil
	}
	tab, ok := sec.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("read settings: %s: %q is not a table: write it as [%s]", path, RuntimeSection, RuntimeSection)
	}
	out := map[string]string{}
	for _, k := range settingKeys {
		v, ok := tab[k.key]
		if !ok {
			continue
		}
		str, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("read settings: %s: [%s] %s must be a string in quotes", path, RuntimeSection, k.key)
		}
		out[k.key] = str
	}
	return out, nil
}

// tomlError names the file and line of a TOML syntax error but not the
// parser's message, which can quote a value.
func tomlError(path string, err error) error {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		msg := fmt.Sprintf("read settings: %s: TOML syntax error on line %d", path, pe.Position.Line)
		if pe.LastKey != "" {
			msg += fmt.Sprintf(" (after key %q)", pe.LastKey)
		}
		return errors.New(msg + ": fix the file and try again")
	}
	return fmt.Errorf("read settings: %s: not valid TOML: fix the file and try again", path)
}
