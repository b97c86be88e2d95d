package api_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cloudmarket/termination-orders/api"
	"github.com/cloudmarket/termination-orders/internal/ordertest"
	"github.com/cloudmarket/termination-orders/order"
	"github.com/cloudmarket/termination-orders/starter"
)

func TestOrderLifeOverHTTP(t *testing.T) {
	e := newEnv(t, time.Hour)
	backend, opsToken, reader := e.tokens[api.RoleBackend], e.tokens[api.RoleOperations], e.tokens[api.RoleReader]

	r := e.call(t, http.MethodPost, "/v1/orders", backend, newOrder("ORD-HTTP-1"))
	require.Equal(t, http.StatusCreated, r.status, string(r.body))
	require.Equal(t, "/v1/orders/ORD-HTTP-1", r.header.Get("Location"))
	var run api.StartedOrder
	r.json(t, &run)
	require.Equal(t, "termination-ORD-HTTP-1", run.WorkflowID)
	require.NotEmpty(t, run.RunID)
	e.waitForStage(t, "ORD-HTTP-1", order.StageAwaitingUnlink)

	// The order page's read, from the status store.
	r = e.call(t, http.MethodGet, "/v1/orders/ORD-HTTP-1/messages", reader, nil)
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	var msgs api.OrderMessages
	r.json(t, &msgs)
	require.Len(t, msgs.Messages, 1)
	require.Equal(t, order.StageAwaitingUnlink, msgs.Latest.Stage)
	require.Contains(t, msgs.Latest.Message, "has been submitted")

	// A second start: 409 naming the existing run.
	p := e.call(t, http.MethodPost, "/v1/orders", backend, newOrder("ORD-HTTP-1")).problem(t)
	require.Equal(t, api.TypeOrderExists, p.Type)
	require.Equal(t, http.StatusConflict, p.Status)
	require.NotNil(t, p.ExistingRun)
	require.Equal(t, run.RunID, p.ExistingRun.RunID)

	// Operations confirm the unlink; a repeat is a distinct 409.
	r = e.call(t, http.MethodPost, "/v1/orders/ORD-HTTP-1/unlink", opsToken, ops())
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	var post order.Status
	r.json(t, &post)
	require.Equal(t, order.StagePostClosure, post.Stage)
	require.False(t, post.ReopenDeadline.IsZero())
	p = e.call(t, http.MethodPost, "/v1/orders/ORD-HTTP-1/unlink", opsToken, ops()).problem(t)
	require.Equal(t, api.TypeAlreadyUnlinked, p.Type)

	// Cancel after the unlink: 409 with the reason.
	p = e.call(t, http.MethodPost, "/v1/orders/ORD-HTTP-1/cancel", backend, order.Request{RequestedBy: "jane", Reason: "Changed my mind"}).problem(t)
	require.Equal(t, api.TypeRejectedByStage, p.Type)
	require.Contains(t, p.Detail, "reopen the account before")

	// Reopen: the order ends; its status still reads, with no worker needed.
	r = e.call(t, http.MethodPost, "/v1/orders/ORD-HTTP-1/reopen", backend, order.Request{RequestedBy: "jane", Reason: "Need it back"})
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	final := e.waitForStage(t, "ORD-HTTP-1", order.StageReopened)
	require.Len(t, final.Timeline, 3)

	// Another order, cancelled before the unlink.
	e.start(t, newOrder("ORD-HTTP-2"))
	r = e.call(t, http.MethodPost, "/v1/orders/ORD-HTTP-2/cancel", backend, order.Request{RequestedBy: "jane", Reason: "Changed my mind"})
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	var cancelled order.Status
	r.json(t, &cancelled)
	require.Equal(t, order.StageCancelled, cancelled.Stage)

	// The listing, by stage, account and subscription, page by page.
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		r := e.call(t, http.MethodGet, "/v1/orders?stage=Cancelled&accountId="+ordertest.Account("ORD-HTTP-2")+"&subscriptionId=SUB-ORD-HTTP-2", reader, nil)
		require.Equal(c, http.StatusOK, r.status, string(r.body))
		var page api.OrderPage
		require.NoError(c, json.Unmarshal(r.body, &page))
		require.Len(c, page.Orders, 1)
		require.Equal(c, "ORD-HTTP-2", page.Orders[0].OrderID)
	}, 30*time.Second, 200*time.Millisecond)
	// Page by page: two pages of one hold both orders (once both are
	// closed, so that no stage change reorders them between the two reads).
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		r := e.call(t, http.MethodGet, "/v1/orders?pageSize=1", opsToken, nil)
		require.Equal(c, http.StatusOK, r.status, string(r.body))
		var page api.OrderPage
		require.NoError(c, json.Unmarshal(r.body, &page))
		require.Len(c, page.Orders, 1)
		require.NotEmpty(c, page.NextPageToken)
		r = e.call(t, http.MethodGet, "/v1/orders?pageSize=1&pageToken="+page.NextPageToken, opsToken, nil)
		require.Equal(c, http.StatusOK, r.status, string(r.body))
		var next api.OrderPage
		require.NoError(c, json.Unmarshal(r.body, &next))
		require.Len(c, next.Orders, 1)
		require.ElementsMatch(c, []string{"ORD-HTTP-1", "ORD-HTTP-2"}, []string{page.Orders[0].OrderID, next.Orders[0].OrderID})
	}, 30*time.Second, 200*time.Millisecond)
	p = e.call(t, http.MethodGet, "/v1/orders?pageToken=bm90LWEtdG9rZW4", opsToken, nil).problem(t)
	require.Equal(t, api.TypeInvalidInput, p.Type, p.Detail)

	// The request log names the order and never a token.
	logs := e.logs.String()
	require.Contains(t, logs, `"OrderID":"ORD-HTTP-1"`)
	for _, token := range e.tokens {
		require.NotContains(t, logs, token)
	}

	// Metrics by route and status.
	r = e.call(t, http.MethodGet, "/metrics", "", nil)
	require.Equal(t, http.StatusOK, r.status)
	require.Contains(t, string(r.body), `termination_api_requests_total{method="POST",route="POST /v1/orders",status="201"}`)
	require.Contains(t, string(r.body), `termination_api_request_duration_seconds_bucket{method="GET",route="GET /v1/orders/{orderId}"`)
}

