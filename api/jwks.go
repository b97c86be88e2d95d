package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"go.uber.org/zap"
)

// JWKSRefreshInterval bounds the fetches of the OIDC provider's keys: a
// token signed with a key this server does not hold (a key ID it has not
// seen, or a signature none of its keys verifies) refetches the key set at
// most once per interval, whoever sends such tokens and however many. A
// provider that rotates its keys publishes the new one before it signs with
// it, so a real rotation is picked up within one interval.
const JWKSRefreshInterval = time.Minute

// jwksFetchTimeout bounds one fetch of the key set.
const jwksFetchTimeout = 10 * time.Second

// jwksMaxBytes bounds a key set's size.
const jwksMaxBytes = 1 << 20

// jwksAlgorithms are the signature algorithms a provider's key set may use:
// the asymmetric ones (never HMAC or none). The verifier narrows them to the
// provider's own.
var jwksAlgorithms = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512, jose.ES256, jose.ES384, jose.ES512, jose.PS256, jose.PS384, jose.PS512, jose.EdDSA,
}

// errUnknownSigningKey is a token that no key of the provider verifies.
var errUnknownSigningKey = errors.New("no key of the identity provider verifies the token's signature")

// jwks is the OIDC provider's key set (an oidc.KeySet), fetched on the first
// token and again, at most once per interval, for a token that none of the
// keys held verifies. A failed fetch counts: an unreachable provider is not
// asked on every request either. Fetch errors, which name the provider's
// address, go to the log; a caller is told only that its token was refused.
type jwks struct {
	url      string
	ctx      context.Context // bounds every fetch; lives as long as the server
	client   *http.Client
	log      *zap.Logger
	interval time.Duration
	now      func() time.Time

	mu      sync.RWMutex
	keys    []jose.JSONWebKey
	fetched time.Time // the last fetch, successful or not; zero before the first

	fetching sync.Mutex // one fetch at a time; the others wait for its keys
}

func newJWKS(ctx context.Context, url string, log *zap.Logger) *jwks {
	if log == nil {
		log = zap.NewNop()
	}
	return &jwks{url: url, ctx: ctx, client: &http.Client{Timeout: jwksFetchTimeout}, log: log,
		interval: JWKSRefreshInterval, now: time.Now}
}

// VerifySignature returns the payload of a JWT whose signature a key of the
// provider verifies.
func (k *jwks) VerifySignature(ctx context.Context, raw string) ([]byte, error) {
	sig, err := jose.ParseSigned(raw, jwksAlgorithms)
	if err != nil {
		return nil, fmt.Errorf("malformed JWT: %w", err)
	}
	if len(sig.Signatures) != 1 {
		return nil, errors.New("a JWT must carry exactly one signature")
	}
	kid := sig.Signatures[0].Header.KeyID
	k.mu.RLock()
	keys, seen := k.keys, k.fetched
	k.mu.RUnlock()
	if payload, ok := verifyWith(sig, keys, kid); ok {
		return payload, nil
	}
	k.fetching.Lock()
	defer k.fetching.Unlock()
	k.mu.RLock()
	keys, last := k.keys, k.fetched
	k.mu.RUnlock()
	if !last.Equal(seen) {
		// Another request fetched while this one waited: its keys decide.
		if payload, ok := verifyWith(sig, keys, kid); ok {
			return payload, nil
		}
		return nil, errUnknownSigningKey
	}
	if !last.IsZero() && k.now().Sub(last) < k.interval {
		return nil, errUnknownSigningKey
	}
	keys = k.fetch(ctx)
	if payload, ok := verifyWith(sig, keys, kid); ok {
		return payload, nil
	}
	return nil, errUnknownSigningKey
}

// verifyWith verifies the signature with the keys of its key ID (every key
// when it names none).
func verifyWith(sig *jose.JSONWebSignature, keys []jose.JSONWebKey, kid string) ([]byte, bool) {
	for _, key := range keys {
		if kid != "" && key.KeyID != kid || key.Use != "" && key.Use != "sig" {
			continue
		}
		if payload, err := sig.Verify(key.Key); err == nil {
			return payload, true
		}
	}
	return nil, false
}

// fetch reads the key set, keeps it, and returns the keys held afterwards:
// on a failure, the ones held before.
func (k *jwks) fetch(ctx context.Context) []jose.JSONWebKey {
	keys, err := k.get(ctx)
	k.mu.Lock()
	defer k.mu.Unlock()
	k.fetched = k.now()
	if err != nil {
		k.log.Warn("OIDC provider's keys not fetched; tokens signed with a key not held are refused until the next fetch",
			zap.String("jwksURL", k.url), zap.Duration("nextFetchAfter", k.interval), zap.Error(err))
		return k.keys
	}
	k.keys = keys
	k.log.Info("OIDC provider's keys fetched", zap.String("jwksURL", k.url), zap.Int("keys", len(keys)))
	return keys
}

func (k *jwks) get(ctx context.Context) ([]jose.JSONWebKey, error) {
	// The caller's request may end first; the fetch serves the next ones too.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), jwksFetchTimeout)
	defer cancel()
	stop := context.AfterFunc(k.ctx, cancel)
	defer stop()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := k.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", k.url, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, jwksMaxBytes+1))
	if err != nil {
		return nil, err
	}
	if len(body) > jwksMaxBytes {
		return nil, fmt.Errorf("GET %s: the key set is larger than %d bytes", k.url, jwksMaxBytes)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("GET %s: not a JSON Web Key Set: %w", k.url, err)
	}
	return slices.DeleteFunc(set.Keys, func(key jose.JSONWebKey) bool { return !key.Valid() || !key.IsPublic() }), nil
}

// providerAlgorithms are the signing algorithms a discovery document names
// that jwksAlgorithms has, as the verifier takes them.
func providerAlgorithms(named []string) []string {
	var algs []string
	for _, a := range named {
		if slices.Contains(jwksAlgorithms, jose.SignatureAlgorithm(a)) {
			algs = append(algs, a)
		}
	}
	return algs
}
