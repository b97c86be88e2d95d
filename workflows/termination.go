package workflows

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/cloudmarket/termination-orders/activities"
	"github.com/cloudmarket/termination-orders/order"
)

// Register registers the workflow under its contract name.
func Register(r worker.WorkflowRegistry) {
	r.RegisterWorkflowWithOptions(TerminationOrder, workflow.RegisterOptions{Name: WorkflowType})
}

// TerminationOrder is the life of one termination order: submitted and
// awaiting Operations' unlink; then the post-closure period during which the
// account can be reopened; then closed for good. It can be cancelled before
// the unlink. The worker's policy (the reopen window, the timing of
// notifications) reaches it through the acceptance step, which records it in
// history, so a policy changed under a running order never moves its dates.
//
// The input is taken raw so that input from any client, however broken, is
// decided by the acceptance step and answered with a Failed order naming the
// problem rather than an SDK decode error.
func TerminationOrder(ctx workflow.Context, input converter.RawValue) (Status, error) {
	info := workflow.GetInfo(ctx)
	w := &terminationOrder{
		logger: log.With(workflow.GetLogger(ctx), "OrderID", order.OwnerOf(info.WorkflowExecution.ID)),
	}
	return w.run(ctx, input)
}

type terminationOrder struct {
	// byUpdate is set while an update handler applies its decision.
	byUpdate bool
	order    order.Order
	status   order.Status
	unlink   order.UnlinkCompleted
	// window is the order's post-closure period, fixed when it is accepted.
	window time.Duration
	logger log.Logger

	// accepted is set once the acceptance step has decided, and slow once it
	// waits for the status store: requests are then refused, not held.
	accepted, slow bool
	// refused is why the order was refused at its acceptance, if it was.
	refused error
	// owner is the order whose page receives this run's messages ("" for none).
	owner string
	// runKey identifies this life of the order in the status store.
	runKey string

	// unlinks carries raw unlink-completed signals; signals counts those
	// received and deciding those being decided.
	unlinks  workflow.ReceiveChannel
	signals  int
	deciding int

	// queued are status messages decided but not yet written; writes counts
	// writes in flight. The workflow ends only once every message is stored.
	queued []queuedEntry
	writes int

	// notify is the timing of the order's notifications.
	notify activities.NotifyPolicy
	// unlinkDueBy is the unlink SLA's deadline; overdueSince is set once it
	// passed without an unlink, and reminders counts the reminders sent.
	unlinkDueBy, overdueSince time.Time
	reminders                 int
	// delivering counts notifications being retried; failed lists those given up.
	delivering int
	failed     []string

	// aws is how the order uses AWS Organizations (activities.AWSOff: not
	// at all). awsVersioned and awsPatched hold its change's version;
	// awaitingAWS is set while an unlink signal waits for AWS to agree;
	// awsNotices counts Operations' AWS work items by reason; onAnswer is the
	// AWS answer the next timeline entry rests on.
	aws                        activities.AWSPolicy
	awsVersioned, awsPatched   bool
	awaitingAWS, reopenedByAWS bool
	awsNotices                 map[string]int
	onAnswer                   *order.AWSCheck
}

