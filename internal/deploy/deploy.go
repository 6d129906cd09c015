// Package deploy is the one deploy engine of the command line and the GitHub
// Action: it resolves the settings, authenticates, syncs the deployment
// (code) and the configuration (settings), creates or updates the script,
// starts a run and follows it to its end, as ordered, named phases that it
// reports to an Observer. The front ends only render what it reports, and
// turn its classified errors into exit codes and annotations (outcome.go).
package deploy

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/dlthub/runtime-action/internal/api"
	"github.com/dlthub/runtime-action/internal/client"
	"github.com/dlthub/runtime-action/internal/pack"
	"github.com/dlthub/runtime-action/internal/workspace"
	"github.com/robfig/cron/v3"
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

// Engine runs the steps against one workspace of one Runtime; Run puts them
// in order.
type Engine struct {
	Runtime     Runtime
	WorkspaceID string
	Root        string // the workspace folder
	Report      Reporter
	// Script, when set, is the name of the script the deploy will run:
	// SyncDeployment refuses a deployment that does not hold it, before
	// anything is uploaded (a run of it could only fail).
	Script string
	// QuietOutcome leaves the line saying what a sync did (uploaded,
	// unchanged) to the caller, which prints it as its result.
	QuietOutcome bool
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
// documented in docs/cli.md and stable.
type Plan struct {
	Kind              Kind        `json:"kind"`
	ContentHash       string      `json:"content_hash"`
	FileCount         int         `json:"file_count"`
	SizeInBytes       int64       `json:"size_in_bytes"`
	Files             []pack.Item `json:"files"`
	LatestContentHash *string     `json:"latest_content_hash"`
	WouldUpload       bool        `json:"would_upload"`
	// OlderClientCopy: the latest package holds this very content, but was
	// uploaded by dlt's runtime CLI of late 2025, whose content hash differs
	// (PACKAGING.md, "Legacy packages"); the upload renews it, not a change.
	OlderClientCopy bool `json:"older_client_copy,omitempty"`
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
	Plan Plan
	// Package is the package on the Runtime after the sync; on a dry run,
	// the latest one there (nil when there is none yet).
	Package *api.PackageInfo
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
			d, err := e.Runtime.LatestDeployment(ctx, e.WorkspaceID)
			return d, "", err
		},
		upload: func(ctx context.Context, body []byte) (*api.PackageInfo, string, error) {
			d, err := e.Runtime.UploadDeployment(ctx, e.WorkspaceID, body)
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
			return conf(e.Runtime.LatestConfiguration(ctx, e.WorkspaceID))
		},
		upload: func(ctx context.Context, body []byte) (*api.PackageInfo, string, error) {
			return conf(e.Runtime.UploadConfiguration(ctx, e.WorkspaceID, body))
		},
	})
}

func (e *Engine) sync(ctx context.Context, dryRun bool, k packageKind) (*SyncResult, error) {
	sel, err := k.selectFiles(e.Root)
	if err != nil {
		return nil, fmt.Errorf("select %s files: %w", k.kind, err)
	}
	if k.kind == KindDeployment && e.Script != "" && !holds(sel, e.Script) {
		return nil, fmt.Errorf("script %q would not be deployed: the workspace's .gitignore (or, without one, the default ignore list) leaves it out", e.Script)
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
	what := fmt.Sprintf("%s, %s", Count(len(sel.Files), "file"), HumanBytes(sel.Size()))
	if res.Plan.WouldUpload && latest != nil {
		res.Plan.OlderClientCopy = olderClientCopy(sel, latest)
	}
	why := ""
	if res.Plan.OlderClientCopy {
		why = fmt.Sprintf("; the content is the same as version %d, but the Runtime's copy was made by an older client", latest.Version)
	}
	if !res.Plan.WouldUpload {
		res.Package, res.Profiles = latest, profiles
		if !e.QuietOutcome {
			e.progress("%s unchanged: version %d (%s)", title(k.kind), latest.Version, what)
		}
		return res, nil
	}
	if dryRun {
		res.Changed = true
		res.Package, res.Profiles = latest, profiles
		if !e.QuietOutcome {
			e.progress("%s would be uploaded as version %d (%s%s); dry run: nothing uploaded", title(k.kind), nextVersion(latest), what, why)
		}
		return res, nil
	}
	body, err := tarball(sel)
	if err != nil {
		return nil, fmt.Errorf("package %s: %w", k.kind, err)
	}
	e.progress("Uploading %s: %s, %s compressed%s", k.kind, Count(len(sel.Files), "file"), HumanBytes(int64(len(body))), why)
	pkg, profiles, err := k.upload(ctx, body)
	if err != nil {
		return nil, fmt.Errorf("upload %s: %w", k.kind, tooLarge(err, sel))
	}
	res.Package, res.Profiles, res.UploadedBytes = pkg, profiles, int64(len(body))
	res.Changed = latest == nil || pkg.ID != latest.ID
	if !e.QuietOutcome {
		e.progress("%s uploaded: version %d", title(k.kind), pkg.Version)
	}
	return res, nil
}

// olderClientCopy tells whether latest holds sel's content as dlt's runtime
// CLI of late 2025 uploaded it. Only when the file names agree are the files
// read again to compute that client's hash.
func olderClientCopy(sel *workspace.Selection, latest *api.PackageInfo) bool {
	names := make([]string, len(sel.Files))
	for i, it := range sel.Files {
		names[i] = it.RelativePath
	}
	if strings.Join(names, ", ") != latest.FileNames {
		return false
	}
	h, err := sel.LegacyHash()
	return err == nil && h == latest.ContentHash
}

// holds reports whether the selection holds the file named name.
func holds(sel *workspace.Selection, name string) bool {
	for _, it := range sel.Files {
		if it.RelativePath == name {
			return true
		}
	}
	return false
}

func nextVersion(latest *api.PackageInfo) int {
	if latest == nil {
		return 1
	}
	return latest.Version + 1
}

// title is a kind at the start of a sentence.
func title(k Kind) string {
	s := string(k)
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
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
		fmt.Fprintf(&b, "\n  %10s  %s", HumanBytes(it.SizeInBytes), it.RelativePath)
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

// UpsertScript creates the script or updates it when a field changed; an
// existing script keeps its schedule, description and active flag.
func (e *Engine) UpsertScript(ctx context.Context, name string, spec ScriptSpec) (*api.Script, bool, error) {
	existing, err := e.Runtime.GetScript(ctx, e.WorkspaceID, name)
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
			e.progress("Script %q unchanged: version %d (%s)", name, s.Version, describeScript(&s))
			return &s, false, nil
		}
	}
	if req.ScriptType == "" {
		req.ScriptType = api.ScriptBatch
	}
	if existing == nil && spec.Schedule != nil {
		req.Schedule = scheduleOf(spec.Schedule)
	}
	s, err := e.Runtime.UpsertScript(ctx, e.WorkspaceID, req)
	if err != nil {
		return nil, false, fmt.Errorf("create or update script %q: %w", name, err)
	}
	if existing == nil {
		e.progress("Script %q created (%s)", name, describeScript(s))
	} else {
		e.progress("Script %q updated to version %d: %s", name, s.Version, ScriptChanges(&existing.Script, s))
	}
	return s, true, nil
}

