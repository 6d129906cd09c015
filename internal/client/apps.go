package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/dlthub/runtime-action/internal/api"
)

// AppLink asks for a signed link to an interactive script's app, valid for a
// few minutes, that opens it in a browser without a token. It is an
// EXTENSION of this project's server (POST
// /v1/workspaces/{ws}/scripts/{name}/app-link, not in the contract): other
// Runtimes answer 404 or 405, and callers fall back to the script's
// script_url. The link is a credential: print it, never log it.
func (c *Client) AppLink(ctx context.Context, ws, idOrName string) (*api.AppLinkResponse, error) {
	if err := firstErr(need("workspace id", ws), need("script id or name", idOrName)); err != nil {
		return nil, fmt.Errorf("get app link: %w", err)
	}
	var out api.AppLinkResponse
	// Minting twice does no harm: safe to retry.
	cl := &call{ep: &c.api, method: http.MethodPost, path: pathOf("v1", "workspaces", ws, "scripts", idOrName, "app-link"),
		withToken: true, retry: retrySafe}
	err := c.do(ctx, cl, &out, func() error {
		if !strings.HasPrefix(out.URL, "http://") && !strings.HasPrefix(out.URL, "https://") {
			return errors.New(`the answer has no http(s) "url"`)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}
