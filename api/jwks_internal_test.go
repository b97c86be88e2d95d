package api

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
)

// keyServer serves a key set that the test changes, counting the fetches.
type keyServer struct {
	mu      sync.Mutex
	keys    []jose.JSONWebKey
	down    bool
	fetches atomic.Int32
	url     string
}

func newKeyServer(t *testing.T) *keyServer {
	k := &keyServer{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		k.fetches.Add(1)
		k.mu.Lock()
		defer k.mu.Unlock()
		if k.down {
			http.Error(w, "down", http.StatusBadGateway)
			return
		}
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: k.keys})
	}))
	t.Cleanup(srv.Close)
	k.url = srv.URL
	return k
}

func (k *keyServer) publish(keys ...jose.JSONWebKey) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.keys = keys
}

func signedBy(t *testing.T, key *rsa.PrivateKey, kid string) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid))
	require.NoError(t, err)
	raw, err := jwt.Signed(signer).Claims(map[string]any{"sub": "x"}).Serialize()
	require.NoError(t, err)
	return raw
}

// A rotated key is picked up once the interval has passed; until then, and
// while the provider is down, tokens with unknown keys fetch nothing more.
func TestJWKSRefetchesAtMostOncePerInterval(t *testing.T) {
	server := newKeyServer(t)
	k1, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	k2, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	server.publish(jose.JSONWebKey{Key: &k1.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"})

	clock := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	set := newJWKS(context.Background(), server.url, zap.NewNop())
	set.now = func() time.Time { return clock }
	ctx := context.Background()

	_, err = set.VerifySignature(ctx, signedBy(t, k1, "k1"))
	require.NoError(t, err)
	require.EqualValues(t, 1, server.fetches.Load(), "the first token fetches the keys")
	_, err = set.VerifySignature(ctx, signedBy(t, k1, "k1"))
	require.NoError(t, err)
	require.EqualValues(t, 1, server.fetches.Load(), "a held key fetches nothing")

	// The provider rotates to k2.
	server.publish(jose.JSONWebKey{Key: &k1.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"},
		jose.JSONWebKey{Key: &k2.PublicKey, KeyID: "k2", Algorithm: "RS256", Use: "sig"})
	for range 10 {
		_, err = set.VerifySignature(ctx, signedBy(t, k2, "k2"))
		require.ErrorIs(t, err, errUnknownSigningKey)
		_, err = set.VerifySignature(ctx, signedBy(t, k2, "")) // no key ID: every key is tried
		require.ErrorIs(t, err, errUnknownSigningKey)
		_, err = set.VerifySignature(ctx, signedBy(t, k2, "k1")) // a held ID, another key
		require.ErrorIs(t, err, errUnknownSigningKey)
	}
	require.EqualValues(t, 1, server.fetches.Load(), "within the interval")

	clock = clock.Add(JWKSRefreshInterval)
	_, err = set.VerifySignature(ctx, signedBy(t, k2, "k2"))
	require.NoError(t, err, "the rotated key, one interval later")
	require.EqualValues(t, 2, server.fetches.Load())

	// A provider that is down is asked once per interval too, and the keys
	// held keep working.
	server.mu.Lock()
	server.down = true
	server.mu.Unlock()
	clock = clock.Add(JWKSRefreshInterval)
	for range 10 {
		_, err = set.VerifySignature(ctx, signedBy(t, k1, "k3"))
		require.ErrorIs(t, err, errUnknownSigningKey)
	}
	require.EqualValues(t, 3, server.fetches.Load())
	_, err = set.VerifySignature(ctx, signedBy(t, k1, "k1"))
	require.NoError(t, err)
}
