package api_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	querypb "go.temporal.io/api/query/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/converter"
	"go.uber.org/zap/zaptest"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/cloudmarket/termination-orders/api"
	"github.com/cloudmarket/termination-orders/codec"
	"github.com/cloudmarket/termination-orders/order"
)

const webUI = "http://localhost:8233"

// codecEnv is the API serving only what the codec endpoints need: keys k1
// (retired) and k2 (active), tokens of each role, the Web UI's origin.
type codecEnv struct {
	url    string
	tokens map[api.Role]string
	// codec is the workers' own: it made the payloads in history.
	codec *codec.Codec
}

func newCodecEnv(t *testing.T, tune ...func(*api.Options)) *codecEnv {
	t.Helper()
	e := &codecEnv{}
	k1, k2 := randomKey(t, "k1"), randomKey(t, "k2")
	ring, err := codec.NewKeyRing("k2", k1, k2)
	require.NoError(t, err)
	e.codec = codec.New(ring)
	cfg := api.Config{MaxBodyBytes: 64 << 10, OIDC: api.OIDC{RoleClaim: "role"}}
	cfg.Keys, e.tokens = roleKeys(t)
	opts := api.Options{Config: cfg, Logger: zaptest.NewLogger(t), Codec: e.codec, Namespace: "orders-prod", CodecOrigins: []string{webUI}}
	for _, f := range tune {
		f(&opts)
	}
	srv, err := api.New(context.Background(), opts)
	require.NoError(t, err)
	h := httptest.NewServer(srv.Handler())
	t.Cleanup(h.Close)
	e.url = h.URL
	return e
}

func randomKey(t *testing.T, id string) codec.Key {
	t.Helper()
	b := make([]byte, codec.KeySize)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return codec.Key{ID: id, Secret: b}
}

var customerOrder = order.Order{
	OrderID: "ORD-CODEC-1", SubscriptionID: "SUB-1", AccountID: "123456789012",
	TerminationType: order.TerminationTypeCloseAccount, RequestedBy: "jane.doe@example.com",
	Items: []order.Item{{ItemID: "ITM-1"}},
}

// historyPayloads are payloads as the Web UI reads them from Temporal's
// HTTP API: proto-JSON, encrypted by the worker's codec.
func (e *codecEnv) historyPayloads(t *testing.T, values ...any) []byte {
	t.Helper()
	var ps commonpb.Payloads
	for _, v := range values {
		p, err := codec.DataConverter(e.codec).ToPayload(v)
		require.NoError(t, err)
		ps.Payloads = append(ps.Payloads, p)
	}
	b, err := protojson.Marshal(&ps)
	require.NoError(t, err)
	return b
}

// post calls an endpoint as the Web UI's data encoder does.
func (e *codecEnv) post(t *testing.T, path, token string, body []byte, header ...string) reply {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.url+path, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Namespace", "orders-prod")
	req.Header.Set("Origin", webUI)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return do(t, req)
}

func do(t *testing.T, req *http.Request) reply {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return reply{status: resp.StatusCode, header: resp.Header, body: body}
}

func decodedPayloads(t *testing.T, r reply) []*commonpb.Payload {
	t.Helper()
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	require.Equal(t, "application/json", r.header.Get("Content-Type"))
	var ps commonpb.Payloads
	require.NoError(t, protojson.Unmarshal(r.body, &ps), "body: %s", r.body)
	return ps.GetPayloads()
}

