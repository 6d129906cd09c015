package deploy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/dlthub/runtime-action/internal/api"
	"github.com/dlthub/runtime-action/internal/client"
)

// Phase is one named step of a deploy.
type Phase string

// The phases of a deploy, in order.
const (
	PhaseAuthenticate  Phase = "authenticate"
	PhaseDeployment    Phase = "deployment sync"
	PhaseConfiguration Phase = "configuration sync"
	PhaseScript        Phase = "script"
	PhaseRun           Phase = "run"
	PhaseFollow        Phase = "follow"
)

// Title is the phase at the start of a line: "Deployment sync".
func (p Phase) Title() string { return title(Kind(p)) }

// Observer receives what a deploy does, in order; the command line and the
// Action render it. Its methods are called from the goroutine of Run.
type Observer interface {
	Reporter
	// PhaseStarted and PhaseEnded bracket each phase that runs; err is the
	// phase's failure (nil when it succeeded).
	PhaseStarted(p Phase)
	PhaseEnded(p Phase, err error)
	// Authenticated reports the session: Runtime, token source, workspace.
	Authenticated(s *Session)
	// Synced reports a package sync, or what it would do on a dry run.
	Synced(res *SyncResult)
	// Planned reports, on a dry run, what would happen to the script.
	Planned(p *ScriptPlan)
	// ScriptReady reports the script the run is of.
	ScriptReady(s *api.Script, changed bool)
	// RunStarted reports the new run.
	RunStarted(run *api.DetailedRun)
	// RunStatus reports the run when its status changes while followed.
	RunStatus(run *api.DetailedRun)
	// Log is the next piece of the run's log text.
	Log(text string)
	// AppReady reports an interactive app's URL once it runs, and a link
	// that opens it without a token when the Runtime offers one (else nil).
	AppReady(url string, link *api.AppLinkResponse)
}

// Steps says which phases after authenticate a deploy runs.
type Steps int

// The Action's commands; the command line's deploy is StepsDeploy, its run
// StepsRun.
const (
	StepsDeploy Steps = iota // sync both packages, then script, run, follow
	StepsSync                // sync both packages only
	StepsRun                 // script, run, follow with what the Runtime holds
)

// Request is what one deploy does.
type Request struct {
	Login Login
	Root  string // the workspace folder
	Steps Steps
	// Script is the script's name on the Runtime ("" for StepsSync).
	Script string
	Spec   ScriptSpec
	// Profile is the run's profile ("" keeps the script's).
	Profile string
	// DryRun uploads and starts nothing; the plan is reported instead.
	DryRun bool
	// Wait follows the run to its end.
	Wait   bool
	Follow FollowOptions
}

// Result is what a deploy did, as far as it got.
type Result struct {
	Session       *Session
	Deployment    *SyncResult
	Configuration *SyncResult
	Plan          *ScriptPlan // dry runs
	Script        *api.Script
	// Run is the run as last seen (nil when none was started).
	Run *api.DetailedRun
}

