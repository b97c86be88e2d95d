package workflows

import (
	"go.temporal.io/sdk/workflow"

	"github.com/cloudmarket/termination-orders/order"
)

// The product's own metrics, emitted through the workflow's metrics handler,
// which skips replays: each is counted once per real event.
const (
	// MetricStageEntered counts orders entering each stage (label "stage"):
	// orders started (AwaitingUnlink), closed, reopened, closed for good...
	MetricStageEntered = "termination_order_stage_entered"
	// MetricUnlinkWait is the time from an order's acceptance to Operations' unlink.
	MetricUnlinkWait = "termination_order_unlink_wait"
	// MetricReopenWindowOutcome counts how reopen windows end (label
	// "outcome": reopened or closed_for_good).
	MetricReopenWindowOutcome = "termination_order_reopen_window_outcome"
)

func countStage(ctx workflow.Context, stage order.Stage) {
	workflow.GetMetricsHandler(ctx).WithTags(map[string]string{"stage": string(stage)}).Counter(MetricStageEntered).Inc(1)
	switch stage {
	case order.StageReopened:
		countOutcome(ctx, "reopened")
	case order.StagePermanentlyClosed:
		countOutcome(ctx, "closed_for_good")
	}
}

func countOutcome(ctx workflow.Context, outcome string) {
	workflow.GetMetricsHandler(ctx).WithTags(map[string]string{"outcome": outcome}).Counter(MetricReopenWindowOutcome).Inc(1)
}
