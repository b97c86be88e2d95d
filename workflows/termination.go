package workflows

import (
	"errors"
	"fmt"
	"time"

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

// A status write is a short database insert, so it first runs as a local
// activity inside the workflow task: one marker in history instead of three
// activity events. Local activity retries that back off for long add timers to
// history, so after a minute of failures (a store outage) the write goes to a
// regular activity, which the server retries without limit and without growing
// the history. Only a message the store can never accept is not retried.
var (
	statusWriteLocalOptions = workflow.LocalActivityOptions{
		StartToCloseTimeout:    5 * time.Second,
		ScheduleToCloseTimeout: time.Minute, // unset, it would default to StartToCloseTimeout
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        time.Second,
			BackoffCoefficient:     2,
			MaximumInterval:        10 * time.Second,
			NonRetryableErrorTypes: []string{activities.ErrTypeInvalidStatusMessage},
		},
	}
	statusWriteFallbackOptions = workflow.ActivityOptions{
		StartToCloseTimeout: 10 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        5 * time.Second,
			BackoffCoefficient:     2,
			MaximumInterval:        5 * time.Minute,
			NonRetryableErrorTypes: []string{activities.ErrTypeInvalidStatusMessage},
		},
	}
)

// TerminationOrder is the life of one termination order: submitted, awaiting
// Operations' unlink; then the post-closure period during which the account can
// be reopened; then closed for good. It can be cancelled before the unlink.
func TerminationOrder(ctx workflow.Context, o Order) (Status, error) {
	w := &terminationOrder{
		order:  o,
		status: order.NewStatus(o),
		logger: log.With(workflow.GetLogger(ctx), "OrderID", o.OrderID),
	}
	return w.run(ctx)
}

type terminationOrder struct {
	order  order.Order
	status order.Status
	unlink order.UnlinkCompleted
	logger log.Logger
	// policy is the worker's reopen window the order was accepted under;
	// accepted turns true once it is known (recorded in history).
	policy   time.Duration
	accepted bool
	// writes counts status writes in flight, so the workflow ends only after
	// every message it produced is stored.
	writes int
}

func (w *terminationOrder) run(ctx workflow.Context) (Status, error) {
	// The first stage is set before any handler exists, so that a request
	// arriving with the start already sees it.
	invalid := w.order.Validate(workflow.Now(ctx))
	if invalid != nil {
		w.logger.Error("Termination order rejected: invalid input", "Error", invalid)
		entry := w.transition(ctx, order.StageFailed, order.FailedMessage(invalid))
		w.setup(ctx)
		w.record(ctx, entry)
		w.awaitQuiet(ctx)
		return w.status, temporal.NewNonRetryableApplicationError(invalid.Error(), ErrTypeInvalidOrder, invalid)
	}
	entry := w.transition(ctx, order.StageAwaitingUnlink, order.SubmittedMessage(w.order))
	w.setup(ctx)
	// An unlink signal that arrived before this point waits in its channel.
	workflow.Go(ctx, w.listenForUnlink)
	w.accept(ctx, entry)

	if err := workflow.Await(ctx, func() bool { return w.status.Stage != order.StageAwaitingUnlink }); err != nil {
		return w.status, err
	}
	if w.status.Stage == order.StagePostClosure {
		if err := w.awaitReopenWindow(ctx); err != nil {
			return w.status, err
		}
	}
	w.awaitQuiet(ctx)
	w.logger.Info("Termination order finished", "Stage", w.status.Stage)
	return w.status, nil
}

// setup registers the handlers of the contract. The order's stage decides what
// each accepts; the state changes happen synchronously before any write, so a
// handler running next always sees the current stage.
func (w *terminationOrder) setup(ctx workflow.Context) {
	if err := workflow.SetQueryHandler(ctx, QueryStatus, func() (Status, error) {
		return w.status, nil
	}); err != nil {
		panic(err) // only on a duplicate name: a programming error
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateReopen, w.reopen,
		workflow.UpdateHandlerOptions{Validator: w.validateReopen}); err != nil {
		panic(err)
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateCancel, w.cancel,
		workflow.UpdateHandlerOptions{Validator: w.validateCancel}); err != nil {
		panic(err)
	}
}

