package starter

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/cloudmarket/termination-orders/order"
	"github.com/cloudmarket/termination-orders/workflows"
)

// AccountRefusedError is an order refused because its AWS account is not free.
type AccountRefusedError struct {
	OrderID string
	// Kind is order.RefusedAccountInTermination or order.RefusedAccountClosedForGood.
	Kind order.RefusalKind
	// Reason says why, for the person who placed the order.
	Reason string
	// Holder is the claim in the way: the order holding the account and its
	// stage, or the order that closed it for good and when.
	Holder order.Claim
}

func (e *AccountRefusedError) Error() string { return e.Reason }

// Is makes errors.Is match ErrAccountInTermination or ErrAccountClosedForGood.
func (e *AccountRefusedError) Is(target error) bool {
	switch e.Kind {
	case order.RefusedAccountClosedForGood:
		return target == ErrAccountClosedForGood
	default:
		return target == ErrAccountInTermination
	}
}

// Start starts a termination order and answers once its acceptance has
// decided: the order was accepted (its run), or it was refused and nothing
// was started for it. A refusal is an *AccountRefusedError when the AWS
// account is held by another order or was closed for good, an error wrapping
// ErrOrderAlreadyProcessed when the order already lived beyond Temporal's
// retention, or an error wrapping ErrInvalid when the workers' rules refuse
// its input. Starting an order whose ID was already used returns an error
// wrapping ErrOrderExists that names the existing run; only an order refused
// at its acceptance may be placed again.
func (c *Client) Start(ctx context.Context, o order.Order) (Run, error) {
	if err := o.Validate(c.now()); err != nil {
		return Run{}, err
	}
	id := order.WorkflowID(o.OrderID)
	opts := client.StartWorkflowOptions{
		ID:        id,
		TaskQueue: c.taskQueue,
		// One order, one workflow: a second start is refused, whatever became
		// of the first; only a run refused at its acceptance is replaced
		// (below), so the order can be placed again.
		WorkflowIDReusePolicy:                    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy:                 enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		// No execution or run timeout: nothing may cut the reopen window short.
		TypedSearchAttributes: c.searchAttributes(o),
		StaticSummary:         fmt.Sprintf("Close AWS account %s permanently (order %s, subscription %s)", o.AccountID, o.OrderID, o.SubscriptionID),
		StaticDetails:         staticDetails(o),
	}
	run, err := c.startAndAccept(ctx, opts, o)
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &started) {
		replaceable, cerr := c.refusedAtAcceptance(ctx, id, started.RunId)
		if cerr != nil {
			return Run{}, c.startError(o.OrderID, cerr)
		}
		if !replaceable {
			return Run{OrderID: o.OrderID, WorkflowID: id, RunID: started.RunId},
				fmt.Errorf("%w: order %s was already started as workflow %s (run %s); it was not started again", ErrOrderExists, o.OrderID, id, started.RunId)
		}
		opts.WorkflowIDReusePolicy = enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY
		run, err = c.startAndAccept(ctx, opts, o)
		if errors.As(err, &started) {
			return Run{OrderID: o.OrderID, WorkflowID: id, RunID: started.RunId},
				fmt.Errorf("%w: order %s was started again meanwhile as workflow %s (run %s); it was not started a third time", ErrOrderExists, o.OrderID, id, started.RunId)
		}
	}
	return run, err
}

// startAndAccept starts the order's workflow with the acceptance update
// (update-with-start) and waits for its answer.
func (c *Client) startAndAccept(ctx context.Context, opts client.StartWorkflowOptions, o order.Order) (Run, error) {
	op := c.temporal.NewWithStartWorkflowOperation(opts, workflows.WorkflowType, o)
	handle, err := c.temporal.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{
		StartWorkflowOperation: op,
		UpdateOptions: client.UpdateWorkflowOptions{
			// A new ID per start: the server answers an update-with-start whose
			// ID a closed run already answered with that run's answer, which
			// would hide a refused run that may be replaced.
			UpdateID:     workflows.UpdateAcceptance + ":" + uuid.NewString(),
			UpdateName:   workflows.UpdateAcceptance,
			WaitForStage: client.WorkflowUpdateStageCompleted,
		},
	})
	if err == nil {
		err = handle.Get(ctx, nil)
	}
	run := Run{OrderID: o.OrderID, WorkflowID: opts.ID}
	var appErr *temporal.ApplicationError
	if err == nil || errors.As(err, &appErr) {
		// The run started and answered; the operation then knows its ID (it
		// is never completed for a start that failed).
		if started, serr := op.Get(ctx); serr == nil {
			run.RunID = started.GetRunID()
		}
	}
	switch {
	case err == nil:
		return run, nil
	case errors.As(err, &appErr):
		return run, refusalAtStart(o.OrderID, appErr)
	case isTimeout(err):
		return run, fmt.Errorf("%w: the start of order %s got no answer in time (%v); it may or may not have been accepted: "+
			"check with `terminationctl status %s`, or start it again (a second start of an accepted order is refused and names its run)",
			ErrOutcomeUnknown, o.OrderID, err, o.OrderID)
	}
	return run, err
}

