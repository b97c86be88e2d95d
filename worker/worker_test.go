package worker_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/server/temporaltest"

	"github.com/cloudmarket/termination-orders/activities"
	"github.com/cloudmarket/termination-orders/order"
	"github.com/cloudmarket/termination-orders/starter"
	"github.com/cloudmarket/termination-orders/store"
	"github.com/cloudmarket/termination-orders/worker"
)

// The worker stopped while an order waits in its reopen window and started
// again after the deadline: the order closes for good then, nothing lost or doubled.
func TestOrderSurvivesWorkerRestart(t *testing.T) {
	ts := temporaltest.NewServer(temporaltest.WithT(t))
	c := ts.GetDefaultClient()
	ctx := context.Background()
	require.NoError(t, worker.RegisterSearchAttributes(ctx, c, ts.GetDefaultNamespace()))
	st, err := store.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "status.db"))
	require.NoError(t, err)
	defer st.Close()
	opts := worker.Options{TaskQueue: "restart-test", Policy: activities.Policy{ReopenWindow: 3 * time.Second}, StopTimeout: 5 * time.Second}
	orders := starter.New(c, "restart-test")

	w := worker.New(c, st, opts)
	require.NoError(t, w.Start())
	run, err := orders.Start(ctx, order.Order{OrderID: "ORD-RESTART", SubscriptionID: "SUB-1", AccountID: "123456789012",
		TerminationType: order.TerminationTypeCloseAccount, Items: []order.Item{{ItemID: "I"}}, RequestedBy: "jane"})
	require.NoError(t, err)
	require.NoError(t, confirmed(orders.ConfirmUnlink(ctx, "ORD-RESTART", order.UnlinkCompleted{CompletedBy: "ops", Reference: "OPS-1"})))
	var post order.Status
	require.Eventually(t, func() bool {
		post, err = orders.Status(ctx, "ORD-RESTART")
		return err == nil && post.Stage == order.StagePostClosure
	}, 30*time.Second, 50*time.Millisecond)
	w.Stop()

	time.Sleep(time.Until(post.ReopenDeadline) + time.Second) // the deadline passes with no worker
	w = worker.New(c, st, opts)
	require.NoError(t, w.Start())
	defer w.Stop()

	var final order.Status
	require.NoError(t, c.GetWorkflow(ctx, run.WorkflowID, run.RunID).Get(ctx, &final))
	require.Equal(t, order.StagePermanentlyClosed, final.Stage)
	require.Equal(t, post.ReopenDeadline, final.ReopenDeadline)
	require.False(t, final.Timeline[2].Time.Before(post.ReopenDeadline))
	msgs, err := st.Timeline(ctx, "ORD-RESTART")
	require.NoError(t, err)
	require.Len(t, msgs, 3, "each message once across the restart")
}

// confirmed is the error of a ConfirmUnlink whose status the test does not need.
func confirmed(_ order.Status, err error) error { return err }
