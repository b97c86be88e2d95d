package api_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"

	"github.com/cloudmarket/termination-orders/api"
	"github.com/cloudmarket/termination-orders/order"
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

	r := e.call(t, http.MethodPost, "/v1/orders", e.tokens[api.RoleBackend], forAccount("ACCT-API-2", "SUB-ACCT-2", acct))
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
}
