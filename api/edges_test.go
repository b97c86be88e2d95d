package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"

	"github.com/cloudmarket/termination-orders/api"
)

// temporalFault answers every start as the SDK does when Temporal fails it
// with an Internal error of its own (its database stalled): nothing started.
type temporalFault struct {
	interceptor.ClientInterceptorBase
}

func (*temporalFault) InterceptClient(next interceptor.ClientOutboundInterceptor) interceptor.ClientOutboundInterceptor {
	return &faultyStarts{ClientOutboundInterceptorBase: interceptor.ClientOutboundInterceptorBase{Next: next}}
}

type faultyStarts struct {
	interceptor.ClientOutboundInterceptorBase
}

func (*faultyStarts) UpdateWithStartWorkflow(context.Context, *interceptor.ClientUpdateWithStartWorkflowInput) (client.WorkflowUpdateHandle, error) {
	return nil, serviceerror.NewInternal("ExecuteMultiOperation operation failed. Error: database is locked (5) (SQLITE_BUSY)")
}

// Every answer that is not a route's own success is a documented problem:
// what http.ServeMux would answer its own way (a redirect for an unclean
// path, 200 for HEAD), a body cut short, a control character in a header
// the server lets through, and a fault of Temporal's. Each is checked
// against the OpenAPI document: the operation's response for its status,
// or the shared response (components.responses) for paths and methods no
// operation has.
func TestEveryEdgeAnswerIsADocumentedProblem(t *testing.T) {
	e := newEnvWith(t, envSetup{window: time.Hour, interceptors: []interceptor.ClientInterceptor{&temporalFault{}}})
	backend, reader := e.tokens[api.RoleBackend], e.tokens[api.RoleReader]

	for _, tc := range []struct {
		name, method, path string
		status             int
		typ, allow         string
		response           string // the shared response it is, for paths and methods no operation has
	}{
		{name: "dot-dot segment", method: http.MethodGet, path: "/v1/orders/ORD-1/../ORD-2", status: 404, typ: api.TypeNotFound, response: api.ResponseNotFound},
		{name: "escaped dot-dot segment", method: http.MethodGet, path: "/v1/orders/ORD-1/%2e%2e/ORD-2", status: 404, typ: api.TypeNotFound, response: api.ResponseNotFound},
		{name: "dot segment", method: http.MethodGet, path: "/v1/./orders", status: 404, typ: api.TypeNotFound, response: api.ResponseNotFound},
		{name: "empty segment", method: http.MethodGet, path: "/v1//orders", status: 404, typ: api.TypeNotFound, response: api.ResponseNotFound},
		{name: "HEAD of an order", method: http.MethodHead, path: "/v1/orders/ORD-1", status: 405, allow: "GET", response: api.ResponseMethodNotAllowed},
		{name: "HEAD of healthz", method: http.MethodHead, path: "/healthz", status: 405, allow: "GET", response: api.ResponseMethodNotAllowed},
		{name: "PUT on orders", method: http.MethodPut, path: "/v1/orders", status: 405, typ: api.TypeMethodNotAllowed, allow: "GET, POST", response: api.ResponseMethodNotAllowed},
		{name: "DELETE of an order", method: http.MethodDelete, path: "/v1/orders/ORD-1", status: 405, typ: api.TypeMethodNotAllowed, allow: "GET", response: api.ResponseMethodNotAllowed},
		{name: "PATCH of an unlink", method: http.MethodPatch, path: "/v1/orders/ORD-1/unlink", status: 405, typ: api.TypeMethodNotAllowed, allow: "POST", response: api.ResponseMethodNotAllowed},
		{name: "OPTIONS without CORS", method: http.MethodOptions, path: "/v1/orders", status: 405, typ: api.TypeMethodNotAllowed, allow: "GET, POST", response: api.ResponseMethodNotAllowed},
		{name: "unknown path", method: http.MethodGet, path: "/v2/nothing", status: 404, typ: api.TypeNotFound, response: api.ResponseNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.raw(t, tc.method+" "+tc.path+" HTTP/1.1\r\nHost: api\r\nAuthorization: Bearer "+reader+"\r\nConnection: close\r\n\r\n")
			require.Equal(t, tc.status, r.status, "%s", r.body)
			require.Equal(t, "application/problem+json", r.header.Get("Content-Type"))
			require.Empty(t, r.header.Get("Location"), "never a redirect")
			require.Equal(t, tc.allow, r.header.Get("Allow"))
			e.conformsToShared(t, tc.response, r)
			if tc.method == http.MethodHead {
				require.Empty(t, r.body, "a HEAD answer has no body")
				return
			}
			p := r.problem(t)
			require.Equal(t, tc.typ, p.Type)
		})
	}

	start := `{"orderId":"ORD-EDGE-1","subscriptionId":"SUB-1","accountId":"210987654399","terminationType":"CloseAccount","items":[{"itemId":"ITM-1","quantity":0}],"requestedBy":"jane"}`
	t.Run("body shorter than its Content-Length", func(t *testing.T) {
		head := "POST /v1/orders HTTP/1.1\r\nHost: api\r\nAuthorization: Bearer " + backend + "\r\nContent-Type: application/json\r\nContent-Length: 400\r\n\r\n"
		r := e.raw(t, head+start[:40])
		e.conformsTo(t, http.MethodPost, "/v1/orders", r)
		p := r.problem(t)
		require.Equal(t, http.StatusBadRequest, p.Status, "%s", r.body)
		require.Equal(t, api.TypeInvalidInput, p.Type)
		require.Equal(t, []string{"(body)"}, fieldsOf(p))
	})
	t.Run("Idempotency-Key with a control character", func(t *testing.T) {
		// A tab is the control character Go's server lets through in a
		// header value; the others it refuses before any handler runs.
		head := "POST /v1/orders HTTP/1.1\r\nHost: api\r\nAuthorization: Bearer " + backend + "\r\nContent-Type: application/json\r\n" +
			"Idempotency-Key: start\tORD-EDGE-1\r\nContent-Length: " + strconv.Itoa(len(start)) + "\r\nConnection: close\r\n\r\n"
		r := e.raw(t, head+start)
		e.conformsTo(t, http.MethodPost, "/v1/orders", r)
		p := r.problem(t)
		require.Equal(t, http.StatusBadRequest, p.Status)
		require.Equal(t, []string{"Idempotency-Key"}, fieldsOf(p))
	})
	t.Run("Temporal fails with a fault of its own", func(t *testing.T) {
		// The order is not started: 503, ask again, not 500.
		r := e.call(t, http.MethodPost, "/v1/orders", backend, start)
		p := r.problem(t)
		require.Equal(t, http.StatusServiceUnavailable, p.Status, "%s", r.body)
		require.Equal(t, api.TypeUnavailable, p.Type)
		require.Equal(t, "5", r.header.Get("Retry-After"))
		require.NotContains(t, p.Detail, "SQLITE", "Temporal's own error stays in the logs")
		require.Equal(t, api.TypeNotFound, e.call(t, http.MethodGet, "/v1/orders/ORD-EDGE-1/messages", reader, nil).problem(t).Type)
	})
}

