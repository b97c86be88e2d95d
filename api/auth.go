package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/danielgtaylor/huma/v2"
	"go.uber.org/zap"
)

// This file is the one place that decides who a caller is and what its role
// allows. Every route names the roles that may call it (routes.go); a token
// that is missing or not valid gets 401, a valid token of another role 403,
// and in both cases nothing is read or changed.

// Role is what a token allows. Each token has exactly one.
type Role string

// The roles.
const (
	// RoleBackend is the marketplace's backend: start, reopen, cancel, read.
	RoleBackend Role = "backend"
	// RoleOperations is Operations' tooling: unlink, read, list.
	RoleOperations Role = "operations"
	// RoleReader is the order page and reports: read and list.
	RoleReader Role = "reader"
)

// Caller is an authenticated caller.
type Caller struct {
	// ID names the caller in logs and scopes its idempotency keys:
	// key:<name> for an API key, oidc:<subject> for a JWT. Never a secret.
	ID   string
	Role Role
}

// securityScheme is the name of the bearer scheme in the OpenAPI document.
const securityScheme = "bearer"

// authenticator checks bearer tokens: API keys by their SHA-256, JWTs
// against the OIDC provider's keys.
type authenticator struct {
	keys      []Key
	verifier  *oidc.IDTokenVerifier
	roleClaim string
}

// newAuthenticator prepares the token checks. With an OIDC issuer and no
// JWKS URL, it reads the issuer's discovery document now; ctx bounds the
// later fetches of the provider's keys, so it must live as long as the server.
func newAuthenticator(ctx context.Context, cfg Config, log *zap.Logger) (*authenticator, error) {
	a := &authenticator{keys: cfg.Keys, roleClaim: cfg.OIDC.RoleClaim}
	if cfg.OIDC.Issuer == "" {
		return a, nil
	}
	oc := &oidc.Config{ClientID: cfg.OIDC.Audience}
	if cfg.OIDC.JWKSURL != "" {
		a.verifier = oidc.NewVerifier(cfg.OIDC.Issuer, newJWKS(ctx, cfg.OIDC.JWKSURL, log), oc)
		return a, nil
	}
	provider, err := oidc.NewProvider(ctx, cfg.OIDC.Issuer)
	if err != nil {
		return nil, fmt.Errorf("api.oidc.issuer: discovery of %s: %w", cfg.OIDC.Issuer, err)
	}
	var discovered struct {
		JWKSURL    string   `json:"jwks_uri"`
		Algorithms []string `json:"id_token_signing_alg_values_supported"`
	}
	if err := provider.Claims(&discovered); err != nil || discovered.JWKSURL == "" {
		return nil, fmt.Errorf("api.oidc.issuer: the discovery document of %s names no jwks_uri", cfg.OIDC.Issuer)
	}
	oc.SupportedSigningAlgs = providerAlgorithms(discovered.Algorithms)
	a.verifier = oidc.NewVerifier(cfg.OIDC.Issuer, newJWKS(ctx, discovered.JWKSURL, log), oc)
	return a, nil
}

// authenticate returns the caller the Authorization header proves, or the 401 problem.
func (a *authenticator) authenticate(ctx context.Context, header string) (Caller, *Problem) {
	scheme, token, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return Caller{}, unauthorized("send Authorization: Bearer <token>", "")
	}
	token = strings.TrimSpace(token)
	if strings.Count(token, ".") == 2 && a.verifier != nil {
		return a.jwt(ctx, token)
	}
	sum := sha256.Sum256([]byte(token))
	hash := hex.EncodeToString(sum[:])
	var found *Key
	for i := range a.keys {
		// Every key is compared, in constant time, so that timing tells nothing.
		if subtle.ConstantTimeCompare([]byte(a.keys[i].Hash), []byte(hash)) == 1 {
			found = &a.keys[i]
		}
	}
	if found == nil {
		return Caller{}, unauthorized("the bearer token is not a valid API key or JWT", "invalid_token")
	}
	return Caller{ID: "key:" + found.Name, Role: found.Role}, nil
}

func (a *authenticator) jwt(ctx context.Context, raw string) (Caller, *Problem) {
	tok, err := a.verifier.Verify(ctx, raw)
	if err != nil {
		// The reason (expired, bad signature, wrong audience) helps the
		// caller and reveals nothing: the caller holds the token.
		return Caller{}, unauthorized("the JWT was refused: "+err.Error(), "invalid_token")
	}
	var claims map[string]any
	if err := tok.Claims(&claims); err != nil {
		return Caller{}, unauthorized("the JWT's claims cannot be read", "invalid_token")
	}
	caller := Caller{ID: "oidc:" + tok.Subject}
	role, err := roleOf(claims, a.roleClaim)
	if err != nil {
		p := newProblem(TypeForbidden, http.StatusForbidden, err.Error())
		return caller, p
	}
	caller.Role = role
	return caller, nil
}

