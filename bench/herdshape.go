package bench

import (
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/cloudmarket/termination-orders/workflows"
)

// HerdBaselineType is the bare shape of an order in a herd: start, wait for
// the unlink (a signal or an update of the order's names), a timer to a
// deadline the unlink states, complete. No activities, no status writes, no
// search attributes.
const HerdBaselineType = "HerdBaselineOrder"

// herdStarted is the bare shape's acceptance: sent with the start, as the
// product's acceptance update is, it returns once the first workflow task
// ran, so that the unlink phase does not wait behind a backlog of first
// workflow tasks that the product's starts have already worked off.
const herdStarted = "started"

// HerdUnlink is the bare unlink: the deadline its timer runs to, so that a
// herd's deadlines line up whenever each unlink arrives.
type HerdUnlink struct {
	Deadline time.Time `json:"deadline"`
}

// HerdBaseline waits for the unlink by signal or update, then for its deadline.
func HerdBaseline(ctx workflow.Context) error {
	var u HerdUnlink
	got := false
	if err := workflow.SetUpdateHandler(ctx, herdStarted, func(workflow.Context) error { return nil }); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandler(ctx, workflows.UpdateConfirmUnlink, func(_ workflow.Context, in HerdUnlink) error {
		u, got = in, true
		return nil
	}); err != nil {
		return err
	}
	sig := workflow.GetSignalChannel(ctx, workflows.SignalUnlinkCompleted)
	workflow.Go(ctx, func(ctx workflow.Context) {
		var in HerdUnlink
		sig.Receive(ctx, &in)
		u, got = in, true
	})
	if err := workflow.Await(ctx, func() bool { return got }); err != nil {
		return err
	}
	if wait := u.Deadline.Sub(workflow.Now(ctx)); wait > 0 {
		return workflow.Sleep(ctx, wait)
	}
	return nil
}
