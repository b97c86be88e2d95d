package api_test

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/stretchr/testify/require"

	"github.com/cloudmarket/termination-orders/api"
)

// provider is a test OpenID Connect provider: discovery and JWKS over HTTP.
type provider struct {
	issuer string
	key    *rsa.PrivateKey
	// fetches counts the GETs of the key set.
	fetches atomic.Int32
}

func newProvider(t *testing.T) *provider {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	p := &provider{key: key}
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	p.issuer = srv.URL
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{
			"issuer": p.issuer, "jwks_uri": p.issuer + "/keys",
			"authorization_endpoint": p.issuer + "/auth", "token_endpoint": p.issuer + "/token",
			"id_token_signing_alg_values_supported": []string{"RS256"},
		})
	})
	mux.HandleFunc("GET /keys", func(w http.ResponseWriter, _ *http.Request) {
		p.fetches.Add(1)
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
	})
	return p
}

// token signs claims with key (the provider's, or another one).
func (p *provider) token(t *testing.T, key *rsa.PrivateKey, claims map[string]any) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "k1"))
	require.NoError(t, err)
	raw, err := jwt.Signed(signer).Claims(claims).Serialize()
	require.NoError(t, err)
	return raw
}

func TestJWTFromTheOIDCProvider(t *testing.T) {
	p := newProvider(t)
	e := newEnv(t, time.Hour, func(c *api.Config) {
		c.OIDC = api.OIDC{Issuer: p.issuer, Audience: "termination-api", RoleClaim: "realm_access.roles"}
	})
	claims := func(roles []string, exp time.Time) map[string]any {
		return map[string]any{
			"iss": p.issuer, "aud": "termination-api", "sub": "ops.kim", "iat": time.Now().Unix(), "exp": exp.Unix(),
			"realm_access": map[string]any{"roles": roles},
		}
	}
	hour := time.Now().Add(time.Hour)

	ok := p.token(t, p.key, claims([]string{"operations", "offline_access"}, hour))
	r := e.call(t, http.MethodGet, "/v1/orders", ok, nil)
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	require.Contains(t, e.logs.String(), `"caller":"oidc:ops.kim"`)
	// The role is operations: starting is not for it.
	require.Equal(t, api.TypeForbidden, e.call(t, http.MethodPost, "/v1/orders", ok, newOrder("ORD-JWT")).problem(t).Type)

	other, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	wrongAudience := claims([]string{"operations"}, hour)
	wrongAudience["aud"] = "another-client"
	for name, token := range map[string]string{
		"bad signature":  p.token(t, other, claims([]string{"operations"}, hour)),
		"expired":        p.token(t, p.key, claims([]string{"operations"}, time.Now().Add(-time.Hour))),
		"wrong audience": p.token(t, p.key, wrongAudience),
	} {
		r := e.call(t, http.MethodGet, "/v1/orders", token, nil)
		require.Equal(t, api.TypeUnauthorized, r.problem(t).Type, name)
		require.Contains(t, r.header.Get("WWW-Authenticate"), `error="invalid_token"`, name)
	}
	// One role per token: none, or two, is refused.
	for _, roles := range [][]string{{"offline_access"}, {"operations", "reader"}} {
		require.Equal(t, api.TypeForbidden, e.call(t, http.MethodGet, "/v1/orders", p.token(t, p.key, claims(roles, hour)), nil).problem(t).Type, "%v", roles)
	}
	// API keys keep working beside the provider.
	require.Equal(t, http.StatusOK, e.call(t, http.MethodGet, "/v1/orders", e.tokens[api.RoleReader], nil).status)
}
