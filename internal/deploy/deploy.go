// Package deploy holds the steps that the command line and the GitHub Action
// share: sync the deployment (code) and the configuration (settings), create or
// update the script, start a run and follow it to its end.
package deploy

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/dlthub/runtime-action/internal/api"
	"github.com/dlthub/runtime-action/internal/client"
	"github.com/dlthub/runtime-action/internal/pack"
	"github.com/dlthub/runtime-action/internal/workspace"
)

// Kind names a package kind.
type Kind string

// The two package kinds.
const (
	KindDeployment    Kind = "deployment"
	KindConfiguration Kind = "configuration"
)

// Reporter receives progress: a line when something changes.
type Reporter interface {
	Progress(msg string)
	Warn(msg string)
}

// Engine runs the steps against one workspace of one Runtime.
type Engine struct {
	Client      *client.Client
	WorkspaceID string
	Root        string // the workspace folder
	Report      Reporter
}

func (e *Engine) progress(format string, args ...any) {
	if e.Report != nil {
		e.Report.Progress(fmt.Sprintf(format, args...))
	}
}

func (e *Engine) warn(format string, args ...any) {
	if e.Report != nil {
		e.Report.Warn(fmt.Sprintf(format, args...))
	}
}

// Plan is what a sync would do (or did) for one package. Its JSON shape is
// documented in README.md and stable.
type Plan struct {
	Kind              Kind        `json:"kind"`
	ContentHash       string      `json:"content_hash"`
	FileCount         int         `json:"file_count"`
	SizeInBytes       int64       `json:"size_in_bytes"`
	Files             []pack.Item `json:"files"`
	LatestContentHash *string     `json:"latest_content_hash"`
	WouldUpload       bool        `json:"would_upload"`
	// LatestFiles are the file names of the latest package on the Runtime, to
	// tell what a sync adds and removes.
	LatestFiles []string `json:"-"`
}

// Added lists the files of the plan that the latest package does not hold.
func (p *Plan) Added() []string {
	have := make(map[string]bool, len(p.LatestFiles))
	for _, f := range p.LatestFiles {
		have[f] = true
	}
	var out []string
	for _, it := range p.Files {
		if !have[it.RelativePath] {
			out = append(out, it.RelativePath)
		}
	}
	return out
}

// Removed lists the files of the latest package that the plan does not hold.
func (p *Plan) Removed() []string {
	have := make(map[string]bool, len(p.Files))
	for _, it := range p.Files {
		have[it.RelativePath] = true
	}
	var out []string
	for _, f := range p.LatestFiles {
		if !have[f] {
			out = append(out, f)
		}
	}
	sort.Strings(out)
	return out
}

// SyncResult is the outcome of a package sync.
type SyncResult struct {
	Plan    Plan
	Package *api.PackageInfo // the package on the Runtime after the sync (nil on dry run with none)
	// Profiles is set for configurations.
	Profiles string
	// Changed reports whether a new version was made.
	Changed bool
	// UploadedBytes is the size of the tarball sent (0 when nothing was).
	UploadedBytes int64
}

// packageKind is what differs between the two packages: how files are
// chosen, and the calls that read and upload them.
type packageKind struct {
	kind        Kind
	selectFiles func(root string) (*workspace.Selection, error)
	latest      func(ctx context.Context) (*api.PackageInfo, string, error)
	upload      func(ctx context.Context, body []byte) (*api.PackageInfo, string, error)
}

// SyncDeployment uploads the workspace's code unless the Runtime already holds
// exactly this content.
func (e *Engine) SyncDeployment(ctx context.Context, dryRun bool) (*SyncResult, error) {
	return e.sync(ctx, dryRun, packageKind{
		kind:        KindDeployment,
		selectFiles: workspace.SelectDeployment,
		latest: func(ctx context.Context) (*api.PackageInfo, string, error) {
			d, err := e.Client.LatestDeployment(ctx, e.WorkspaceID)
			return d, "", err
		},
		upload: func(ctx context.Context, body []byte) (*api.PackageInfo, string, error) {
			d, err := e.Client.UploadDeployment(ctx, e.WorkspaceID, body)
			return d, "", err
		},
	})
}

