package api_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cloudmarket/termination-orders/api"
	"github.com/cloudmarket/termination-orders/internal/netfault"
	"github.com/cloudmarket/termination-orders/internal/pgtest"
	"github.com/cloudmarket/termination-orders/order"
)

// deadlineTimeout is api.request_timeout in the deadline tests.
const deadlineTimeout = 2 * time.Second

// callWithin is call with a client that gives up well after the request
// timeout: an answer held past it fails the test instead of hanging it.
func (e *env) callWithin(t *testing.T, method, path, token string, body any, headers ...string) reply {
	t.Helper()
	var raw []byte
	if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			t.Fatal(err)
		}
	}
	req, err := http.NewRequest(method, e.url+path, bytes.NewReader(raw))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	c := &http.Client{Timeout: 3 * deadlineTimeout}
	sent := time.Now()
	resp, err := c.Do(req)
	require.NoError(t, err, "%s %s got no answer within three times api.request_timeout (%s)", method, path, deadlineTimeout)
	defer resp.Body.Close()
	t.Logf("%s %s answered %d after %s (api.request_timeout %s)", method, path, resp.StatusCode, time.Since(sent).Round(time.Millisecond), deadlineTimeout)
	got, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	r := reply{status: resp.StatusCode, header: resp.Header, body: got}
	if raw != nil {
		req.Body = io.NopCloser(bytes.NewReader(raw))
	}
	e.conforms(t, req, r)
	return r
}

// unavailable checks a 503 unavailable with Retry-After.
func unavailable(t *testing.T, r reply) {
	t.Helper()
	p := r.problem(t)
	require.Equal(t, http.StatusServiceUnavailable, p.Status, "%s", r.body)
	require.Equal(t, api.TypeUnavailable, p.Type)
	require.NotEmpty(t, r.header.Get("Retry-After"))
}

func deadlines(c *api.Config) {
	c.RequestTimeout = deadlineTimeout
	c.WriteTimeout = 3 * deadlineTimeout
}

// The API's status store (PostgreSQL) behind a proxy that accepts
// connections and never answers: every call that needs the store answers
// 503 unavailable, with Retry-After, within api.request_timeout, and nothing
// is started.
func TestAnswersInTimeWhenTheStoreIsBlackHoled(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	u, err := url.Parse(dsn)
	require.NoError(t, err)
	proxy, err := netfault.Listen(u.Host)
	require.NoError(t, err)
	t.Cleanup(func() { _ = proxy.Close() })
	u.Host = proxy.Addr()
	e := newEnvWith(t, envSetup{window: time.Hour, storeDSN: u.String(), tune: []func(*api.Config){deadlines}})
	backend, opsToken, reader := e.tokens[api.RoleBackend], e.tokens[api.RoleOperations], e.tokens[api.RoleReader]

	require.NoError(t, proxy.Set(netfault.BlackHole))
	t.Cleanup(func() { _ = proxy.Set(netfault.Forward) })

	unavailable(t, e.callWithin(t, http.MethodGet, "/v1/orders/ORD-HOLE/messages", reader, nil))
	unavailable(t, e.callWithin(t, http.MethodGet, "/v1/accounts/210987654321", reader, nil))
	unavailable(t, e.callWithin(t, http.MethodPost, "/v1/orders", backend, newOrder("ORD-HOLE"), "Idempotency-Key", "start-ORD-HOLE"))
	unavailable(t, e.callWithin(t, http.MethodPost, "/v1/orders/ORD-HOLE/unlink", opsToken, ops(), "Idempotency-Key", "OPS-HOLE"))
	unavailable(t, e.callWithin(t, http.MethodPost, "/v1/orders/ORD-HOLE/cancel", backend, order.Request{RequestedBy: "jane", Reason: "x"}, "Idempotency-Key", "cancel-HOLE"))
	r := e.callWithin(t, http.MethodGet, "/readyz", "", nil)
	require.Equal(t, http.StatusServiceUnavailable, r.status)

	// The start behind the key never reached Temporal.
	require.Equal(t, api.TypeNotFound, e.callWithin(t, http.MethodGet, "/v1/orders/ORD-HOLE", reader, nil).problem(t).Type)
}

