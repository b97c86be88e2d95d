package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/server/temporaltest"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"

	"github.com/cloudmarket/termination-orders/activities"
	"github.com/cloudmarket/termination-orders/api"
	"github.com/cloudmarket/termination-orders/internal/ordertest"
	"github.com/cloudmarket/termination-orders/order"
	"github.com/cloudmarket/termination-orders/starter"
	"github.com/cloudmarket/termination-orders/store"
	"github.com/cloudmarket/termination-orders/worker"
)

const taskQueue = "termination-orders-api-test"

// env is a real in-process Temporal server with the real worker, a SQLite
// status store, and the API served over real HTTP in front of them.
type env struct {
	url      string
	temporal *temporaltest.TestServer
	store    *store.Store
	server   *api.Server
	// tokens holds an API key of each role.
	tokens map[api.Role]string
	router routers.Router
	// logs holds what the API logged.
	logs *syncBuffer
	// worker runs the orders; dsn is the status store's, which it shares
	// with the API unless envSetup.storeDSN says otherwise.
	worker sdkworker.Worker
	dsn    string
	window time.Duration
	cfg    api.Config
	spec   *openapi3.T
}

// syncBuffer is a buffer that concurrent log lines can share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newEnv(t *testing.T, window time.Duration, tune ...func(*api.Config)) *env {
	t.Helper()
	return newEnvWith(t, envSetup{window: window, tune: tune})
}

// envSetup is how an env differs from the default one.
type envSetup struct {
	window time.Duration
	tune   []func(*api.Config)
	// storeDSN is the API's status store; empty is a SQLite file of the
	// test's own, which the worker shares.
	storeDSN string
	// temporalAddress turns the Temporal server's address into the one the
	// API connects to (a fault proxy in front of it, say).
	temporalAddress func(string) string
	// interceptors are the API's Temporal client's.
	interceptors []interceptor.ClientInterceptor
}

func newEnvWith(t *testing.T, setup envSetup) *env {
	t.Helper()
	ts := temporaltest.NewServer(temporaltest.WithT(t))
	c := ts.GetDefaultClient()
	ctx := context.Background()
	require.NoError(t, worker.RegisterSearchAttributes(ctx, c, ts.GetDefaultNamespace()))
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "status.db")
	st, err := store.Open(ctx, dsn)
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	e := &env{temporal: ts, store: st, dsn: dsn, tokens: map[api.Role]string{}, logs: &syncBuffer{}, window: setup.window}
	e.worker = e.newWorker(t)
	require.NoError(t, e.worker.Start())
	t.Cleanup(func() { e.worker.Stop() })

	apiStore := st
	if setup.storeDSN != "" {
		apiStore, err = store.Open(ctx, setup.storeDSN, store.WithConnectTimeout(10*time.Second))
		require.NoError(t, err)
		t.Cleanup(func() { apiStore.Close() })
	}
	address := ts.GetFrontendHostPort()
	if setup.temporalAddress != nil {
		address = setup.temporalAddress(address)
	}
	// The API's own connection, as termination-api makes it: lazy, so that
	// it keeps serving the store's routes while Temporal is down.
	apiClient, err := client.NewLazyClient(client.Options{HostPort: address, Namespace: ts.GetDefaultNamespace(),
		Interceptors: setup.interceptors})
	require.NoError(t, err)
	t.Cleanup(apiClient.Close)

	cfg := api.Config{
		MaxBodyBytes: 64 << 10, IdempotencyKeyTTL: time.Hour, RequestTimeout: 10 * time.Second,
		ReadTimeout: 10 * time.Second, WriteTimeout: 20 * time.Second, IdleTimeout: time.Minute, ShutdownTimeout: 5 * time.Second,
		OIDC: api.OIDC{RoleClaim: "role"},
	}
	cfg.Keys, e.tokens = roleKeys(t)
	for _, f := range setup.tune {
		f(&cfg)
	}
	e.cfg = cfg
	logged := zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(e.logs), zap.DebugLevel)
	logger := zap.New(zapcore.NewTee(zaptest.NewLogger(t).Core(), logged))
	e.server, err = api.New(ctx, api.Options{Orders: starter.New(apiClient, taskQueue, starter.WithStatusStore(apiStore)), Store: apiStore, Config: cfg, Logger: logger})
	require.NoError(t, err)
	srv := httptest.NewServer(e.server.Handler())
	t.Cleanup(srv.Close)
	e.url = srv.URL

	// The 3.0 copy as the server serves it (openapi3 reads 3.0).
	resp, err := http.Get(e.url + "/v1/openapi-3.0.json")
	require.NoError(t, err)
	doc, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	spec, err := openapi3.NewLoader().LoadFromData(doc)
	require.NoError(t, err)
	require.NoError(t, spec.Validate(ctx), "the OpenAPI document (as 3.0) is not valid")
	e.spec = spec
	// Requests go to this test's server, not to the document's servers.
	routed := *spec
	routed.Servers = openapi3.Servers{{URL: e.url}}
	e.router, err = legacy.NewRouter(&routed)
	require.NoError(t, err)
	return e
}