// SyncConfiguration uploads the workspace's settings unless the Runtime
// already holds exactly this content.
func (e *Engine) SyncConfiguration(ctx context.Context, dryRun bool) (*SyncResult, error) {
	conf := func(c *api.Configuration, err error) (*api.PackageInfo, string, error) {
		if c == nil || err != nil {
			return nil, "", err
		}
		return &c.PackageInfo, c.Profiles, nil
	}
	return e.sync(ctx, dryRun, packageKind{
		kind:        KindConfiguration,
		selectFiles: workspace.SelectConfiguration,
		latest: func(ctx context.Context) (*api.PackageInfo, string, error) {
			return conf(e.Client.LatestConfiguration(ctx, e.WorkspaceID))
		},
		upload: func(ctx context.Context, body []byte) (*api.PackageInfo, string, error) {
			return conf(e.Client.UploadConfiguration(ctx, e.WorkspaceID, body))
		},
	})
}

func (e *Engine) sync(ctx context.Context, dryRun bool, k packageKind) (*SyncResult, error) {
	sel, err := k.selectFiles(e.Root)
	if err != nil {
		return nil, fmt.Errorf("select %s files: %w", k.kind, err)
	}
	for _, w := range sel.Warnings {
		e.warn("%s", w)
	}
	if len(sel.SecretLike) > 0 {
		e.warn("these files look like secrets and would be deployed: %s (add them to .gitignore if they should stay local)", strings.Join(sel.SecretLike, ", "))
	}
	latest, profiles, err := k.latest(ctx)
	if err != nil {
		return nil, fmt.Errorf("get latest %s: %w", k.kind, err)
	}
	res := &SyncResult{Plan: planFor(k.kind, sel, latest)}
	if !res.Plan.WouldUpload {
		res.Package, res.Profiles = latest, profiles
		e.progress("%s unchanged (version %d, %s)", k.kind, latest.Version, sel.ContentHash())
		return res, nil
	}
	if dryRun {
		res.Changed = true
		return res, nil
	}
	body, err := tarball(sel)
	if err != nil {
		return nil, fmt.Errorf("package %s: %w", k.kind, err)
	}
	e.progress("uploading %s: %d files, %s", k.kind, len(sel.Files), humanBytes(int64(len(body))))
	pkg, profiles, err := k.upload(ctx, body)
	if err != nil {
		return nil, fmt.Errorf("upload %s: %w", k.kind, tooLarge(err, sel))
	}
	res.Package, res.Profiles, res.UploadedBytes = pkg, profiles, int64(len(body))
	res.Changed = latest == nil || pkg.ID != latest.ID
	e.progress("%s version %d uploaded", k.kind, pkg.Version)
	return res, nil
}

func planFor(kind Kind, sel *workspace.Selection, latest *api.PackageInfo) Plan {
	p := Plan{
		Kind:        kind,
		ContentHash: sel.ContentHash(),
		FileCount:   len(sel.Files),
		SizeInBytes: sel.Size(),
		Files:       sel.Files,
		WouldUpload: true,
	}
	if p.Files == nil {
		p.Files = []pack.Item{}
	}
	if latest != nil {
		h := latest.ContentHash
		p.LatestContentHash = &h
		p.LatestFiles = latest.Files()
		p.WouldUpload = h != p.ContentHash
	}
	return p
}

