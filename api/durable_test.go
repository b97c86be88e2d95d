package api_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cloudmarket/termination-orders/api"
	"github.com/cloudmarket/termination-orders/order"
)

// Defect: GET /v1/orders/{orderId} answered the workflow's status query, so
// an order page got 503 while workers were stopped or saturated. It reads
// the status store now and answers with every worker stopped, with what
// the workflow itself answered (GET .../live) while it ran; /live needs a
// worker and says so.
func TestOrderReadsWithEveryWorkerStopped(t *testing.T) {
	e := newEnv(t, time.Hour, func(c *api.Config) { c.RequestTimeout = 3 * time.Second })
	reader := e.tokens[api.RoleReader]
	e.start(t, newOrder("ORD-API-WAIT"))
	e.start(t, newOrder("ORD-API-POST"))
	r := e.call(t, http.MethodPost, "/v1/orders/ORD-API-POST/unlink", e.tokens[api.RoleOperations], ops(), "Idempotency-Key", "OPS-API-1")
	require.Equal(t, http.StatusOK, r.status, string(r.body))

	live := map[string][]byte{}
	for id, stage := range map[string]order.Stage{"ORD-API-WAIT": order.StageAwaitingUnlink, "ORD-API-POST": order.StagePostClosure} {
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			r := e.call(t, http.MethodGet, "/v1/orders/"+id+"/live", reader, nil)
			require.Equal(c, http.StatusOK, r.status, string(r.body))
			var s order.Status
			require.NoError(c, json.Unmarshal(r.body, &s))
			require.Equal(c, stage, s.Stage)
			msgs, err := e.store.LatestLife(t.Context(), id)
			require.NoError(c, err)
			require.Len(c, msgs, len(s.Timeline), "every message stored")
			live[id] = r.body
		}, 30*time.Second, 50*time.Millisecond)
		r := e.call(t, http.MethodGet, "/v1/orders/"+id, reader, nil)
		require.Equal(t, http.StatusOK, r.status, string(r.body))
		require.JSONEq(t, string(live[id]), string(r.body), "order %s: the stored status is the workflow's", id)
	}

	e.worker.Stop()
	for id, body := range live {
		r := e.call(t, http.MethodGet, "/v1/orders/"+id, reader, nil)
		require.Equal(t, http.StatusOK, r.status, "order %s with every worker stopped: %s", id, r.body)
		require.JSONEq(t, string(body), string(r.body), "order %s with every worker stopped", id)
	}
	r = e.call(t, http.MethodGet, "/v1/orders/ORD-API-WAIT/live", reader, nil)
	require.Equal(t, http.StatusServiceUnavailable, r.status, "the live status needs a worker: %s", r.body)
	r = e.call(t, http.MethodGet, "/v1/orders/ORD-API-NONE", reader, nil)
	require.Equal(t, http.StatusNotFound, r.status, string(r.body))
	r = e.call(t, http.MethodGet, "/v1/orders/ORD%20X/live", reader, nil)
	require.Equal(t, http.StatusBadRequest, r.status, string(r.body))
}
