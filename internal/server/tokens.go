package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/dlthub/runtime-action/internal/store"
)

// audience is the aud claim of every token: the contract's CLI audience.
const audience = "cli"

// claims are the claims of the server's tokens. aud is a plain string (as
// dltHub's tokens have it), not the array jwt.RegisteredClaims would write.
type claims struct {
	Audience    string           `json:"aud"`
	Subject     string           `json:"sub"`
	Email       string           `json:"email"`
	ExpiresAt   *jwt.NumericDate `json:"exp"`
	IssuedAt    *jwt.NumericDate `json:"iat"`
	ID          string           `json:"jti"`
	WorkspaceID string           `json:"workspace_id,omitempty"`
}

var _ jwt.Claims = (*claims)(nil)

// GetExpirationTime implements jwt.Claims.
func (c *claims) GetExpirationTime() (*jwt.NumericDate, error) { return c.ExpiresAt, nil }

// GetIssuedAt implements jwt.Claims.
func (c *claims) GetIssuedAt() (*jwt.NumericDate, error) { return c.IssuedAt, nil }

// GetNotBefore implements jwt.Claims.
func (c *claims) GetNotBefore() (*jwt.NumericDate, error) { return nil, nil }

// GetIssuer implements jwt.Claims.
func (c *claims) GetIssuer() (string, error) { return "", nil }

// GetSubject implements jwt.Claims.
func (c *claims) GetSubject() (string, error) { return c.Subject, nil }

// GetAudience implements jwt.Claims.
func (c *claims) GetAudience() (jwt.ClaimStrings, error) { return jwt.ClaimStrings{c.Audience}, nil }

// tokens issues and checks the HS256 tokens of one data dir.
type tokens struct {
	key []byte
	now func() time.Time
}

// issue makes a token for u, restricted to workspaceID when not empty, and
// records it so that it can be revoked.
func (t *tokens) issue(ctx context.Context, st store.Store, u store.User, workspaceID string, ttl time.Duration) (string, error) {
	now := t.now()
	c := &claims{
		Audience:    audience,
		Subject:     u.ID,
		Email:       u.Email,
		IssuedAt:    jwt.NewNumericDate(now),
		ExpiresAt:   jwt.NewNumericDate(now.Add(ttl)),
		ID:          uuid.NewString(),
		WorkspaceID: workspaceID,
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(t.key)
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	if err := st.RecordToken(ctx, store.Token{JTI: c.ID, UserID: u.ID, WorkspaceID: workspaceID, Expires: c.ExpiresAt.Time}); err != nil {
		return "", err
	}
	return s, nil
}

// parse checks a token's signature and claims; expired tokens fail unless
// allowExpired (revoking an expired token is harmless).
func (t *tokens) parse(tok string, allowExpired bool) (*claims, error) {
	opts := []jwt.ParserOption{
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithAudience(audience),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(t.now),
	}
	if allowExpired {
		opts = []jwt.ParserOption{jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}), jwt.WithoutClaimsValidation()}
	}
	c := &claims{}
	_, err := jwt.NewParser(opts...).ParseWithClaims(tok, c, func(*jwt.Token) (any, error) { return t.key, nil })
	if err != nil {
		return nil, err
	}
	if c.ID == "" || c.Subject == "" {
		return nil, fmt.Errorf("%w: jti and sub are required", jwt.ErrTokenRequiredClaimMissing)
	}
	return c, nil
}

// principal is who a request acts as.
type principal struct {
	UserID      string
	Email       string
	WorkspaceID string // the token's restriction, "" for none
}

type principalKey struct{}

func principalFrom(ctx context.Context) principal {
	p, _ := ctx.Value(principalKey{}).(principal)
	return p
}

// authenticate reads the bearer token of r. Its errors are all 401 with a
// detail that says what is wrong, never the token itself.
func (s *Server) authenticate(r *http.Request) (principal, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return principal{}, errorf(KindUnauthorized, "missing bearer token: send \"Authorization: Bearer <token>\"")
	}
	scheme, tok, ok := strings.Cut(h, " ")
	tok = strings.TrimSpace(tok)
	if !ok || !strings.EqualFold(scheme, "bearer") || tok == "" {
		return principal{}, errorf(KindUnauthorized, "missing bearer token: the Authorization header is not \"Bearer <token>\"")
	}
	c, err := s.dir.tokens.parse(tok, false)
	if err != nil {
		switch {
		case errors.Is(err, jwt.ErrTokenExpired):
			return principal{}, errorf(KindUnauthorized, "token expired: log in again")
		case errors.Is(err, jwt.ErrTokenSignatureInvalid):
			return principal{}, errorf(KindUnauthorized, "invalid token: bad signature (was it issued by this server?)")
		case errors.Is(err, jwt.ErrTokenMalformed):
			return principal{}, errorf(KindUnauthorized, "malformed token: not a JWT")
		case errors.Is(err, jwt.ErrTokenInvalidAudience):
			return principal{}, errorf(KindUnauthorized, "invalid token: audience is not %q", audience)
		}
		return principal{}, errorf(KindUnauthorized, "invalid token: %v", err)
	}
	revoked, err := s.dir.store.TokenRevoked(r.Context(), c.ID)
	if err != nil {
		return principal{}, internal("check token", err)
	}
	if revoked {
		return principal{}, errorf(KindUnauthorized, "token revoked: ask the admin for a new one")
	}
	return principal{UserID: c.Subject, Email: c.Email, WorkspaceID: c.WorkspaceID}, nil
}

// authed wraps h so that it runs only with a valid token.
func (s *Server) authed(h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		p, err := s.authenticate(r)
		if err != nil {
			return err
		}
		return h(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
	}
}
