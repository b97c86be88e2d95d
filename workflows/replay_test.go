package workflows_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/cloudmarket/termination-orders/order"
	"github.com/cloudmarket/termination-orders/workflows"
)

// The committed histories were recorded from a real server
// (starter/history_test.go). Replaying them proves that today's workflow code
// still makes the same decisions for orders already running: a change that
// breaks this needs a workflow.GetVersion path, not new histories.
func TestReplayCommittedHistories(t *testing.T) {
	files, err := filepath.Glob("testdata/replay/*.json")
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(files), 3, "histories of at least the closed, reopened and cancelled paths")
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			replayer := worker.NewWorkflowReplayer()
			// The policy in force when an order was accepted comes from its history.
			workflows.Register(replayer, workflows.Policy{ReopenWindow: time.Hour})
			require.NoError(t, replay(t, replayer, file))
		})
	}
}

// An unversioned change to the order's steps must fail the replay: this is
// what keeps 90-day-old orders safe from a careless deploy.
func TestReplayCatchesAnUnversionedChange(t *testing.T) {
	changed := func(ctx workflow.Context, o converter.RawValue) (workflows.Status, error) {
		// A new first step that the recorded orders never took.
		if err := workflow.Sleep(ctx, time.Minute); err != nil {
			return workflows.Status{}, err
		}
		return workflows.TerminationOrder(workflows.Policy{})(ctx, o)
	}
	replayer := worker.NewWorkflowReplayer()
	replayer.RegisterWorkflowWithOptions(changed, workflow.RegisterOptions{Name: workflows.WorkflowType})
	err := replay(t, replayer, "testdata/replay/permanently_closed.json")
	require.Error(t, err)
	require.Contains(t, err.Error(), "nondeterministic")
}

// replay replays a history under its order's real workflow ID, as a worker
// would (the replayer's default ID is not an order's).
func replay(t *testing.T, replayer worker.WorkflowReplayer, file string) error {
	t.Helper()
	f, err := os.Open(file)
	require.NoError(t, err)
	defer f.Close()
	history, err := client.HistoryFromJSON(f, client.HistoryJSONOptions{})
	require.NoError(t, err)
	return replayer.ReplayWorkflowHistoryWithOptions(nil, history, worker.ReplayWorkflowHistoryOptions{
		OriginalExecution: workflow.Execution{ID: order.WorkflowID(startedOrder(t, history).OrderID), RunID: "replay"},
	})
}

func startedOrder(t *testing.T, h *historypb.History) workflows.Order {
	t.Helper()
	input := h.GetEvents()[0].GetWorkflowExecutionStartedEventAttributes().GetInput()
	var o workflows.Order
	require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(input, &o))
	return o
}

// Defect: the workflow re-ran the domain's validation on replay, so a stricter
// rule deployed under a running order took another branch and wedged it.
// v4_accepted_under_looser_rules.json holds an order accepted when 150 items
// were allowed; today's rules refuse it, and it still replays, because its
// acceptance was recorded in history when it was made.
func TestStricterRuleLeavesAcceptedOrdersReplaying(t *testing.T) {
	const file = "testdata/replay/v4_accepted_under_looser_rules.json"
	f, err := os.Open(file)
	require.NoError(t, err)
	defer f.Close()
	history, err := client.HistoryFromJSON(f, client.HistoryJSONOptions{})
	require.NoError(t, err)
	o := startedOrder(t, history)
	require.ErrorContains(t, o.Validate(time.Now()), "items: must list at most 100 items", "today's rule is stricter than the one the order was accepted under")

	replayer := worker.NewWorkflowReplayer()
	workflows.Register(replayer, workflows.Policy{})
	require.NoError(t, replay(t, replayer, file))
}