func TestClosedForGoodIsDistinct(t *testing.T) {
	e := newEnv(t, time.Hour)
	o := newOrder("ORD-HTTP-CFG")
	o.ReopenWindowSeconds = 1
	e.start(t, o)
	r := e.call(t, http.MethodPost, "/v1/orders/ORD-HTTP-CFG/unlink", e.tokens[api.RoleOperations], ops())
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	e.waitForStage(t, "ORD-HTTP-CFG", order.StagePermanentlyClosed)
	p := e.call(t, http.MethodPost, "/v1/orders/ORD-HTTP-CFG/reopen", e.tokens[api.RoleBackend], order.Request{RequestedBy: "jane", Reason: "Too late"}).problem(t)
	require.Equal(t, api.TypeClosedForGood, p.Type)
	require.Equal(t, http.StatusConflict, p.Status)
	require.Contains(t, p.Detail, "closed for good")
}

func TestBadInput(t *testing.T) {
	e := newEnv(t, time.Hour)
	backend := e.tokens[api.RoleBackend]

	for name, tc := range map[string]struct {
		body   string
		fields []string
	}{
		"not JSON":        {`{"orderId": `, []string{"(body)"}},
		"not an object":   {`[1,2]`, []string{"(body)"}},
		"empty":           {``, []string{"(body)"}},
		"wrong types":     {`{"orderId": 5, "subscriptionId": "SUB-1", "accountId": 210987654321, "terminationType": "CloseAccount", "items": "ITM-1", "requestedBy": "jane"}`, []string{"accountId", "items", "orderId"}},
		"unknown fields":  {`{"orderId": "ORD-X", "subscriptionId": "SUB-1", "accountId": "210987654321", "terminationType": "CloseAccount", "items": [{"itemId": "ITM-1", "quantity": 0, "colour": "red"}], "requestedBy": "jane", "priority": "high"}`, []string{"items", "priority"}},
		"every rule":      {`{"orderId": "ORD X", "subscriptionId": "", "accountId": "12345", "terminationType": "Suspend", "items": [{"itemId": "ITM-1", "quantity": 3}], "requestedBy": "jane"}`, []string{"accountId", "items[0].quantity", "orderId", "subscriptionId", "terminationType"}},
		"missing fields":  {`{}`, []string{"accountId", "items", "orderId", "requestedBy", "subscriptionId", "terminationType"}},
		"negative window": {`{"orderId": "ORD-W", "subscriptionId": "SUB-1", "accountId": "210987654321", "terminationType": "CloseAccount", "items": [{"itemId": "ITM-1", "quantity": 0}], "requestedBy": "jane", "reopenWindowSeconds": -5}`, []string{"reopenWindowSeconds"}},
	} {
		t.Run(name, func(t *testing.T) {
			p := e.call(t, http.MethodPost, "/v1/orders", backend, tc.body).problem(t)
			require.Equal(t, api.TypeInvalidInput, p.Type)
			require.Equal(t, http.StatusBadRequest, p.Status)
			var fields []string
			for _, f := range p.Errors {
				fields = append(fields, f.Field)
				require.NotEmpty(t, f.Rule)
			}
			require.ElementsMatch(t, tc.fields, dedupe(fields), "%+v", p.Errors)
		})
	}

	// Updates: wrong types and unknown fields too; a bad order ID in the path.
	p := e.call(t, http.MethodPost, "/v1/orders/ORD-1/unlink", e.tokens[api.RoleOperations], `{"completedBy": 7, "reference": "OPS-1", "note": "x"}`).problem(t)
	require.Equal(t, api.TypeInvalidInput, p.Type)
	require.ElementsMatch(t, []string{"completedBy", "note"}, fieldsOf(p))
	p = e.call(t, http.MethodPost, "/v1/orders/ORD%20BAD/reopen", backend, order.Request{RequestedBy: "jane", Reason: "x"}).problem(t)
	require.ElementsMatch(t, []string{"orderId"}, fieldsOf(p))
	p = e.call(t, http.MethodGet, "/v1/orders?pageSize=lots", e.tokens[api.RoleReader], nil).problem(t)
	require.Equal(t, api.TypeInvalidInput, p.Type)
	require.ElementsMatch(t, []string{"pageSize"}, fieldsOf(p))
	p = e.call(t, http.MethodGet, "/v1/orders?accountId=1'%20OR%20'1", e.tokens[api.RoleReader], nil).problem(t)
	require.ElementsMatch(t, []string{"accountId"}, fieldsOf(p))
	p = e.call(t, http.MethodPost, "/v1/orders/ORD-1/cancel", backend, order.Request{RequestedBy: "j", Reason: "r"}, "Idempotency-Key", "not a key!").problem(t)
	require.ElementsMatch(t, []string{"Idempotency-Key"}, fieldsOf(p))

	// Unknown orders and routes.
	p = e.call(t, http.MethodGet, "/v1/orders/ORD-NONE", e.tokens[api.RoleReader], nil).problem(t)
	require.Equal(t, api.TypeNotFound, p.Type)
	p = e.call(t, http.MethodGet, "/v1/orders/ORD-NONE/messages", e.tokens[api.RoleReader], nil).problem(t)
	require.Equal(t, api.TypeNotFound, p.Type)
	p = e.call(t, http.MethodPost, "/v1/orders/ORD-NONE/cancel", backend, order.Request{RequestedBy: "j", Reason: "r"}).problem(t)
	require.Equal(t, api.TypeNotFound, p.Type)
	p = e.call(t, http.MethodGet, "/v2/nothing", "", nil).problem(t)
	require.Equal(t, api.TypeNotFound, p.Type)

	// Oversized bodies, announced or not: 413, nothing started.
	big := `{"orderId": "ORD-BIG", "requestedBy": "` + strings.Repeat("x", 70<<10) + `"}`
	p = e.call(t, http.MethodPost, "/v1/orders", backend, big).problem(t)
	require.Equal(t, api.TypePayloadTooLarge, p.Type)
	require.Equal(t, http.StatusRequestEntityTooLarge, p.Status)
	req, err := http.NewRequest(http.MethodPost, e.url+"/v1/orders", &chunked{left: 70 << 10})
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+backend)
	req.ContentLength = -1
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
	p = e.call(t, http.MethodGet, "/v1/orders/ORD-BIG", e.tokens[api.RoleReader], nil).problem(t)
	require.Equal(t, api.TypeNotFound, p.Type)
}

