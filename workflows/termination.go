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

// Policy is the worker's configuration that the orders it runs follow.
type Policy struct {
	// ReopenWindow is the post-closure period of an order that does not set
	// its own; zero means order.DefaultReopenWindow.
	ReopenWindow time.Duration
}

// Register registers the workflow under its contract name.
func Register(r worker.WorkflowRegistry, p Policy) {
	r.RegisterWorkflowWithOptions(TerminationOrder(p), workflow.RegisterOptions{Name: WorkflowType})
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

// TerminationOrder is the life of one termination order, run under the
// worker's policy: submitted and awaiting Operations' unlink; then the
// post-closure period during which the account can be reopened; then closed
// for good. It can be cancelled before the unlink.
func TerminationOrder(p Policy) func(workflow.Context, Order) (Status, error) {
	return func(ctx workflow.Context, o Order) (Status, error) {
		w := &terminationOrder{
			order:  o,
			status: order.NewStatus(o),
			logger: log.With(workflow.GetLogger(ctx), "OrderID", o.OrderID),
		}
		return w.run(ctx, p)
	}
}

type terminationOrder struct {
	order  order.Order
	status order.Status
	unlink order.UnlinkCompleted
	// window is the order's post-closure period, fixed when it is accepted.
	window time.Duration
	logger log.Logger
	// writes counts status writes in flight, so the workflow ends only after
	// every message it produced is stored.
	writes int
}

func (w *terminationOrder) run(ctx workflow.Context, p Policy) (Status, error) {
	// The first stage is set before any handler exists, so that a request
	// arriving with the start already sees it.
	invalid := w.validate(ctx)
	if invalid != nil {
		w.logger.Error("Termination order rejected: invalid input", "Error", invalid)
		entry := w.transition(ctx, order.StageFailed, order.FailedMessage(invalid))
		w.setup(ctx)
		w.record(ctx, entry)
		w.awaitQuiet(ctx)
		return w.status, temporal.NewNonRetryableApplicationError(invalid.Error(), ErrTypeInvalidOrder, nil)
	}

	// The worker's policy is recorded in history now, so a later change of
	// configuration never moves this order's deadline.
	var policyWindow time.Duration
	if err := workflow.SideEffect(ctx, func(workflow.Context) any { return p.ReopenWindow }).Get(&policyWindow); err != nil {
		return w.status, err
	}
	w.window = w.order.ReopenWindow(policyWindow)

	entry := w.transition(ctx, order.StageAwaitingUnlink, order.SubmittedMessage(w.order))
	w.setup(ctx)
	// A Temporal cancel request (the Web UI's button) ends the order only
	// before the unlink; the steps after it run on a context it cannot cancel.
	steady, _ := workflow.NewDisconnectedContext(ctx)
	// An unlink signal that arrived before this point waits in its channel.
	workflow.Go(steady, w.listenForUnlink)
	w.record(ctx, entry)

	err := workflow.Await(ctx, func() bool { return w.status.Stage != order.StageAwaitingUnlink })
	if temporal.IsCanceledError(err) && w.status.Stage == order.StageAwaitingUnlink {
		w.logger.Info("Order cancelled by a Temporal cancel request")
		w.enter(steady, order.StageCancelled, order.CancelledMessage(w.status, workflow.Now(ctx), order.CancelRequest{
			RequestedBy: "Operations", Reason: "cancel request in Temporal",
		}))
		w.awaitQuiet(steady)
		return w.status, err
	}
	if err != nil && !temporal.IsCanceledError(err) {
		return w.status, err
	}
	if w.status.Stage == order.StagePostClosure {
		if ctx.Err() != nil {
			w.logger.Warn("Temporal cancel request ignored: the account is closed and its reopen window must run its course")
		}
		if err := w.awaitReopenWindow(steady); err != nil {
			return w.status, err
		}
	}
	w.awaitQuiet(steady)
	w.logger.Info("Termination order finished", "Stage", w.status.Stage)
	return w.status, nil
}

// validate checks the input against the contract, including that the order
// runs under its own workflow ID.
func (w *terminationOrder) validate(ctx workflow.Context) error {
	info := workflow.GetInfo(ctx)
	var fields []*order.FieldError
	for _, err := range []error{
		w.order.Validate(workflow.Now(ctx)),
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
	if w.status.Stage != order.StageAwaitingUnlink {
		w.logger.Info("Unlink-completed signal ignored: the order is past that step",
			"Stage", w.status.Stage, "CompletedBy", u.CompletedBy, "Reference", u.Reference)
		return
	}
	if err := u.ValidateFor(w.status, now); err != nil {
		// A signal cannot be refused; the starter validates before sending, so
		// this is a hand-made signal. Operations can send a correct one.
		w.logger.Warn("Unlink-completed signal ignored: invalid", "Error", err)
		return
	}
	w.unlink = u
	w.status.ClosedAt = u.ClosedAt(now)
	w.status.ReopenDeadline = w.status.ClosedAt.Add(w.window)
	w.logger.Info("Account unlinked and closed", "CompletedBy", u.CompletedBy, "Reference", u.Reference,
		"ClosedAt", w.status.ClosedAt, "ReopenDeadline", w.status.ReopenDeadline)
	workflow.GetMetricsHandler(ctx).Timer(MetricUnlinkWait).Record(now.Sub(w.status.Timeline[0].Time))
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
	countStage(ctx, stage)
	w.upsertSearchAttributes(ctx)
	workflow.SetCurrentDetails(ctx, w.details())
	return entry
}

// upsertSearchAttributes brings the search attributes up to date, sending only
// what changed: an order the starter started with its attributes set needs no
// upsert for its first stage, which saves an event.
func (w *terminationOrder) upsertSearchAttributes(ctx workflow.Context) {
	current := workflow.GetTypedSearchAttributes(ctx)
	var updates []temporal.SearchAttributeUpdate
	setKeyword := func(key temporal.SearchAttributeKeyKeyword, value string) {
		if got, ok := current.GetKeyword(key); !ok || got != value {
			updates = append(updates, key.ValueSet(value))
		}
	}
	setKeyword(StageKey, string(w.status.Stage))
	// Input that failed validation is not indexed: it may be anything.
	if w.status.Stage != order.StageFailed {
		setKeyword(AccountIDKey, w.order.AccountID)
		setKeyword(SubscriptionIDKey, w.order.SubscriptionID)
	}
	if !w.status.ReopenDeadline.IsZero() {
		if got, ok := current.GetTime(ReopenDeadlineKey); !ok || !got.Equal(w.status.ReopenDeadline) {
			updates = append(updates, ReopenDeadlineKey.ValueSet(w.status.ReopenDeadline))
		}
	}
	if len(updates) == 0 {
		return
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, updates...); err != nil {
		w.logger.Error("Search attributes not updated", "Stage", w.status.Stage, "Error", err)
	}
}

// record stores a timeline entry where the order details page reads it.
func (w *terminationOrder) record(ctx workflow.Context, entry order.TimelineEntry) {
	if order.CheckOrderID(w.order.OrderID) != nil {
		return // no valid order ID, no order page to show the message on
	}
	w.writes++
	defer func() { w.writes-- }()
	// A message, once decided, is stored even if the workflow is being cancelled.
	ctx, _ = workflow.NewDisconnectedContext(ctx)
	change := activities.StatusChange{OrderID: w.order.OrderID, Entry: entry}
	err := workflow.ExecuteLocalActivity(workflow.WithLocalActivityOptions(ctx, statusWriteLocalOptions),
		activities.RecordStatusName, change).Get(ctx, nil)
	if err != nil && !isPermanent(err) {
		w.logger.Warn("Status write failing; handing it to a regular activity", "Seq", entry.Seq, "Error", err)
		err = workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, statusWriteFallbackOptions),
			activities.RecordStatusName, change).Get(ctx, nil)
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
	if s.Stage == order.StageFailed {
		return "**Failed**: the order's input breaks the contract. " + s.StatusMessage
	}
	d := fmt.Sprintf("**%s** (order %s) · AWS account %s · subscription %s\n\n%s",
		s.Stage, s.OrderID, s.AccountID, s.SubscriptionID, s.StatusMessage)
	if !s.ClosedAt.IsZero() {
		d += fmt.Sprintf("\n\nClosed %s by %s (ref. %s) · reopen deadline %s",
			order.FormatTime(s.ClosedAt), w.unlink.CompletedBy, w.unlink.Reference, order.FormatTime(s.ReopenDeadline))
	}
	return d
}