// Run runs a deploy's phases in order and reports them to obs. The error is
// classified (see Classify): a run that ended failed or cancelled, a timeout
// and an interruption each have their kind.
func Run(ctx context.Context, req Request, obs Observer) (*Result, error) {
	res := &Result{}
	phase := func(p Phase, fn func() error) error {
		obs.PhaseStarted(p)
		err := inPhase(p, fn())
		obs.PhaseEnded(p, err)
		return err
	}
	var sess *Session
	if err := phase(PhaseAuthenticate, func() (err error) {
		sess, err = Authenticate(ctx, req.Login)
		if err == nil {
			obs.Authenticated(sess)
		}
		return err
	}); err != nil {
		return res, err
	}
	res.Session = sess
	eng := &Engine{Runtime: sess.Runtime, WorkspaceID: sess.WorkspaceID, Root: req.Root, Report: obs}
	if req.Steps == StepsDeploy {
		eng.Script = req.Script
	}
	explained := func(fn func() error) func() error {
		return func() error { return sess.Explain(ctx, fn()) }
	}
	if req.Steps != StepsRun {
		for _, k := range []struct {
			p    Phase
			sync func(context.Context, bool) (*SyncResult, error)
			dst  **SyncResult
		}{
			{PhaseDeployment, eng.SyncDeployment, &res.Deployment},
			{PhaseConfiguration, eng.SyncConfiguration, &res.Configuration},
		} {
			if err := phase(k.p, explained(func() (err error) {
				*k.dst, err = k.sync(ctx, req.DryRun)
				if err == nil {
					obs.Synced(*k.dst)
				}
				return err
			})); err != nil {
				return res, err
			}
		}
	}
	if req.Steps == StepsSync {
		return res, nil
	}
	if req.DryRun {
		err := phase(PhaseScript, explained(func() (err error) {
			res.Plan, err = eng.PlanScript(ctx, req.Script, req.Spec)
			if err == nil {
				obs.Planned(res.Plan)
			}
			return err
		}))
		return res, err
	}
	if err := phase(PhaseScript, explained(func() error {
		s, changed, err := eng.UpsertScript(ctx, req.Script, req.Spec)
		if err == nil {
			res.Script = s
			obs.ScriptReady(s, changed)
		}
		return err
	})); err != nil {
		return res, err
	}
	if err := phase(PhaseRun, explained(func() error {
		run, err := eng.StartRun(ctx, res.Script, req.Profile)
		if err == nil {
			res.Run = &api.DetailedRun{Run: *run, Script: *res.Script}
			obs.RunStarted(res.Run)
		}
		return err
	})); err != nil {
		return res, err
	}
	if !req.Wait {
		return res, nil
	}
	err := phase(PhaseFollow, func() error {
		final, err := Follow(ctx, sess, res.Run, req.Follow, obs)
		if final != nil {
			res.Run = final
		}
		if err != nil {
			return err
		}
		return RunOutcome(final)
	})
	return res, err
}

// ErrNotCancelled is wrapped by Follow's error when it meant to cancel the
// run (timeout, interruption) and could not: the run may still be going.
var ErrNotCancelled = errors.New("the run could not be cancelled")

// FollowOptions say how long to follow a run and what to do when that ends
// before the run does.
type FollowOptions struct {
	// Timeout stops following after this long (0: no limit).
	Timeout time.Duration
	// CancelOnTimeout cancels the run when the timeout passes; else it goes on.
	CancelOnTimeout bool
	// CancelOnInterrupt cancels the run when ctx is done (the workflow was
	// cancelled); else it goes on (Ctrl-C on the command line).
	CancelOnInterrupt bool
	// CancelLimit bounds how long cancelling may take (0: 5s).
	CancelLimit time.Duration
	// Interactive reports the app's URL once the run is running.
	Interactive bool
}

