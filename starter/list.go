package starter

import (
	"context"
	"fmt"
	"strings"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/converter"

	"github.com/cloudmarket/termination-orders/order"
	"github.com/cloudmarket/termination-orders/workflows"
)

// Summary is one order in a listing, read from its search attributes.
type Summary struct {
	OrderID        string
	WorkflowID     string
	RunID          string
	Stage          order.Stage
	AccountID      string
	SubscriptionID string
	ReopenDeadline time.Time
	StartedAt      time.Time
	// WorkflowStatus is Temporal's: Running, Completed, Failed, ...
	WorkflowStatus string
}

// ListQuery is the visibility query that lists orders in a stage (all orders
// when stage is empty), as typed in the Web UI or `temporal workflow list --query`.
func ListQuery(stage order.Stage) string {
	q := fmt.Sprintf("WorkflowType = '%s'", workflows.WorkflowType)
	if stage != "" {
		q += fmt.Sprintf(" AND %s = '%s'", workflows.StageKey.GetName(), stage)
	}
	return q
}

// List returns the orders in a stage (every order when stage is empty), newest
// first. Visibility is eventually consistent: a stage change shows after a moment.
func (c *Client) List(ctx context.Context, stage order.Stage) ([]Summary, error) {
	if stage != "" && !stage.Valid() {
		return nil, &order.ValidationError{Subject: "listing", Fields: []*order.FieldError{{
			Field: "stage", Rule: fmt.Sprintf("must be one of %s, got %q", stageNames(), stage)}}}
	}
	var (
		out   []Summary
		token []byte
	)
	for {
		resp, err := c.temporal.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Query: ListQuery(stage), NextPageToken: token,
		})
		if err != nil {
			return nil, fmt.Errorf("list orders in stage %q: %w", stage, err)
		}
		for _, e := range resp.GetExecutions() {
			fields := e.GetSearchAttributes().GetIndexedFields()
			s := Summary{
				OrderID:        strings.TrimPrefix(e.GetExecution().GetWorkflowId(), order.WorkflowID("")),
				WorkflowID:     e.GetExecution().GetWorkflowId(),
				RunID:          e.GetExecution().GetRunId(),
				Stage:          order.Stage(keyword(fields, workflows.StageKey.GetName())),
				AccountID:      keyword(fields, workflows.AccountIDKey.GetName()),
				SubscriptionID: keyword(fields, workflows.SubscriptionIDKey.GetName()),
				StartedAt:      e.GetStartTime().AsTime(),
				WorkflowStatus: e.GetStatus().String(),
			}
			if p, ok := fields[workflows.ReopenDeadlineKey.GetName()]; ok {
				_ = converter.GetDefaultDataConverter().FromPayload(p, &s.ReopenDeadline)
			}
			out = append(out, s)
		}
		token = resp.GetNextPageToken()
		if len(token) == 0 {
			return out, nil
		}
	}
}

func keyword(fields map[string]*commonpb.Payload, name string) string {
	var s string
	if p, ok := fields[name]; ok {
		_ = converter.GetDefaultDataConverter().FromPayload(p, &s)
	}
	return s
}

func stageNames() string {
	names := make([]string, len(order.Stages))
	for i, s := range order.Stages {
		names[i] = string(s)
	}
	return strings.Join(names, ", ")
}