// The codec endpoints' paths and methods: 405 and 404 problems too.
func TestCodecEdgesAreProblems(t *testing.T) {
	e := newCodecEnv(t)
	for path, status := range map[string]int{"/codec/encode": 405, "/codec/decode": 405, "/codec/nothing": 404, "/codec/../v1/orders": 404} {
		req, err := http.NewRequest(http.MethodGet, e.url+path, nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+e.tokens[api.RoleReader])
		got := do(t, req)
		require.Equal(t, status, got.status, "%s: %s", path, got.body)
		p := got.problem(t)
		if status == 405 {
			require.Equal(t, api.TypeMethodNotAllowed, p.Type)
			require.Equal(t, "POST", got.header.Get("Allow"))
		} else {
			require.Equal(t, api.TypeNotFound, p.Type)
		}
	}
}

// raw sends a request as written, over a connection of its own, and reads
// the answer: for what Go's client would refuse to send or would fix.
func (e *env) raw(t *testing.T, request string) reply {
	t.Helper()
	u, err := url.Parse(e.url)
	require.NoError(t, err)
	conn, err := net.Dial("tcp", u.Host)
	require.NoError(t, err)
	defer conn.Close()
	_, err = conn.Write([]byte(request))
	require.NoError(t, err)
	require.NoError(t, conn.(*net.TCPConn).CloseWrite())
	method, _, _ := strings.Cut(request, " ")
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: method})
	require.NoError(t, err)
	defer resp.Body.Close()
	var body strings.Builder
	_, _ = bufio.NewReader(resp.Body).WriteTo(&body)
	return reply{status: resp.StatusCode, header: resp.Header, body: []byte(body.String())}
}

// conformsTo checks an answer sent without Go's client against the
// operation of method and path.
func (e *env) conformsTo(t *testing.T, method, path string, r reply) {
	t.Helper()
	req, err := http.NewRequest(method, e.url+path, nil)
	require.NoError(t, err)
	_, _, err = e.router.FindRoute(req)
	require.NoError(t, err, "%s %s is a documented operation", method, path)
	e.conforms(t, req, r)
}

// conformsToShared checks an answer against a response of the document's
// components: its media type, its headers and its body's schema.
func (e *env) conformsToShared(t *testing.T, name string, r reply) {
	t.Helper()
	ref := e.spec.Components.Responses[name]
	require.NotNil(t, ref, "components.responses.%s is in the OpenAPI document", name)
	resp := ref.Value
	media := resp.Content.Get(r.header.Get("Content-Type"))
	require.NotNil(t, media, "components.responses.%s has no content %q", name, r.header.Get("Content-Type"))
	for h, hdr := range resp.Headers {
		if hdr.Value.Required {
			assert.NotEmpty(t, r.header.Get(h), "components.responses.%s requires header %s", name, h)
		}
	}
	if len(r.body) == 0 {
		return
	}
	var body any
	require.NoError(t, json.Unmarshal(r.body, &body))
	assert.NoError(t, media.Schema.Value.VisitJSON(body), "the body is not a %s: %s", name, r.body)
}
