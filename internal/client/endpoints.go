package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"

	"github.com/dlthub/runtime-action/internal/api"
)

// need rejects empty identifiers before anything is sent: an empty segment
// would silently address a different endpoint.
func need(what, v string) error {
	if strings.TrimSpace(v) == "" {
		return fmt.Errorf("%s is empty", what)
	}
	return nil
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func requireID(what, id string) error {
	if id == "" {
		return fmt.Errorf("the %s has no \"id\"", what)
	}
	return nil
}

func pageQuery(limit, offset int) url.Values {
	q := url.Values{}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	if offset > 0 {
		q.Set("offset", strconv.Itoa(offset))
	}
	return q
}

func (c *Client) get(ctx context.Context, p apiPath, q url.Values, out any, check func() error) error {
	return c.do(ctx, &call{ep: &c.api, method: http.MethodGet, path: p, query: q, withToken: true}, out, check)
}

// wirePage is a list answer as it is on the wire. Every property of the
// contract's ListPage is optional, so an answer without "items" (or with
// null) is an empty page, as long as it is a page at all: one with none of
// the properties is not the API.
type wirePage[T any] struct {
	Items  *[]T `json:"items"`
	Limit  *int `json:"limit"`
	Offset *int `json:"offset"`
	Total  *int `json:"total"`
}

// getPage reads a list answer; check, when set, looks at each item.
func getPage[T any](ctx context.Context, c *Client, p apiPath, q url.Values, check func(*T) error) (*api.Page[T], error) {
	var w wirePage[T]
	err := c.get(ctx, p, q, &w, func() error {
		if w.Items == nil && w.Limit == nil && w.Offset == nil && w.Total == nil {
			return errors.New(`the list has no "items"`)
		}
		if w.Items != nil && check != nil {
			for i := range *w.Items {
				if err := check(&(*w.Items)[i]); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := &api.Page[T]{Items: []T{}}
	if w.Items != nil {
		out.Items = *w.Items
	}
	if w.Limit != nil {
		out.Limit = *w.Limit
	}
	if w.Offset != nil {
		out.Offset = *w.Offset
	}
	// Without a total, what the page shows is all that is known.
	out.Total = out.Offset + len(out.Items)
	if w.Total != nil {
		out.Total = *w.Total
	}
	return out, nil
}

// Ping asks the API service whether it is alive; it needs no token.
func (c *Client) Ping(ctx context.Context) (*api.PingResponse, error) {
	var out api.PingResponse
	err := c.do(ctx, &call{ep: &c.api, method: http.MethodGet, path: pathOf("v1", "ping")}, &out, func() error {
		if out.Message == "" && out.Service == "" {
			return errors.New(`the answer has no "message" and no "service"`)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// Me returns who the token belongs to and their default workspace.
func (c *Client) Me(ctx context.Context) (*api.Me, error) {
	var out api.Me
	err := c.get(ctx, pathOf("v1", "me"), nil, &out, func() error {
		if out.UserID == "" {
			return errors.New(`the answer has no "user_id"`)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// GetOrganization returns one organization.
func (c *Client) GetOrganization(ctx context.Context, id string) (*api.Organization, error) {
	if err := need("organization id", id); err != nil {
		return nil, fmt.Errorf("get organization: %w", err)
	}
	var out api.Organization
	if err := c.get(ctx, pathOf("v1", "organizations", id), nil, &out, func() error { return requireID("organization", out.ID) }); err != nil {
		return nil, err
	}
	return &out, nil
}

// GetWorkspace returns one workspace.
func (c *Client) GetWorkspace(ctx context.Context, id string) (*api.Workspace, error) {
	if err := need("workspace id", id); err != nil {
		return nil, fmt.Errorf("get workspace: %w", err)
	}
	var out api.Workspace
	if err := c.get(ctx, pathOf("v1", "workspaces", id), nil, &out, func() error { return requireID("workspace", out.ID) }); err != nil {
		return nil, err
	}
	return &out, nil
}

// packageKind holds what differs between deployments and configurations.
type packageKind struct {
	collection, fileName, what string
}

// The two kinds are values, not package variables, so nothing can change them.
func deployments() packageKind {
	return packageKind{collection: "deployments", fileName: "workspace.tar.gz", what: "deployment"}
}

func configurations() packageKind {
	return packageKind{collection: "configurations", fileName: "configurations.tar.gz", what: "configuration"}
}

func listPackages[T any](ctx context.Context, c *Client, k packageKind, ws string, limit, offset int) (*api.Page[T], error) {
	if err := need("workspace id", ws); err != nil {
		return nil, fmt.Errorf("list %s: %w", k.collection, err)
	}
	return getPage[T](ctx, c, pathOf("v1", "workspaces", ws, k.collection), pageQuery(limit, offset), nil)
}

func getPackage[T any](ctx context.Context, c *Client, k packageKind, ws, idOrVersion string, id func(*T) string) (*T, error) {
	if err := need("workspace id", ws); err != nil {
		return nil, fmt.Errorf("get %s: %w", k.what, err)
	}
	if err := need(k.what+" id or version", idOrVersion); err != nil {
		return nil, fmt.Errorf("get %s: %w", k.what, err)
	}
	var out T
	if err := c.get(ctx, pathOf("v1", "workspaces", ws, k.collection, idOrVersion), nil, &out, func() error { return requireID(k.what, id(&out)) }); err != nil {
		return nil, err
	}
	return &out, nil
}

func uploadPackage[T any](ctx context.Context, c *Client, k packageKind, ws string, tarGz []byte, id func(*T) string) (*T, error) {
	if err := need("workspace id", ws); err != nil {
		return nil, fmt.Errorf("upload %s: %w", k.what, err)
	}
	if len(tarGz) == 0 {
		return nil, fmt.Errorf("upload %s: the package is empty", k.what)
	}
	body, ct, err := multipartFile(k.fileName, tarGz)
	if err != nil {
		return nil, fmt.Errorf("upload %s: %w", k.what, err)
	}
	var out T
	// Retrying is safe: the server returns the latest package instead of
	// making a new version when the content hash is the same.
	cl := &call{ep: &c.api, method: http.MethodPost, path: pathOf("v1", "workspaces", ws, k.collection),
		body: body, contentType: ct, withToken: true, retry: retrySafe, timeout: c.uploadTimeout}
	if err := c.do(ctx, cl, &out, func() error { return requireID(k.what, id(&out)) }); err != nil {
		return nil, err
	}
	return &out, nil
}

// multipartFile builds the upload body once, so every attempt resends the same bytes.
func multipartFile(fileName string, data []byte) ([]byte, string, error) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="file"; filename=%q`, fileName))
	h.Set("Content-Type", "application/x-tar")
	part, err := mw.CreatePart(h)
	if err != nil {
		return nil, "", err
	}
	if _, err := part.Write(data); err != nil {
		return nil, "", err
	}
	if err := mw.Close(); err != nil {
		return nil, "", err
	}
	return buf.Bytes(), mw.FormDataContentType(), nil
}

func deploymentID(d *api.Deployment) string       { return d.ID }
func configurationID(d *api.Configuration) string { return d.ID }

// ListDeployments lists a workspace's deployments, newest first; a limit or
// offset of 0 leaves the server's default.
func (c *Client) ListDeployments(ctx context.Context, ws string, limit, offset int) (*api.Page[api.Deployment], error) {
	return listPackages[api.Deployment](ctx, c, deployments(), ws, limit, offset)
}

// LatestDeployment returns the newest deployment, or nil when there is none.
func (c *Client) LatestDeployment(ctx context.Context, ws string) (*api.Deployment, error) {
	d, err := getPackage(ctx, c, deployments(), ws, "latest", deploymentID)
	if IsNotFound(err) {
		return nil, nil
	}
	return d, err
}

// GetDeployment returns a deployment by id or version number.
func (c *Client) GetDeployment(ctx context.Context, ws, idOrVersion string) (*api.Deployment, error) {
	return getPackage(ctx, c, deployments(), ws, idOrVersion, deploymentID)
}

// UploadDeployment uploads a deployment package (docs/PACKAGING.md).
func (c *Client) UploadDeployment(ctx context.Context, ws string, tarGz []byte) (*api.Deployment, error) {
	return uploadPackage(ctx, c, deployments(), ws, tarGz, deploymentID)
}

// ListConfigurations lists a workspace's configurations, newest first.
func (c *Client) ListConfigurations(ctx context.Context, ws string, limit, offset int) (*api.Page[api.Configuration], error) {
	return listPackages[api.Configuration](ctx, c, configurations(), ws, limit, offset)
}

// LatestConfiguration returns the newest configuration, or nil when there is none.
func (c *Client) LatestConfiguration(ctx context.Context, ws string) (*api.Configuration, error) {
	d, err := getPackage(ctx, c, configurations(), ws, "latest", configurationID)
	if IsNotFound(err) {
		return nil, nil
	}
	return d, err
}

// GetConfiguration returns a configuration by id or version number.
func (c *Client) GetConfiguration(ctx context.Context, ws, idOrVersion string) (*api.Configuration, error) {
	return getPackage(ctx, c, configurations(), ws, idOrVersion, configurationID)
}

// UploadConfiguration uploads a configuration package (docs/PACKAGING.md).
func (c *Client) UploadConfiguration(ctx context.Context, ws string, tarGz []byte) (*api.Configuration, error) {
	return uploadPackage(ctx, c, configurations(), ws, tarGz, configurationID)
}

func checkScript(s *api.Script) error {
	if s.ID == "" || s.Name == "" {
		return errors.New(`the script has no "id" or no "name"`)
	}
	return nil
}

// ListScripts lists a workspace's scripts.
func (c *Client) ListScripts(ctx context.Context, ws string, limit, offset int) (*api.Page[api.DetailedScript], error) {
	if err := need("workspace id", ws); err != nil {
		return nil, fmt.Errorf("list scripts: %w", err)
	}
	return getPage[api.DetailedScript](ctx, c, pathOf("v1", "workspaces", ws, "scripts"), pageQuery(limit, offset), nil)
}

// GetScript returns a script by id or name. The name is sent as one path
// segment, slashes percent-encoded.
func (c *Client) GetScript(ctx context.Context, ws, idOrName string) (*api.DetailedScript, error) {
	if err := firstErr(need("workspace id", ws), need("script id or name", idOrName)); err != nil {
		return nil, fmt.Errorf("get script: %w", err)
	}
	var out api.DetailedScript
	if err := c.get(ctx, pathOf("v1", "workspaces", ws, "scripts", idOrName), nil, &out, func() error { return checkScript(&out.Script) }); err != nil {
		return nil, err
	}
	return &out, nil
}

// UpsertScript creates the script named req.Name or updates it. Retrying is
// safe: an identical request changes nothing.
func (c *Client) UpsertScript(ctx context.Context, ws string, req api.CreateScriptRequest) (*api.Script, error) {
	if err := firstErr(need("workspace id", ws), need("script name", req.Name)); err != nil {
		return nil, fmt.Errorf("create or update script: %w", err)
	}
	body, err := jsonBody(req)
	if err != nil {
		return nil, fmt.Errorf("create or update script %q: %w", req.Name, err)
	}
	var out api.Script
	cl := &call{ep: &c.api, method: http.MethodPost, path: pathOf("v1", "workspaces", ws, "scripts"), body: body,
		contentType: "application/json", withToken: true, retry: retrySafe}
	if err := c.do(ctx, cl, &out, func() error { return checkScript(&out) }); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListScriptVersions lists the versions of a script.
func (c *Client) ListScriptVersions(ctx context.Context, ws, idOrName string, limit, offset int) (*api.Page[api.ScriptVersion], error) {
	if err := firstErr(need("workspace id", ws), need("script id or name", idOrName)); err != nil {
		return nil, fmt.Errorf("list script versions: %w", err)
	}
	return getPage[api.ScriptVersion](ctx, c, pathOf("v1", "workspaces", ws, "scripts", idOrName, "versions"), pageQuery(limit, offset), nil)
}

// LatestScriptVersion returns the newest version of a script.
func (c *Client) LatestScriptVersion(ctx context.Context, ws, idOrName string) (*api.ScriptVersion, error) {
	if err := firstErr(need("workspace id", ws), need("script id or name", idOrName)); err != nil {
		return nil, fmt.Errorf("get latest script version: %w", err)
	}
	var out api.ScriptVersion
	if err := c.get(ctx, pathOf("v1", "workspaces", ws, "scripts", idOrName, "versions", "latest"), nil, &out, func() error { return requireID("script version", out.ID) }); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListRunsOptions filter and page ListRuns; zero values leave the server's defaults.
type ListRunsOptions struct {
	ScriptID      string
	Status        api.RunStatus
	Limit, Offset int
}

func checkRun(r *api.Run) error {
	if r.ID == "" {
		return errors.New(`the run has no "id"`)
	}
	if !r.Status.Valid() {
		return fmt.Errorf("the run's status %q is not one of the contract's", r.Status)
	}
	return nil
}

// ListRuns lists runs, newest first.
func (c *Client) ListRuns(ctx context.Context, ws string, o ListRunsOptions) (*api.Page[api.DetailedRun], error) {
	if err := need("workspace id", ws); err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	q := pageQuery(o.Limit, o.Offset)
	if o.ScriptID != "" {
		q.Set("script_id", o.ScriptID)
	}
	if o.Status != "" {
		q.Set("status", string(o.Status))
	}
	return getPage(ctx, c, pathOf("v1", "workspaces", ws, "runs"), q, func(r *api.DetailedRun) error { return checkRun(&r.Run) })
}

// LatestRun returns the newest run (of one script when scriptID is set), or
// nil when there is none.
func (c *Client) LatestRun(ctx context.Context, ws, scriptID string) (*api.DetailedRun, error) {
	if err := need("workspace id", ws); err != nil {
		return nil, fmt.Errorf("get latest run: %w", err)
	}
	q := url.Values{}
	if scriptID != "" {
		q.Set("script_id", scriptID)
	}
	var out api.DetailedRun
	err := c.get(ctx, pathOf("v1", "workspaces", ws, "runs", "latest"), q, &out, func() error { return checkRun(&out.Run) })
	if IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// GetRun returns one run.
func (c *Client) GetRun(ctx context.Context, ws, runID string) (*api.DetailedRun, error) {
	if err := firstErr(need("workspace id", ws), need("run id", runID)); err != nil {
		return nil, fmt.Errorf("get run: %w", err)
	}
	var out api.DetailedRun
	if err := c.get(ctx, pathOf("v1", "workspaces", ws, "runs", runID), nil, &out, func() error { return checkRun(&out.Run) }); err != nil {
		return nil, err
	}
	return &out, nil
}

// CancelRun asks a run to stop and returns it as the server left it. A
// retried request that the server refuses (400) because the run has ended
// (its first attempt may have done it) returns the run instead: the run's
// status says so, not the error's wording.
func (c *Client) CancelRun(ctx context.Context, ws, runID string) (*api.DetailedRun, error) {
	if err := firstErr(need("workspace id", ws), need("run id", runID)); err != nil {
		return nil, fmt.Errorf("cancel run: %w", err)
	}
	var out api.DetailedRun
	cl := &call{ep: &c.api, method: http.MethodPost, path: pathOf("v1", "workspaces", ws, "runs", runID, "cancel"), withToken: true, retry: retrySafe}
	err := c.do(ctx, cl, &out, func() error { return checkRun(&out.Run) })
	if err != nil && cl.attempts > 1 && IsStatus(err, http.StatusBadRequest) {
		if run, gerr := c.GetRun(ctx, ws, runID); gerr == nil && run.Status.Terminal() {
			return run, nil
		}
	}
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// Logs returns the run and its whole log so far.
func (c *Client) Logs(ctx context.Context, ws, runID string) (*api.LogsResponse, error) {
	if err := firstErr(need("workspace id", ws), need("run id", runID)); err != nil {
		return nil, fmt.Errorf("get run logs: %w", err)
	}
	var out api.LogsResponse
	if err := c.get(ctx, pathOf("v1", "workspaces", ws, "runs", runID, "logs"), nil, &out, func() error { return checkRun(&out.Run.Run) }); err != nil {
		return nil, err
	}
	return &out, nil
}
