package worker

import (
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/cloudmarket/termination-orders/activities"
	"github.com/cloudmarket/termination-orders/workflows"
)

// NewWithWorkflow is New with wf registered as the workflow type in place of
// the package's own: a test's next build of the workflow, run with the real
// activities.
func NewWithWorkflow(c client.Client, st activities.StatusStore, opts Options, wf any) sdkworker.Worker {
	w := newSDKWorker(c, opts)
	w.RegisterWorkflowWithOptions(wf, workflow.RegisterOptions{Name: workflows.WorkflowType})
	activities.Register(w, newActivities(c, st, opts))
	return w
}

// MakeCurrent is what a worker with Deployment.MakeCurrent does once it
// polls, and what `temporal worker deployment set-current-version` does.
var MakeCurrent = makeCurrent
