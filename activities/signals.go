package activities

import (
	"context"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
)

// HistorySignals finds signal times in workflow histories through Temporal's API.
type HistorySignals struct {
	Client client.Client
}

// SignalTime returns the server's time of the ordinal-th signal named
// signalName in the run's history.
func (h HistorySignals) SignalTime(ctx context.Context, workflowID, runID, signalName string, ordinal int) (time.Time, error) {
	it := h.Client.GetWorkflowHistory(ctx, workflowID, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	seen := 0
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return time.Time{}, fmt.Errorf("read history of %s: %w", workflowID, err)
		}
		attrs := ev.GetWorkflowExecutionSignaledEventAttributes()
		if attrs == nil || attrs.GetSignalName() != signalName {
			continue
		}
		seen++
		if seen == ordinal {
			return ev.GetEventTime().AsTime(), nil
		}
	}
	return time.Time{}, fmt.Errorf("history of %s has %d %s signals, not %d", workflowID, seen, signalName, ordinal)
}
