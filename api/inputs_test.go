package api_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/cloudmarket/termination-orders/api"
	"github.com/cloudmarket/termination-orders/codec"
	"github.com/cloudmarket/termination-orders/order"
	"github.com/cloudmarket/termination-orders/workflows"
)

// fieldsOf returns the broken rules of an invalid-input problem by field.
func problemFields(t *testing.T, p api.Problem) map[string]string {
	t.Helper()
	require.Equal(t, api.TypeInvalidInput, p.Type, p.Detail)
	rules := map[string]string{}
	for _, f := range p.Errors {
		rules[f.Field] += f.Rule
	}
	return rules
}

const orderBody = `{"orderId":"ORD-EDGE","subscriptionId":"SUB-1","accountId":"123456789012","terminationType":"CloseAccount",` +
	`"items":[{"itemId":"ITM-1","quantity":0}],"requestedBy":"jane"`

// What plain JSON decoding hides (a key sent twice, text that is not UTF-8,
// a window sent as 0) is refused in every body, with the field named, and
// nothing is started or changed.
func TestBodiesRefuseDuplicateKeysBadTextAndAZeroWindow(t *testing.T) {
	e := newEnv(t, time.Hour)
	backend := e.tokens[api.RoleBackend]
	for body, want := range map[string][2]string{
		orderBody + `,"reopenWindowSeconds":0}`:                                {"reopenWindowSeconds", "must be between 1 and 31536000 seconds when set, got 0"},
		orderBody + `,"accountId":"210987654321"}`:                             {"accountId", "appears more than once in one object"},
		orderBody + `,"RequestedBy":"mallory"}`:                                {"RequestedBy", `as "requestedBy" and "RequestedBy"`},
		strings.Replace(orderBody, "jane", "ja\xffne", 1) + `}`:                {"requestedBy", "must be valid UTF-8 text"},
		strings.Replace(orderBody, "jane", `ja\ud800ne`, 1) + `}`:              {"requestedBy", "must be valid UTF-8 text"},
		strings.Replace(orderBody, `"ITM-1"`, `"ITM-1","itemId":"X"`, 1) + `}`: {"items[0].itemId", "appears more than once"},
	} {
		rules := problemFields(t, e.call(t, http.MethodPost, "/v1/orders", backend, body).problem(t))
		require.Contains(t, rules[want[0]], want[1], "%s: %v", body, rules)
	}
	require.Equal(t, http.StatusNotFound, e.call(t, http.MethodGet, "/v1/orders/ORD-EDGE", backend, nil).status, "nothing was started")

	e.start(t, newOrder("ORD-EDGE-2"))
	e.waitForStage(t, "ORD-EDGE-2", order.StageAwaitingUnlink)
	for path, body := range map[string]string{
		"cancel": `{"requestedBy":"jane","reason":"x","reason":"y"}`,
		"reopen": `{"requestedBy":"jane","reason":"x","Reason":"y"}`,
		"unlink": "{\"completedBy\":\"o\xffps\",\"reference\":\"OPS-1\"}",
	} {
		token := backend
		if path == "unlink" {
			token = e.tokens[api.RoleOperations]
		}
		rules := problemFields(t, e.call(t, http.MethodPost, "/v1/orders/ORD-EDGE-2/"+path, token, body).problem(t))
		require.NotEmpty(t, rules, path)
		for field, rule := range rules {
			require.Regexp(t, `^(reason|Reason|completedBy)$`, field, path)
			require.Regexp(t, `appears more than once|must be valid UTF-8 text|is not a field`, rule, path)
		}
	}
	require.Equal(t, order.StageAwaitingUnlink, e.waitForStage(t, "ORD-EDGE-2", order.StageAwaitingUnlink).Stage, "nothing changed")

	// An update's 200 carries no Location, as the document says.
	r := e.call(t, http.MethodPost, "/v1/orders/ORD-EDGE-2/cancel", backend, `{"requestedBy":"jane","reason":"changed her mind"}`)
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	require.Empty(t, r.header.Values("Location"))
}