func TestCodecAnswersTheWebUIPreflightAndDecode(t *testing.T) {
	e := newCodecEnv(t)

	// The browser's preflight, as it sends it before the Web UI's fetch.
	req, err := http.NewRequest(http.MethodOptions, e.url+"/codec/decode", nil)
	require.NoError(t, err)
	req.Header.Set("Origin", webUI)
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "authorization,content-type,x-namespace")
	pre := do(t, req)
	assert.Equal(t, http.StatusNoContent, pre.status)
	assert.Equal(t, webUI, pre.header.Get("Access-Control-Allow-Origin"))
	assert.Contains(t, pre.header.Get("Access-Control-Allow-Methods"), "POST")
	allowed := strings.ToLower(pre.header.Get("Access-Control-Allow-Headers"))
	for _, h := range []string{"authorization", "content-type", "x-namespace"} {
		assert.Contains(t, allowed, h)
	}

	// Another origin gets no CORS grant: the browser refuses the answer.
	req.Header.Set("Origin", "https://evil.example.com")
	other := do(t, req)
	assert.Empty(t, other.header.Get("Access-Control-Allow-Origin"))

	// The decode itself, with a reader's token.
	r := e.post(t, "/codec/decode", e.tokens[api.RoleReader], e.historyPayloads(t, customerOrder, "Unlinked by Operations"))
	assert.Equal(t, webUI, r.header.Get("Access-Control-Allow-Origin"))
	assert.Equal(t, "no-store", r.header.Get("Cache-Control"), "decoded payloads are not kept by caches")
	ps := decodedPayloads(t, r)
	require.Len(t, ps, 2)
	assert.Equal(t, converter.MetadataEncodingJSON, string(ps[0].GetMetadata()[converter.MetadataEncoding]))
	var back order.Order
	require.NoError(t, converter.GetDefaultDataConverter().FromPayload(ps[0], &back))
	assert.Equal(t, customerOrder.RequestedBy, back.RequestedBy)
	assert.Contains(t, string(ps[1].GetData()), "Unlinked by Operations")
}

func TestCodecRoles(t *testing.T) {
	e := newCodecEnv(t)
	encrypted := e.historyPayloads(t, customerOrder)
	plain, err := protojson.Marshal(&commonpb.Payloads{Payloads: []*commonpb.Payload{{
		Metadata: map[string][]byte{converter.MetadataEncoding: []byte(converter.MetadataEncodingJSON)},
		Data:     []byte(`"jane.doe@example.com"`),
	}}})
	require.NoError(t, err)
	for _, tc := range []struct {
		role           api.Role
		decode, encode int
	}{
		{api.RoleReader, http.StatusOK, http.StatusForbidden},
		{api.RoleOperations, http.StatusOK, http.StatusOK},
		{api.RoleBackend, http.StatusOK, http.StatusOK},
	} {
		t.Run(string(tc.role), func(t *testing.T) {
			r := e.post(t, "/codec/decode", e.tokens[tc.role], encrypted)
			assert.Equal(t, tc.decode, r.status, "decode: %s", r.body)
			r = e.post(t, "/codec/encode", e.tokens[tc.role], plain)
			assert.Equal(t, tc.encode, r.status, "encode: %s", r.body)
			if tc.encode != http.StatusOK {
				p := r.problem(t)
				assert.Equal(t, api.TypeForbidden, p.Type)
				assert.Contains(t, p.Detail, "role reader may encode only an empty list of payloads")
				return
			}
			// What the Web UI sends to start a workflow or signal: encrypted
			// under the active key, with the key ID and cipher in clear.
			ps := decodedPayloads(t, r)
			require.Len(t, ps, 1)
			md := ps[0].GetMetadata()
			assert.Equal(t, codec.MetadataEncoding, string(md[converter.MetadataEncoding]))
			assert.Equal(t, "k2", string(md[codec.MetadataKeyID]))
			assert.Equal(t, codec.CipherAES256GCM, string(md[codec.MetadataCipher]))
			assert.NotContains(t, string(ps[0].GetData()), "jane.doe")
			// and the round trip gives the payload back.
			back := decodedPayloads(t, e.post(t, "/codec/decode", e.tokens[api.RoleReader], r.body))
			assert.Equal(t, `"jane.doe@example.com"`, string(back[0].GetData()))
		})
	}

	// A query without arguments: the CLI sends no payloads to encode.
	assert.Empty(t, decodedPayloads(t, e.post(t, "/codec/encode", e.tokens[api.RoleOperations], []byte(`{}`))))

	for name, token := range map[string]string{"missing": "", "wrong": "tok_not-a-key"} {
		t.Run(name+" token", func(t *testing.T) {
			r := e.post(t, "/codec/decode", token, encrypted)
			p := r.problem(t)
			assert.Equal(t, http.StatusUnauthorized, r.status)
			assert.Equal(t, api.TypeUnauthorized, p.Type)
			assert.Contains(t, r.header.Get("WWW-Authenticate"), "Bearer")
			assert.NotContains(t, string(r.body), "jane.doe")
		})
	}
}

