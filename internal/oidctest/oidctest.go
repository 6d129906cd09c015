// Package oidctest is a stand-in for GitHub's OIDC token service, which
// cannot run in tests: an issuer with its discovery document and JWKS, whose
// RSA keys it makes itself, signing RS256 ID tokens with the claims GitHub
// Actions tokens carry, and the runner's ID-token request endpoint (the URL
// a job finds in ACTIONS_ID_TOKEN_REQUEST_URL). It speaks the real wire
// format; only the tests import it, as they do net/http/httptest.
package oidctest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// KeyBits is the size of the keys the provider makes: GitHub's are 2048 bits
// and the Runtime refuses smaller ones.
const KeyBits = 2048

// RunnerPath is the path of the runner's ID-token endpoint; the query holds
// an api-version as GitHub's does, so a client must append the audience.
const RunnerPath = "/_apis/distributedtask/idtoken?api-version=2.0"

// Identity is what the ID tokens say about the job: GitHub puts the ids in
// as decimal strings.
type Identity struct {
	Repository        string // owner/name
	RepositoryID      string
	RepositoryOwner   string
	RepositoryOwnerID string
	Ref               string // e.g. refs/heads/main
	Environment       string // "" when the job names none
	JobWorkflowRef    string // "" for owner/name/.github/workflows/deploy.yml@<Ref>
	EventName         string // "" for push
}

// DefaultIdentity is a push to main of octo/app (id 42, owner id 7).
func DefaultIdentity() Identity {
	return Identity{Repository: "octo/app", RepositoryID: "42", RepositoryOwner: "octo", RepositoryOwnerID: "7", Ref: "refs/heads/main"}
}

// Options configure a Provider.
type Options struct {
	// Identity is the job the runner endpoint issues tokens for.
	Identity Identity
	// Now is the clock of iat, nbf and exp (default time.Now).
	Now func() time.Time
	// TTL is the lifetime of the tokens (default 5 minutes, as GitHub's).
	TTL time.Duration
	// RequestToken is the runner's request token (default a random one).
	RequestToken string
}

// Key is a signing key and its id.
type Key struct {
	ID      string
	Private *rsa.PrivateKey
}

// Provider is a running stand-in token service.
type Provider struct {
	// URL is the issuer: its discovery document is at
	// URL/.well-known/openid-configuration.
	URL string
	// RequestToken is what the runner endpoint wants as its bearer token
	// (ACTIONS_ID_TOKEN_REQUEST_TOKEN).
	RequestToken string

	srv *httptest.Server
	now func() time.Time
	ttl time.Duration

	mu        sync.Mutex
	id        Identity
	published []Key
	signing   Key
	jwksGets  int
	discovery int
	runner    int
}

// Start starts a provider on a loopback port with one published key, "k1".
func Start(o Options) (*Provider, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.TTL <= 0 {
		o.TTL = 5 * time.Minute
	}
	if o.RequestToken == "" {
		o.RequestToken = "runner-" + uuid.NewString()
	}
	if o.Identity == (Identity{}) {
		o.Identity = DefaultIdentity()
	}
	p := &Provider{RequestToken: o.RequestToken, now: o.Now, ttl: o.TTL, id: o.Identity}
	k, err := p.NewKey("k1", true)
	if err != nil {
		return nil, err
	}
	p.signing = k
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", p.serveDiscovery)
	mux.HandleFunc("GET /.well-known/jwks", p.serveJWKS)
	mux.HandleFunc("GET /_apis/distributedtask/idtoken", p.serveRunner)
	p.srv = httptest.NewServer(mux)
	p.URL = p.srv.URL
	return p, nil
}

// Close stops the provider.
func (p *Provider) Close() { p.srv.Close() }

// RunnerURL is the runner's ID-token endpoint (ACTIONS_ID_TOKEN_REQUEST_URL).
func (p *Provider) RunnerURL() string { return p.URL + RunnerPath }

// SetIdentity changes the job the runner endpoint issues tokens for.
func (p *Provider) SetIdentity(id Identity) {
	p.mu.Lock()
	p.id = id
	p.mu.Unlock()
}

// NewKey makes an RSA key; published puts it into the JWKS.
func (p *Provider) NewKey(kid string, published bool) (Key, error) {
	priv, err := rsa.GenerateKey(rand.Reader, KeyBits)
	if err != nil {
		return Key{}, fmt.Errorf("make key %q: %w", kid, err)
	}
	k := Key{ID: kid, Private: priv}
	if published {
		p.Publish(k)
	}
	return k, nil
}

// Publish adds k to the JWKS.
func (p *Provider) Publish(k Key) {
	p.mu.Lock()
	p.published = append(p.published, k)
	p.mu.Unlock()
}