// awaitReopenWindow waits until the reopen deadline or a reopen, whichever comes
// first. The deadline was fixed when the unlink was recorded, so a worker
// restart or replay never moves it.
func (w *terminationOrder) awaitReopenWindow(ctx workflow.Context) error {
	remaining := w.status.ReopenDeadline.Sub(workflow.Now(ctx))
	if remaining > 0 {
		reopened, err := workflow.AwaitWithOptions(ctx, workflow.AwaitOptions{
			Timeout: remaining,
			TimerOptions: workflow.TimerOptions{
				Summary: fmt.Sprintf("Reopen window of AWS account %s: closes for good at %s unless reopened",
					w.order.AccountID, order.FormatTime(w.status.ReopenDeadline)),
			},
		}, func() bool { return w.status.Stage != order.StagePostClosure })
		if err != nil || reopened {
			return err
		}
	}
	w.enter(ctx, order.StagePermanentlyClosed, order.PermanentlyClosedMessage(w.status))
	return nil
}

func (w *terminationOrder) listenForUnlink(ctx workflow.Context) {
	ch := workflow.GetSignalChannel(ctx, SignalUnlinkCompleted)
	for {
		var u UnlinkCompleted
		ch.Receive(ctx, &u)
		w.unlinkCompleted(ctx, u)
	}
}

func (w *terminationOrder) unlinkCompleted(ctx workflow.Context, u UnlinkCompleted) {
	now := workflow.Now(ctx)
	if err := u.Validate(now); err != nil {
		// A signal cannot be refused; the starter validates before sending, so
		// this is a hand-made signal. Operations can send a correct one.
		w.logger.Warn("Unlink-completed signal ignored: invalid", "Error", err)
		return
	}
	// The deadline needs the policy the order was accepted under; an unlink
	// reported before that is known waits for it.
	if err := workflow.Await(ctx, func() bool { return w.accepted }); err != nil {
		return
	}
	if w.status.Stage != order.StageAwaitingUnlink {
		w.logger.Info("Unlink-completed signal ignored: the order is past that step",
			"Stage", w.status.Stage, "CompletedBy", u.CompletedBy, "Reference", u.Reference)
		return
	}
	w.unlink = u
	w.status.ClosedAt = u.ClosedAt(now)
	w.status.ReopenDeadline = w.status.ClosedAt.Add(w.order.ReopenWindow(w.policy))
	w.logger.Info("Account unlinked and closed", "CompletedBy", u.CompletedBy, "Reference", u.Reference,
		"ClosedAt", w.status.ClosedAt, "ReopenDeadline", w.status.ReopenDeadline)
	w.enter(ctx, order.StagePostClosure, order.PostClosureMessage(w.status))
}

func (w *terminationOrder) validateReopen(ctx workflow.Context, r ReopenRequest) error {
	if err := r.Validate(); err != nil {
		return err
	}
	return w.status.CheckReopen(workflow.Now(ctx))
}

func (w *terminationOrder) reopen(ctx workflow.Context, r ReopenRequest) (Status, error) {
	now := workflow.Now(ctx)
	w.logger.Info("Account reopened", "RequestedBy", r.RequestedBy)
	w.enter(ctx, order.StageReopened, order.ReopenedMessage(w.status, now, r))
	return w.status, nil
}

func (w *terminationOrder) validateCancel(_ workflow.Context, r CancelRequest) error {
	if err := r.Validate(); err != nil {
		return err
	}
	return w.status.CheckCancel()
}

func (w *terminationOrder) cancel(ctx workflow.Context, r CancelRequest) (Status, error) {
	now := workflow.Now(ctx)
	w.logger.Info("Order cancelled", "RequestedBy", r.RequestedBy)
	w.enter(ctx, order.StageCancelled, order.CancelledMessage(w.status, now, r))
	return w.status, nil
}

