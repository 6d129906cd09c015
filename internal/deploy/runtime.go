package deploy

import (
	"context"

	"github.com/dlthub/runtime-action/internal/api"
	"github.com/dlthub/runtime-action/internal/client"
)

// Runtime is what the engine needs of a Runtime's API: the one seam between
// the deploy flow and the wire. internal/client implements it for the
// Runtime v1 API; another flavour of API (other credentials, other upload
// or run calls) would implement it beside that, and the command line and
// the Action would not change.
type Runtime interface {
	Me(ctx context.Context) (*api.Me, error)
	GetWorkspace(ctx context.Context, id string) (*api.Workspace, error)

	LatestDeployment(ctx context.Context, ws string) (*api.Deployment, error)
	UploadDeployment(ctx context.Context, ws string, tarGz []byte) (*api.Deployment, error)
	LatestConfiguration(ctx context.Context, ws string) (*api.Configuration, error)
	UploadConfiguration(ctx context.Context, ws string, tarGz []byte) (*api.Configuration, error)

	GetScript(ctx context.Context, ws, idOrName string) (*api.DetailedScript, error)
	UpsertScript(ctx context.Context, ws string, req api.CreateScriptRequest) (*api.Script, error)

	CreateRun(ctx context.Context, ws string, req api.CreateRunRequest, scriptID string) (*api.Run, error)
	GetRun(ctx context.Context, ws, runID string) (*api.DetailedRun, error)
	CancelRun(ctx context.Context, ws, runID string) (*api.DetailedRun, error)
	Follow(ctx context.Context, ws, runID string, h client.FollowHandler) (*api.DetailedRun, error)
	AppLink(ctx context.Context, ws, idOrName string) (*api.AppLinkResponse, error)
}

var _ Runtime = (*client.Client)(nil)
