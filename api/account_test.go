package api_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/cloudmarket/termination-orders/api"
	"github.com/cloudmarket/termination-orders/order"
	"github.com/cloudmarket/termination-orders/starter"
)

// forAccount is a valid order of subscription sub for the AWS account acct.
func forAccount(id, sub, acct string) order.Order {
	o := newOrder(id)
	o.SubscriptionID, o.AccountID = sub, acct
	return o
}

// A start for an AWS account that another order holds is refused at the
// call with 409 account-in-termination naming the holder and its stage;
// once the holder closed the account for good, with account-closed-for-good
// and the date. Nothing is started for a refused order beyond its failed run.
func TestStartRefusedForItsAccount(t *testing.T) {
	e := newEnv(t, 3*time.Second)
	ctx := context.Background()
	const acct = "417000000017"
	e.start(t, forAccount("ACCT-API-1", "SUB-ACCT-1", acct))

	refused := forAccount("ACCT-API-2", "SUB-ACCT-2", acct)
	r := e.call(t, http.MethodPost, "/v1/orders", e.tokens[api.RoleBackend], refused, "Idempotency-Key", "start-ACCT-API-2")
	require.Equal(t, http.StatusConflict, r.status, string(r.body))
	p := r.problem(t)
	require.Equal(t, api.TypeAccountInTermination, p.Type)
	require.Equal(t, "ACCT-API-1", p.HoldingOrderID)
	require.Equal(t, order.StageAwaitingUnlink, p.HoldingStage)
	require.Nil(t, p.ClosedForGoodAt)
	require.Contains(t, p.Detail, "AWS account "+acct+" is already in termination by order ACCT-API-1")

	// The refused order: one failed run, one message on its own page, no claim.
	desc, err := e.temporal.GetDefaultClient().DescribeWorkflowExecution(ctx, order.WorkflowID("ACCT-API-2"), "")
	require.NoError(t, err)
	require.Equal(t, enumspb.WORKFLOW_EXECUTION_STATUS_FAILED, desc.GetWorkflowExecutionInfo().GetStatus())
	msgs, err := e.store.Timeline(ctx, "ACCT-API-2")
	require.NoError(t, err)
	require.Len(t, msgs, 1)
	require.Equal(t, order.StageFailed, msgs[0].Stage)
	require.Contains(t, msgs[0].Text, "by order ACCT-API-1")
	msgs, err = e.store.Timeline(ctx, "ACCT-API-1")
	require.NoError(t, err)
	require.Len(t, msgs, 1, "the holder's page is untouched by the refusal")
	record, err := e.store.Account(ctx, acct)
	require.NoError(t, err)
	require.Len(t, record.Orders, 1, "the refused order never held the account")

	r = e.call(t, http.MethodPost, "/v1/orders/ACCT-API-1/unlink", e.tokens[api.RoleOperations], ops())
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	closed := e.waitForStage(t, "ACCT-API-1", order.StagePermanentlyClosed)

	r = e.call(t, http.MethodPost, "/v1/orders", e.tokens[api.RoleBackend], forAccount("ACCT-API-3", "SUB-ACCT-1", acct))
	require.Equal(t, http.StatusConflict, r.status, string(r.body))
	p = r.problem(t)
	require.Equal(t, api.TypeAccountClosedForGood, p.Type)
	require.Equal(t, "ACCT-API-1", p.HoldingOrderID)
	require.Equal(t, order.StagePermanentlyClosed, p.HoldingStage)
	require.NotNil(t, p.ClosedForGoodAt)
	require.WithinDuration(t, closed.ReopenDeadline, *p.ClosedForGoodAt, time.Second)
	require.Contains(t, p.Detail, "was closed for good on "+order.FormatTime(*p.ClosedForGoodAt)+" by order ACCT-API-1")

	// account-in-termination is not remembered with its Idempotency-Key:
	// the retry is decided again, now against the closure for good.
	r = e.call(t, http.MethodPost, "/v1/orders", e.tokens[api.RoleBackend], refused, "Idempotency-Key", "start-ACCT-API-2")
	require.Equal(t, http.StatusConflict, r.status, string(r.body))
	require.Equal(t, api.TypeAccountClosedForGood, r.problem(t).Type)
}

// getAccount reads the AWS account's record as a reader.
func (e *env) getAccount(t *testing.T, acct string) order.Account {
	t.Helper()
	r := e.call(t, http.MethodGet, "/v1/accounts/"+acct, e.tokens[api.RoleReader], nil)
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	var a order.Account
	r.json(t, &a)
	return a
}

