// Package starter is the Go client of termination orders, for backend services
// and for the terminationctl command: start an order, report the unlink, reopen,
// cancel, read status and list orders by stage. Every input is validated before
// anything is sent, so bad input starts or changes nothing.
package starter

import (
	"context"
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/cloudmarket/termination-orders/order"
	"github.com/cloudmarket/termination-orders/workflows"
)

var (
	// ErrOrderExists: an order with this ID was already started. The error
	// names the existing workflow run; the order was not started again.
	ErrOrderExists = errors.New("order already exists")
	// ErrOrderNotFound: no order with this ID.
	ErrOrderNotFound = errors.New("order not found")
	// ErrRejected: the order is in a stage that does not allow the request;
	// the error (a *RejectedError) says why. Nothing was changed.
	ErrRejected = errors.New("request rejected")
	// ErrClosedForGood: the account's post-closure period is over; it can
	// never be reopened. An error that is ErrClosedForGood is ErrRejected too.
	ErrClosedForGood = errors.New("account closed for good")
	// ErrAlreadyUnlinked: the unlink was reported before; the repeat changed
	// nothing. The error says when the account was closed.
	ErrAlreadyUnlinked = errors.New("unlink already reported")
)

// RejectedError is a request the order's stage does not allow.
type RejectedError struct {
	OrderID string
	// Reason says why, for the person who asked.
	Reason        string
	closedForGood bool
}

func (e *RejectedError) Error() string { return "order " + e.OrderID + ": " + e.Reason }

// Is makes errors.Is match ErrRejected, and ErrClosedForGood when the account is closed for good.
func (e *RejectedError) Is(target error) bool {
	return target == ErrRejected || (target == ErrClosedForGood && e.closedForGood)
}

func rejected(orderID string, reason error) *RejectedError {
	return &RejectedError{OrderID: orderID, Reason: reason.Error()}
}

// Client starts and drives termination orders. Its zero value is not usable: use New.
type Client struct {
	temporal  client.Client
	taskQueue string
	now       func() time.Time
}

// New returns a client that starts orders on taskQueue. The reopen window is
// the workers' policy (config order.reopen_window), unless an order sets its own.
func New(c client.Client, taskQueue string) *Client {
	return &Client{temporal: c, taskQueue: taskQueue, now: time.Now}
}

// Run identifies a started order's workflow run.
type Run struct {
	OrderID    string
	WorkflowID string
	RunID      string
}

// Start starts the workflow of a termination order. Starting an order whose ID
// was already used returns an error wrapping ErrOrderExists that names the
// existing run; only an order whose earlier run failed may be started again.
func (c *Client) Start(ctx context.Context, o order.Order) (Run, error) {
	if err := o.Validate(c.now()); err != nil {
		return Run{}, err
	}
	id := order.WorkflowID(o.OrderID)
	opts := client.StartWorkflowOptions{
		ID:        id,
		TaskQueue: c.taskQueue,
		// One order, one workflow: a second start is refused, except after a
		// failed run (invalid input) so the corrected order can go through.
		WorkflowIDReusePolicy:                    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY,
		WorkflowIDConflictPolicy:                 enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		// No execution or run timeout: nothing may cut the reopen window short.
		TypedSearchAttributes: temporal.NewSearchAttributes(
			workflows.StageKey.ValueSet(string(order.StageAwaitingUnlink)),
			workflows.AccountIDKey.ValueSet(o.AccountID),
			workflows.SubscriptionIDKey.ValueSet(o.SubscriptionID),
		),
		StaticSummary: fmt.Sprintf("Close AWS account %s permanently (order %s, subscription %s)", o.AccountID, o.OrderID, o.SubscriptionID),
		StaticDetails: staticDetails(o),
	}
	run, err := c.temporal.ExecuteWorkflow(ctx, opts, workflows.WorkflowType, o)
	if err != nil {
		var started *serviceerror.WorkflowExecutionAlreadyStarted
		if errors.As(err, &started) {
			return Run{OrderID: o.OrderID, WorkflowID: id, RunID: started.RunId},
				fmt.Errorf("%w: order %s was already started as workflow %s (run %s); it was not started again", ErrOrderExists, o.OrderID, id, started.RunId)
		}
		return Run{}, fmt.Errorf("start order %s: %w", o.OrderID, err)
	}
	return Run{OrderID: o.OrderID, WorkflowID: run.GetID(), RunID: run.GetRunID()}, nil
}

func staticDetails(o order.Order) string {
	d := fmt.Sprintf("Termination order **%s**: close AWS account **%s** permanently.\n\nSubscription %s · requested by %s · %d item(s) set to quantity 0",
		o.OrderID, o.AccountID, o.SubscriptionID, o.RequestedBy, len(o.Items))
	if o.SubmittedAt != "" {
		d += " · submitted " + o.SubmittedAt
	}
	return d
}