// A query string Go would drop in part without a word is refused, naming
// the parameter: a caller never gets the first page for a token it sent.
func TestMalformedQueryIsRefusedNamingTheParameter(t *testing.T) {
	e := newEnv(t, time.Hour)
	reader := e.tokens[api.RoleReader]
	for query, field := range map[string]string{
		"pageToken=%zz":          "pageToken",
		"pageSize=1&pageToken=%": "pageToken",
		"pageSize=1;stage=x":     "pageSize",
		"page%zzSize=1":          "(query)",
		"stage=%ff":              "stage",
	} {
		p := e.call(t, http.MethodGet, "/v1/orders?"+query, reader, nil).problem(t)
		require.Equal(t, http.StatusBadRequest, p.Status, query)
		require.Contains(t, problemFields(t, p), field, query)
	}
	require.Equal(t, http.StatusOK, e.call(t, http.MethodGet, "/v1/orders?pageSize=1&stage=AwaitingUnlink", reader, nil).status)
}

// Where Temporal is, and the API's own sockets, stay in the log: no answer
// names an internal address.
func TestNoInternalAddressInAnswers(t *testing.T) {
	e := newEnv(t, time.Hour)
	frontend := e.temporal.GetFrontendHostPort()
	e.temporal.Stop()

	answers := map[string]reply{
		"status":  e.call(t, http.MethodGet, "/v1/orders/ORD-GONE", e.tokens[api.RoleReader], nil),
		"start":   e.call(t, http.MethodPost, "/v1/orders", e.tokens[api.RoleBackend], newOrder("ORD-GONE")),
		"list":    e.call(t, http.MethodGet, "/v1/orders", e.tokens[api.RoleReader], nil),
		"/readyz": e.call(t, http.MethodGet, "/readyz", "", nil),
	}
	for name, r := range answers {
		require.GreaterOrEqual(t, r.status, 500, "%s: %s", name, r.body)
		requireNoAddress(t, name, string(r.body))
	}
	require.Contains(t, e.logs.String(), frontend, "the log keeps where Temporal is")
}

func requireNoAddress(t *testing.T, name, body string) {
	t.Helper()
	require.NotRegexp(t, `\d+\.\d+\.\d+\.\d+|\[::1?\]|localhost|(dial|read|write) tcp`, body, "%s answered an internal address", name)
}

// A codec request whose body stops arriving is answered without the
// addresses of the connection's two ends.
func TestCodecBodyTimeoutNamesNoAddress(t *testing.T) {
	k := make([]byte, codec.KeySize)
	ring, err := codec.NewKeyRing("k1", codec.Key{ID: "k1", Secret: k})
	require.NoError(t, err)
	core, logs := observer.New(zap.WarnLevel)
	srv, err := api.New(context.Background(), api.Options{
		Config: api.Config{MaxBodyBytes: 64 << 10, ReadTimeout: 300 * time.Millisecond, WriteTimeout: 10 * time.Second,
			IdleTimeout: time.Minute, ShutdownTimeout: time.Second},
		Logger: zap.New(core), Codec: codec.New(ring), Namespace: "default", CodecWithoutToken: true,
	})
	require.NoError(t, err)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, l) }()
	defer func() { cancel(); <-served }()

	conn, err := net.Dial("tcp", l.Addr().String())
	require.NoError(t, err)
	defer conn.Close()
	_, err = fmt.Fprintf(conn, "POST /codec/decode HTTP/1.1\r\nHost: api\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"payloads\":")
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusBadRequest, resp.StatusCode, string(body))
	requireNoAddress(t, "/codec/decode", string(body))
	require.Equal(t, 1, logs.FilterMessage("Codec request body not read").Len(), "the log keeps the cause")
}

// A body over api.max_body_bytes gets one 413, stating the one limit,
// whether its length was announced or it came chunked; a chunked body
// within the limit is read as any other.
func TestPayloadTooLargeStatesOneLimitForSizedAndChunkedBodies(t *testing.T) {
	keys, tokens := roleKeys(t)
	srv, err := api.New(context.Background(), api.Options{
		Config: api.Config{MaxBodyBytes: 1024, RequestTimeout: time.Second, IdempotencyKeyTTL: time.Hour, Keys: keys},
		Logger: zap.NewNop(),
	})
	require.NoError(t, err)
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	post := func(body io.Reader, length int64) reply {
		req, err := http.NewRequest(http.MethodPost, ts.URL+"/v1/orders", body)
		require.NoError(t, err)
		req.ContentLength = length // -1: chunked
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+tokens[api.RoleBackend])
		return do(t, req)
	}
	big := `{"requestedBy":"` + strings.Repeat("x", 2000) + `"}`
	for name, r := range map[string]reply{
		"sized":   post(strings.NewReader(big), int64(len(big))),
		"chunked": post(io.MultiReader(strings.NewReader(big)), -1),
	} {
		p := r.problem(t)
		require.Equal(t, http.StatusRequestEntityTooLarge, p.Status, name)
		require.Equal(t, api.TypePayloadTooLarge, p.Type, name)
		require.Equal(t, "the request body is larger than 1024 bytes", p.Detail, name)
	}
	p := post(io.MultiReader(strings.NewReader(`{"orderId":"ORD-1"}`)), -1).problem(t)
	require.Equal(t, api.TypeInvalidInput, p.Type, "a small chunked body reaches the route: %s", p.Detail)
	require.Contains(t, problemFields(t, p), "subscriptionId")
}