func TestCodecRefusesWhatItCannotDecrypt(t *testing.T) {
	e := newCodecEnv(t)
	// A payload of a key this server does not hold.
	ring, err := codec.NewKeyRing("k9", randomKey(t, "k9"))
	require.NoError(t, err)
	foreign := &codecEnv{codec: codec.New(ring)}
	r := e.post(t, "/codec/decode", e.tokens[api.RoleReader], foreign.historyPayloads(t, customerOrder))
	p := r.problem(t)
	assert.Equal(t, http.StatusUnprocessableEntity, r.status)
	assert.Equal(t, api.TypeUndecryptable, p.Type)
	assert.Contains(t, p.Detail, `unknown encryption key "k9"`)
	assert.Contains(t, p.Detail, "k1, k2")

	// A payload altered in the database.
	var ps commonpb.Payloads
	require.NoError(t, protojson.Unmarshal(e.historyPayloads(t, customerOrder), &ps))
	ps.Payloads[0].Data[len(ps.Payloads[0].Data)-1] ^= 1
	tampered, err := protojson.Marshal(&ps)
	require.NoError(t, err)
	r = e.post(t, "/codec/decode", e.tokens[api.RoleReader], tampered)
	assert.Equal(t, http.StatusUnprocessableEntity, r.status)
	assert.Contains(t, r.problem(t).Detail, `encrypted with key "k2"`)

	// Not payloads at all.
	r = e.post(t, "/codec/decode", e.tokens[api.RoleReader], []byte(`{"payloads": "all of them"}`))
	assert.Equal(t, http.StatusBadRequest, r.status)
	p = r.problem(t)
	assert.Equal(t, api.TypeInvalidInput, p.Type)
	assert.Contains(t, p.Detail, "body: must be proto-JSON payloads")
	assert.Contains(t, p.Detail, "payloads", "the parser's own reason follows")

	// Another namespace's payloads: its keys are elsewhere.
	r = e.post(t, "/codec/decode", e.tokens[api.RoleReader], e.historyPayloads(t, "x"), "X-Namespace", "billing")
	assert.Equal(t, http.StatusBadRequest, r.status)
	assert.Contains(t, r.problem(t).Detail, `X-Namespace: this codec server holds the keys of namespace "orders-prod", not "billing"`)

	// GET is not the codec protocol.
	resp, err := http.Get(e.url + "/codec/decode")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
}

func TestCodecOfTheDevCommandTakesNoToken(t *testing.T) {
	e := newCodecEnv(t, func(o *api.Options) { o.CodecWithoutToken = true })
	ps := decodedPayloads(t, e.post(t, "/codec/decode", "", e.historyPayloads(t, customerOrder)))
	assert.Contains(t, string(ps[0].GetData()), "jane.doe@example.com")
	// The order routes still need one.
	req, err := http.NewRequest(http.MethodGet, e.url+"/v1/orders/ORD-CODEC-1", nil)
	require.NoError(t, err)
	assert.Equal(t, http.StatusUnauthorized, do(t, req).status)
}

func TestCodecBodyLimitIsItsOwn(t *testing.T) {
	e := newCodecEnv(t)
	// Larger than api.max_body_bytes (64 KiB here), as a page of history is.
	big := make([]any, 0, 200)
	for range 200 {
		big = append(big, strings.Repeat("a status message ", 40))
	}
	body := e.historyPayloads(t, big...)
	require.Greater(t, len(body), 64<<10)
	ps := decodedPayloads(t, e.post(t, "/codec/decode", e.tokens[api.RoleReader], body))
	assert.Len(t, ps, 200)

	// Beyond its 8 MiB, a problem saying so.
	huge := append(append([]byte(`{"payloads":[{"data":"`), bytes.Repeat([]byte("A"), 8<<20)...), `"}]}`...)
	r := e.post(t, "/codec/decode", e.tokens[api.RoleReader], huge)
	assert.Equal(t, http.StatusRequestEntityTooLarge, r.status)
	p := r.problem(t)
	assert.Equal(t, api.TypePayloadTooLarge, p.Type)
	assert.Equal(t, "the request body is larger than 8388608 bytes", p.Detail)
}