// chunked is a body of unannounced length.
type chunked struct{ left int }

func (c *chunked) Read(p []byte) (int, error) {
	if c.left == 0 {
		return 0, io.EOF
	}
	n := min(len(p), c.left)
	for i := range n {
		p[i] = ' '
	}
	c.left -= n
	return n, nil
}

func fieldsOf(p api.Problem) []string {
	var fields []string
	for _, f := range p.Errors {
		fields = append(fields, f.Field)
	}
	return dedupe(fields)
}

func dedupe(s []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, v := range s {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

func TestRoleMatrix(t *testing.T) {
	e := newEnv(t, time.Hour)
	e.start(t, newOrder("ORD-ROLES"))
	routes := []struct {
		method, path string
		body         any
		allowed      []api.Role
	}{
		{http.MethodPost, "/v1/orders", newOrder("ORD-ROLES-NEW"), []api.Role{api.RoleBackend}},
		{http.MethodGet, "/v1/orders/ORD-ROLES", nil, []api.Role{api.RoleBackend, api.RoleOperations, api.RoleReader}},
		{http.MethodGet, "/v1/orders/ORD-ROLES/messages", nil, []api.Role{api.RoleBackend, api.RoleOperations, api.RoleReader}},
		{http.MethodGet, "/v1/orders", nil, []api.Role{api.RoleOperations, api.RoleReader}},
		// Refused by the stage when allowed, so that no order changes here.
		{http.MethodPost, "/v1/orders/ORD-ROLES/reopen", order.Request{RequestedBy: "jane", Reason: "x"}, []api.Role{api.RoleBackend}},
		{http.MethodPost, "/v1/orders/ORD-NONE/cancel", order.Request{RequestedBy: "jane", Reason: "x"}, []api.Role{api.RoleBackend}},
		{http.MethodPost, "/v1/orders/ORD-NONE/unlink", ops(), []api.Role{api.RoleOperations}},
	}
	for _, rt := range routes {
		for _, role := range api.Roles {
			allowed := false
			for _, a := range rt.allowed {
				allowed = allowed || a == role
			}
			r := e.call(t, rt.method, rt.path, e.tokens[role], rt.body)
			if allowed {
				require.NotContains(t, []int{401, 403}, r.status, "%s %s as %s: %s", rt.method, rt.path, role, r.body)
				continue
			}
			p := r.problem(t)
			require.Equal(t, api.TypeForbidden, p.Type, "%s %s as %s", rt.method, rt.path, role)
			require.Contains(t, p.Detail, "role "+string(role))
		}
		// No token, or not a valid one: 401 with the challenge.
		for _, token := range []string{"", "tok_not-a-key", "Basic"} {
			r := e.call(t, rt.method, rt.path, token, rt.body)
			p := r.problem(t)
			require.Equal(t, api.TypeUnauthorized, p.Type, "%s %s with %q", rt.method, rt.path, token)
			require.Contains(t, r.header.Get("WWW-Authenticate"), "Bearer")
		}
	}
	// The refused start changed nothing: only the backend's start exists.
	r := e.call(t, http.MethodGet, "/v1/orders/ORD-ROLES-NEW", e.tokens[api.RoleReader], nil)
	require.Equal(t, http.StatusOK, r.status)
	// Refused callers wrote nothing: the order is still awaiting the unlink.
	e.waitForStage(t, "ORD-ROLES", order.StageAwaitingUnlink)
}

func TestIdempotentRetries(t *testing.T) {
	e := newEnv(t, time.Hour)
	backend, opsToken := e.tokens[api.RoleBackend], e.tokens[api.RoleOperations]

	// Concurrent duplicates of a start: one run, the same answer for all.
	const n = 6
	replies := make([]reply, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			replies[i] = e.call(t, http.MethodPost, "/v1/orders", backend, newOrder("ORD-IDEM"), "Idempotency-Key", "start-ORD-IDEM")
		}()
	}
	wg.Wait()
	for _, r := range replies {
		require.Equal(t, http.StatusCreated, r.status, string(r.body))
		require.JSONEq(t, string(replies[0].body), string(r.body))
		require.Equal(t, "/v1/orders/ORD-IDEM", r.header.Get("Location"))
	}
	// A later retry: the original run again.
	r := e.call(t, http.MethodPost, "/v1/orders", backend, newOrder("ORD-IDEM"), "Idempotency-Key", "start-ORD-IDEM")
	require.Equal(t, http.StatusCreated, r.status)
	require.JSONEq(t, string(replies[0].body), string(r.body))
	// The same key with another body: 422, nothing started.
	p := e.call(t, http.MethodPost, "/v1/orders", backend, newOrder("ORD-IDEM-OTHER"), "Idempotency-Key", "start-ORD-IDEM").problem(t)
	require.Equal(t, api.TypeIdempotencyKeyMismatch, p.Type)
	require.Equal(t, http.StatusUnprocessableEntity, p.Status)
	require.Equal(t, api.TypeNotFound, e.call(t, http.MethodGet, "/v1/orders/ORD-IDEM-OTHER", backend, nil).problem(t).Type)
	// Another key for an existing order: 409, as without a key.
	require.Equal(t, api.TypeOrderExists, e.call(t, http.MethodPost, "/v1/orders", backend, newOrder("ORD-IDEM"), "Idempotency-Key", "another").problem(t).Type)
	e.waitForStage(t, "ORD-IDEM", order.StageAwaitingUnlink)

	// Concurrent duplicate unlinks: the same answer, one change.
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			replies[i] = e.call(t, http.MethodPost, "/v1/orders/ORD-IDEM/unlink", opsToken, ops(), "Idempotency-Key", "unlink-1")
		}()
	}
	wg.Wait()
	for _, r := range replies {
		require.Equal(t, http.StatusOK, r.status, string(r.body))
		require.JSONEq(t, string(replies[0].body), string(r.body))
	}
	p = e.call(t, http.MethodPost, "/v1/orders/ORD-IDEM/unlink", opsToken, order.UnlinkCompleted{CompletedBy: "someone.else", Reference: "OPS-1"}, "Idempotency-Key", "unlink-1").problem(t)
	require.Equal(t, api.TypeIdempotencyKeyMismatch, p.Type)

	// A refused cancel is answered the same on a retry.
	cancel := order.Request{RequestedBy: "jane", Reason: "Changed my mind"}
	first := e.call(t, http.MethodPost, "/v1/orders/ORD-IDEM/cancel", backend, cancel, "Idempotency-Key", "cancel-1")
	require.Equal(t, http.StatusConflict, first.status)
	again := e.call(t, http.MethodPost, "/v1/orders/ORD-IDEM/cancel", backend, cancel, "Idempotency-Key", "cancel-1")
	require.Equal(t, http.StatusConflict, again.status)
	require.Equal(t, first.problem(t).Detail, again.problem(t).Detail)

	// Reopen ends the workflow; concurrent and later retries get the original answer.
	reopen := order.Request{RequestedBy: "jane", Reason: "Need it back"}
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			replies[i] = e.call(t, http.MethodPost, "/v1/orders/ORD-IDEM/reopen", backend, reopen, "Idempotency-Key", "reopen-1")
		}()
	}
	wg.Wait()
	for _, r := range replies {
		require.Equal(t, http.StatusOK, r.status, string(r.body))
		require.JSONEq(t, string(replies[0].body), string(r.body))
	}
	final := e.waitForStage(t, "ORD-IDEM", order.StageReopened)
	r = e.call(t, http.MethodPost, "/v1/orders/ORD-IDEM/reopen", backend, reopen, "Idempotency-Key", "reopen-1")
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	require.JSONEq(t, string(replies[0].body), string(r.body))
	require.Len(t, final.Timeline, 3, "one unlink and one reopen, however often sent")
	require.Equal(t, "reopen-1", final.Timeline[2].RequestID)
}

