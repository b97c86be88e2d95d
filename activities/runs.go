package activities

import (
	"context"
	"errors"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
)

// TemporalRuns tells from Temporal's own state (never visibility) whether a
// workflow still runs.
type TemporalRuns struct {
	Client client.Client
}

// Running reports whether the latest run of the workflow is running. A
// workflow Temporal no longer holds (its retention is over) does not run.
func (r TemporalRuns) Running(ctx context.Context, workflowID string) (bool, error) {
	desc, err := r.Client.DescribeWorkflowExecution(ctx, workflowID, "")
	var notFound *serviceerror.NotFound
	switch {
	case errors.As(err, &notFound):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("describe workflow %s: %w", workflowID, err)
	}
	return desc.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, nil
}