// enter moves the order to a stage and stores the new status message.
func (w *terminationOrder) enter(ctx workflow.Context, stage order.Stage, message string) {
	w.record(ctx, w.transition(ctx, stage, message))
}

// transition changes the stage, the search attributes and the Web UI details at
// once, without blocking, and returns the timeline entry still to be stored.
func (w *terminationOrder) transition(ctx workflow.Context, stage order.Stage, message string) order.TimelineEntry {
	entry := w.status.Enter(stage, workflow.Now(ctx), message)
	updates := []temporal.SearchAttributeUpdate{StageKey.ValueSet(string(stage))}
	if w.order.AccountID != "" {
		updates = append(updates, AccountIDKey.ValueSet(w.order.AccountID))
	}
	if w.order.SubscriptionID != "" {
		updates = append(updates, SubscriptionIDKey.ValueSet(w.order.SubscriptionID))
	}
	if !w.status.ReopenDeadline.IsZero() {
		updates = append(updates, ReopenDeadlineKey.ValueSet(w.status.ReopenDeadline))
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, updates...); err != nil {
		w.logger.Error("Search attributes not updated", "Stage", stage, "Error", err)
	}
	workflow.SetCurrentDetails(ctx, w.details())
	return entry
}

// accept stores the order's first status message and learns the policy it
// runs under. Should the write fail for good, the order keeps the default policy.
func (w *terminationOrder) accept(ctx workflow.Context, entry order.TimelineEntry) {
	var policy activities.Policy
	w.write(ctx, activities.AcceptOrderName, entry, &policy)
	w.policy = time.Duration(policy.ReopenWindowSeconds) * time.Second
	w.accepted = true
}

// record stores a timeline entry where the order details page reads it.
func (w *terminationOrder) record(ctx workflow.Context, entry order.TimelineEntry) {
	w.write(ctx, activities.RecordStatusName, entry, nil)
}

func (w *terminationOrder) write(ctx workflow.Context, activityType string, entry order.TimelineEntry, result any) {
	if w.order.OrderID == "" {
		return // an order without an ID has no page to show the message on
	}
	w.writes++
	defer func() { w.writes-- }()
	change := activities.StatusChange{OrderID: w.order.OrderID, Entry: entry}
	err := workflow.ExecuteLocalActivity(workflow.WithLocalActivityOptions(ctx, statusWriteLocalOptions),
		activityType, change).Get(ctx, result)
	if err != nil && !isPermanent(err) {
		w.logger.Warn("Status write failing; handing it to a regular activity", "Seq", entry.Seq, "Error", err)
		err = workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, statusWriteFallbackOptions),
			activityType, change).Get(ctx, result)
	}
	if err != nil {
		// Only a message the store can never accept gets here; the order's life
		// goes on and the message stays readable through the status query.
		w.logger.Error("Status message not stored", "Seq", entry.Seq, "Stage", entry.Stage, "Error", err)
	}
}

func isPermanent(err error) bool {
	var appErr *temporal.ApplicationError
	return errors.As(err, &appErr) && appErr.Type() == activities.ErrTypeInvalidStatusMessage
}

// awaitQuiet waits for status writes and update handlers still running, so the
// workflow never ends with a message unstored or an update unanswered.
func (w *terminationOrder) awaitQuiet(ctx workflow.Context) {
	_ = workflow.Await(ctx, func() bool { return w.writes == 0 && workflow.AllHandlersFinished(ctx) })
}

// details is the Web UI's "current details" of the order, in Markdown.
func (w *terminationOrder) details() string {
	s := w.status
	d := fmt.Sprintf("**%s** (order %s) · AWS account %s · subscription %s\n\n%s",
		s.Stage, s.OrderID, s.AccountID, s.SubscriptionID, s.StatusMessage)
	if !s.ClosedAt.IsZero() {
		d += fmt.Sprintf("\n\nClosed %s by %s (ref. %s) · reopen deadline %s",
			order.FormatTime(s.ClosedAt), w.unlink.CompletedBy, w.unlink.Reference, order.FormatTime(s.ReopenDeadline))
	}
	return d
}
