package workflows_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

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
			workflows.Register(replayer)
			require.NoError(t, replayer.ReplayWorkflowHistoryFromJSONFile(nil, file))
		})
	}
}

// An unversioned change to the order's steps must fail the replay: this is
// what keeps 90-day-old orders safe from a careless deploy.
func TestReplayCatchesAnUnversionedChange(t *testing.T) {
	changed := func(ctx workflow.Context, o workflows.Order) (workflows.Status, error) {
		// A new first step that the recorded orders never took.
		if err := workflow.Sleep(ctx, time.Minute); err != nil {
			return workflows.Status{}, err
		}
		return workflows.TerminationOrder(ctx, o)
	}
	replayer := worker.NewWorkflowReplayer()
	replayer.RegisterWorkflowWithOptions(changed, workflow.RegisterOptions{Name: workflows.WorkflowType})
	err := replayer.ReplayWorkflowHistoryFromJSONFile(nil, "testdata/replay/permanently_closed.json")
	require.Error(t, err)
	require.Contains(t, err.Error(), "nondeterministic")
}
