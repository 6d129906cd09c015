// Package oidc verifies GitHub Actions ID tokens for the self-hosted
// Runtime's OIDC exchange: RS256 signatures with a key of one configured
// issuer, found through its discovery document and JWKS and cached, the
// issuer, the audience and the times. What a verified token may do (trust
// rules, replay) is the exchange's business, in internal/server.
package oidc

import (
	"bytes"
	"context"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Defaults of Config.
const (
	// DefaultIssuer is GitHub Actions' token service.
	DefaultIssuer = "https://token.actions.githubusercontent.com"
	// DefaultAudience is the audience the Action asks its ID token for.
	DefaultAudience = "dlt-runtime"
	// DefaultKeyRefresh is the least time between two fetches of the
	// issuer's keys: a token with an unknown kid can make one fetch, not
	// one per request.
	DefaultKeyRefresh = 30 * time.Second
	// DefaultKeyMaxAge is how long fetched keys are used before they
	// are fetched again, so that a key the issuer withdrew stops working.
	DefaultKeyMaxAge = time.Hour
	// DefaultLeeway is the clock skew allowed on exp, nbf and iat.
	DefaultLeeway = 30 * time.Second
	// DefaultTimeout bounds each request to the issuer.
	DefaultTimeout = 10 * time.Second
	// minRSABits is the smallest RSA key accepted from the issuer.
	minRSABits = 2048
	// maxIssuerAnswer bounds what is read of the issuer's documents.
	maxIssuerAnswer = 1 << 20
)

// Config configures the verification of GitHub Actions ID tokens.
type Config struct {
	// Issuer is the only issuer accepted; its keys are found through
	// Issuer/.well-known/openid-configuration.
	Issuer string
	// Audience is the one audience a token must carry.
	Audience string
	// KeyRefresh is the least time between two fetches of the keys.
	KeyRefresh time.Duration
	// KeyMaxAge is how long fetched keys are trusted without a new fetch.
	KeyMaxAge time.Duration
	// Leeway is the clock skew allowed on exp, nbf and iat.
	Leeway time.Duration
	// Client asks the issuer (default: one with a 10s timeout).
	Client *http.Client
}

// WithDefaults fills in what c leaves empty.
func (c Config) WithDefaults() Config {
	if c.Issuer == "" {
		c.Issuer = DefaultIssuer
	}
	c.Issuer = strings.TrimRight(c.Issuer, "/")
	if c.Audience == "" {
		c.Audience = DefaultAudience
	}
	if c.KeyRefresh <= 0 {
		c.KeyRefresh = DefaultKeyRefresh
	}
	if c.KeyMaxAge <= 0 {
		c.KeyMaxAge = DefaultKeyMaxAge
	}
	if c.Leeway <= 0 {
		c.Leeway = DefaultLeeway
	}
	if c.Client == nil {
		c.Client = &http.Client{Timeout: DefaultTimeout}
	}
	return c
}

// CheckIssuer checks an issuer URL: https, or http on a loopback host
// (a local stand-in), with no query or fragment.
func CheckIssuer(issuer string) error {
	u, err := url.Parse(issuer)
	if err == nil && u.Host != "" && u.RawQuery == "" && u.Fragment == "" && u.User == nil {
		if u.Scheme == "https" {
			return nil
		}
		if host := u.Hostname(); u.Scheme == "http" && (host == "localhost" || net.ParseIP(host).IsLoopback()) {
			return nil
		}
	}
	return fmt.Errorf("invalid OIDC issuer %q: expected an https URL such as %s (http only on a loopback address)", issuer, DefaultIssuer)
}

// Claims are the claims of a GitHub Actions ID token the exchange
// reads. GitHub writes the ids as decimal strings.
type Claims struct {
	jwt.RegisteredClaims
	Repository        string `json:"repository"`
	RepositoryID      string `json:"repository_id"`
	RepositoryOwner   string `json:"repository_owner"`
	RepositoryOwnerID string `json:"repository_owner_id"`
	Ref               string `json:"ref"`
	Environment       string `json:"environment"`
	JobWorkflowRef    string `json:"job_workflow_ref"`
	EventName         string `json:"event_name"`
	RunID             string `json:"run_id"`
}

// Verifier checks GitHub Actions ID tokens: RS256 with a key of the
// configured issuer, that issuer, exactly the configured audience, and the
// times with some leeway. Replay (jti) is the exchange's business: a token
// is used up only when it is exchanged.
type Verifier struct {
	cfg  Config
	now  func() time.Time
	keys *keySet
}

// NewVerifier makes a Verifier of cfg (defaults filled in) on the clock
// now; log gets a line for every fetch of the issuer's keys.
func NewVerifier(cfg Config, now func() time.Time, log *slog.Logger) (*Verifier, error) {
	cfg = cfg.WithDefaults()
	if err := CheckIssuer(cfg.Issuer); err != nil {
		return nil, err
	}
	if strings.TrimSpace(cfg.Audience) == "" {
		return nil, errors.New("invalid OIDC audience: it must not be empty")
	}
	return &Verifier{cfg: cfg, now: now, keys: &keySet{
		issuer: cfg.Issuer, client: cfg.Client, minRefresh: cfg.KeyRefresh, maxAge: cfg.KeyMaxAge, now: now, log: log,
	}}, nil
}

// Config is the verifier's configuration, defaults filled in.
func (v *Verifier) Config() Config { return v.cfg }

// RefusedError is a token that fails verification: the caller sent a wrong
// one (HTTP 401). Its message says why, and never holds the token.
type RefusedError struct{ Reason string }

// Error is the reason, for the caller and the log.
func (e *RefusedError) Error() string { return "ID token refused: " + e.Reason }

// refused is the RefusedError of a reason.
func refused(format string, args ...any) *RefusedError {
	return &RefusedError{Reason: fmt.Sprintf(format, args...)}
}

// IssuerError is the issuer's keys that cannot be had: not the caller's
// fault (HTTP 502). Err is the cause, for the log.
type IssuerError struct {
	Issuer string
	Err    error
}

// Error is the sentence the caller reads, without the cause.
func (e *IssuerError) Error() string {
	return fmt.Sprintf("cannot get the signing keys of the OIDC issuer %q: try again later", e.Issuer)
}

// Unwrap is the cause.
func (e *IssuerError) Unwrap() error { return e.Err }

// Verify checks tok and returns its claims. Its errors are a *RefusedError
// for a token that is wrong and an *IssuerError when the issuer's keys
// cannot be had.
func (v *Verifier) Verify(ctx context.Context, tok string) (*Claims, error) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil, refused("not a JWT (expected three dot-separated parts)")
	}
	var head struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}
	if err := decodePart(parts[0], &head); err != nil {
		return nil, refused("its header is not base64url JSON")
	}
	// Before any key is looked at: "none" and HS256 (an HMAC keyed with the
	// public key, which anyone has) must never reach a verifier.
	if head.Alg != jwt.SigningMethodRS256.Alg() {
		return nil, refused("signed with %q: only RS256 is accepted", head.Alg)
	}
	// The issuer is compared before keys are fetched, so that a token from
	// elsewhere makes no request to our issuer; the signature check below
	// covers the claim again.
	var unverified struct {
		Iss any `json:"iss"`
	}
	if err := decodePart(parts[1], &unverified); err != nil {
		return nil, refused("its payload is not base64url JSON")
	}
	if iss, _ := unverified.Iss.(string); iss != v.cfg.Issuer {
		return nil, refused("issuer %q is not the trusted issuer %q", fmt.Sprint(unverified.Iss), v.cfg.Issuer)
	}
	if head.Kid == "" {
		return nil, refused("its header names no key (kid)")
	}
	key, err := v.keys.key(ctx, head.Kid)
	if err != nil {
		return nil, err
	}
	c := &Claims{}
	_, err = jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodRS256.Alg()}),
		jwt.WithIssuer(v.cfg.Issuer),
		jwt.WithLeeway(v.cfg.Leeway),
		jwt.WithTimeFunc(v.now),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
	).ParseWithClaims(tok, c, func(*jwt.Token) (any, error) { return key, nil })
	if err != nil {
		switch {
		case errors.Is(err, jwt.ErrTokenSignatureInvalid):
			return nil, refused("bad signature")
		case errors.Is(err, jwt.ErrTokenExpired):
			return nil, refused("expired: request a new one")
		case errors.Is(err, jwt.ErrTokenNotValidYet):
			return nil, refused("not valid yet (nbf is in the future): check the clocks")
		case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
			return nil, refused("issued in the future (iat): check the clocks")
		case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
			return nil, refused("it has no expiry (exp)")
		case errors.Is(err, jwt.ErrTokenMalformed):
			return nil, refused("malformed claims")
		}
		return nil, refused("%v", err)
	}
	if c.IssuedAt == nil {
		return nil, refused("it has no issue time (iat)")
	}
	if len(c.Audience) != 1 {
		return nil, refused("it must carry exactly one audience, %q; it carries %d", v.cfg.Audience, len(c.Audience))
	}
	if c.Audience[0] != v.cfg.Audience {
		return nil, refused("audience %q is not %q: ask for an ID token with that audience (the Action's oidc-audience input)", c.Audience[0], v.cfg.Audience)
	}
	if c.ID == "" {
		return nil, refused("it has no token id (jti), so a replay could not be told apart")
	}
	return c, nil
}