func (w *terminationOrder) run(ctx workflow.Context, input converter.RawValue) (Status, error) {
	info := workflow.GetInfo(ctx)
	w.runKey = info.OriginalRunID
	if w.runKey == "" {
		w.runKey = info.WorkflowExecution.RunID
	}
	w.status = order.NewStatus(order.Order{OrderID: order.OwnerOf(info.WorkflowExecution.ID)})
	w.unlinks = workflow.GetSignalChannel(ctx, SignalUnlinkCompleted)
	// Handlers exist from the start: a query is answered, and a request is
	// held (or refused, when the store is slow) until the order is accepted.
	w.setup(ctx)
	steady, _ := workflow.NewDisconnectedContext(ctx)
	workflow.Go(steady, w.writeQueued)

	acc, err := w.accept(steady, input)
	if err != nil {
		return w.status, err
	}
	w.order, w.owner, w.window = acc.Order, acc.Owner, acc.ReopenWindow
	w.notify, w.aws = acc.Notify, acc.AWS
	w.awsNotices = map[string]int{}
	w.unlinkDueBy = w.dueBy(ctx)
	w.status = order.NewStatus(acc.Order)
	if w.status.OrderID == "" {
		w.status.OrderID = order.OwnerOf(info.WorkflowExecution.ID)
	}

	switch invalid := acc.Invalid(); {
	case acc.PriorLife != nil:
		w.logger.Error("Termination order refused: the order already lived", "PriorStage", acc.PriorLife.Stage)
		// Nothing is written: the order's page belongs to its first life.
		w.transition(ctx, order.StageFailed, order.AlreadyProcessedMessage(w.status.OrderID, acc.PriorLife), "")
		return w.refuse(steady, temporal.NewNonRetryableApplicationError(acc.PriorLife.Error(), ErrTypeOrderAlreadyProcessed, nil))
	case invalid != nil:
		w.logger.Error("Termination order rejected: invalid input", "Error", invalid)
		w.enter(ctx, order.StageFailed, order.FailedMessage(invalid), "")
		return w.refuse(steady, temporal.NewNonRetryableApplicationError(invalid.Error(), ErrTypeInvalidOrder, nil))
	case acc.AccountRefused != nil:
		r := acc.AccountRefused
		w.logger.Warn("Termination order refused: its AWS account is not free",
			"Refusal", r.Kind, "HolderOrderID", r.Holder.OrderID, "HolderStage", r.Holder.Stage)
		// Its own page says why, and nobody is told: no termination began.
		w.queue(w.transition(ctx, order.StageFailed, order.AccountRefusedMessage(r), ""), nil)
		return w.refuse(steady, temporal.NewNonRetryableApplicationError(r.Reason, string(r.Kind), nil, r.Holder))
	}

	w.enter(ctx, order.StageAwaitingUnlink, order.SubmittedMessage(w.order), "",
		activities.Announcement{Kind: order.NoticeUnlinkRequested})
	w.accepted = true
	if !w.unlinkDueBy.IsZero() {
		workflow.Go(steady, w.escalate)
	}
	// A Temporal cancel request (the Web UI's button) ends the order only
	// before the unlink; the steps after it run on a context it cannot cancel.
	workflow.Go(steady, w.listenForUnlink)

	err = workflow.Await(ctx, func() bool { return w.status.Stage != order.StageAwaitingUnlink })
	if temporal.IsCanceledError(err) {
		// An unlink reported before the cancel request was recorded comes first.
		_ = workflow.Await(steady, func() bool { return !w.unlinkPending() })
		if w.status.Stage == order.StageAwaitingUnlink {
			return w.cancelledByTemporal(steady, err)
		}
	} else if err != nil {
		return w.status, err
	}
	return w.finish(ctx, steady)
}

// refuse ends a run whose order was refused at its acceptance with err, once
// its message is stored and the acceptance update answered.
func (w *terminationOrder) refuse(steady workflow.Context, err error) (Status, error) {
	w.refused = err
	w.accepted = true
	w.awaitQuiet(steady)
	return w.status, err
}

// accept runs the acceptance step and returns its decision.
func (w *terminationOrder) accept(ctx workflow.Context, input converter.RawValue) (activities.Acceptance, error) {
	info := workflow.GetInfo(ctx)
	in := activities.AcceptInput{WorkflowID: info.WorkflowExecution.ID, RunKey: w.runKey}
	in.Input, in.InputProblem = rawJSON(input)
	var acc activities.Acceptance
	err := w.decide(ctx, activities.AcceptOrderName, in, &acc, func() {
		w.slow = true
		w.logger.Warn("Acceptance waits for the status store; requests are refused until it answers")
	})
	return acc, err
}

// rawJSON returns the JSON of a payload, or why there is none.
func rawJSON(v converter.RawValue) ([]byte, string) {
	p := v.Payload()
	if p == nil || len(p.GetData()) == 0 && string(p.GetMetadata()[converter.MetadataEncoding]) == converter.MetadataEncodingNil {
		return nil, ""
	}
	if enc := string(p.GetMetadata()[converter.MetadataEncoding]); enc != converter.MetadataEncodingJSON {
		return nil, fmt.Sprintf("must be a JSON object, got a payload encoded as %q", enc)
	}
	return p.GetData(), ""
}

// setup registers the handlers of the contract.
func (w *terminationOrder) setup(ctx workflow.Context) {
	w.setQuery(ctx)
	w.setUpdate(ctx, UpdateReopen, w.reopenUpdate, w.validateReopen)
	w.setUpdate(ctx, UpdateCancel, w.cancelUpdate, w.validateCancel)
	w.setUpdate(ctx, UpdateConfirmUnlink, w.confirmUnlink, w.validateConfirmUnlink)
	w.setUpdate(ctx, UpdateAcceptance, w.acceptance, nil)
}