// The account lookup: in termination by its holder at its stage, free again
// once the holder is reopened, then held by the next order; every order that
// held it, newest first. Malformed IDs are refused naming the field.
func TestAccountLookup(t *testing.T) {
	e := newEnv(t, time.Minute)
	const acct = "417000000027"

	a := e.getAccount(t, acct)
	require.Equal(t, order.AccountFree, a.State, "an account no order held is free")
	require.Nil(t, a.Holder)
	require.Empty(t, a.Orders)
	require.JSONEq(t, `{"accountId":"`+acct+`","state":"Free","orders":[]}`,
		string(e.call(t, http.MethodGet, "/v1/accounts/"+acct, e.tokens[api.RoleReader], nil).body))

	e.start(t, forAccount("ACCT-API-4", "SUB-ACCT-4", acct))
	a = e.getAccount(t, acct)
	require.Equal(t, order.AccountInTermination, a.State)
	require.Equal(t, "ACCT-API-4", a.Holder.OrderID)
	require.Equal(t, order.StageAwaitingUnlink, a.Holder.Stage)
	require.Equal(t, "SUB-ACCT-4", a.Holder.SubscriptionID)

	r := e.call(t, http.MethodPost, "/v1/orders/ACCT-API-4/unlink", e.tokens[api.RoleOperations], ops())
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	r = e.call(t, http.MethodPost, "/v1/orders/ACCT-API-4/reopen", e.tokens[api.RoleBackend],
		order.Request{RequestedBy: "jane.doe@example.com", Reason: "Still needed"})
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	// The reopen's message, which frees the account, is stored behind the answer.
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		require.Equal(c, order.AccountFree, e.getAccount(t, acct).State)
	}, 30*time.Second, 50*time.Millisecond)

	e.start(t, forAccount("ACCT-API-5", "SUB-ACCT-5", acct))
	a = e.getAccount(t, acct)
	require.Equal(t, order.AccountInTermination, a.State)
	require.Equal(t, "ACCT-API-5", a.Holder.OrderID)
	require.Len(t, a.Orders, 2)
	require.Equal(t, "ACCT-API-5", a.Orders[0].OrderID, "newest first")
	require.Equal(t, "ACCT-API-4", a.Orders[1].OrderID)
	require.Equal(t, order.StageReopened, a.Orders[1].Stage)
	require.False(t, a.Orders[1].EndedAt.IsZero(), "the reopened order's claim ended")

	for _, role := range []api.Role{api.RoleBackend, api.RoleOperations} {
		r = e.call(t, http.MethodGet, "/v1/accounts/"+acct, e.tokens[role], nil)
		require.Equal(t, http.StatusOK, r.status, "roles as for reading orders: %s", role)
	}
	r = e.call(t, http.MethodGet, "/v1/accounts/"+acct, "", nil)
	require.Equal(t, http.StatusUnauthorized, r.status)

	for _, bad := range []string{"41700000002", "4170000000270", "41700000002x"} {
		r = e.call(t, http.MethodGet, "/v1/accounts/"+bad, e.tokens[api.RoleReader], nil)
		require.Equal(t, http.StatusBadRequest, r.status, string(r.body))
		p := r.problem(t)
		require.Equal(t, api.TypeInvalidInput, p.Type)
		require.Len(t, p.Errors, 1)
		require.Equal(t, "accountId", p.Errors[0].Field)
		require.Contains(t, p.Errors[0].Rule, "must be a 12-digit AWS account ID")
	}
}

// Twenty starts for one AWS account at once, ten through the HTTP API and
// ten through a Go starter of its own connection: one is accepted, and every
// other caller is refused naming it.
func TestConcurrentStartsThroughTheAPIAndTheStarter(t *testing.T) {
	e := newEnv(t, time.Hour)
	const acct = "417000000097"
	orders := starter.New(e.temporal.NewClientWithOptions(client.Options{}), taskQueue)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		accepted []string
		named    = map[string]int{}
		others   []string
	)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("MIX-%02d", i)
			o := forAccount(id, fmt.Sprintf("SUB-MIX-%d", i%2), acct)
			if i%2 == 0 {
				r := e.call(t, http.MethodPost, "/v1/orders", e.tokens[api.RoleBackend], o, "Idempotency-Key", "start-"+id)
				mu.Lock()
				defer mu.Unlock()
				switch r.status {
				case http.StatusCreated, http.StatusOK, http.StatusAccepted:
					accepted = append(accepted, id)
				case http.StatusConflict:
					p := r.problem(t)
					if p.Type == api.TypeAccountInTermination {
						named[p.HoldingOrderID]++
						return
					}
					others = append(others, string(r.body))
				default:
					others = append(others, string(r.body))
				}
				return
			}
			_, err := orders.Start(context.Background(), o)
			mu.Lock()
			defer mu.Unlock()
			var refused *starter.AccountRefusedError
			switch {
			case err == nil:
				accepted = append(accepted, id)
			case errors.As(err, &refused):
				named[refused.Holder.OrderID]++
			default:
				others = append(others, err.Error())
			}
		}()
	}
	wg.Wait()
	require.Empty(t, others)
	require.Len(t, accepted, 1)
	require.Equal(t, map[string]int{accepted[0]: 19}, named)
	record, err := e.store.Account(context.Background(), acct)
	require.NoError(t, err)
	require.Equal(t, accepted[0], record.Holder.OrderID)
	require.Len(t, record.Orders, 1)
}
