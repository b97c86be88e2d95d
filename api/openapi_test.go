package api_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/cloudmarket/termination-orders/api"
)

// TestOpenAPIDocumentIsCommitted fails when api/openapi.json differs from
// the document the server serves. Refresh it with
// TERMINATION_WRITE_OPENAPI=1 go test ./api -run TestOpenAPIDocumentIsCommitted.
func TestOpenAPIDocumentIsCommitted(t *testing.T) {
	srv, err := api.New(context.Background(), api.Options{
		Config: api.Config{MaxBodyBytes: 65536, RequestTimeout: time.Second, IdempotencyKeyTTL: time.Hour},
		Logger: zap.NewNop(),
	})
	require.NoError(t, err)
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	resp, err := http.Get(ts.URL + "/v1/openapi.json")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	served, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var doc map[string]any
	require.NoError(t, json.Unmarshal(served, &doc))
	require.Equal(t, "3.1.0", doc["openapi"])

	if os.Getenv("TERMINATION_WRITE_OPENAPI") == "1" {
		pretty, err := json.MarshalIndent(doc, "", "  ")
		require.NoError(t, err)
		require.NoError(t, os.WriteFile("openapi.json", append(pretty, '\n'), 0o644))
	}
	committed, err := os.ReadFile("openapi.json")
	require.NoError(t, err, "api/openapi.json is missing: write it with TERMINATION_WRITE_OPENAPI=1 go test ./api -run TestOpenAPIDocumentIsCommitted")
	require.JSONEq(t, string(committed), string(served),
		"api/openapi.json is not what the server serves: refresh it with TERMINATION_WRITE_OPENAPI=1 go test ./api -run TestOpenAPIDocumentIsCommitted")
}

// CORS answers only the configured origins.
func TestCORSOnlyForConfiguredOrigins(t *testing.T) {
	srv, err := api.New(context.Background(), api.Options{
		Config: api.Config{MaxBodyBytes: 65536, RequestTimeout: time.Second, IdempotencyKeyTTL: time.Hour,
			CORSOrigins: []string{"https://orders.example.com"}},
		Logger: zap.NewNop(),
	})
	require.NoError(t, err)
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	for origin, allowed := range map[string]bool{"https://orders.example.com": true, "https://evil.example.net": false} {
		req, err := http.NewRequest(http.MethodOptions, ts.URL+"/v1/orders/ORD-1", nil)
		require.NoError(t, err)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", http.MethodGet)
		req.Header.Set("Access-Control-Request-Headers", "authorization") // as browsers send it
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		if allowed {
			require.Equal(t, origin, resp.Header.Get("Access-Control-Allow-Origin"), "%d %v", resp.StatusCode, resp.Header)
		} else {
			require.Empty(t, resp.Header.Get("Access-Control-Allow-Origin"), origin)
		}
	}
}
