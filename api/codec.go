package api

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"

	commonpb "go.temporal.io/api/common/v1"
	"google.golang.org/protobuf/encoding/protojson"
)

// This file is the codec server: POST /codec/encode and /codec/decode, as
// Temporal's Web UI and CLI call them (their codec endpoint is
// <api>/codec). The body is proto-JSON {"payloads": [...]}, the answer the
// same shape. X-Namespace, when sent, must be the namespace this server's
// keys belong to. A reader may decode; backend and operations may encode and
// decode. These routes are Temporal's protocol, not this API's, so they are
// not in the OpenAPI document.

// CodecPath is where the codec endpoints are: the Web UI and the CLI take
// <api URL>/codec as their codec endpoint and add /encode or /decode.
const CodecPath = "/codec"

// codecMaxBodyBytes bounds a codec request: the Web UI decodes a page of
// history at once, so it is larger than api.max_body_bytes.
const codecMaxBodyBytes = 8 << 20

// codecRoles are who may call each codec endpoint.
var codecRoles = map[string][]Role{
	"encode": {RoleBackend, RoleOperations},
	"decode": {RoleBackend, RoleOperations, RoleReader},
}

func (s *Server) codecEndpoint(op string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		fail := func(p *Problem) {
			p.Instance = instance(r.Context())
			writeProblemHTTP(w, p)
		}
		if !s.codecWithoutToken {
			caller, p := s.auth.authenticate(r.Context(), r.Header.Get("Authorization"))
			if caller.ID != "" {
				infoOf(r.Context()).caller = caller.ID
			}
			if p == nil && !slices.Contains(codecRoles[op], caller.Role) {
				p = newProblem(TypeForbidden, http.StatusForbidden,
					fmt.Sprintf("role %s may not %s payloads; it needs one of: %s", caller.Role, op, roleList(codecRoles[op])))
			}
			if p != nil {
				fail(p)
				return
			}
		}
		if ns := r.Header.Get("X-Namespace"); ns != "" && ns != s.namespace {
			fail(invalid(fmt.Sprintf("X-Namespace: this codec server holds the keys of namespace %q, not %q", s.namespace, ns)))
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, codecMaxBodyBytes))
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			fail(newProblem(TypePayloadTooLarge, http.StatusRequestEntityTooLarge, fmt.Sprintf("the request body is larger than %d bytes", codecMaxBodyBytes)))
			return
		} else if err != nil {
			fail(invalid("the request body could not be read: " + err.Error()))
			return
		}
		var in commonpb.Payloads
		if err := protojson.Unmarshal(body, &in); err != nil {
			fail(invalid(`body: must be proto-JSON payloads such as {"payloads":[{"metadata":{"encoding":"..."},"data":"..."}]}: ` + err.Error()))
			return
		}
		out := in.GetPayloads()
		if op == "encode" {
			out, err = s.codec.Encode(out)
		} else {
			out, err = s.codec.Decode(out)
		}
		if err != nil {
			fail(codecProblem(err))
			return
		}
		b, err := protojson.Marshal(&commonpb.Payloads{Payloads: out})
		if err != nil {
			fail(codecProblem(err))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(b) // the client is gone if this fails
	}
}
