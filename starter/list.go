package starter

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/converter"

	"github.com/cloudmarket/termination-orders/order"
	"github.com/cloudmarket/termination-orders/workflows"
)

// Summary is one order in a listing, read from its search attributes. The
// JSON names follow the wire contract.
type Summary struct {
	OrderID        string      `json:"orderId"`
	WorkflowID     string      `json:"workflowId"`
	RunID          string      `json:"runId"`
	Stage          order.Stage `json:"stage"`
	AccountID      string      `json:"accountId"`
	SubscriptionID string      `json:"subscriptionId"`
	ReopenDeadline time.Time   `json:"reopenDeadline,omitzero"`
	// UnlinkDueBy is the unlink SLA's deadline (orders of workflow version 5).
	UnlinkDueBy time.Time `json:"unlinkDueBy,omitzero"`
	StartedAt   time.Time `json:"startedAt"`
	// WorkflowStatus is Temporal's: Running, Completed, Failed, ...
	WorkflowStatus string `json:"workflowStatus"`
}

// ListRequest asks for one page of orders.
type ListRequest struct {
	// Filter keeps the orders of one account or subscription (filter.go).
	Filter
	// Stage keeps the orders in one stage; empty lists every order.
	Stage order.Stage
	// PageSize is at most how many orders the page holds (1 to MaxPageSize;
	// 0 means DefaultPageSize).
	PageSize int
	// PageToken continues a listing where the previous page ended.
	PageToken []byte
	// Overdue keeps the orders awaiting an unlink past its SLA deadline
	// (UnlinkDueBy); it implies the AwaitingUnlink stage.
	Overdue bool
}

// Page sizes of a listing.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
)

// Page is one page of orders, newest first.
type Page struct {
	Orders []Summary `json:"orders"`
	// NextPageToken continues the listing; empty on the last page.
	NextPageToken []byte `json:"nextPageToken,omitempty"`
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

// OverdueQuery is the visibility query of the orders whose unlink is overdue
// at now: still awaiting it after their UnlinkDueBy.
func OverdueQuery(now time.Time) string {
	return ListQuery(order.StageAwaitingUnlink) + fmt.Sprintf(" AND %s < '%s'",
		workflows.UnlinkDueByKey.GetName(), now.UTC().Format(time.RFC3339))
}

// List returns one page of the orders in a stage (every order when the
// stage is empty), newest first: never everything at once. Visibility is
// eventually consistent: a stage change shows after a moment.
func (c *Client) List(ctx context.Context, req ListRequest) (Page, error) {
	var ch checkList
	if req.Stage != "" && !req.Stage.Valid() {
		ch.fail("stage", fmt.Sprintf("must be one of %s, got %q", stageNames(), req.Stage))
	}
	if req.Overdue && req.Stage != "" && req.Stage != order.StageAwaitingUnlink {
		ch.fail("stage", fmt.Sprintf("must be empty or %s with overdue: only orders awaiting the unlink can be overdue, got %q", order.StageAwaitingUnlink, req.Stage))
	}
	req.Filter.check(&ch)
	if req.PageSize < 0 || req.PageSize > MaxPageSize {
		ch.fail("pageSize", fmt.Sprintf("must be between 1 and %d, got %d", MaxPageSize, req.PageSize))
	}
	if err := ch.err(); err != nil {
		return Page{}, err
	}
	size := req.PageSize
	if size == 0 {
		size = DefaultPageSize
	}
	query := req.Query()
	if req.Overdue {
		query = OverdueQuery(c.now()) + req.Filter.clauses()
	}
	resp, err := c.temporal.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
		Query: query, PageSize: int32(size), NextPageToken: req.PageToken,
	})
	if err != nil {
		var invalid *serviceerror.InvalidArgument
		if errors.As(err, &invalid) && len(req.PageToken) > 0 {
			return Page{}, &order.ValidationError{Subject: "listing", Fields: []*order.FieldError{{Field: "pageToken", Rule: "is not a token of this listing"}}}
		}
		if isTimeout(err) {
			return Page{}, fmt.Errorf("%w: list orders: no answer in time (%v)", ErrNoAnswer, err)
		}
		return Page{}, fmt.Errorf("list orders in stage %q: %w", req.Stage, err)
	}
	page := Page{Orders: []Summary{}, NextPageToken: resp.GetNextPageToken()}
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
		if p, ok := fields[workflows.UnlinkDueByKey.GetName()]; ok {
			_ = converter.GetDefaultDataConverter().FromPayload(p, &s.UnlinkDueBy)
		}
		page.Orders = append(page.Orders, s)
	}
	return page, nil
}

// checkList collects the broken rules of a listing request.
type checkList struct{ fields []*order.FieldError }

func (c *checkList) fail(field, rule string) {
	c.fields = append(c.fields, &order.FieldError{Field: field, Rule: rule})
}

func (c *checkList) err() error {
	if len(c.fields) == 0 {
		return nil
	}
	return &order.ValidationError{Subject: "listing", Fields: c.fields}
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
