package activities

import (
	"context"
	"encoding/json"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/cloudmarket/termination-orders/order"
)

// UnlinkSignal is an unlink-completed signal to decide on, as it arrived.
type UnlinkSignal struct {
	// Payload is the signal's JSON; nil when it carried none or not JSON.
	Payload []byte `json:"payload"`
	// SignalName and Ordinal (counting the run's signals of that name from 1)
	// find the signal's event in history.
	SignalName string `json:"signalName"`
	Ordinal    int    `json:"ordinal"`
	// PlacedAt is when the order was accepted: a close time before it is refused.
	PlacedAt   time.Time `json:"placedAt"`
	WorkflowID string    `json:"workflowId"`
	RunID      string    `json:"runId"`
}

// UnlinkDecision is the decision on one unlink-completed signal, recorded in history.
type UnlinkDecision struct {
	Report order.UnlinkCompleted `json:"report"`
	// Problem says why the signal is ignored; "" when it is valid.
	Problem string `json:"problem,omitempty"`
	// ClosedAt is the account's close time: the report's own, else when the
	// server received the signal.
	ClosedAt time.Time `json:"closedAt"`
}

// DecideUnlinkSignal validates an unlink-completed signal by the worker's
// current rules and fixes the account's close time. A signal cannot be
// refused to its sender, so the decision is recorded: a stricter rule deployed
// later never changes an order that already took the signal.
func (a *Activities) DecideUnlinkSignal(ctx context.Context, in UnlinkSignal) (UnlinkDecision, error) {
	now := a.now().UTC()
	if in.Payload == nil {
		return UnlinkDecision{Problem: "the signal carries no unlink-completed report"}, nil
	}
	var d UnlinkDecision
	if err := json.Unmarshal(in.Payload, &d.Report); err != nil {
		d.Problem = "the signal's payload is not an unlink-completed report: " + err.Error()
		return d, nil
	}
	placed := order.Status{Timeline: []order.TimelineEntry{{Time: in.PlacedAt}}}
	if err := d.Report.ValidateFor(placed, now); err != nil {
		d.Problem = err.Error()
		return d, nil
	}
	if d.Report.CompletedAt != "" {
		d.ClosedAt = d.Report.ClosedAt(now)
		return d, nil
	}
	d.ClosedAt = now
	if a.Signals != nil {
		at, err := a.Signals.SignalTime(ctx, in.WorkflowID, in.RunID, in.SignalName, in.Ordinal)
		if err != nil {
			// Temporal answers the worker that runs this order, so this is a
			// brief fault: retry rather than fall back to a later time.
			return UnlinkDecision{}, err
		}
		d.ClosedAt = at.UTC()
	}
	activity.GetLogger(ctx).Info("Unlink signal without a close time: the account closes when the server received it",
		"ClosedAt", d.ClosedAt, "Reference", d.Report.Reference)
	return d, nil
}
