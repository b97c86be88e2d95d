package api

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"go.uber.org/zap"

	"github.com/cloudmarket/termination-orders/codec"
)

// This file is the codec server: POST /codec/encode and /codec/decode, as
// Temporal's Web UI and CLI call them (their codec endpoint is
// <api>/codec). The body is proto-JSON {"payloads": [...]}, the answer the
// same shape. X-Namespace, when sent, must be the namespace this server's
// keys belong to. Every role may decode; backend and operations may encode,
// and a reader may encode an empty list (see encryptors). These routes are
// Temporal's protocol, not this API's, so they are not in the OpenAPI
// document.
//
// The protocol itself is the SDK's handler (converter.NewPayloadCodecHTTPHandler).
// In front of it: the API's authentication and roles, the namespace check and
// the body limit. Behind it: its refusals, plain text and all 400, become this
// API's problems.

// CodecPath is where the codec endpoints are: the Web UI and the CLI take
// <api URL>/codec as their codec endpoint and add /encode or /decode.
const CodecPath = "/codec"

// codecMaxBodyBytes bounds a codec request: the Web UI decodes a page of
// history at once, so it is larger than api.max_body_bytes.
const codecMaxBodyBytes = 8 << 20

// codecRoles are who may call each codec endpoint.
var codecRoles = map[string][]Role{
	"encode": {RoleBackend, RoleOperations, RoleReader},
	"decode": {RoleBackend, RoleOperations, RoleReader},
}

// A reader may encode only an empty list of payloads: the temporal CLI
// encodes the arguments of every call it makes, none for a query without
// arguments, and a reader needs no ciphertext of its own (encrypted input is
// for starting or signalling an order).
var encryptors = []Role{RoleBackend, RoleOperations}

// errReaderEncrypts is a reader's encode of payloads.
var errReaderEncrypts = errors.New("role may not encrypt payloads")

func (s *Server) codecEndpoint(op string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		fail := func(p *Problem) {
			p.Instance = instance(r.Context())
			writeProblemHTTP(w, p)
		}
		var role Role
		if !s.codecWithoutToken {
			caller, p := s.auth.authenticate(r.Context(), r.Header.Get("Authorization"))
			role = caller.Role
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
		body := &limitedBody{ReadCloser: http.MaxBytesReader(w, r.Body, codecMaxBodyBytes)}
		r.Body = body
		payloads := &observedCodec{codec: s.codec, emptyOnly: op == "encode" && !s.codecWithoutToken && !slices.Contains(encryptors, role)}
		answer := &codecAnswer{w: w, header: http.Header{}}
		converter.NewPayloadCodecHTTPHandler(payloads).ServeHTTP(answer, r)
		if answer.status < http.StatusBadRequest {
			return
		}
		var tooLarge *http.MaxBytesError
		switch {
		case errors.Is(payloads.err, errReaderEncrypts):
			fail(newProblem(TypeForbidden, http.StatusForbidden,
				fmt.Sprintf("role reader may encode only an empty list of payloads (what the temporal CLI sends for a query without arguments); encrypting payloads needs one of: %s", roleList(encryptors))))
		case payloads.err != nil:
			fail(codecProblem(payloads.err))
		case errors.As(body.err, &tooLarge):
			fail(newProblem(TypePayloadTooLarge, http.StatusRequestEntityTooLarge, fmt.Sprintf("the request body is larger than %d bytes", codecMaxBodyBytes)))
		case body.err != nil:
			// The error names both ends of the connection: the log keeps it.
			s.log.Warn("Codec request body not read", zap.String("requestId", infoOf(r.Context()).id), zap.Error(body.err))
			fail(invalid("the request body could not be read: it did not arrive in time, or the connection broke"))
		default:
			fail(invalid(`body: must be proto-JSON payloads such as {"payloads":[{"metadata":{"encoding":"..."},"data":"..."}]}: ` +
				strings.TrimSpace(answer.refusal.String())))
		}
	}
}

// limitedBody keeps the error that ended the read of a request body, so that
// a body over the limit is told from one that is not payloads.
type limitedBody struct {
	io.ReadCloser
	err error
}

func (b *limitedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		b.err = err
	}
	return n, err
}

// observedCodec is the codec, keeping its error: the SDK's handler answers it
// as a 400 like any other, where it is a payload the keys cannot decrypt.
type observedCodec struct {
	codec *codec.Codec
	// emptyOnly refuses to encode any payload (a reader's encode).
	emptyOnly bool
	err       error
}

func (c *observedCodec) Encode(ps []*commonpb.Payload) ([]*commonpb.Payload, error) {
	if c.emptyOnly && len(ps) > 0 {
		c.err = errReaderEncrypts
		return nil, c.err
	}
	out, err := c.codec.Encode(ps)
	c.err = err
	return out, err
}

func (c *observedCodec) Decode(ps []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out, err := c.codec.Decode(ps)
	c.err = err
	return out, err
}

// codecAnswer passes the SDK handler's answer through when it succeeds, and
// keeps its refusal (status 400 or more, plain text) for the caller to answer
// as a problem.
type codecAnswer struct {
	w       http.ResponseWriter
	header  http.Header
	status  int
	refusal bytes.Buffer
}

func (a *codecAnswer) Header() http.Header { return a.header }

func (a *codecAnswer) WriteHeader(status int) {
	if a.status != 0 {
		return
	}
	a.status = status
	if status >= http.StatusBadRequest {
		return
	}
	maps.Copy(a.w.Header(), a.header)
	a.w.Header().Set("Cache-Control", "no-store")
	a.w.WriteHeader(status)
}

func (a *codecAnswer) Write(b []byte) (int, error) {
	a.WriteHeader(http.StatusOK)
	if a.status >= http.StatusBadRequest {
		return a.refusal.Write(b)
	}
	return a.w.Write(b)
}