// roleOf reads the one role of a token from its claim (a dotted path such as
// realm_access.roles reaches into objects): a string, or an array of strings
// holding exactly one of the roles.
func roleOf(claims map[string]any, claim string) (Role, error) {
	var v any = claims
	for _, part := range strings.Split(claim, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return "", fmt.Errorf("the token has no %s claim", claim)
		}
		v = m[part]
	}
	var values []string
	switch x := v.(type) {
	case string:
		values = []string{x}
	case []any:
		for _, e := range x {
			if s, ok := e.(string); ok {
				values = append(values, s)
			}
		}
	default:
		return "", fmt.Errorf("the token has no %s claim", claim)
	}
	var roles []Role
	for _, s := range values {
		if r := Role(s); slices.Contains(Roles, r) && !slices.Contains(roles, r) {
			roles = append(roles, r)
		}
	}
	switch len(roles) {
	case 1:
		return roles[0], nil
	case 0:
		return "", fmt.Errorf("the token's %s claim grants none of the roles %s", claim, roleList(Roles))
	default:
		return "", fmt.Errorf("the token's %s claim grants %s: a token must have exactly one role", claim, roleList(roles))
	}
}

// Roles are every role.
var Roles = []Role{RoleBackend, RoleOperations, RoleReader}

// ParseRole reads a role by its name.
func ParseRole(s string) (Role, error) {
	if r := Role(s); slices.Contains(Roles, r) {
		return r, nil
	}
	return "", fmt.Errorf("role must be one of %s, got %q", roleList(Roles), s)
}

func roleList(roles []Role) string {
	s := make([]string, len(roles))
	for i, r := range roles {
		s[i] = string(r)
	}
	return strings.Join(s, ", ")
}

func unauthorized(detail, bearerError string) *Problem {
	p := newProblem(TypeUnauthorized, http.StatusUnauthorized, detail)
	challenge := `Bearer realm="termination-orders"`
	if bearerError != "" {
		challenge += `, error="` + bearerError + `"`
	}
	p.headers.Set("WWW-Authenticate", challenge)
	return p
}

type callerKey struct{}

// authorize is the middleware that lets a request through to its operation
// only with a token of one of the roles the operation names.
func (s *Server) authorize(ctx huma.Context, next func(huma.Context)) {
	roles, guarded := ctx.Operation().Metadata[rolesKey].([]Role)
	if !guarded {
		next(ctx)
		return
	}
	caller, p := s.auth.authenticate(ctx.Context(), ctx.Header("Authorization"))
	if p == nil && !slices.Contains(roles, caller.Role) {
		p = newProblem(TypeForbidden, http.StatusForbidden,
			fmt.Sprintf("role %s may not %s; it needs one of: %s", caller.Role, ctx.Operation().Summary, roleList(roles)))
	}
	if caller.ID != "" {
		infoOf(ctx.Context()).caller = caller.ID
	}
	if p != nil {
		writeProblem(ctx, p)
		return
	}
	next(huma.WithValue(ctx, callerKey{}, caller))
}

func callerOf(ctx context.Context) Caller {
	c, _ := ctx.Value(callerKey{}).(Caller)
	return c
}

// HashKey is the SHA-256 (hex) of an API key, as api.keys and api.keys_file
// hold it. Keys are 256 random bits, so a plain hash is as good as a slow
// password hash against guessing, and cheap on every request.
func HashKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// Key is one API key: a name for logs, the role it grants, and the SHA-256
// of the key (hex). The key itself is never stored.
type Key struct {
	Name string
	Role Role
	// Hash is the SHA-256 of the key, 64 hex digits.
	Hash string
}

// ParseKey reads one API key entry, as api.keys and api.keys_file hold it:
// name:role:sha256-hex. Its errors never quote the entry: a key pasted by
// mistake may sit in it.
func ParseKey(entry string) (Key, error) {
	parts := strings.Split(strings.TrimSpace(entry), ":")
	if len(parts) != 3 {
		return Key{}, errors.New("must be name:role:sha256-hex")
	}
	name, hash := parts[0], strings.ToLower(parts[2])
	if name == "" || strings.ContainsAny(name, " \t,") {
		return Key{}, errors.New("the name must be non-empty, without spaces or commas")
	}
	role, err := ParseRole(parts[1])
	if err != nil {
		return Key{}, fmt.Errorf("key %s: %w", name, err)
	}
	if b, err := hex.DecodeString(hash); err != nil || len(b) != 32 {
		return Key{}, fmt.Errorf("key %s: the hash must be 64 hex digits (the SHA-256 of the key, not the key itself)", name)
	}
	return Key{Name: name, Role: role, Hash: hash}, nil
}

// Entry is the key's entry for api.keys or api.keys_file.
func (k Key) Entry() string { return k.Name + ":" + string(k.Role) + ":" + k.Hash }

// NewKey makes a new API key for a role: the key (shown once, for the
// caller) and its entry for api.keys or api.keys_file (for the server).
func NewKey(name string, role Role) (key, entry string, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", "", err
	}
	key = "tok_" + base64.RawURLEncoding.EncodeToString(b)
	entry = Key{Name: name, Role: role, Hash: HashKey(key)}.Entry()
	if _, err := ParseKey(entry); err != nil {
		return "", "", err
	}
	return key, entry, nil
}