// The status store (SQLite, shared with the worker) locked by another
// writer that does not let go: the calls that need it answer 503
// unavailable within api.request_timeout, though the driver waits out its
// busy timeout (10 s) without heeding the request's deadline.
func TestAnswersInTimeWhenTheSQLiteStoreIsLocked(t *testing.T) {
	e := newEnv(t, time.Hour, deadlines)
	backend := e.tokens[api.RoleBackend]
	e.start(t, newOrder("ORD-LOCKED"))

	lock, err := sql.Open("sqlite", "file:"+filepath.Clean(e.dsn[len("sqlite:"):])+"?_pragma=busy_timeout(10000)&_txlock=immediate")
	require.NoError(t, err)
	t.Cleanup(func() { lock.Close() })
	tx, err := lock.BeginTx(context.Background(), nil)
	require.NoError(t, err)
	_, err = tx.Exec(`DELETE FROM idempotency_keys WHERE idem_key = 'none'`)
	require.NoError(t, err)
	t.Cleanup(func() { _ = tx.Rollback() })

	unavailable(t, e.callWithin(t, http.MethodPost, "/v1/orders", backend, newOrder("ORD-LOCKED-2"), "Idempotency-Key", "start-ORD-LOCKED-2"))
	unavailable(t, e.callWithin(t, http.MethodPost, "/v1/orders/ORD-LOCKED/cancel", backend, order.Request{RequestedBy: "jane", Reason: "x"}, "Idempotency-Key", "cancel-LOCKED"))
	require.NoError(t, tx.Rollback())
	// Once the lock is gone, the same request goes through.
	r := e.callWithin(t, http.MethodPost, "/v1/orders/ORD-LOCKED/cancel", backend, order.Request{RequestedBy: "jane", Reason: "x"}, "Idempotency-Key", "cancel-LOCKED")
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
}

// Temporal behind a proxy that accepts connections and never answers: reads
// answer 503 unavailable, and writes 504 outcome-unknown naming the
// Idempotency-Key to send again, within api.request_timeout.
func TestAnswersInTimeWhenTemporalIsBlackHoled(t *testing.T) {
	var proxy *netfault.Proxy
	e := newEnvWith(t, envSetup{window: time.Hour, tune: []func(*api.Config){deadlines}, temporalAddress: func(addr string) string {
		p, err := netfault.Listen(addr)
		require.NoError(t, err)
		t.Cleanup(func() { _ = p.Close() })
		proxy = p
		return p.Addr()
	}})
	backend, opsToken, reader := e.tokens[api.RoleBackend], e.tokens[api.RoleOperations], e.tokens[api.RoleReader]
	e.start(t, newOrder("ORD-SILENT"))

	require.NoError(t, proxy.Set(netfault.BlackHole))
	t.Cleanup(func() { _ = proxy.Set(netfault.Forward) })

	unavailable(t, e.callWithin(t, http.MethodGet, "/v1/orders/ORD-SILENT", reader, nil))
	unavailable(t, e.callWithin(t, http.MethodGet, "/v1/orders?stage=AwaitingUnlink", reader, nil))
	r := e.callWithin(t, http.MethodPost, "/v1/orders/ORD-SILENT/unlink", opsToken, ops(), "Idempotency-Key", "OPS-SILENT")
	p := r.problem(t)
	require.Equal(t, http.StatusGatewayTimeout, p.Status, "%s", r.body)
	require.Equal(t, api.TypeOutcomeUnknown, p.Type)
	require.Equal(t, "OPS-SILENT", p.RequestID)
	r = e.callWithin(t, http.MethodPost, "/v1/orders", backend, newOrder("ORD-SILENT-2"), "Idempotency-Key", "start-ORD-SILENT-2")
	require.Equal(t, api.TypeOutcomeUnknown, r.problem(t).Type, "%s", r.body)
	// The store still answers.
	require.Equal(t, http.StatusOK, e.callWithin(t, http.MethodGet, "/v1/orders/ORD-SILENT/messages", reader, nil).status)
}