// Follow follows a run to its end, reporting its status changes and log
// text. It returns the run as last seen; the error is classified: timed
// out, interrupted, or the Runtime's. A run that ended is no error here:
// RunOutcome judges it.
func Follow(ctx context.Context, sess *Session, run *api.DetailedRun, o FollowOptions, obs Observer) (*api.DetailedRun, error) {
	fctx := ctx
	if o.Timeout > 0 {
		var cancel context.CancelFunc
		fctx, cancel = context.WithTimeout(ctx, o.Timeout)
		defer cancel()
	}
	rt, ws := sess.Runtime, sess.WorkspaceID
	var last api.RunStatus
	appShown := false
	seen := run
	final, err := rt.Follow(fctx, ws, run.ID, client.FollowHandler{
		OnLog: obs.Log,
		OnStatus: func(r *api.DetailedRun) {
			seen = r
			if r.Status != last {
				last = r.Status
				obs.RunStatus(r)
			}
			if (o.Interactive || r.Script.ScriptType == api.ScriptInteractive) && !appShown && r.Status == api.StatusRunning && r.Script.ScriptURL != "" {
				appShown = true
				// A signed link opens the app in a browser without a token
				// (this project's server; other Runtimes have no such
				// endpoint, and the URL is all there is).
				link, lerr := rt.AppLink(fctx, ws, r.Script.Name)
				if lerr != nil {
					link = nil
				}
				obs.AppReady(r.Script.ScriptURL, link)
			}
		},
	})
	if err == nil {
		return final, nil
	}
	label := runLabel(seen)
	limit := o.CancelLimit
	if limit <= 0 {
		limit = 5 * time.Second
	}
	cancelRun := func() (*api.DetailedRun, error) {
		return CancelDetached(ctx, rt, ws, run.ID, limit)
	}
	switch {
	case ctx.Err() != nil && o.CancelOnInterrupt:
		r, cerr := cancelRun()
		if cerr != nil {
			return seen, &Error{Class: ClassInterrupted, Title: "Run not cancelled",
				Err: fmt.Errorf("the workflow was cancelled, and cancelling %s failed: %w: %w", label, ErrNotCancelled, cerr), Fix: "cancel it by hand: runtime-action runs " + run.ID + " cancel"}
		}
		return r, &Error{Class: ClassInterrupted, Err: fmt.Errorf("the workflow was cancelled, so %s was cancelled too (now %s)", label, r.Status)}
	case ctx.Err() != nil:
		return seen, &Error{Class: ClassInterrupted, Err: fmt.Errorf("interrupted: stopped following %s, which keeps running on the Runtime", label)}
	case errors.Is(err, context.DeadlineExceeded) && o.CancelOnTimeout:
		r, cerr := cancelRun()
		if cerr != nil {
			return seen, &Error{Class: ClassTimeout, Err: fmt.Errorf("%s did not end within %s, and cancelling it failed: %w: %w", label, o.Timeout, ErrNotCancelled, cerr),
				Fix: "cancel it by hand: runtime-action runs " + run.ID + " cancel"}
		}
		state := "it was cancelled"
		if !r.Status.Terminal() {
			state = "it is being cancelled (" + string(r.Status) + ")"
		}
		return r, &Error{Class: ClassTimeout, Err: fmt.Errorf("%s did not end within %s, so %s", label, o.Timeout, state)}
	case errors.Is(err, context.DeadlineExceeded):
		gctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), limit)
		defer cancel()
		if r, gerr := rt.GetRun(gctx, ws, run.ID); gerr == nil {
			seen = r
		}
		return seen, &Error{Class: ClassTimeout, Err: fmt.Errorf("%s did not end within %s; it goes on", label, o.Timeout)}
	}
	return seen, sess.Explain(ctx, fmt.Errorf("follow %s: %w", label, err))
}

// runLabel names a run in messages: `run #3 of "load.py"`, or its ID while
// its number is unknown.
func runLabel(r *api.DetailedRun) string {
	if r == nil {
		return "the run"
	}
	if r.Number > 0 && r.Script.Name != "" {
		return fmt.Sprintf("run #%d of %q", r.Number, r.Script.Name)
	}
	return "run " + r.ID
}

// RunOutcome judges a run that ended: nil when it completed, else an error
// of kind ClassRunFailed or ClassCancelled.
func RunOutcome(r *api.DetailedRun) error {
	switch r.Status {
	case api.StatusCompleted:
		return nil
	case api.StatusCancelled:
		return &Error{Class: ClassCancelled, Title: "Run cancelled", Err: fmt.Errorf("%s was cancelled", runLabel(r))}
	case api.StatusSkipped:
		return &Error{Class: ClassRunFailed, Title: "Run skipped", Err: fmt.Errorf("%s was skipped: its previous run was still active", runLabel(r))}
	}
	return &Error{Class: ClassRunFailed, Title: "Run " + string(r.Status), Err: fmt.Errorf("%s %s", runLabel(r), r.Status)}
}

// RunCanceller is what cancelling a run needs of a Runtime.
type RunCanceller interface {
	GetRun(ctx context.Context, workspaceID, runID string) (*api.DetailedRun, error)
	CancelRun(ctx context.Context, workspaceID, runID string) (*api.DetailedRun, error)
}

