package starter_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/cloudmarket/termination-orders/order"
)

// Defect: a reset re-applied the unlink at another time and wrote a second,
// later "reopen until" message, because messages were keyed by run ID. The
// close time now travels with the report, and messages are keyed on the
// original run ID, which a reset keeps: the reset order has the same deadline
// and its page the same messages, each once.
func TestResetKeepsTheDeadlineAndTheMessages(t *testing.T) {
	e := newEnv(t, 4*time.Second)
	ctx := context.Background()
	first := start(t, e, "ORD-RESET")
	before, err := e.orders.ConfirmUnlink(ctx, "ORD-RESET", ops())
	require.NoError(t, err)
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		msgs, err := e.store.Timeline(ctx, "ORD-RESET")
		require.NoError(c, err)
		require.Len(c, msgs, 2)
	}, 10*time.Second, 50*time.Millisecond)

	// Reset to the first workflow task: the order is accepted again and the
	// unlink re-applied after it.
	time.Sleep(time.Second)
	var firstTask int64
	for _, ev := range history(t, e.temporal, order.WorkflowID("ORD-RESET"), first).GetEvents() {
		if ev.GetEventType() == enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED {
			firstTask = ev.GetEventId()
			break
		}
	}
	resp, err := e.temporal.ResetWorkflowExecution(ctx, &workflowservice.ResetWorkflowExecutionRequest{
		Namespace:                 e.namespace,
		WorkflowExecution:         &commonpb.WorkflowExecution{WorkflowId: order.WorkflowID("ORD-RESET"), RunId: first},
		Reason:                    "test",
		WorkflowTaskFinishEventId: firstTask,
		RequestId:                 uuid.NewString(),
	})
	require.NoError(t, err)
	require.NotEqual(t, first, resp.GetRunId())

	after := e.waitForStage(t, "ORD-RESET", order.StagePostClosure)
	require.True(t, before.ClosedAt.Equal(after.ClosedAt), "close time %v, after the reset %v", before.ClosedAt, after.ClosedAt)
	require.True(t, before.ReopenDeadline.Equal(after.ReopenDeadline))
	finish(t, e, "ORD-RESET", resp.GetRunId(), order.StagePermanentlyClosed)
	msgs, err := e.store.Timeline(ctx, "ORD-RESET")
	require.NoError(t, err)
	var stages []order.Stage
	for _, m := range msgs {
		stages = append(stages, m.Stage)
	}
	require.Equal(t, []order.Stage{order.StageAwaitingUnlink, order.StagePostClosure, order.StagePermanentlyClosed}, stages, "each message once")
}