// decodePart decodes one base64url part of a JWT into v.
func decodePart(s string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	return dec.Decode(v)
}

// keySet holds the issuer's public keys by kid. An unknown kid (the issuer
// rotated its keys) or keys older than maxAge make it fetch them again, but
// never twice within minRefresh: tokens with made-up kids cannot make the
// server hammer the issuer.
type keySet struct {
	issuer     string
	client     *http.Client
	minRefresh time.Duration
	maxAge     time.Duration
	now        func() time.Time
	log        *slog.Logger

	mu      sync.Mutex // held during a fetch: concurrent misses wait for it
	keys    map[string]*rsa.PublicKey
	fetched time.Time // of the keys held
	tried   time.Time // of the last fetch, good or bad
	lastErr error     // of the last fetch
}

// key returns the key with id kid.
func (k *keySet) key(ctx context.Context, kid string) (*rsa.PublicKey, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	now := k.now()
	pub, ok := k.keys[kid]
	if ok && now.Sub(k.fetched) < k.maxAge {
		return pub, nil
	}
	if !k.tried.IsZero() && now.Sub(k.tried) < k.minRefresh {
		switch {
		case ok:
			return pub, nil // stale, but a fetch was just tried
		case k.lastErr != nil:
			return nil, k.lastErr
		}
		return nil, refused("signed with an unknown key %q", kid)
	}
	k.tried = now
	// The fetch serves every later request too: the caller going away must
	// not cut it short.
	keys, err := k.fetch(context.WithoutCancel(ctx))
	if err != nil {
		k.lastErr = &IssuerError{Issuer: k.issuer, Err: err}
		if ok {
			k.log.Warn("oidc: keys could not be refreshed; using the ones held", "issuer", k.issuer, "error", err)
			return pub, nil
		}
		return nil, k.lastErr
	}
	k.lastErr = nil
	k.keys, k.fetched = keys, now
	k.log.Info("oidc: fetched the issuer's keys", "issuer", k.issuer, "keys", len(keys))
	if pub, ok := keys[kid]; ok {
		return pub, nil
	}
	return nil, refused("signed with an unknown key %q", kid)
}

