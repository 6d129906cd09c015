package oidc

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/dlthub/runtime-action/internal/oidctest"
)

// clock is a settable clock shared by a verifier and its provider.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func newVerifier(t *testing.T) (*Verifier, *oidctest.Provider, *clock) {
	t.Helper()
	clk := &clock{t: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)}
	p, err := oidctest.Start(oidctest.Options{Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	v, err := NewVerifier(Config{Issuer: p.URL}, clk.now, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return v, p, clk
}

func TestCheckIssuer(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		issuer string
		ok     bool
	}{
		{DefaultIssuer, true},
		{"https://ghe.example.com/_services/token", true},
		{"http://127.0.0.1:8080", true},
		{"http://localhost:8080", true},
		{"http://token.example.com", false},
		{"https://token.example.com?x=1", false},
		{"token.actions.githubusercontent.com", false},
		{"", false},
	} {
		if err := CheckIssuer(tc.issuer); (err == nil) != tc.ok {
			t.Errorf("CheckIssuer(%q) = %v, want ok=%v", tc.issuer, err, tc.ok)
		}
	}
	c := Config{}.WithDefaults()
	if c.Issuer != DefaultIssuer || c.Audience != DefaultAudience || c.Leeway != 30*time.Second || c.KeyRefresh != 30*time.Second || c.KeyMaxAge != time.Hour || c.Client == nil {
		t.Errorf("defaults %+v", c)
	}
	if _, err := NewVerifier(Config{Issuer: "ftp://x"}, time.Now, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "invalid OIDC issuer") {
		t.Errorf("a bad issuer: %v", err)
	}
	if _, err := NewVerifier(Config{Audience: " "}, time.Now, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "invalid OIDC audience") {
		t.Errorf("a blank audience: %v", err)
	}
}

// TestVerify checks each reason a token is refused, and that a good one
// gives its claims.
func TestVerify(t *testing.T) {
	t.Parallel()
	v, p, _ := newVerifier(t)
	stranger, err := p.NewKey("stranger", false)
	if err != nil {
		t.Fatal(err)
	}
	sign := func(mod func(jwt.MapClaims)) func() (string, error) {
		return func() (string, error) {
			c := p.Claims(DefaultAudience)
			if mod != nil {
				mod(c)
			}
			return p.Sign(c)
		}
	}
	tests := []struct {
		name   string
		token  func() (string, error)
		refuse string // "" for a good token
	}{
		{"good", sign(nil), ""},
		{"not a JWT", func() (string, error) { return "a.b", nil }, "not a JWT"},
		{"HS256", func() (string, error) {
			return jwt.NewWithClaims(jwt.SigningMethodHS256, p.Claims(DefaultAudience)).SignedString([]byte("k"))
		}, `signed with "HS256": only RS256 is accepted`},
		{"other issuer", sign(func(c jwt.MapClaims) { c["iss"] = "https://elsewhere.example.com" }), "is not the trusted issuer"},
		{"unknown key", func() (string, error) { return oidctest.SignWith(stranger, p.Claims(DefaultAudience)) }, `unknown key "stranger"`},
		{"other audience", sign(func(c jwt.MapClaims) { c["aud"] = "sts.amazonaws.com" }), `audience "sts.amazonaws.com" is not "dlt-runtime"`},
		{"two audiences", sign(func(c jwt.MapClaims) { c["aud"] = []string{DefaultAudience, "x"} }), "exactly one audience"},
		{"expired", sign(func(c jwt.MapClaims) { c["exp"] = c["iat"].(int64) - 3600 }), "expired"},
		{"no exp", sign(func(c jwt.MapClaims) { delete(c, "exp") }), "no expiry"},
		{"no iat", sign(func(c jwt.MapClaims) { delete(c, "iat") }), "no issue time"},
		{"no jti", sign(func(c jwt.MapClaims) { delete(c, "jti") }), "no token id"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := tc.token()
			if err != nil {
				t.Fatal(err)
			}
			c, err := v.Verify(context.Background(), tok)
			if tc.refuse == "" {
				if err != nil || c.Repository != "octo/app" || c.RepositoryID != "42" || c.Ref != "refs/heads/main" {
					t.Fatalf("Verify = %+v, %v; want the claims of octo/app", c, err)
				}
				return
			}
			var re *RefusedError
			if !errors.As(err, &re) || !strings.Contains(err.Error(), tc.refuse) {
				t.Fatalf("Verify = %v; want a RefusedError with %q", err, tc.refuse)
			}
			if strings.Contains(err.Error(), tok) {
				t.Errorf("the error holds the token: %v", err)
			}
		})
	}
}

// TestKeyCache checks that the issuer's keys are fetched once, again for an
// unknown kid only KeyRefresh after the last fetch, and again after
// KeyMaxAge.
func TestKeyCache(t *testing.T) {
	t.Parallel()
	v, p, clk := newVerifier(t)
	verify := func() error {
		t.Helper()
		tok, err := p.Sign(p.Claims(DefaultAudience))
		if err != nil {
			t.Fatal(err)
		}
		_, err = v.Verify(context.Background(), tok)
		return err
	}
	for range 3 {
		if err := verify(); err != nil {
			t.Fatal(err)
		}
	}
	if n := p.JWKSFetches(); n != 1 {
		t.Fatalf("%d JWKS fetches for three tokens, want 1", n)
	}
	k2, err := p.NewKey("k2", true)
	if err != nil {
		t.Fatal(err)
	}
	p.SetSigningKey(k2)
	if err := verify(); err == nil || p.JWKSFetches() != 1 {
		t.Fatalf("a new kid within KeyRefresh of the last fetch: %v, %d JWKS fetches; want refused without a fetch", err, p.JWKSFetches())
	}
	clk.add(DefaultKeyRefresh)
	if err := verify(); err != nil {
		t.Fatalf("a rotated key: %v", err)
	}
	if n := p.JWKSFetches(); n != 2 {
		t.Fatalf("%d JWKS fetches after a rotation, want 2", n)
	}
	stranger, err := p.NewKey("stranger", false)
	if err != nil {
		t.Fatal(err)
	}
	p.SetSigningKey(stranger)
	for range 3 {
		if err := verify(); err == nil {
			t.Fatal("an unpublished key was accepted")
		}
	}
	if n := p.JWKSFetches(); n != 2 {
		t.Fatalf("%d JWKS fetches for unknown kids within KeyRefresh, want 2", n)
	}
	p.SetSigningKey(k2)
	clk.add(DefaultKeyMaxAge)
	if err := verify(); err != nil {
		t.Fatal(err)
	}
	if n := p.JWKSFetches(); n != 3 {
		t.Fatalf("%d JWKS fetches after KeyMaxAge, want 3", n)
	}
}

// TestIssuerDown checks that keys that cannot be had are an IssuerError,
// whose message names the issuer and not the cause.
func TestIssuerDown(t *testing.T) {
	t.Parallel()
	v, p, _ := newVerifier(t)
	tok, err := p.Sign(p.Claims(DefaultAudience))
	if err != nil {
		t.Fatal(err)
	}
	p.Close()
	_, err = v.Verify(context.Background(), tok)
	var ie *IssuerError
	if !errors.As(err, &ie) || ie.Err == nil || !strings.Contains(err.Error(), "cannot get the signing keys of the OIDC issuer") {
		t.Fatalf("Verify with the issuer down = %v; want an IssuerError", err)
	}
}