// ConfirmUnlink reports that Operations unlinked and closed the account. A
// repeat changes nothing and fails with ErrAlreadyUnlinked, saying when the
// account was closed. It fails with ErrOrderNotFound for an unknown order,
// ErrRejected for a cancelled or failed one, and a validation error for a
// close time before the order was placed.
func (c *Client) ConfirmUnlink(ctx context.Context, orderID string, u order.UnlinkCompleted) error {
	if err := order.CheckOrderID(orderID); err != nil {
		return err
	}
	if err := u.Validate(c.now()); err != nil {
		return err
	}
	s, err := c.Status(ctx, orderID)
	if err != nil {
		return err
	}
	switch s.Stage {
	case order.StageAwaitingUnlink:
	case order.StagePostClosure, order.StageReopened, order.StagePermanentlyClosed:
		return fmt.Errorf("%w: order %s: AWS account %s was reported unlinked and closed on %s (now %s); nothing changed",
			ErrAlreadyUnlinked, orderID, s.AccountID, order.FormatTime(s.ClosedAt), s.Stage)
	default:
		return rejected(orderID, fmt.Errorf("the order is %s since %s; there is no unlink to report", s.Stage, order.FormatTime(s.EnteredAt())))
	}
	if err := u.ValidateFor(s, c.now()); err != nil {
		return err
	}
	err = c.temporal.SignalWorkflow(ctx, order.WorkflowID(orderID), "", workflows.SignalUnlinkCompleted, u)
	if isNotFound(err) {
		return rejected(orderID, errors.New("the order ended while the unlink was being reported; see its status"))
	}
	if err != nil {
		return fmt.Errorf("report unlink of order %s: %w", orderID, err)
	}
	return nil
}

// Reopen reopens the account during its post-closure period and returns the
// order's status. Outside that period it fails with ErrRejected and the
// reason; after it, with ErrClosedForGood and the date the account was closed for good.
func (c *Client) Reopen(ctx context.Context, orderID string, r order.ReopenRequest) (order.Status, error) {
	if err := order.CheckOrderID(orderID); err != nil {
		return order.Status{}, err
	}
	if err := r.Validate(); err != nil {
		return order.Status{}, err
	}
	return c.request(ctx, orderID, workflows.UpdateReopen, r, func(current order.Status) error {
		reason := current.CheckReopen(c.now())
		if reason == nil {
			return nil
		}
		rej := rejected(orderID, reason)
		rej.closedForGood = current.Stage == order.StagePermanentlyClosed ||
			(current.Stage == order.StagePostClosure && !c.now().Before(current.ReopenDeadline))
		return rej
	})
}

// Cancel cancels the order before the unlink and returns its status. From the
// unlink on it fails with ErrRejected and the reason.
func (c *Client) Cancel(ctx context.Context, orderID string, r order.CancelRequest) (order.Status, error) {
	if err := order.CheckOrderID(orderID); err != nil {
		return order.Status{}, err
	}
	if err := r.Validate(); err != nil {
		return order.Status{}, err
	}
	return c.request(ctx, orderID, workflows.UpdateCancel, r, func(current order.Status) error {
		if reason := current.CheckCancel(); reason != nil {
			return rejected(orderID, reason)
		}
		return nil
	})
}

// request sends an update. When the order refuses it, or its workflow has
// ended, the order's current status says why (whyNot), so the answer is the
// same whether the workflow is running or not.
func (c *Client) request(ctx context.Context, orderID, name string, arg any, whyNot func(order.Status) error) (order.Status, error) {
	s, err := c.update(ctx, orderID, name, arg)
	if err == nil {
		return s, nil
	}
	if !errors.Is(err, ErrRejected) && !isNotFound(err) {
		return order.Status{}, err
	}
	current, qerr := c.Status(ctx, orderID)
	if qerr != nil {
		return order.Status{}, qerr
	}
	if reason := whyNot(current); reason != nil {
		return current, reason
	}
	return order.Status{}, err // the order changed between the two calls
}

func (c *Client) update(ctx context.Context, orderID, name string, arg any) (order.Status, error) {
	handle, err := c.temporal.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID:   order.WorkflowID(orderID),
		UpdateName:   name,
		Args:         []any{arg},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err == nil {
		var s order.Status
		if err = handle.Get(ctx, &s); err == nil {
			return s, nil
		}
	}
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		// The validator's rejection: its message says why.
		return order.Status{}, &RejectedError{OrderID: orderID, Reason: appErr.Message()}
	}
	if isNotFound(err) {
		return order.Status{}, err
	}
	return order.Status{}, fmt.Errorf("%s order %s: %w", name, orderID, err)
}

// Status reads the order's status, also after its workflow has ended: a
// running order answers the status query; a completed one is read from its
// result, which needs no worker.
func (c *Client) Status(ctx context.Context, orderID string) (order.Status, error) {
	if err := order.CheckOrderID(orderID); err != nil {
		return order.Status{}, err
	}
	id := order.WorkflowID(orderID)
	desc, err := c.temporal.DescribeWorkflowExecution(ctx, id, "")
	if err != nil {
		if isNotFound(err) {
			return order.Status{}, fmt.Errorf("%w: no termination order %s (workflow %s)", ErrOrderNotFound, orderID, id)
		}
		return order.Status{}, fmt.Errorf("read status of order %s: %w", orderID, err)
	}
	var s order.Status
	run := desc.GetWorkflowExecutionInfo().GetExecution().GetRunId()
	if desc.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
		if err := c.temporal.GetWorkflow(ctx, id, run).Get(ctx, &s); err != nil {
			return order.Status{}, fmt.Errorf("read status of order %s: %w", orderID, err)
		}
		return s, nil
	}
	v, err := c.temporal.QueryWorkflow(ctx, id, run, workflows.QueryStatus)
	if err != nil {
		return order.Status{}, fmt.Errorf("read status of order %s: %w", orderID, err)
	}
	if err := v.Get(&s); err != nil {
		return order.Status{}, fmt.Errorf("read status of order %s: %w", orderID, err)
	}
	return s, nil
}

func isNotFound(err error) bool {
	var nf *serviceerror.NotFound
	return errors.As(err, &nf)
}