// SigningKey is the key Sign uses.
func (p *Provider) SigningKey() Key {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.signing
}

// SetSigningKey makes Sign use k (rotation).
func (p *Provider) SetSigningKey(k Key) {
	p.mu.Lock()
	p.signing = k
	p.mu.Unlock()
}

// PublicKeyPEM is the signing key's public half as PEM, the bytes an HS256
// key-confusion attack uses as the HMAC secret.
func (p *Provider) PublicKeyPEM() []byte {
	der, err := x509.MarshalPKIXPublicKey(&p.SigningKey().Private.PublicKey)
	if err != nil {
		panic(err) // an RSA public key always marshals
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// JWKSFetches is how many times the JWKS was asked for.
func (p *Provider) JWKSFetches() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.jwksGets
}

// RunnerRequests is how many ID tokens the runner endpoint was asked for.
func (p *Provider) RunnerRequests() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.runner
}

// Claims are an ID token's claims for the provider's identity and
// audience, as GitHub shapes them, with a fresh jti and times from the clock.
func (p *Provider) Claims(audience string) jwt.MapClaims {
	p.mu.Lock()
	id := p.id
	p.mu.Unlock()
	return p.claimsOf(id, audience)
}

func (p *Provider) claimsOf(id Identity, audience string) jwt.MapClaims {
	now := p.now()
	event := id.EventName
	if event == "" {
		event = "push"
	}
	wf := id.JobWorkflowRef
	if wf == "" {
		wf = id.Repository + "/.github/workflows/deploy.yml@" + id.Ref
	}
	sub := "repo:" + id.Repository + ":ref:" + id.Ref
	if id.Environment != "" {
		sub = "repo:" + id.Repository + ":environment:" + id.Environment
	}
	c := jwt.MapClaims{
		"iss": p.URL, "aud": audience, "sub": sub,
		"jti": uuid.NewString(),
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(p.ttl).Unix(),
		"repository": id.Repository, "repository_id": id.RepositoryID,
		"repository_owner": id.RepositoryOwner, "repository_owner_id": id.RepositoryOwnerID,
		"repository_visibility": "private",
		"ref":                   id.Ref, "ref_type": "branch", "ref_protected": "false",
		"sha":   "0123456789abcdef0123456789abcdef01234567",
		"actor": "octocat", "actor_id": "583231",
		"workflow": "deploy", "workflow_ref": wf, "workflow_sha": "0123456789abcdef0123456789abcdef01234567",
		"job_workflow_ref": wf, "job_workflow_sha": "0123456789abcdef0123456789abcdef01234567",
		"event_name": event, "run_id": "1234567890", "run_number": "17", "run_attempt": "1",
		"runner_environment": "github-hosted",
	}
	if id.Environment != "" {
		c["environment"] = id.Environment
	}
	return c
}

// Sign signs claims with the signing key (RS256, its kid in the header).
func (p *Provider) Sign(claims jwt.MapClaims) (string, error) {
	return SignWith(p.SigningKey(), claims)
}

// SignWith signs claims with k (RS256, k's id in the header).
func SignWith(k Key, claims jwt.MapClaims) (string, error) {
	t := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	t.Header["kid"] = k.ID
	return t.SignedString(k.Private)
}

func (p *Provider) serveDiscovery(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.discovery++
	p.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                p.URL,
		"jwks_uri":                              p.URL + "/.well-known/jwks",
		"subject_types_supported":               []string{"public", "pairwise"},
		"response_types_supported":              []string{"id_token"},
		"claims_supported":                      []string{"sub", "aud", "exp", "iat", "iss", "jti", "nbf", "ref", "repository", "repository_id", "repository_owner", "repository_owner_id", "environment", "job_workflow_ref"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"scopes_supported":                      []string{"openid"},
	})
}

func (p *Provider) serveJWKS(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.jwksGets++
	keys := make([]map[string]string, 0, len(p.published))
	for _, k := range p.published {
		pub := k.Private.PublicKey
		keys = append(keys, map[string]string{
			"kty": "RSA", "alg": "RS256", "use": "sig", "kid": k.ID,
			"n": base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
			"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
		})
	}
	p.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"keys": keys})
}

// serveRunner answers as the runner's endpoint does: the request token as a
// bearer token, the audience in the query, the ID token in "value".
func (p *Provider) serveRunner(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.runner++
	id := p.id
	p.mu.Unlock()
	if r.Header.Get("Authorization") != "Bearer "+p.RequestToken {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "the request token is not valid"})
		return
	}
	aud := r.URL.Query().Get("audience")
	if aud == "" {
		aud = "https://github.com/" + id.RepositoryOwner // GitHub's default
	}
	tok, err := p.Sign(p.claimsOf(id, aud))
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"message": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"count": strconv.Itoa(len(tok)), "value": tok})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
