package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// OIDCRequest says where a GitHub Actions job gets its OIDC ID token: the
// runner gives the job ACTIONS_ID_TOKEN_REQUEST_URL and
// ACTIONS_ID_TOKEN_REQUEST_TOKEN when the workflow grants "id-token: write".
type OIDCRequest struct {
	URL          string
	RequestToken string
	// Audience is the "aud" the ID token is issued for; empty leaves GitHub's default.
	Audience string
	// HTTP is the client to use; nil means one with a 30 second timeout.
	HTTP *http.Client
}

// maxOIDCAnswer bounds the answer read: an ID token is a few kilobytes.
const maxOIDCAnswer = 1 << 20

// FetchGitHubOIDC asks the Actions runtime for an ID token and returns it.
// Errors name the step that failed and never contain either token.
func FetchGitHubOIDC(ctx context.Context, r OIDCRequest) (string, error) {
	if strings.TrimSpace(r.URL) == "" {
		return "", errors.New("request GitHub OIDC token: the runner gave no token URL (ACTIONS_ID_TOKEN_REQUEST_URL is empty): grant the job \"permissions: id-token: write\"")
	}
	if strings.TrimSpace(r.RequestToken) == "" {
		return "", errors.New("request GitHub OIDC token: the runner gave no request token (ACTIONS_ID_TOKEN_REQUEST_TOKEN is empty): grant the job \"permissions: id-token: write\"")
	}
	u, err := oidcURL(r.URL, r.Audience)
	if err != nil {
		return "", err
	}
	hc := r.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return "", fmt.Errorf("request GitHub OIDC token: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+r.RequestToken)
	req.Header.Set("Accept", "application/json")
	where := u.Scheme + "://" + u.Host
	resp, err := hc.Do(req)
	if err != nil {
		return "", fmt.Errorf("request GitHub OIDC token from %s: %s", where, netReason(ctx, err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxOIDCAnswer+1))
	if err != nil {
		return "", fmt.Errorf("read GitHub OIDC token answer from %s: %s", where, netReason(ctx, err))
	}
	if len(body) > maxOIDCAnswer {
		return "", fmt.Errorf("read GitHub OIDC token answer from %s: it is larger than %d bytes", where, maxOIDCAnswer)
	}
	if resp.StatusCode != http.StatusOK {
		msg := fmt.Sprintf("request GitHub OIDC token from %s: HTTP %d", where, resp.StatusCode)
		var e struct {
			Message string `json:"message"`
		}
		if json.Unmarshal(body, &e) == nil && e.Message != "" {
			msg += ": " + scrub(e.Message, r.RequestToken)
		}
		if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
			msg += " (check that the job has \"permissions: id-token: write\")"
		}
		return "", errors.New(msg)
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	var v struct {
		Value *string `json:"value"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return "", fmt.Errorf("read GitHub OIDC token answer from %s: not JSON (content-type %q)", where, mt)
	}
	if v.Value == nil || strings.TrimSpace(*v.Value) == "" {
		return "", fmt.Errorf("read GitHub OIDC token answer from %s: it holds no \"value\"", where)
	}
	return strings.TrimSpace(*v.Value), nil
}

// oidcURL adds the audience to the runner's URL, which usually carries a query
// already (api-version=...), without disturbing what is there.
func oidcURL(raw, audience string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		// The URL is not secret, but it is not echoed either: a broken one may
		// hold anything the environment put there.
		return nil, errors.New("request GitHub OIDC token: ACTIONS_ID_TOKEN_REQUEST_URL is not an http(s) URL")
	}
	if audience != "" {
		a := "audience=" + url.QueryEscape(audience)
		if u.RawQuery == "" {
			u.RawQuery = a
		} else {
			u.RawQuery = strings.TrimSuffix(u.RawQuery, "&") + "&" + a
		}
	}
	u.ForceQuery = false
	return u, nil
}

// netReason describes a transport failure without the request URL, which
// net/http puts into its errors together with the query.
func netReason(ctx context.Context, err error) string {
	if ctx.Err() != nil {
		return ctx.Err().Error()
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "no answer in time"
	}
	return err.Error()
}

// scrub removes secrets a server might echo back.
func scrub(s string, secrets ...string) string {
	for _, sec := range secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, "***")
		}
	}
	return s
}