// describeScript says what a script is in a few words: "batch, profile
// prod, schedule 0 3 * * *".
func describeScript(s *api.Script) string {
	d := fmt.Sprintf("%s, profile %s", s.ScriptType, orNone(s.Profile))
	if s.Schedule != nil && *s.Schedule != "" {
		d += fmt.Sprintf(", schedule %q", *s.Schedule)
	}
	return d
}

// ScriptChanges lists what an update of a script changes, e.g. "profile
// prod -> dev", for plans and progress lines.
func ScriptChanges(was, now *api.Script) string {
	var ch []string
	if was.EntryPoint != now.EntryPoint {
		ch = append(ch, fmt.Sprintf("entry point %s -> %s", was.EntryPoint, now.EntryPoint))
	}
	if was.ScriptType != now.ScriptType {
		ch = append(ch, fmt.Sprintf("type %s -> %s", was.ScriptType, now.ScriptType))
	}
	if !eqPtr(was.Profile, now.Profile) {
		ch = append(ch, fmt.Sprintf("profile %s -> %s", orNone(was.Profile), orNone(now.Profile)))
	}
	if !eqPtr(was.Schedule, now.Schedule) {
		ch = append(ch, fmt.Sprintf("schedule %s -> %s", quotedOrNone(was.Schedule), quotedOrNone(now.Schedule)))
	}
	if len(ch) == 0 {
		return describeScript(now)
	}
	return strings.Join(ch, ", ")
}

func quotedOrNone(s *string) string {
	if s == nil || *s == "" {
		return "none"
	}
	return fmt.Sprintf("%q", *s)
}

func orNone(s *string) string {
	if s == nil || *s == "" {
		return "none"
	}
	return *s
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
	run, err := e.Runtime.CreateRun(ctx, e.WorkspaceID, req, script.ID)
	if err != nil {
		return nil, fmt.Errorf("start run of %q: %w", script.Name, err)
	}
	return run, nil
}

// ParseSchedule reads a schedule as the command line's --schedule and the
// Action's schedule input give it: a 5-field cron expression (UTC) sets
// it, "none" removes it (a pointer to ""), "" keeps the script's (nil). It
// refuses, before anything is uploaded, what the Runtime would refuse. The
// error names what is wrong; the caller names the flag or input.
func ParseSchedule(sched string) (*string, error) {
	if sched == "" {
		return nil, nil
	}
	if sched == "none" {
		none := ""
		return &none, nil
	}
	fields := strings.Fields(sched)
	bad := len(fields) != 5
	if !bad {
		f := fields[0]
		bad = strings.HasPrefix(f, "@") || strings.HasPrefix(f, "TZ=") || strings.HasPrefix(f, "CRON_TZ=")
	}
	var why string
	if !bad {
		if _, err := cron.ParseStandard(sched); err != nil {
			why = ": " + err.Error()
			bad = true
		}
	}
	if bad {
		return nil, fmt.Errorf("%q%s: use 5 cron fields, minute hour day-of-month month day-of-week, in UTC (e.g. \"0 3 * * *\"), or \"none\" to remove the schedule", sched, why)
	}
	return &sched, nil
}
