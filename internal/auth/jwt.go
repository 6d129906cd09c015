// Package auth knows what a Runtime token says: its claims and whether it
// has expired. It parses no flags and reads no files: the command line
// decides which source a token came from. (A GitHub Actions job gets its
// OIDC ID token through the Actions toolkit, in internal/action.)
package auth

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// ErrNotJWT is wrapped by Decode's error when the token is not a JWT.
var ErrNotJWT = errors.New("token is not a JWT")

// ErrExpired is wrapped by CheckExpiry's error when the token has expired.
var ErrExpired = errors.New("token expired")

// Claims are the parts of a Runtime JWT the client shows or acts on.
type Claims struct {
	Subject     string
	Email       string
	WorkspaceID string
	// Expiry is the zero time when the token carries no "exp".
	Expiry   time.Time
	Audience []string
}

// wireClaims reads the payload; aud may be one string or a list, and exp a
// JSON number that Python services sometimes write with a fraction.
type wireClaims struct {
	Sub         string          `json:"sub"`
	Email       string          `json:"email"`
	WorkspaceID string          `json:"workspace_id"`
	Exp         json.Number     `json:"exp"`
	Aud         json.RawMessage `json:"aud"`
}

// Decode reads the claims of a JWT without checking its signature: the
// client holds no key to check it with, and the server checks it anyway.
// Errors never contain the token.
func Decode(jwt string) (*Claims, error) {
	jwt = strings.TrimSpace(jwt)
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" {
		return nil, fmt.Errorf("%w: it does not have three dot-separated parts", ErrNotJWT)
	}
	header, err := decodeSegment(parts[0])
	if err != nil {
		return nil, fmt.Errorf("%w: its header is not base64url", ErrNotJWT)
	}
	var h map[string]any
	if json.Unmarshal(header, &h) != nil {
		return nil, fmt.Errorf("%w: its header is not a JSON object", ErrNotJWT)
	}
	payload, err := decodeSegment(parts[1])
	if err != nil {
		return nil, fmt.Errorf("%w: its payload is not base64url", ErrNotJWT)
	}
	var w wireClaims
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	if err := dec.Decode(&w); err != nil {
		return nil, fmt.Errorf("%w: its payload is not a JSON object of claims", ErrNotJWT)
	}
	c := &Claims{Subject: w.Sub, Email: w.Email, WorkspaceID: w.WorkspaceID}
	if w.Exp != "" {
		f, err := w.Exp.Float64()
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("%w: its \"exp\" claim is not a number", ErrNotJWT)
		}
		sec, frac := math.Modf(f)
		c.Expiry = time.Unix(int64(sec), int64(frac*1e9)).UTC()
	}
	if len(w.Aud) > 0 && !bytes.Equal(w.Aud, []byte("null")) {
		var one string
		if json.Unmarshal(w.Aud, &one) == nil {
			c.Audience = []string{one}
		} else if json.Unmarshal(w.Aud, &c.Audience) != nil {
			return nil, fmt.Errorf("%w: its \"aud\" claim is neither a string nor a list of strings", ErrNotJWT)
		}
	}
	return c, nil
}

// decodeSegment accepts base64url with or without padding: the JWT spec
// forbids padding, but some issuers add it.
func decodeSegment(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}

// CheckExpiry reports an error wrapping ErrExpired when the token's "exp" is
// not after now. A token it cannot read passes: whether such a token is good
// is the server's call, and it will say so with a 401.
func CheckExpiry(jwt string, now time.Time) error {
	c, err := Decode(jwt)
	if err != nil || c.Expiry.IsZero() {
		return nil
	}
	if now.Before(c.Expiry) {
		return nil
	}
	return fmt.Errorf("%w at %s: run \"runtime-action login\" again", ErrExpired, c.Expiry.UTC().Format(time.RFC3339))
}