// newWorker is a worker of the env's orders, not started.
func (e *env) newWorker(t *testing.T) sdkworker.Worker {
	t.Helper()
	return worker.New(e.temporal.GetDefaultClient(), e.store, worker.Options{TaskQueue: taskQueue,
		Policy: activities.Policy{ReopenWindow: e.window}, StopTimeout: 5 * time.Second})
}

// roleKeys makes an API key of each role: the server's entries and the
// callers' tokens.
func roleKeys(t *testing.T) ([]api.Key, map[api.Role]string) {
	t.Helper()
	var keys []api.Key
	tokens := map[api.Role]string{}
	for _, role := range api.Roles {
		key, entry, err := api.NewKey("test-"+string(role), role)
		require.NoError(t, err)
		k, err := api.ParseKey(entry)
		require.NoError(t, err)
		keys = append(keys, k)
		tokens[role] = key
	}
	return keys, tokens
}

// reply is an answer of the API.
type reply struct {
	status int
	header http.Header
	body   []byte
}

func (r reply) json(t *testing.T, v any) {
	t.Helper()
	require.NoError(t, json.Unmarshal(r.body, v), "body: %s", r.body)
}

// problem decodes a problem answer and checks its media type.
func (r reply) problem(t *testing.T) api.Problem {
	t.Helper()
	require.Equal(t, "application/problem+json", r.header.Get("Content-Type"), "body: %s", r.body)
	var p api.Problem
	r.json(t, &p)
	require.Equal(t, r.status, p.Status)
	require.True(t, strings.HasPrefix(p.Type, api.ProblemTypeBase), p.Type)
	require.True(t, strings.HasPrefix(p.Instance, "urn:uuid:"), "instance %q", p.Instance)
	return p
}

// call sends a request and checks the answer against the OpenAPI document.
func (e *env) call(t *testing.T, method, path, token string, body any, headers ...string) reply {
	t.Helper()
	var rd io.Reader
	var raw []byte
	switch b := body.(type) {
	case nil:
	case string:
		raw = []byte(b)
	case []byte:
		raw = b
	default:
		var err error
		raw, err = json.Marshal(b)
		require.NoError(t, err)
	}
	if raw != nil {
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, e.url+path, rd)
	require.NoError(t, err)
	if raw != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	r := reply{status: resp.StatusCode, header: resp.Header, body: got}
	e.conforms(t, req, r)
	return r
}

// conforms checks an answer of a documented route against the document.
func (e *env) conforms(t *testing.T, req *http.Request, r reply) {
	t.Helper()
	route, params, err := e.router.FindRoute(req)
	if err != nil {
		return // not a documented route (health, metrics, unknown paths)
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: r.status, Header: r.header,
		Body: io.NopCloser(bytes.NewReader(r.body)), Options: &openapi3filter.Options{IncludeResponseStatus: true},
	}
	assert.NoError(t, openapi3filter.ValidateResponse(context.Background(), out),
		"%s %s answered %d, not as the OpenAPI document says: %s", req.Method, req.URL.Path, r.status, r.body)
}

// newOrder is a valid order with an AWS account of its own, so that the
// orders of a test never hold each other's account.
func newOrder(id string) order.Order {
	return order.Order{
		OrderID: id, SubscriptionID: "SUB-" + id, AccountID: ordertest.Account(id),
		TerminationType: order.TerminationTypeCloseAccount,
		Items:           []order.Item{{ItemID: "ITM-1"}},
		RequestedBy:     "jane.doe@example.com",
	}
}

// waitForStage reads the order over HTTP until it is in the stage.
func (e *env) waitForStage(t *testing.T, orderID string, stage order.Stage) order.Status {
	t.Helper()
	var s order.Status
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		r := e.call(t, http.MethodGet, "/v1/orders/"+orderID, e.tokens[api.RoleReader], nil)
		require.Equal(c, http.StatusOK, r.status, string(r.body))
		require.NoError(c, json.Unmarshal(r.body, &s))
		require.Equal(c, stage, s.Stage)
	}, 30*time.Second, 100*time.Millisecond)
	return s
}

// start starts an order as the backend and waits until it is accepted.
func (e *env) start(t *testing.T, o order.Order) api.StartedOrder {
	t.Helper()
	r := e.call(t, http.MethodPost, "/v1/orders", e.tokens[api.RoleBackend], o)
	require.Equal(t, http.StatusCreated, r.status, string(r.body))
	var run api.StartedOrder
	r.json(t, &run)
	e.waitForStage(t, o.OrderID, order.StageAwaitingUnlink)
	return run
}

func ops() order.UnlinkCompleted {
	return order.UnlinkCompleted{CompletedBy: "ops.kim@example.com", Reference: "OPS-7781"}
}
