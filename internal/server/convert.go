package server

import (
	"net/url"
	"strings"
	"time"

	"github.com/dlthub/runtime-action/internal/api"
	"github.com/dlthub/runtime-action/internal/store"
)

func stamps(created, updated time.Time) api.Timestamps {
	return api.Timestamps{DateAdded: api.NewTime(created), DateUpdated: api.NewTime(updated)}
}

func timePtr(t *time.Time) *api.Time {
	if t == nil {
		return nil
	}
	return api.TimePtr(*t)
}

func apiOrganization(o store.Organization) api.Organization {
	return api.Organization{Timestamps: stamps(o.Created, o.Updated), ID: o.ID, Name: o.Name, Description: o.Description}
}

func apiWorkspace(w store.Workspace) api.Workspace {
	return api.Workspace{Timestamps: stamps(w.Created, w.Updated), ID: w.ID, Name: w.Name, Description: w.Description}
}

func apiPackage(p store.Package) api.PackageInfo {
	return api.PackageInfo{
		Timestamps:  stamps(p.Created, p.Updated),
		ContentHash: p.ContentHash,
		CreatedBy:   p.CreatedBy,
		FileCount:   p.FileCount,
		FileNames:   p.FileNames,
		ID:          p.ID,
		Size:        p.Size,
		Version:     p.Version,
		WorkspaceID: p.WorkspaceID,
	}
}

// apiPackageOf is the answer for a package of its kind.
func apiPackageOf(p store.Package) any {
	if p.Kind == store.KindConfiguration {
		return api.Configuration{PackageInfo: apiPackage(p), Profiles: p.Profiles}
	}
	return apiPackage(p)
}

// scriptURL is an interactive script's app address; batch scripts have none.
func scriptURL(base string, sc store.Script) string {
	if sc.ScriptType != api.ScriptInteractive {
		return ""
	}
	segs := strings.Split(sc.Name, "/")
	for i, seg := range segs {
		segs[i] = url.PathEscape(seg)
	}
	return base + "/apps/" + sc.WorkspaceID + "/" + strings.Join(segs, "/") + "/"
}

func apiScript(base string, sc store.Script) api.Script {
	return api.Script{
		ScriptFields: api.ScriptFields{
			Timestamps:  stamps(sc.Created, sc.Updated),
			Active:      sc.Active,
			CreatedBy:   sc.CreatedBy,
			Description: sc.Description,
			EntryPoint:  sc.EntryPoint,
			ID:          sc.ID,
			Name:        sc.Name,
			ScriptType:  sc.ScriptType,
			Version:     sc.Version,
			Profile:     sc.Profile,
			Schedule:    sc.Schedule,
		},
		ScriptURL:        scriptURL(base, sc),
		WorkspaceID:      sc.WorkspaceID,
		NextScheduledRun: timePtr(sc.NextScheduledRun),
	}
}

func apiScriptVersion(v store.ScriptVersion) api.ScriptVersion {
	return api.ScriptVersion{
		ScriptFields: api.ScriptFields{
			Timestamps:  stamps(v.Created, v.Updated),
			Active:      v.Active,
			CreatedBy:   v.CreatedBy,
			Description: v.Description,
			EntryPoint:  v.EntryPoint,
			ID:          v.ID,
			Name:        v.Name,
			ScriptType:  v.ScriptType,
			Version:     v.Version,
			Profile:     v.Profile,
			Schedule:    v.Schedule,
		},
		ScriptID: v.ScriptID,
	}
}

func apiRun(r store.Run) api.Run {
	profile := r.Profile
	return api.Run{
		Timestamps:      stamps(r.Created, r.Updated),
		ConfigurationID: r.ConfigurationID,
		DeploymentID:    r.DeploymentID,
		ID:              r.ID,
		Number:          r.Number,
		ScriptVersionID: r.ScriptVersionID,
		Status:          r.Status,
		Trigger:         r.Trigger,
		WorkspaceID:     r.WorkspaceID,
		Duration:        r.Duration,
		Profile:         &profile,
		TimeStarted:     timePtr(r.TimeStarted),
		TimeEnded:       timePtr(r.TimeEnded),
		TriggeredBy:     r.TriggeredBy,
	}
}
