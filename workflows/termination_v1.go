package workflows

import (
	"errors"

	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/cloudmarket/termination-orders/order"
)

// This file is the order's life as it ran before the acceptance step
// (workflow version 1, workflow.DefaultVersion of ChangeAcceptanceStep). Orders
// started then take this path until they finish, so it must keep making the
// same decisions: it validates with order.ValidateV1 (the rules of that time),
// records the worker's policy with a SideEffect, takes the unlink as a signal
// handled in its own coroutine, and writes each status message before going on.
// Remove it once no order of version 1 is running (90 days plus the longest
// unlink wait after the deploy that added version 2).

func (w *terminationOrder) runV1(ctx workflow.Context, input converter.RawValue, p Policy) (Status, error) {
	if err := converter.GetDefaultDataConverter().FromPayload(input.Payload(), &w.order); err != nil {
		return w.status, err
	}
	w.status = order.NewStatus(w.order)
	w.owner = w.order.OrderID
	if order.CheckOrderID(w.owner) != nil {
		w.owner = "" // no valid order ID, no order page to show the message on
	}
	w.accepted = true

	// The first stage is set before any handler exists, so that a request
	// arriving with the start already sees it.
	invalid := w.validateV1(ctx)
	if invalid != nil {
		w.logger.Error("Termination order rejected: invalid input", "Error", invalid)
		entry := w.transition(ctx, order.StageFailed, order.FailedMessage(invalid), "")
		w.setupV1(ctx)
		w.record(ctx, queuedEntry{entry: entry})
		w.awaitQuiet(ctx)
		return w.status, temporal.NewNonRetryableApplicationError(invalid.Error(), ErrTypeInvalidOrder, nil)
	}

	// The worker's policy is recorded in history now, so a later change of
	// configuration never moves this order's deadline.
	if err := workflow.SideEffect(ctx, func(workflow.Context) any { return p.ReopenWindow }).Get(&w.window); err != nil {
		return w.status, err
	}
	w.window = w.order.ReopenWindow(w.window)

	entry := w.transition(ctx, order.StageAwaitingUnlink, order.SubmittedMessage(w.order), "")
	w.setupV1(ctx)
	steady, _ := workflow.NewDisconnectedContext(ctx)
	workflow.Go(steady, w.listenForUnlinkV1)
	w.record(ctx, queuedEntry{entry: entry})

	err := workflow.Await(ctx, func() bool { return w.status.Stage != order.StageAwaitingUnlink })
	if temporal.IsCanceledError(err) && w.status.Stage == order.StageAwaitingUnlink {
		return w.cancelledByTemporal(steady, err)
	}
	if err != nil && !temporal.IsCanceledError(err) {
		return w.status, err
	}
	return w.finish(ctx, steady)
}

// validateV1 checks the input by version 1's rules, including that the order
// runs under its own workflow ID.
func (w *terminationOrder) validateV1(ctx workflow.Context) error {
	info := workflow.GetInfo(ctx)
	var fields []*order.FieldError
	for _, err := range []error{
		w.order.ValidateV1(workflow.Now(ctx)),
		order.CheckWorkflowID(w.order, info.WorkflowExecution.ID),
	} {
		var verr *order.ValidationError
		if errors.As(err, &verr) {
			fields = append(fields, verr.Fields...)
		}
	}
	if len(fields) == 0 {
		return nil
	}
	return &order.ValidationError{Subject: "termination order", Fields: fields}
}

func (w *terminationOrder) setupV1(ctx workflow.Context) {
	w.setQuery(ctx)
	w.setUpdate(ctx, UpdateReopen, w.reopenV1, w.validateReopenV1)
	w.setUpdate(ctx, UpdateCancel, w.cancelV1, w.validateCancelV1)
	// Added with version 2 for the orders still on version 1: the starter now
	// confirms the unlink with this update.
	w.setUpdate(ctx, UpdateConfirmUnlink, w.confirmUnlinkV1, w.validateConfirmUnlinkV1)
}

func (w *terminationOrder) listenForUnlinkV1(ctx workflow.Context) {
	ch := workflow.GetSignalChannel(ctx, SignalUnlinkCompleted)
	for {
		var u UnlinkCompleted
		ch.Receive(ctx, &u)
		w.unlinkSignalV1(ctx, u)
	}
}

func (w *terminationOrder) unlinkSignalV1(ctx workflow.Context, u UnlinkCompleted) {
	now := workflow.Now(ctx)
	if w.status.Stage != order.StageAwaitingUnlink {
		w.logger.Info("Unlink-completed signal ignored: the order is past that step", "Stage", w.status.Stage, "Reference", u.Reference)
		return
	}
	if err := u.ValidateFor(w.status, now); err != nil {
		w.logger.Warn("Unlink-completed signal ignored: invalid", "Error", err)
		return
	}
	w.applyUnlink(ctx, u, u.ClosedAt(now))
}

func (w *terminationOrder) validateConfirmUnlinkV1(ctx workflow.Context, u UnlinkCompleted) error {
	if err := u.ValidateFor(w.status, workflow.Now(ctx)); err != nil {
		return err
	}
	return w.refusal(w.checkUnlink(u.RequestID))
}

func (w *terminationOrder) confirmUnlinkV1(ctx workflow.Context, u UnlinkCompleted) (Status, error) {
	if _, done, _ := w.status.CheckRequestID(u.RequestID, order.StagePostClosure); done {
		return w.status, nil
	}
	w.applyUnlink(ctx, u, u.ClosedAt(workflow.Now(ctx)))
	return w.status, nil
}

func (w *terminationOrder) validateReopenV1(ctx workflow.Context, r ReopenRequest) error {
	if err := r.Validate(UpdateReopen); err != nil {
		return err
	}
	return w.refusal(w.status.CheckReopen(workflow.Now(ctx)))
}

func (w *terminationOrder) reopenV1(ctx workflow.Context, r ReopenRequest) (Status, error) {
	w.reopen(ctx, r)
	return w.status, nil
}

func (w *terminationOrder) validateCancelV1(_ workflow.Context, r CancelRequest) error {
	if err := r.Validate(UpdateCancel); err != nil {
		return err
	}
	return w.refusal(w.status.CheckCancel())
}

func (w *terminationOrder) cancelV1(ctx workflow.Context, r CancelRequest) (Status, error) {
	w.cancel(ctx, r)
	return w.status, nil
}
