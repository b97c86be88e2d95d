package starter_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cloudmarket/termination-orders/order"
	"github.com/cloudmarket/termination-orders/starter"
)

// Accepted answers for a run as its start did: nil for an accepted order,
// the refusal for a refused one, and, for a run still being accepted (its
// start's caller gave up), the decision once it is made.
func TestAcceptedAnswersAsTheStartDid(t *testing.T) {
	e := newEnv(t, time.Hour)
	ctx := context.Background()

	a := newOrder("ACC-A")
	runA, err := e.orders.Start(ctx, a)
	require.NoError(t, err)
	require.NoError(t, e.orders.Accepted(ctx, a.OrderID, runA.RunID))

	b := newOrder("ACC-B")
	b.AccountID = a.AccountID
	runB, err := e.orders.Start(ctx, b)
	requireRefused(t, e, runB, err, starter.ErrAccountInTermination, "ACC-A")
	err = e.orders.Accepted(ctx, b.OrderID, runB.RunID)
	requireRefused(t, e, runB, err, starter.ErrAccountInTermination, "ACC-A")

	// No worker: the start's caller gives up before the acceptance.
	e.worker.Stop()
	c := newOrder("ACC-C")
	short, cancel := context.WithTimeout(ctx, time.Second)
	_, err = e.orders.Start(short, c)
	cancel()
	require.ErrorIs(t, err, starter.ErrOutcomeUnknown)
	d, err := e.temporal.DescribeWorkflowExecution(ctx, order.WorkflowID(c.OrderID), "")
	require.NoError(t, err)
	accepted := make(chan error, 1)
	go func() { accepted <- e.orders.Accepted(ctx, c.OrderID, d.GetWorkflowExecutionInfo().GetExecution().GetRunId()) }()
	e.newWorker(t)
	require.NoError(t, <-accepted)
	e.waitForStage(t, c.OrderID, order.StageAwaitingUnlink)
}