func TestIdempotencyKeyOutlivesItsRecordForUpdates(t *testing.T) {
	// With the key forgotten at once, the request ID still gets the
	// original answer from Temporal, also after the order ended.
	e := newEnv(t, time.Hour, func(c *api.Config) { c.IdempotencyKeyTTL = time.Nanosecond })
	backend := e.tokens[api.RoleBackend]
	e.start(t, newOrder("ORD-TTL"))
	cancel := order.Request{RequestedBy: "jane", Reason: "Changed my mind"}
	first := e.call(t, http.MethodPost, "/v1/orders/ORD-TTL/cancel", backend, cancel, "Idempotency-Key", "cancel-ttl")
	require.Equal(t, http.StatusOK, first.status, string(first.body))
	e.waitForStage(t, "ORD-TTL", order.StageCancelled)
	again := e.call(t, http.MethodPost, "/v1/orders/ORD-TTL/cancel", backend, cancel, "Idempotency-Key", "cancel-ttl")
	require.Equal(t, http.StatusOK, again.status, string(again.body))
	var a, b order.Status
	first.json(t, &a)
	again.json(t, &b)
	require.Equal(t, a.Stage, b.Stage)
	require.Equal(t, a.Timeline[len(a.Timeline)-1], b.Timeline[len(b.Timeline)-1])
}

