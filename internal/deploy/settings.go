package deploy

import (
	"path/filepath"
	"strings"

	"github.com/dlthub/runtime-action/internal/workspace"
)

// SourceKind says what kind of place a setting's value came from.
type SourceKind string

// Where a setting can come from, the first that holds it winning.
const (
	FromFlag      SourceKind = "flag"      // a command line flag or an Action input
	FromEnv       SourceKind = "env"       // a RUNTIME__* environment variable
	FromWorkspace SourceKind = "workspace" // the workspace's .dlt/secrets.toml or config.toml
	FromGlobal    SourceKind = "global"    // ~/.dlt/secrets.toml or config.toml (where login saves)
	FromDefault   SourceKind = "default"   // derived by the engine (the auth URL from the API URL)
	FromExchange  SourceKind = "exchange"  // a token traded for another (GitHub token, OIDC)
	FromEmbedded  SourceKind = "embedded"  // the Runtime started in this process
)

// Source is where one setting's value came from: its kind and, for a flag,
// a variable or a file, its name (never the value).
type Source struct {
	Kind SourceKind
	Name string // "--api-url", "input token", "RUNTIME__AUTH_TOKEN", a path
}

// String names the source for messages: "RUNTIME__AUTH_TOKEN", "--token",
// a file's path, or what the engine derived the value from.
func (s Source) String() string {
	if s.Name != "" {
		return s.Name
	}
	switch s.Kind {
	case FromDefault:
		return "the default"
	case FromEmbedded:
		return "the embedded Runtime"
	case "":
		return "the settings"
	}
	return string(s.Kind)
}

// Setting is one resolved value and where it came from.
type Setting struct {
	Value  string
	Source Source
}

// Settings are the values that say which Runtime, as whom, for which
// workspace: resolved once, the same way, for the command line, the Action's
// main step and its post step.
type Settings struct {
	APIURL      Setting
	AuthURL     Setting
	WorkspaceID Setting
	Token       Setting
	// Root is the workspace folder the files were read from ("" for none).
	Root string
	// GlobalDir is dlt's global settings folder ("" when unknown).
	GlobalDir string
}

// Override is a value given on the command line or as an Action input,
// named as the user wrote it ("--token", "input token").
type Override struct {
	Value string
	Name  string
}

// Overrides win over every other source; an empty Value overrides nothing.
type Overrides struct {
	APIURL, AuthURL, WorkspaceID, Token Override
}

// ResolveSettings reads the [runtime] settings of the workspace at root
// ("" outside one) and of the global folder, the RUNTIME__* variables, and
// puts o on top. The auth URL defaults to the API URL's /auth.
func ResolveSettings(root string, getenv func(string) string, home string, o Overrides) (Settings, error) {
	set, err := workspace.Load(root, getenv, home)
	if err != nil {
		return Settings{}, err
	}
	r := Settings{Root: root, GlobalDir: workspace.GlobalDir(getenv, home)}
	for _, f := range []struct {
		dst  *Setting
		key  string
		val  string
		over Override
	}{
		{&r.APIURL, "api_base_url", set.APIBaseURL, o.APIURL},
		{&r.AuthURL, "auth_base_url", set.AuthBaseURL, o.AuthURL},
		{&r.WorkspaceID, "workspace_id", set.WorkspaceID, o.WorkspaceID},
		{&r.Token, "auth_token", set.AuthToken, o.Token},
	} {
		if f.over.Value != "" {
			*f.dst = Setting{Value: f.over.Value, Source: Source{Kind: FromFlag, Name: f.over.Name}}
			continue
		}
		if f.val != "" {
			*f.dst = Setting{Value: f.val, Source: r.sourceOf(set.Source[f.key])}
		}
	}
	r.defaultAuthURL()
	return r, nil
}

// sourceOf tells the kind of a source workspace.Load names: a variable or a
// file of the workspace or of the global folder.
func (r *Settings) sourceOf(from string) Source {
	switch {
	case strings.HasPrefix(from, "RUNTIME__"):
		return Source{Kind: FromEnv, Name: from}
	case r.Root != "" && strings.HasPrefix(from, filepath.Join(r.Root, workspace.SettingsDir)+string(filepath.Separator)):
		return Source{Kind: FromWorkspace, Name: from}
	}
	return Source{Kind: FromGlobal, Name: from}
}

// defaultAuthURL derives the auth URL from the API URL when none is set:
// the one place that knows the default.
func (r *Settings) defaultAuthURL() {
	if r.AuthURL.Value == "" && r.APIURL.Value != "" {
		r.AuthURL = Setting{Value: DefaultAuthURL(r.APIURL.Value), Source: Source{Kind: FromDefault, Name: "the API URL's /auth"}}
	}
}

// DefaultAuthURL is the auth service's URL of a Runtime whose settings name
// none: the API's base URL with /auth.
func DefaultAuthURL(apiURL string) string {
	return strings.TrimRight(apiURL, "/") + "/auth"
}

// SetAPIURL replaces the API URL (the embedded Runtime's, the one the
// Action's main step saved for the post step); an auth URL derived from
// the old one is derived again.
func (r *Settings) SetAPIURL(v Setting) {
	r.APIURL = v
	if r.AuthURL.Source.Kind == FromDefault {
		r.AuthURL = Setting{}
	}
	r.defaultAuthURL()
}

// TokenFix says what to do about a refused or expired token, by where it
// came from.
func (r *Settings) TokenFix() string {
	src := r.Token.Source
	switch src.Kind {
	case FromFlag:
		if strings.HasPrefix(src.Name, "--") {
			return "pass a valid one with " + src.Name
		}
		return "pass a current one in " + src.Name + " (update the secret it comes from), or use GitHub OIDC, whose tokens are made for each job"
	case FromEnv:
		return "set " + src.Name + " to a valid one (it wins over the token \"runtime-action login\" stores)"
	case FromWorkspace:
		return "replace [runtime] auth_token in " + src.Name + `, or remove it and run "runtime-action login"`
	case FromExchange:
		return "check that the exchange is allowed on the Runtime, or pass the token input instead"
	}
	return `run "runtime-action login" again`
}
