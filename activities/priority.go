package activities

import (
	"context"

	commonpb "go.temporal.io/api/common/v1"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
)

// Task priorities of an order (Temporal's task queue priority: a lower key
// is dispatched first when tasks wait in a queue). An order starts at the
// server's default; once it rests in its reopen window, what is left of it
// is timers (the last warning, the deadline) that may run a moment late, so
// it steps aside: when a herd of deadlines falls in one minute, an
// Operations person's unlink or a customer's reopen does not wait behind it.
const (
	// PriorityInteractive is the server's default key: orders a person acts on.
	PriorityInteractive = 3
	// PriorityResting is an order in its reopen window.
	PriorityResting = 4
)

// WorkflowPriorities sets an order's task priority.
type WorkflowPriorities interface {
	SetPriority(ctx context.Context, namespace, workflowID, runID string, key int) error
}

// TemporalPriorities sets priorities through Temporal's
// UpdateWorkflowExecutionOptions: one history event when the priority
// changes, none when it already holds; no workflow task.
type TemporalPriorities struct {
	Client client.Client
}

// SetPriority sets the run's priority key; runID "" is the latest run.
func (p TemporalPriorities) SetPriority(ctx context.Context, namespace, workflowID, runID string, key int) error {
	return SetWorkflowPriority(ctx, p.Client, namespace, workflowID, runID, key)
}

// SetWorkflowPriority sets the priority key of a run (runID "" for the
// latest) and of the tasks it schedules from then on.
func SetWorkflowPriority(ctx context.Context, c client.Client, namespace, workflowID, runID string, key int) error {
	_, err := c.WorkflowService().UpdateWorkflowExecutionOptions(ctx, &workflowservice.UpdateWorkflowExecutionOptionsRequest{
		Namespace:                namespace,
		WorkflowExecution:        &commonpb.WorkflowExecution{WorkflowId: workflowID, RunId: runID},
		WorkflowExecutionOptions: &workflowpb.WorkflowExecutionOptions{Priority: &commonpb.Priority{PriorityKey: int32(key)}},
		UpdateMask:               &fieldmaskpb.FieldMask{Paths: []string{"priority.priority_key"}},
	})
	return err
}