// refusalAtStart turns the acceptance's refusal into the starter's error.
func refusalAtStart(orderID string, appErr *temporal.ApplicationError) error {
	switch appErr.Type() {
	case workflows.ErrTypeAccountInTermination, workflows.ErrTypeAccountClosedForGood:
		e := &AccountRefusedError{OrderID: orderID, Kind: order.RefusalKind(appErr.Type()), Reason: appErr.Message()}
		if appErr.HasDetails() {
			if err := appErr.Details(&e.Holder); err != nil {
				return fmt.Errorf("order %s: %s (the holding order could not be read: %w)", orderID, appErr.Message(), err)
			}
		}
		return e
	case workflows.ErrTypeOrderAlreadyProcessed:
		return fmt.Errorf("%w: order %s: %s", ErrOrderAlreadyProcessed, orderID, appErr.Message())
	case workflows.ErrTypeInvalidOrder:
		return fmt.Errorf("%w: order %s: %s", ErrInvalid, orderID, appErr.Message())
	}
	return fmt.Errorf("start order %s: %w", orderID, appErr)
}

func (c *Client) startError(orderID string, err error) error {
	if isTimeout(err) {
		return fmt.Errorf("%w: the start of order %s got no answer in time (%v); it may or may not have started: "+
			"check with `terminationctl status %s`, or start it again (a second start of a started order is refused and names its run)",
			ErrOutcomeUnknown, orderID, err, orderID)
	}
	return fmt.Errorf("start order %s: %w", orderID, err)
}

// refusedAtAcceptance reports whether the order's run is closed and failed
// because its acceptance refused it (invalid input, or an AWS account that
// is not free): the only run a new one may replace.
func (c *Client) refusedAtAcceptance(ctx context.Context, workflowID, runID string) (bool, error) {
	desc, err := c.temporal.DescribeWorkflowExecution(ctx, workflowID, runID)
	if err != nil {
		return false, err
	}
	if desc.GetWorkflowExecutionInfo().GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_FAILED {
		return false, nil
	}
	err = c.temporal.GetWorkflow(ctx, workflowID, runID).Get(ctx, nil)
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) {
		return false, nil
	}
	switch appErr.Type() {
	case workflows.ErrTypeInvalidOrder, workflows.ErrTypeAccountInTermination, workflows.ErrTypeAccountClosedForGood:
		return true, nil
	}
	return false, nil
}

// Accepted waits for the acceptance of the order's run and answers as the
// run's start did: nil once the order is accepted, its refusal (as Start
// returns it) if it was refused. It is how a retried start learns the
// outcome of a start whose answer was lost, also while that run is still
// being accepted. It fails with ErrOutcomeUnknown when ctx ends first.
func (c *Client) Accepted(ctx context.Context, orderID, runID string) error {
	id := order.WorkflowID(orderID)
	handle, err := c.temporal.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: id, RunID: runID,
		UpdateID:     workflows.UpdateAcceptance + ":" + uuid.NewString(),
		UpdateName:   workflows.UpdateAcceptance,
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err == nil {
		err = handle.Get(ctx, nil)
	}
	var appErr *temporal.ApplicationError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &appErr):
		return refusalAtStart(orderID, appErr)
	case isNotFound(err):
		// The run has ended: refused at its acceptance, or accepted and
		// closed since.
		refused, rerr := c.refusedAtAcceptance(ctx, id, runID)
		if rerr != nil {
			return c.startError(orderID, rerr)
		}
		if !refused {
			return nil
		}
		if rerr = c.temporal.GetWorkflow(ctx, id, runID).Get(ctx, nil); errors.As(rerr, &appErr) {
			return refusalAtStart(orderID, appErr)
		}
		return c.startError(orderID, rerr)
	}
	return c.startError(orderID, err)
}
