package bench

import (
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/cloudmarket/termination-orders/workflows"
)

// BaselineType is the bare workflow of the same shape as an order: start, wait
// for one signal, one timer, complete. No activities, no status writes, no
// search attributes: the cheapest the shape can be.
const BaselineType = "BaselineOrder"

// Baseline waits for the unlink-completed signal, then the window, then ends.
func Baseline(ctx workflow.Context, window time.Duration) error {
	workflow.GetSignalChannel(ctx, workflows.SignalUnlinkCompleted).Receive(ctx, nil)
	return workflow.Sleep(ctx, window)
}
