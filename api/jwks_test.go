package api_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/cloudmarket/termination-orders/api"
)

// Anyone can send tokens with made-up key IDs: the API must not fetch the
// provider's keys for each, only once per api.JWKSRefreshInterval.
func TestUnknownKeyIDsFetchTheProvidersKeysAtMostOncePerInterval(t *testing.T) {
	p := newProvider(t)
	srv, err := api.New(context.Background(), api.Options{
		Config: api.Config{MaxBodyBytes: 65536, RequestTimeout: time.Second, IdempotencyKeyTTL: time.Hour,
			OIDC: api.OIDC{Issuer: p.issuer, Audience: "termination-api", RoleClaim: "role"}},
		Logger: zap.NewNop(),
	})
	require.NoError(t, err)
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()

	claims := map[string]any{"iss": p.issuer, "aud": "termination-api", "sub": "x", "exp": time.Now().Add(time.Hour).Unix(), "role": "reader"}
	for i := range 20 {
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: p.key},
			(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", fmt.Sprintf("made-up-%d", i)))
		require.NoError(t, err)
		token, err := jwt.Signed(signer).Claims(claims).Serialize()
		require.NoError(t, err)
		req, err := http.NewRequest(http.MethodGet, ts.URL+"/v1/orders", nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "request %d", i)
	}
	require.LessOrEqual(t, p.fetches.Load(), int32(1), "20 tokens with unknown key IDs")
}