// CancelDetached cancels the run even though ctx may be done already (the
// workflow was cancelled, the signal cancelled ctx), within limit. A run that
// is terminal already, or turns terminal while being cancelled, is not an
// error. It returns the run as last seen.
func CancelDetached(ctx context.Context, c RunCanceller, workspaceID, runID string, limit time.Duration) (*api.DetailedRun, error) {
	ctx, stop := context.WithTimeout(context.WithoutCancel(ctx), limit)
	defer stop()
	run, err := c.CancelRun(ctx, workspaceID, runID)
	if err == nil {
		return run, nil
	}
	// The contract answers 400 for a run already terminal: look before
	// calling it a failure.
	if got, gerr := c.GetRun(ctx, workspaceID, runID); gerr == nil && got.Status.Terminal() {
		return got, nil
	}
	return nil, fmt.Errorf("cancel run %q: %w", runID, err)
}

// ScriptPlan is what a deploy would do to the script (dry runs). Its JSON
// shape is documented and stable.
type ScriptPlan struct {
	Name        string  `json:"name"`
	EntryPoint  string  `json:"entry_point"`
	ScriptType  string  `json:"script_type"`
	Profile     string  `json:"profile"`
	Exists      bool    `json:"exists"`
	WouldUpdate bool    `json:"would_update"`
	Version     *int    `json:"version"`
	Schedule    *string `json:"schedule"`
	// Changes says what an update would change ("" unless WouldUpdate and
	// Exists), e.g. `profile prod -> dev`.
	Changes string `json:"-"`
}

// PlanScript says what UpsertScript would do with the script, changing
// nothing.
func (e *Engine) PlanScript(ctx context.Context, name string, spec ScriptSpec) (*ScriptPlan, error) {
	existing, err := e.Runtime.GetScript(ctx, e.WorkspaceID, name)
	if err != nil && !client.IsNotFound(err) {
		return nil, fmt.Errorf("get script %q: %w", name, err)
	}
	typ := spec.Type
	if typ == "" {
		typ = api.ScriptBatch
		if existing != nil {
			typ = existing.ScriptType
		}
	}
	sp := &ScriptPlan{Name: name, EntryPoint: name, ScriptType: string(typ), Profile: spec.Profile, WouldUpdate: true}
	if spec.Schedule != nil && *spec.Schedule != "" {
		sp.Schedule = spec.Schedule
	}
	if existing == nil {
		return sp, nil
	}
	if sp.Profile == "" {
		sp.Profile = deref(existing.Profile)
	}
	v := existing.Version
	sp.Exists, sp.Version = true, &v
	if spec.Schedule == nil {
		sp.Schedule = existing.Schedule
	}
	now := existing.Script
	now.EntryPoint, now.ScriptType = name, typ
	now.Profile, now.Schedule = &sp.Profile, sp.Schedule
	s := existing.Script
	sp.WouldUpdate = s.EntryPoint != now.EntryPoint || s.ScriptType != now.ScriptType || deref(s.Profile) != sp.Profile || deref(s.Schedule) != deref(sp.Schedule)
	if sp.WouldUpdate {
		sp.Changes = ScriptChanges(&existing.Script, &now)
	}
	return sp, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// Describe says what the plan's script is in a few words, as a plan line
// shows it: "batch, profile prod, no schedule".
func (p *ScriptPlan) Describe() string {
	sched := "no schedule"
	if p.Schedule != nil {
		sched = fmt.Sprintf("schedule %q", *p.Schedule)
	}
	return strings.Join([]string{p.ScriptType, "profile " + p.Profile, sched}, ", ")
}

// State says what would happen to the script: "would be created",
// "unchanged", "would be updated: profile prod -> dev".
func (p *ScriptPlan) State() string {
	switch {
	case !p.Exists:
		return "would be created"
	case p.WouldUpdate:
		return "would be updated: " + p.Changes
	}
	return "unchanged"
}
