package action

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// idTokenFetch asks the runner's token service for a GitHub Actions ID
// token, retrying what is worth retrying (a connection that failed, 429 and
// 5xx answers) as the Runtime client does: a token service that hiccups
// once should not fail a deploy.
type idTokenFetch struct {
	HTTP     *http.Client
	Attempts int           // in all, the first one included
	Backoff  time.Duration // before the second attempt; doubled each time
	Sleep    func(context.Context, time.Duration) error
}

func defaultIDTokenFetch() idTokenFetch {
	return idTokenFetch{HTTP: &http.Client{Timeout: 30 * time.Second}, Attempts: 4, Backoff: time.Second, Sleep: sleepCtx}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// errRetryable marks a failed attempt worth another.
type errRetryable struct{ err error }

func (e errRetryable) Error() string { return e.err.Error() }
func (e errRetryable) Unwrap() error { return e.err }

// fetch returns the ID token for audience. The request token is a secret:
// it is sent, never put in an error.
func (f idTokenFetch) fetch(ctx context.Context, req oidcRequest, audience string) (string, error) {
	u, err := url.Parse(req.URL)
	if err != nil {
		return "", errors.New("ACTIONS_ID_TOKEN_REQUEST_URL is not a URL")
	}
	if audience != "" {
		q := u.Query()
		q.Set("audience", audience)
		u.RawQuery = q.Encode()
	}
	wait := f.Backoff
	for attempt := 1; ; attempt++ {
		tok, err := f.once(ctx, u.String(), req.RequestToken)
		var r errRetryable
		if err == nil || !errors.As(err, &r) || attempt >= f.Attempts || ctx.Err() != nil {
			if err != nil && attempt > 1 {
				err = fmt.Errorf("%w (%d attempts)", err, attempt)
			}
			return tok, err
		}
		if serr := f.Sleep(ctx, wait); serr != nil {
			return "", fmt.Errorf("%w (%d attempts)", err, attempt)
		}
		wait *= 2
	}
}

func (f idTokenFetch) once(ctx context.Context, u, requestToken string) (string, error) {
	hreq, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", err
	}
	hreq.Header.Set("Authorization", "Bearer "+requestToken)
	hreq.Header.Set("Accept", "application/json")
	resp, err := f.HTTP.Do(hreq)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is the runner's, with nothing secret, but long
		}
		return "", errRetryable{fmt.Errorf("the token service is unreachable: %w", err)}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return "", errRetryable{fmt.Errorf("read the token service's answer: %w", err)}
	}
	if resp.StatusCode != http.StatusOK {
		err := fmt.Errorf("the token service answered %d: %s", resp.StatusCode, cutUTF8(strings.TrimSpace(string(body)), 200))
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
			return "", errRetryable{err}
		}
		return "", err
	}
	var v struct {
		Value string `json:"value"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return "", fmt.Errorf("the token service's answer is not JSON: %w", err)
	}
	return v.Value, nil
}
