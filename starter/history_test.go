package starter_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/cloudmarket/termination-orders/order"
)

// historyDir holds the histories that workflows/replay_test.go replays.
const historyDir = "../workflows/testdata/replay"

// TestRecordedHistoriesMatchTheWorkflow runs each path of an order on a real
// server and checks that the workflow still produces the same sequence of
// events as the committed history, so the replay test replays what the code
// really does. With TERMINATION_WRITE_HISTORIES=1 it rewrites the files; do that
// only for a change that is meant to alter histories, together with a
// versioned path (workflow.GetVersion) for orders already running.
func TestRecordedHistoriesMatchTheWorkflow(t *testing.T) {
	e := newEnv(t, 2*time.Second)
	ctx := context.Background()
	paths := map[string]func(id string) order.Stage{
		"permanently_closed": func(id string) order.Stage {
			require.NoError(t, e.orders.ConfirmUnlink(ctx, id, ops()))
			return order.StagePermanentlyClosed
		},
		"reopened": func(id string) order.Stage {
			require.NoError(t, e.orders.ConfirmUnlink(ctx, id, ops()))
			e.waitForStage(t, id, order.StagePostClosure)
			_, err := e.orders.Reopen(ctx, id, order.ReopenRequest{RequestedBy: "jane.doe@example.com", Reason: "Still need it"})
			require.NoError(t, err)
			return order.StageReopened
		},
		"cancelled": func(id string) order.Stage {
			_, err := e.orders.Cancel(ctx, id, order.CancelRequest{RequestedBy: "jane.doe@example.com", Reason: "Keeping it"})
			require.NoError(t, err)
			return order.StageCancelled
		},
	}
	for _, name := range []string{"permanently_closed", "reopened", "cancelled"} {
		t.Run(name, func(t *testing.T) {
			id := "ORD-HIST-" + name
			run, err := e.orders.Start(ctx, newOrder(id))
			require.NoError(t, err)
			e.waitForStage(t, id, order.StageAwaitingUnlink)
			final := paths[name](id)
			require.NoError(t, e.temporal.GetWorkflow(ctx, run.WorkflowID, run.RunID).Get(ctx, nil))
			require.Equal(t, final, e.waitForStage(t, id, final).Stage)

			got := history(t, e.temporal, run.WorkflowID, run.RunID)
			file := filepath.Join(historyDir, name+".json")
			if os.Getenv("TERMINATION_WRITE_HISTORIES") == "1" {
				body, err := protojson.MarshalOptions{Indent: "  "}.Marshal(got)
				require.NoError(t, err)
				require.NoError(t, os.WriteFile(file, body, 0o644))
			}
			committed, err := client.HistoryFromJSON(mustOpen(t, file), client.HistoryJSONOptions{})
			require.NoError(t, err)
			require.Equal(t, eventTypes(committed), eventTypes(got),
				"the workflow no longer produces the committed history %s: a determinism-breaking change needs workflow.GetVersion", file)
		})
	}
}

func history(t *testing.T, c client.Client, workflowID, runID string) *historypb.History {
	t.Helper()
	h := &historypb.History{}
	it := c.GetWorkflowHistory(context.Background(), workflowID, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		require.NoError(t, err)
		h.Events = append(h.Events, ev)
	}
	return h
}

func eventTypes(h *historypb.History) []string {
	out := make([]string, len(h.GetEvents()))
	for i, ev := range h.GetEvents() {
		out[i] = ev.GetEventType().String()
	}
	return out
}

func mustOpen(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	t.Cleanup(func() { f.Close() })
	return f
}
