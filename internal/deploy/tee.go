package deploy

import "github.com/dlthub/runtime-action/internal/api"

// Tee reports to every one of obs, in order: a front end's rendering and,
// in tests, a recorder beside it.
func Tee(obs ...Observer) Observer { return tee(obs) }

type tee []Observer

var _ Observer = tee(nil)

func (t tee) Progress(msg string) {
	for _, o := range t {
		o.Progress(msg)
	}
}

func (t tee) Warn(msg string) {
	for _, o := range t {
		o.Warn(msg)
	}
}

func (t tee) PhaseStarted(p Phase) {
	for _, o := range t {
		o.PhaseStarted(p)
	}
}

func (t tee) PhaseEnded(p Phase, err error) {
	for _, o := range t {
		o.PhaseEnded(p, err)
	}
}

func (t tee) Authenticated(s *Session) {
	for _, o := range t {
		o.Authenticated(s)
	}
}

func (t tee) Synced(res *SyncResult) {
	for _, o := range t {
		o.Synced(res)
	}
}

func (t tee) Planned(p *ScriptPlan) {
	for _, o := range t {
		o.Planned(p)
	}
}

func (t tee) ScriptReady(s *api.Script, changed bool) {
	for _, o := range t {
		o.ScriptReady(s, changed)
	}
}

func (t tee) RunStarted(run *api.DetailedRun) {
	for _, o := range t {
		o.RunStarted(run)
	}
}

func (t tee) RunStatus(run *api.DetailedRun) {
	for _, o := range t {
		o.RunStatus(run)
	}
}

func (t tee) Log(text string) {
	for _, o := range t {
		o.Log(text)
	}
}

func (t tee) AppReady(url string, link *api.AppLinkResponse) {
	for _, o := range t {
		o.AppReady(url, link)
	}
}