func tarball(sel *workspace.Selection) ([]byte, error) {
	var buf bytes.Buffer
	if err := sel.WriteTarGz(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// tooLarge adds the ten largest files and the usual remedy to a 413.
func tooLarge(err error, sel *workspace.Selection) error {
	if !client.IsStatus(err, http.StatusRequestEntityTooLarge) {
		return err
	}
	var b strings.Builder
	b.WriteString("the package is too large for the Runtime; the largest files are:")
	for _, it := range sel.Largest(10) {
		fmt.Fprintf(&b, "\n  %10s  %s", humanBytes(it.SizeInBytes), it.RelativePath)
	}
	b.WriteString("\nadd what the pipeline does not need (data, build output, virtualenvs) to .gitignore")
	return fmt.Errorf("%w\n%s", err, b.String())
}

// ScriptSpec is what a deploy or run asks of a script.
type ScriptSpec struct {
	Type    api.ScriptType // "" keeps an existing script's type (batch for a new one)
	Profile string         // "" keeps an existing script's profile
	// Schedule sets the script's 5-field cron schedule (UTC); nil keeps an
	// existing script's, a pointer to "" removes it.
	Schedule *string
}

// ScriptName turns a script path into its name on the Runtime: the path
// relative to the workspace root, with forward slashes. The file must exist
// inside the workspace.
func ScriptName(root, cwd, path string) (string, error) {
	abs := path
	if !filepath.IsAbs(abs) {
		abs = filepath.Join(cwd, path)
	}
	abs = filepath.Clean(abs)
	rel, err := filepath.Rel(root, abs)
	if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", fmt.Errorf("script %q is outside the workspace %q", path, root)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return "", fmt.Errorf("script %q not found in the workspace %q", path, root)
	}
	if fi.IsDir() {
		return "", fmt.Errorf("script %q is a folder, not a file", path)
	}
	return filepath.ToSlash(rel), nil
}

// UpsertScript creates the script or updates it when a field changed; an
// existing script keeps its schedule, description and active flag.
func (e *Engine) UpsertScript(ctx context.Context, name string, spec ScriptSpec) (*api.Script, bool, error) {
	existing, err := e.Client.GetScript(ctx, e.WorkspaceID, name)
	if err != nil && !client.IsNotFound(err) {
		return nil, false, fmt.Errorf("get script %q: %w", name, err)
	}
	req := api.CreateScriptRequest{Name: name, EntryPoint: name, ScriptType: spec.Type}
	if spec.Profile != "" {
		p := spec.Profile
		req.Profile = &p
	}
	if existing != nil {
		s := existing.Script
		active := s.Active
		req.Active, req.Description, req.Schedule = &active, s.Description, s.Schedule
		if spec.Schedule != nil {
			req.Schedule = scheduleOf(spec.Schedule)
		}
		if req.ScriptType == "" {
			req.ScriptType = s.ScriptType
		}
		if req.Profile == nil {
			req.Profile = s.Profile
		}
		if s.EntryPoint == req.EntryPoint && s.ScriptType == req.ScriptType && eqPtr(s.Profile, req.Profile) && eqPtr(s.Schedule, req.Schedule) {
			e.progress("script %q unchanged (version %d)", name, s.Version)
			return &s, false, nil
		}
	}
	if req.ScriptType == "" {
		req.ScriptType = api.ScriptBatch
	}
	if existing == nil && spec.Schedule != nil {
		req.Schedule = scheduleOf(spec.Schedule)
	}
	s, err := e.Client.UpsertScript(ctx, e.WorkspaceID, req)
	if err != nil {
		return nil, false, fmt.Errorf("create or update script %q: %w", name, err)
	}
	if existing == nil {
		e.progress("script %q created", name)
	} else {
		e.progress("script %q updated to version %d", name, s.Version)
	}
	return s, true, nil
}

// scheduleOf turns a schedule asked for into the request's: "" is none.
func scheduleOf(s *string) *string {
	if s == nil || *s == "" {
		return nil
	}
	v := *s
	return &v
}

func eqPtr(a, b *string) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// StartRun starts a run of the script with the given profile ("" keeps the
// script's).
func (e *Engine) StartRun(ctx context.Context, script *api.Script, profile string) (*api.Run, error) {
	req := api.CreateRunRequest{ScriptIDOrName: script.Name}
	if profile != "" {
		req.Profile = &profile
	}
	run, err := e.Client.CreateRun(ctx, e.WorkspaceID, req, script.ID)
	if err != nil {
		return nil, fmt.Errorf("start run of %q: %w", script.Name, err)
	}
	return run, nil
}