// acceptance answers once the order is accepted, with its status, or refused,
// with the refusal: sent with the start, it tells the caller the truth about
// its own order.
func (w *terminationOrder) acceptance(ctx workflow.Context) (Status, error) {
	_ = workflow.Await(ctx, func() bool { return w.accepted })
	if w.refused != nil {
		return Status{}, w.refused
	}
	return w.status, nil
}

func (w *terminationOrder) setQuery(ctx workflow.Context) {
	if err := workflow.SetQueryHandler(ctx, QueryStatus, func() (Status, error) {
		if !w.accepted {
			return Status{}, order.NotAcceptedYet(w.status.OrderID)
		}
		return w.status, nil
	}); err != nil {
		panic(err) // only on a duplicate name: a programming error
	}
}

func (w *terminationOrder) setUpdate(ctx workflow.Context, name string, handler, validator any) {
	if err := workflow.SetUpdateHandlerWithOptions(ctx, name, handler,
		workflow.UpdateHandlerOptions{Validator: validator}); err != nil {
		panic(err)
	}
}

// unlinkPending reports whether an unlink-completed signal recorded in
// history still waits to be decided while the order awaits the unlink: a
// request recorded after it must not be decided before it.
func (w *terminationOrder) unlinkPending() bool {
	return w.status.Stage == order.StageAwaitingUnlink && (w.unlinks.Len() > 0 || w.deciding > 0)
}

// ready reports whether a request can be decided now: the order is accepted
// and no earlier unlink signal waits to be decided.
func (w *terminationOrder) ready() bool { return w.accepted && !w.unlinkPending() }

// validateRequest is the validator of every request: input that breaks the
// contract and requests the current stage refuses are rejected at once, with
// nothing in history. When an earlier request is still being decided, the
// request is accepted and decided by its handler, in order. A validator does
// not run on replay, so its rules may change freely.
func (w *terminationOrder) validateRequest(input error, requestID string, target order.Stage, check func() error) error {
	if input != nil {
		return input
	}
	if !w.accepted && w.slow {
		return w.refusal(order.NotAcceptedYet(w.status.OrderID))
	}
	if !w.ready() {
		return nil
	}
	if _, done, err := w.status.CheckRequestID(requestID, target); done || err != nil {
		return w.refusal(err)
	}
	return w.refusal(check())
}

// decideRequest is the handler of every request: once every request recorded
// before it is decided, it checks the stage again and applies the request, or
// refuses it with the reason. A retry with the request ID of the change
// already made gets the original answer.
func (w *terminationOrder) decideRequest(ctx workflow.Context, requestID string, target order.Stage, check func() error, apply func() error) (Status, error) {
	steady, _ := workflow.NewDisconnectedContext(ctx)
	// Until the order is accepted: a caller that gives up is told the outcome
	// is unknown, and its retry with the same ID joins this one. A handler's
	// refusal is the final answer for its update ID, so it never refuses for
	// a slow store.
	_ = workflow.Await(steady, w.ready)
	if _, done, err := w.status.CheckRequestID(requestID, target); done || err != nil {
		return w.status, w.refusal(err)
	}
	if err := check(); err != nil {
		return Status{}, w.refusal(err)
	}
	if err := apply(); err != nil {
		return Status{}, w.refusal(err)
	}
	return w.status, nil
}

// asUpdate runs apply as the decision of an update (see queuedEntry.afterCommit).
func (w *terminationOrder) asUpdate(apply func()) {
	w.byUpdate = true
	apply()
	w.byUpdate = false
}

// refusal turns the domain's refusal into the update failure clients see: its
// type is the refusal kind, its message the reason.
func (w *terminationOrder) refusal(err error) error {
	var r *order.Refusal
	if errors.As(err, &r) {
		return temporal.NewNonRetryableApplicationError(r.Reason, string(r.Kind), nil)
	}
	return err
}

func (w *terminationOrder) validateConfirmUnlink(ctx workflow.Context, u UnlinkCompleted) error {
	input := u.ValidateFor(w.status, workflow.Now(ctx))
	return w.validateRequest(input, u.RequestID, w.unlinkTarget(), func() error { return w.status.CheckUnlink() })
}

// unlinkTarget is the stage an unlink report moves the order to.
func (w *terminationOrder) unlinkTarget() order.Stage {
	if w.aws.Mode == activities.AWSClose {
		return order.StageClosing
	}
	return order.StagePostClosure
}

func (w *terminationOrder) confirmUnlink(ctx workflow.Context, u UnlinkCompleted) (Status, error) {
	closedAt := u.ClosedAt(workflow.Now(ctx))
	return w.decideRequest(ctx, u.RequestID, w.unlinkTarget(),
		func() error {
			if err := w.status.CheckUnlink(); err != nil {
				return err
			}
			return w.status.CheckCloseTime(closedAt)
		},
		func() error { return w.reportedUnlink(ctx, u, closedAt, false) })
}

