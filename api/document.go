package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/yaml"
)

// describeService adds to the OpenAPI document where the API is served and
// under which terms.
// The license's SPDX identifier is OpenAPI 3.1's: openAPI30 leaves it out of
// the 3.0 copy, which huma would otherwise serve invalid.
func describeService(cfg *huma.Config) {
	cfg.Info.License = &huma.License{
		Name:       "Proprietary: for the marketplace's own services and tools",
		Identifier: "LicenseRef-Proprietary",
	}
	cfg.Servers = []*huma.Server{
		{URL: "/", Description: "The server this document is served by (its paths start with /v1)."},
		{URL: "http://127.0.0.1:8234", Description: "termination-dev, the local dev system."},
	}
}

// documentHeaders keeps in the document only the headers an operation
// sends: the answers of the updates share the start's output type, whose
// Location only a start (201) fills in.
func documentHeaders(op *huma.Operation, defaultStatus int) {
	switch defaultStatus {
	case http.StatusCreated:
		return
	case 0:
		defaultStatus = http.StatusOK // huma's default for an answer with a body
	}
	if r := op.Responses[strconv.Itoa(defaultStatus)]; r != nil {
		delete(r.Headers, "Location")
	}
}

// openAPI30 serves the OpenAPI 3.0 copies (/v1/openapi-3.0.json and .yaml)
// as huma derives them, without what 3.0 does not have: the license's
// identifier.
func (s *Server) openAPI30(next http.Handler) http.Handler {
	var (
		once      sync.Once
		doc, docY []byte
	)
	build := func() {
		b, err := s.api.OpenAPI().Downgrade()
		if err != nil {
			return
		}
		var v map[string]any
		if json.Unmarshal(b, &v) != nil {
			return
		}
		if info, ok := v["info"].(map[string]any); ok {
			if license, ok := info["license"].(map[string]any); ok {
				delete(license, "identifier")
			}
		}
		if doc, err = json.Marshal(v); err != nil {
			return
		}
		var y bytes.Buffer
		if yaml.Convert(&y, bytes.NewReader(doc)) == nil {
			docY = y.Bytes()
		}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path, isYAML := openAPIPath+"-3.0.json", false
		switch r.URL.Path {
		case path:
		case strings.TrimSuffix(path, ".json") + ".yaml":
			isYAML = true
		default:
			next.ServeHTTP(w, r)
			return
		}
		if r.Method != http.MethodGet {
			next.ServeHTTP(w, r)
			return
		}
		once.Do(build)
		body, ct := doc, "application/openapi+json"
		if isYAML {
			body, ct = docY, "application/openapi+yaml"
		}
		if body == nil {
			next.ServeHTTP(w, r) // huma's own copy
			return
		}
		w.Header().Set("Content-Type", ct)
		_, _ = w.Write(body)
	})
}

// openAPIPath is where the document is served, without its extension.
const openAPIPath = "/v1/openapi"
