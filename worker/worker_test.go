package worker_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/server/temporaltest"

	"github.com/cloudmarket/termination-orders/activities"
	"github.com/cloudmarket/termination-orders/order"
	"github.com/cloudmarket/termination-orders/starter"
	"github.com/cloudmarket/termination-orders/store"
	"github.com/cloudmarket/termination-orders/worker"
	"github.com/cloudmarket/termination-orders/workflows"
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

// Once unlinked, an order rests in its reopen window at PriorityResting, so
// that a herd of deadlines does not hold up a person's request; its history
// then holds the options change, and replays.
func TestOrderRestsAtALowerPriorityInItsReopenWindow(t *testing.T) {
	ts := temporaltest.NewServer(temporaltest.WithT(t))
	c := ts.GetDefaultClient()
	ctx := context.Background()
	require.NoError(t, worker.RegisterSearchAttributes(ctx, c, ts.GetDefaultNamespace()))
	st, err := store.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "status.db"))
	require.NoError(t, err)
	defer st.Close()
	w := worker.New(c, st, worker.Options{TaskQueue: "priority-test", Policy: activities.Policy{ReopenWindow: 3 * time.Second}})
	require.NoError(t, w.Start())
	defer w.Stop()
	orders := starter.New(c, "priority-test")
	run, err := orders.Start(ctx, order.Order{OrderID: "ORD-REST", SubscriptionID: "SUB-1", AccountID: "123456789012",
		TerminationType: order.TerminationTypeCloseAccount, Items: []order.Item{{ItemID: "I"}}, RequestedBy: "jane"})
	require.NoError(t, err)
	priority := func() int32 {
		desc, err := c.DescribeWorkflowExecution(ctx, run.WorkflowID, run.RunID)
		require.NoError(t, err)
		return desc.GetWorkflowExecutionInfo().GetPriority().GetPriorityKey()
	}
	require.Contains(t, []int32{0, activities.PriorityInteractive}, priority(), "awaiting the unlink: the default")

	require.NoError(t, confirmed(orders.ConfirmUnlink(ctx, "ORD-REST", order.UnlinkCompleted{CompletedBy: "ops", Reference: "OPS-1"})))
	require.Eventually(t, func() bool { return priority() == activities.PriorityResting }, 30*time.Second, 50*time.Millisecond)

	var final order.Status
	require.NoError(t, c.GetWorkflow(ctx, run.WorkflowID, run.RunID).Get(ctx, &final))
	require.Equal(t, order.StagePermanentlyClosed, final.Stage)
	hist := &historypb.History{}
	changes := 0
	for it := c.GetWorkflowHistory(ctx, run.WorkflowID, run.RunID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT); it.HasNext(); {
		e, err := it.Next()
		require.NoError(t, err)
		if e.GetEventType() == enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_OPTIONS_UPDATED {
			changes++
		}
		hist.Events = append(hist.Events, e)
	}
	require.Equal(t, 1, changes, "one options change: the last warning's message finds the priority already set")
	replayer := sdkworker.NewWorkflowReplayer()
	workflows.Register(replayer)
	require.NoError(t, replayer.ReplayWorkflowHistory(nil, hist))
}