func rawJSON(data string) converter.RawValue {
	return converter.NewRawValue(&commonpb.Payload{
		Metadata: map[string][]byte{converter.MetadataEncoding: []byte(converter.MetadataEncodingJSON)},
		Data:     []byte(data),
	})
}

// A client that is not ours (temporal workflow start/update/signal with raw
// JSON) meets the same rules in the workflow's own decoding: a raw start
// with a key sent twice fails at its acceptance, naming the field; a raw
// update is rejected by its validator (nothing in history); a raw signal is
// ignored. Nothing changes on the order.
func TestRawStartsUpdatesAndSignalsRefuseDuplicateKeysAndBadText(t *testing.T) {
	e := newEnv(t, time.Hour)
	c := e.temporal.GetDefaultClient()
	ctx := context.Background()

	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: order.WorkflowID("ORD-RAW-1"), TaskQueue: taskQueue},
		workflows.WorkflowType, rawJSON(strings.Replace(orderBody, "ORD-EDGE", "ORD-RAW-1", 1)+`,"requestedBy":"mallory"}`))
	require.NoError(t, err)
	var appErr *temporal.ApplicationError
	// An accepted order would wait for its unlink: give up on it in time.
	getCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	require.ErrorAs(t, run.Get(getCtx, nil), &appErr)
	require.Equal(t, workflows.ErrTypeInvalidOrder, appErr.Type())
	require.Contains(t, appErr.Message(), "requestedBy: appears more than once")

	e.start(t, newOrder("ORD-RAW-2"))
	e.waitForStage(t, "ORD-RAW-2", order.StageAwaitingUnlink)
	for name, payload := range map[string]string{
		workflows.UpdateCancel:        `{"requestedBy":"jane","reason":"x","REASON":"y"}`,
		workflows.UpdateConfirmUnlink: "{\"completedBy\":\"o\xffps\",\"reference\":\"OPS-1\"}",
	} {
		h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
			WorkflowID: order.WorkflowID("ORD-RAW-2"), UpdateName: name, Args: []any{rawJSON(payload)},
			WaitForStage: client.WorkflowUpdateStageCompleted,
		})
		if err == nil {
			err = h.Get(ctx, nil)
		}
		require.Error(t, err, name)
		require.Regexp(t, `REASON: appears more than once|completedBy: must be valid UTF-8 text`, err.Error(), name)
	}
	require.NoError(t, c.SignalWorkflow(ctx, order.WorkflowID("ORD-RAW-2"), "", workflows.SignalUnlinkCompleted,
		rawJSON(`{"completedBy":"ops","reference":"OPS-1","reference":"OPS-2"}`)))
	// The signal is decided by a (local) activity, recorded as a marker
	// after the signal: wait until it has been.
	require.Eventually(t, func() bool {
		it := c.GetWorkflowHistory(ctx, order.WorkflowID("ORD-RAW-2"), "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		signaled := false
		for it.HasNext() {
			ev, err := it.Next()
			if err != nil {
				return false
			}
			if a := ev.GetWorkflowExecutionUpdateAcceptedEventAttributes(); a != nil {
				require.Equal(t, workflows.UpdateAcceptance, a.GetAcceptedRequest().GetInput().GetName(), "no raw update was accepted")
			}
			signaled = signaled || ev.GetWorkflowExecutionSignaledEventAttributes() != nil
			if signaled && ev.GetMarkerRecordedEventAttributes() != nil {
				return true
			}
		}
		return false
	}, 30*time.Second, 100*time.Millisecond)
	st := e.waitForStage(t, "ORD-RAW-2", order.StageAwaitingUnlink)
	require.Equal(t, order.StageAwaitingUnlink, st.Stage, "nothing changed")
}
