package api_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
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

// TestOpenAPIDocumentLints checks in Go what the OpenAPI linter run in
// docs/http-api.md checks (CI has no npm): the document is valid (as the
// 3.0 document huma derives, which kin-openapi validates), and it has the
// servers, license, operation IDs, summaries, security and 4xx answers the
// linter's recommended rules ask for, and only the headers that are sent.
func TestOpenAPIDocumentLints(t *testing.T) {
	srv, err := api.New(context.Background(), api.Options{
		Config: api.Config{MaxBodyBytes: 65536, RequestTimeout: time.Second, IdempotencyKeyTTL: time.Hour},
		Logger: zap.NewNop(),
	})
	require.NoError(t, err)
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	for _, copy30 := range []string{"/v1/openapi-3.0.json", "/v1/openapi-3.0.yaml"} {
		resp, err := http.Get(ts.URL + copy30)
		require.NoError(t, err)
		served, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode, copy30)
		spec, err := openapi3.NewLoader().LoadFromData(served)
		require.NoError(t, err, copy30)
		require.NoError(t, spec.Validate(context.Background()), "%s is not a valid OpenAPI 3.0 document", copy30)
	}

	var doc struct {
		Info struct {
			License *struct{ Name, Identifier, URL string } `json:"license"`
		} `json:"info"`
		Servers []struct{ URL string } `json:"servers"`
		Paths   map[string]map[string]struct {
			OperationID string                `json:"operationId"`
			Summary     string                `json:"summary"`
			Security    []map[string][]string `json:"security"`
			Responses   map[string]struct {
				Headers map[string]any `json:"headers"`
			} `json:"responses"`
		} `json:"paths"`
	}
	committed, err := os.ReadFile("openapi.json")
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(committed, &doc))
	require.NotEmpty(t, doc.Servers, "servers")
	require.NotNil(t, doc.Info.License, "info.license")
	require.NotEmpty(t, doc.Info.License.Name, "info.license.name")
	require.True(t, doc.Info.License.Identifier != "" || doc.Info.License.URL != "", "info.license needs an identifier or a url")
	ids := map[string]bool{}
	for path, ops := range doc.Paths {
		for method, op := range ops {
			where := method + " " + path
			require.NotEmpty(t, op.OperationID, where)
			require.False(t, ids[op.OperationID], "%s: operationId %s twice", where, op.OperationID)
			ids[op.OperationID] = true
			require.NotEmpty(t, op.Summary, where)
			require.NotEmpty(t, op.Security, where)
			has4xx := false
			for code, r := range op.Responses {
				has4xx = has4xx || strings.HasPrefix(code, "4")
				if code != "201" {
					require.NotContains(t, r.Headers, "Location", "%s %s: only a start's 201 sends a Location", where, code)
				}
			}
			require.True(t, has4xx, "%s has no 4xx answer", where)
			if method == "post" {
				require.Contains(t, op.Responses, "413", where)
			}
		}
	}
	require.Contains(t, doc.Paths["/v1/orders"]["post"].Responses["201"].Headers, "Location")
}