func (w *terminationOrder) validateReopen(ctx workflow.Context, r ReopenRequest) error {
	now := workflow.Now(ctx)
	return w.validateRequest(r.Validate(UpdateReopen), r.RequestID, order.StageReopened, func() error { return w.status.CheckReopen(now) })
}

func (w *terminationOrder) reopenUpdate(ctx workflow.Context, r ReopenRequest) (Status, error) {
	now := workflow.Now(ctx)
	return w.decideRequest(ctx, r.RequestID, order.StageReopened,
		func() error { return w.status.CheckReopen(now) },
		func() error { w.asUpdate(func() { w.reopen(ctx, r) }); return nil })
}

func (w *terminationOrder) validateCancel(_ workflow.Context, r CancelRequest) error {
	return w.validateRequest(r.Validate(UpdateCancel), r.RequestID, order.StageCancelled, func() error { return w.status.CheckCancel() })
}

func (w *terminationOrder) cancelUpdate(ctx workflow.Context, r CancelRequest) (Status, error) {
	// Checks read w.status when called: a method value would copy it now.
	return w.decideRequest(ctx, r.RequestID, order.StageCancelled, func() error { return w.status.CheckCancel() },
		func() error { w.asUpdate(func() { w.cancel(ctx, r) }); return nil })
}

func (w *terminationOrder) reopen(ctx workflow.Context, r ReopenRequest) {
	w.logger.Info("Account reopened", "RequestID", r.RequestID)
	w.enter(ctx, order.StageReopened, order.ReopenedMessage(w.status, workflow.Now(ctx), r), r.RequestID,
		activities.Announcement{Kind: order.NoticeReopenRequested, ClosedAt: w.status.ClosedAt, Reopen: &r})
}

func (w *terminationOrder) cancel(ctx workflow.Context, r CancelRequest) {
	w.logger.Info("Order cancelled", "RequestID", r.RequestID)
	w.enter(ctx, order.StageCancelled, order.CancelledMessage(w.status, workflow.Now(ctx), r), r.RequestID,
		activities.Announcement{Kind: order.NoticeUnlinkCancelled, Cancel: &r})
}

// listenForUnlink decides each unlink-completed signal, in the order received.
// A signal cannot be refused to its sender, so its decision (valid or not, and
// the close time) is made by an activity and recorded in history.
func (w *terminationOrder) listenForUnlink(ctx workflow.Context) {
	info := workflow.GetInfo(ctx)
	for {
		// Wait for the channel to hold a signal rather than block in Receive: a
		// blocked Receive takes a signal as it arrives, out of sight of the
		// update validators of the same workflow task, which must see it
		// pending (unlinkPending) to decide after it.
		_ = workflow.Await(ctx, func() bool { return w.unlinks.Len() > 0 })
		var raw converter.RawValue
		w.unlinks.ReceiveAsync(&raw)
		w.signals++
		if w.status.Stage != order.StageAwaitingUnlink {
			w.logger.Info("Unlink-completed signal ignored: the order is past that step", "Stage", w.status.Stage)
			continue
		}
		payload, _ := rawJSON(raw)
		in := activities.UnlinkSignal{
			Payload: payload, SignalName: SignalUnlinkCompleted, Ordinal: w.signals,
			PlacedAt: w.status.Timeline[0].Time, WorkflowID: info.WorkflowExecution.ID, RunID: info.WorkflowExecution.RunID,
		}
		w.deciding++
		var d activities.UnlinkDecision
		err := w.decide(ctx, activities.DecideUnlinkSignalName, in, &d, nil)
		w.deciding--
		switch {
		case err != nil:
			w.logger.Error("Unlink-completed signal not decided", "Error", err)
		case d.Problem != "":
			// Operations can send a correct one; the starter validates first.
			w.logger.Warn("Unlink-completed signal ignored: invalid", "Problem", d.Problem)
		case w.status.Stage != order.StageAwaitingUnlink:
			w.logger.Info("Unlink-completed signal ignored: the order is past that step", "Stage", w.status.Stage)
		case w.awaitingAWS:
			w.logger.Info("Unlink-completed signal ignored: an earlier one waits for AWS to agree")
		default:
			_ = w.reportedUnlink(ctx, d.Report, d.ClosedAt, true)
		}
	}
}