// fetch reads the issuer's discovery document, then its JWKS.
func (k *keySet) fetch(ctx context.Context) (map[string]*rsa.PublicKey, error) {
	var disc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	discURL := k.issuer + "/.well-known/openid-configuration"
	if err := k.getJSON(ctx, discURL, &disc); err != nil {
		return nil, err
	}
	// OpenID Connect Discovery 1.0, 4.3: the document must name the issuer
	// it was fetched for.
	if disc.Issuer != k.issuer {
		return nil, fmt.Errorf("the discovery document at %q names the issuer %q", discURL, disc.Issuer)
	}
	if u, err := url.Parse(disc.JWKSURI); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("the discovery document at %q has no usable jwks_uri (%q)", discURL, disc.JWKSURI)
	}
	var set struct {
		Keys []struct {
			Kty string `json:"kty"`
			Kid string `json:"kid"`
			Use string `json:"use"`
			Alg string `json:"alg"`
			N   string `json:"n"`
			E   string `json:"e"`
		} `json:"keys"`
	}
	if err := k.getJSON(ctx, disc.JWKSURI, &set); err != nil {
		return nil, err
	}
	keys := map[string]*rsa.PublicKey{}
	for _, jk := range set.Keys {
		if jk.Kty != "RSA" || jk.Kid == "" || (jk.Use != "" && jk.Use != "sig") || (jk.Alg != "" && jk.Alg != "RS256") {
			continue
		}
		n, err1 := base64.RawURLEncoding.DecodeString(strings.TrimRight(jk.N, "="))
		e, err2 := base64.RawURLEncoding.DecodeString(strings.TrimRight(jk.E, "="))
		if err1 != nil || err2 != nil || len(e) == 0 || len(e) > 4 {
			continue
		}
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
		if pub.N.BitLen() < minRSABits || pub.E < 3 || pub.E%2 == 0 {
			continue
		}
		keys[jk.Kid] = pub
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("the JWKS at %q holds no RSA signing key of %d bits or more", disc.JWKSURI, minRSABits)
	}
	return keys, nil
}

func (k *keySet) getJSON(ctx context.Context, u string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "runtime-action-server")
	resp, err := k.client.Do(req)
	if err != nil {
		return fmt.Errorf("get %q: %w", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxIssuerAnswer+1))
	if err != nil {
		return fmt.Errorf("read %q: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("get %q: HTTP %d", u, resp.StatusCode)
	}
	if len(body) > maxIssuerAnswer {
		return fmt.Errorf("get %q: the answer is larger than %d bytes", u, maxIssuerAnswer)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("get %q: the answer is not JSON: %w", u, err)
	}
	return nil
}