func TestMessagesWhileTemporalIsDown(t *testing.T) {
	e := newEnv(t, time.Hour)
	e.start(t, newOrder("ORD-DOWN"))
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		r := e.call(t, http.MethodGet, "/v1/orders/ORD-DOWN/messages", e.tokens[api.RoleReader], nil)
		require.Equal(c, http.StatusOK, r.status)
	}, 10*time.Second, 100*time.Millisecond)
	require.Equal(t, http.StatusOK, e.call(t, http.MethodGet, "/readyz", "", nil).status)

	e.temporal.Stop()

	r := e.call(t, http.MethodGet, "/v1/orders/ORD-DOWN/messages", e.tokens[api.RoleReader], nil)
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	var msgs api.OrderMessages
	r.json(t, &msgs)
	require.Contains(t, msgs.Latest.Message, "ORD-DOWN")

	// The order's status is read from the store too; only the workflow's
	// own (live) status needs Temporal.
	r = e.call(t, http.MethodGet, "/v1/orders/ORD-DOWN", e.tokens[api.RoleReader], nil)
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	var s order.Status
	r.json(t, &s)
	require.Equal(t, order.StageAwaitingUnlink, s.Stage)
	require.Equal(t, msgs.Latest.Message, s.StatusMessage)
	p := e.call(t, http.MethodGet, "/v1/orders/ORD-DOWN/live", e.tokens[api.RoleReader], nil).problem(t)
	require.Contains(t, []string{api.TypeUnavailable, api.TypeOutcomeUnknown}, p.Type)
	r = e.call(t, http.MethodGet, "/readyz", "", nil)
	require.Equal(t, http.StatusServiceUnavailable, r.status)
	require.Contains(t, string(r.body), `"temporal"`)
	require.Equal(t, http.StatusOK, e.call(t, http.MethodGet, "/healthz", "", nil).status)
}