// The reader's read with the temporal CLI, as the README and the encryption
// page show it: `temporal workflow query --type status --workflow-id ...
// --codec-endpoint <api>/codec --codec-auth "Bearer $READER_TOKEN"`. CLI
// 1.5.1 runs every request and answer through the SDK's remote codec
// (converter.NewPayloadCodecGRPCClientInterceptor): the query's arguments,
// an empty list, go to /codec/encode, the answer's payloads to
// /codec/decode, each posted with encoding/json's form of
// commonpb.Payloads, Content-Type, X-Namespace and the --codec-auth value
// as Authorization. Both requests are sent here byte for byte, then through
// the SDK's own interceptor as the CLI sets it up.
func TestReaderQueriesWithTheTemporalCLI(t *testing.T) {
	e := newCodecEnv(t)
	reader := "Bearer " + e.tokens[api.RoleReader]
	status := order.Status{OrderID: "ORD-CODEC-1", Stage: order.StageAwaitingUnlink, StatusMessage: "Your termination order ORD-CODEC-1 has been submitted."}
	encrypted, err := codec.DataConverter(e.codec).ToPayload(status)
	require.NoError(t, err)

	cliRequest := func(path string, body []byte) reply {
		req, err := http.NewRequest(http.MethodPost, e.url+path, bytes.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Namespace", "orders-prod")
		req.Header.Set("Authorization", reader)
		return do(t, req)
	}
	// The query's arguments: none, sent as an empty list.
	r := cliRequest("/codec/encode", []byte(`{}`))
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	assert.Empty(t, decodedPayloads(t, r))
	// The answer's payload, as encoding/json writes it: bytes in base64.
	answer, err := json.Marshal(commonpb.Payloads{Payloads: []*commonpb.Payload{encrypted}})
	require.NoError(t, err)
	ps := decodedPayloads(t, cliRequest("/codec/decode", answer))
	require.Len(t, ps, 1)
	assert.Contains(t, string(ps[0].GetData()), "has been submitted", "the status in clear")

	// The same through the SDK's interceptor, set up as the CLI does.
	var paths []string
	remote := converter.NewRemotePayloadCodec(converter.RemotePayloadCodecOptions{
		Endpoint: e.url + "/codec",
		ModifyRequest: func(req *http.Request) error {
			paths = append(paths, req.URL.Path)
			req.Header.Set("X-Namespace", "orders-prod")
			req.Header.Set("Authorization", reader)
			return nil
		},
	})
	interceptor, err := converter.NewPayloadCodecGRPCClientInterceptor(converter.PayloadCodecGRPCClientInterceptorOptions{Codecs: []converter.PayloadCodec{remote}})
	require.NoError(t, err)
	query := &workflowservice.QueryWorkflowRequest{
		Namespace: "orders-prod",
		Execution: &commonpb.WorkflowExecution{WorkflowId: "termination-ORD-CODEC-1"},
		Query:     &querypb.WorkflowQuery{QueryType: "status", QueryArgs: &commonpb.Payloads{Payloads: make([]*commonpb.Payload, 0)}},
	}
	var result workflowservice.QueryWorkflowResponse
	err = interceptor(context.Background(), workflowservice.WorkflowService_QueryWorkflow_FullMethodName, query, &result, nil,
		func(_ context.Context, _ string, _, reply any, _ *grpc.ClientConn, _ ...grpc.CallOption) error {
			reply.(*workflowservice.QueryWorkflowResponse).QueryResult = &commonpb.Payloads{Payloads: []*commonpb.Payload{encrypted}}
			return nil
		})
	require.NoError(t, err)
	assert.Equal(t, []string{"/codec/encode", "/codec/decode"}, paths)
	var back order.Status
	require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(result.GetQueryResult(), &back))
	assert.Equal(t, status.StatusMessage, back.StatusMessage)

	// A reader still cannot encrypt: a query or signal with arguments needs
	// operations or backend.
	withArgs, err := json.Marshal(commonpb.Payloads{Payloads: []*commonpb.Payload{{
		Metadata: map[string][]byte{converter.MetadataEncoding: []byte(converter.MetadataEncodingJSON)}, Data: []byte(`"x"`)}}})
	require.NoError(t, err)
	r = cliRequest("/codec/encode", withArgs)
	require.Equal(t, http.StatusForbidden, r.status)
	assert.Equal(t, api.TypeForbidden, r.problem(t).Type)
}