// applyUnlink closes the account at closedAt and starts its reopen window.
func (w *terminationOrder) applyUnlink(ctx workflow.Context, u UnlinkCompleted, closedAt time.Time) {
	w.unlink = u
	w.status.ClosedAt = closedAt.UTC()
	w.status.ReopenDeadline = w.status.ClosedAt.Add(w.window)
	w.logger.Info("Account unlinked and closed", "Reference", u.Reference, "RequestID", u.RequestID,
		"ClosedAt", w.status.ClosedAt, "ReopenDeadline", w.status.ReopenDeadline)
	workflow.GetMetricsHandler(ctx).Timer(MetricUnlinkWait).Record(workflow.Now(ctx).Sub(w.status.Timeline[0].Time))
	w.enter(ctx, order.StagePostClosure, order.PostClosureMessage(w.status), u.RequestID)
}

// cancelledByTemporal ends the order as cancelled by a Temporal cancel request.
func (w *terminationOrder) cancelledByTemporal(steady workflow.Context, cause error) (Status, error) {
	w.logger.Info("Order cancelled by a Temporal cancel request")
	r := order.Request{RequestedBy: "Operations", Reason: "cancel request in Temporal"}
	w.enter(steady, order.StageCancelled, order.CancelledMessage(w.status, workflow.Now(steady), r), "",
		activities.Announcement{Kind: order.NoticeUnlinkCancelled, Cancel: &r})
	w.awaitQuiet(steady)
	return w.status, cause
}

// finish runs the reopen window of a closed account, then waits until every
// message is stored and every request answered.
func (w *terminationOrder) finish(ctx, steady workflow.Context) (Status, error) {
	// While AWS closes the account, nothing but AWS moves the order on.
	_ = workflow.Await(steady, func() bool { return w.status.Stage != order.StageClosing })
	if w.status.Stage == order.StagePostClosure {
		if ctx.Err() != nil {
			w.logger.Warn("Temporal cancel request ignored: the account is closed and its reopen window must run its course")
		}
		if err := w.awaitReopenWindow(steady); err != nil {
			return w.status, err
		}
		if w.status.Stage == order.StageReopened && !w.reopenedByAWS {
			w.followReopen(steady)
		}
	}
	w.awaitQuiet(steady)
	w.logger.Info("Termination order finished", "Stage", w.status.Stage)
	return w.status, nil
}

// awaitReopenWindow waits until the reopen deadline or a reopen, whichever comes
// first, warning the customer on the way. The deadline was fixed when the
// unlink was recorded, so a worker restart or replay never moves it.
func (w *terminationOrder) awaitReopenWindow(ctx workflow.Context) error {
	reopened := func() bool { return w.status.Stage != order.StagePostClosure }
	if warnAt, ok := w.lastWarningAt(); ok && w.status.ReopenDeadline.After(workflow.Now(ctx)) {
		// An unlink reported late may leave the warning's time behind: then
		// the customer is warned at once.
		summary := fmt.Sprintf("Last warning to the customer: AWS account %s closes for good at %s",
			w.order.AccountID, order.FormatTime(w.status.ReopenDeadline))
		if elapsed, err := sleep(ctx, warnAt.Sub(workflow.Now(ctx)), summary, reopened); err != nil || !elapsed {
			return err
		}
		w.enter(ctx, order.StagePostClosure, order.LastWarningMessage(w.status), "")
	}
	summary := fmt.Sprintf("Reopen window of AWS account %s: closes for good at %s unless reopened",
		w.order.AccountID, order.FormatTime(w.status.ReopenDeadline))
	if elapsed, err := sleep(ctx, w.status.ReopenDeadline.Sub(workflow.Now(ctx)), summary, reopened); err != nil || !elapsed {
		return err
	}
	w.closeForGood(ctx)
	return nil
}

// sleep waits for d to pass, unless done holds first, and reports whether it
// passed. A wait already over (d <= 0) passes at once, without a timer. When
// done wins, the timer is cancelled: the SDK's await with a timeout leaves its
// timer running, and a timer that fires as the order completes fails that
// workflow task.
func sleep(ctx workflow.Context, d time.Duration, summary string, done func() bool) (bool, error) {
	if d <= 0 {
		return !done(), nil
	}
	timerCtx, cancelTimer := workflow.WithCancel(ctx)
	timer := workflow.NewTimerWithOptions(timerCtx, d, workflow.TimerOptions{Summary: summary})
	if err := workflow.Await(ctx, func() bool { return done() || timer.IsReady() }); err != nil {
		return false, err
	}
	if done() {
		cancelTimer()
		return false, nil
	}
	return true, nil
}