func TestOutcomeUnknownIsA504NamingTheRequestID(t *testing.T) {
	// With no worker, Temporal cannot answer an update within the request
	// timeout: the API must not guess, and says how to learn the original answer.
	e := newEnv(t, time.Hour, func(c *api.Config) { c.RequestTimeout = 2 * time.Second })
	_, err := starter.New(e.temporal.GetDefaultClient(), taskQueue).Start(context.Background(), newOrder("ORD-SLOW"))
	require.NoError(t, err)
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		m, err := e.store.Latest(context.Background(), "ORD-SLOW")
		require.NoError(c, err)
		require.Equal(c, order.StageAwaitingUnlink, m.Stage)
	}, 30*time.Second, 100*time.Millisecond)
	e.worker.Stop()

	r := e.call(t, http.MethodPost, "/v1/orders/ORD-SLOW/unlink", e.tokens[api.RoleOperations], ops(), "Idempotency-Key", "OPS-SLOW-1")
	require.Equal(t, http.StatusGatewayTimeout, r.status, string(r.body))
	p := r.problem(t)
	require.Equal(t, api.TypeOutcomeUnknown, p.Type)
	require.Equal(t, "OPS-SLOW-1", p.RequestID, "the caller resends with the same key")
	require.Contains(t, p.Detail, "Idempotency-Key OPS-SLOW-1")
}
