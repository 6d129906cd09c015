package auth

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

// makeJWT builds a token with the given payload; the signature is junk
// because Decode must not look at it.
func makeJWT(t *testing.T, payload any) string {
	t.Helper()
	b, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc(b) + "." + enc([]byte("not-a-signature"))
}

func TestDecode(t *testing.T) {
	exp := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		token   string
		want    Claims
		wantErr string
	}{
		{
			name:  "full claims, audience string",
			token: makeJWT(t, map[string]any{"sub": "u-1", "email": "a@example.com", "workspace_id": "ws-1", "exp": exp.Unix(), "aud": "cli"}),
			want:  Claims{Subject: "u-1", Email: "a@example.com", WorkspaceID: "ws-1", Expiry: exp, Audience: []string{"cli"}},
		},
		{
			name:  "audience list, fractional exp",
			token: makeJWT(t, map[string]any{"sub": "u-2", "exp": float64(exp.Unix()) + 0.5, "aud": []string{"cli", "x"}}),
			want:  Claims{Subject: "u-2", Expiry: exp.Add(500 * time.Millisecond), Audience: []string{"cli", "x"}},
		},
		{
			name:  "no exp, no aud",
			token: makeJWT(t, map[string]any{"sub": "u-3"}),
			want:  Claims{Subject: "u-3"},
		},
		{
			name:  "padded segments and surrounding space",
			token: " " + strings.Replace(makeJWT(t, map[string]any{"sub": "u-4x"}), ".", "==.", 1) + "\n",
			want:  Claims{Subject: "u-4x"},
		},
		{name: "empty", token: "", wantErr: "three dot-separated parts"},
		{name: "two parts", token: "abc.def", wantErr: "three dot-separated parts"},
		{name: "header not base64", token: "!!!.e30.sig", wantErr: "header is not base64url"},
		{name: "payload not base64", token: "e30.!!!.sig", wantErr: "payload is not base64url"},
		{name: "payload not JSON", token: "e30." + base64.RawURLEncoding.EncodeToString([]byte("hello")) + ".sig", wantErr: "payload is not a JSON object"},
		{name: "exp not a number", token: makeJWT(t, map[string]any{"exp": "soon"}), wantErr: "payload is not a JSON object"},
		{name: "aud wrong type", token: makeJWT(t, map[string]any{"aud": 7}), wantErr: `"aud" claim`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode(tt.token)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("Decode: no error, want one containing %q", tt.wantErr)
				}
				if !errors.Is(err, ErrNotJWT) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Decode error = %q, want ErrNotJWT containing %q", err, tt.wantErr)
				}
				if len(tt.token) > 4 && strings.Contains(err.Error(), strings.TrimSpace(tt.token)) {
					t.Fatalf("error %q contains the token", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if got.Subject != tt.want.Subject || got.Email != tt.want.Email || got.WorkspaceID != tt.want.WorkspaceID ||
				!got.Expiry.Equal(tt.want.Expiry) || strings.Join(got.Audience, ",") != strings.Join(tt.want.Audience, ",") {
				t.Fatalf("Decode = %+v, want %+v", *got, tt.want)
			}
		})
	}
}

func TestCheckExpiry(t *testing.T) {
	exp := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tok := makeJWT(t, map[string]any{"sub": "u", "exp": exp.Unix()})
	tests := []struct {
		name    string
		token   string
		now     time.Time
		wantErr string
	}{
		{name: "valid", token: tok, now: exp.Add(-time.Second)},
		{name: "expired at the second", token: tok, now: exp, wantErr: `token expired at 2026-03-01T12:00:00Z: run "runtime-action login" again`},
		{name: "long expired", token: tok, now: exp.Add(48 * time.Hour), wantErr: `token expired at 2026-03-01T12:00:00Z: run "runtime-action login" again`},
		{name: "no exp never expires here", token: makeJWT(t, map[string]any{"sub": "u"}), now: exp.Add(1000 * time.Hour)},
		{name: "malformed passes to the server", token: "opaque-api-key", now: exp},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckExpiry(tt.token, tt.now)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("CheckExpiry: %v", err)
				}
				return
			}
			if err == nil || err.Error() != tt.wantErr || !errors.Is(err, ErrExpired) {
				t.Fatalf("CheckExpiry = %v, want %q wrapping ErrExpired", err, tt.wantErr)
			}
		})
	}
}
