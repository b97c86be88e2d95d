package workflows

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/cloudmarket/termination-orders/activities"
	"github.com/cloudmarket/termination-orders/order"
)

// The steps with side effects (the acceptance step, a signal's decision, a
// status write) are short, so each first runs as a local activity inside the
// workflow task: one marker in history instead of three activity events. A
// workflow task waits for its local activities, and a query or an update is
// answered only between tasks, so a local activity gets a few seconds; if it
// has not succeeded by then (a store outage), the step goes to a regular
// activity, which the server retries without limit and without growing the
// history, while queries and updates are answered. Only a message the store
// can never accept is not retried.
var (
	localStepOptions = workflow.LocalActivityOptions{
		StartToCloseTimeout:    2 * time.Second,
		ScheduleToCloseTimeout: 3 * time.Second, // unset, it would default to StartToCloseTimeout
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        250 * time.Millisecond,
			BackoffCoefficient:     2,
			MaximumInterval:        time.Second,
			NonRetryableErrorTypes: []string{activities.ErrTypeInvalidStatusMessage},
		},
	}
	fallbackStepOptions = workflow.ActivityOptions{
		StartToCloseTimeout: 10 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    time.Second,
			BackoffCoefficient: 2,
			// Bounds how long a step waits after the store is back.
			MaximumInterval:        30 * time.Second,
			NonRetryableErrorTypes: []string{activities.ErrTypeInvalidStatusMessage},
		},
	}
)

// decide runs one step: as a local activity, then, if that keeps failing, as
// a regular activity. onSlow, if set, is called when it falls back.
func (w *terminationOrder) decide(ctx workflow.Context, name string, in, out any, onSlow func()) error {
	// A step, once started, completes even if the workflow is being cancelled.
	ctx, _ = workflow.NewDisconnectedContext(ctx)
	err := workflow.ExecuteLocalActivity(workflow.WithLocalActivityOptions(ctx, localStepOptions), name, in).Get(ctx, out)
	if err != nil && !isPermanent(err) {
		if onSlow != nil {
			onSlow()
		}
		w.logger.Warn("Step failing; handing it to a regular activity", "Activity", name, "Error", err)
		err = workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, fallbackStepOptions), name, in).Get(ctx, out)
	}
	return err
}

func isPermanent(err error) bool {
	var appErr *temporal.ApplicationError
	return errors.As(err, &appErr) && appErr.Type() == activities.ErrTypeInvalidStatusMessage
}

// queuedEntry is a status message decided and not yet written.
type queuedEntry struct {
	entry order.TimelineEntry
	// afterCommit: the decision came from an update, which is in history only
	// once this workflow task completes; its message is written by a regular
	// activity, which the server runs only after that.
	afterCommit bool
	// announce is what goes with the message: the marketplace's status event
	// and any work item for Operations.
	announce []activities.Announcement
	// facts are the order's facts as the change left them, stored with the
	// message so that the status reads without the workflow.
	facts order.Facts
}

// enter moves the order to a stage and queues its new status message for the
// writer, with what goes with it: the marketplace's status event and the work
// items given. The order goes on at once; the writer stores it behind.
func (w *terminationOrder) enter(ctx workflow.Context, stage order.Stage, message, requestID string, workItems ...activities.Announcement) {
	entry := w.transition(ctx, stage, message, requestID)
	w.queue(entry, append([]activities.Announcement{{Kind: order.NoticeStatus, Entry: &entry}}, workItems...))
}

// queue hands a status message to the writer with what is announced with it
// (nil: nobody is told).
func (w *terminationOrder) queue(entry order.TimelineEntry, announce []activities.Announcement) {
	w.queued = append(w.queued, queuedEntry{entry: entry, afterCommit: w.byUpdate, announce: announce, facts: w.status.Facts()})
}

// writeQueued writes the queued status messages, one at a time, in order.
func (w *terminationOrder) writeQueued(ctx workflow.Context) {
	for {
		_ = workflow.Await(ctx, func() bool { return len(w.queued) > 0 })
		q := w.queued[0]
		w.queued = w.queued[1:]
		w.record(ctx, q)
	}
}

// record stores a timeline entry where the order details page reads it, and
// sends what goes with it.
func (w *terminationOrder) record(ctx workflow.Context, q queuedEntry) {
	if w.owner == "" {
		return // nothing written for a start may land on an order it does not own
	}
	w.writes++
	defer func() { w.writes-- }()
	entry := q.entry
	change := activities.StatusChange{OrderID: w.owner, RunKey: w.runKey, Entry: entry, Facts: &q.facts}
	if len(q.announce) > 0 {
		change.Subject, change.Announce = w.subject(), q.announce
	}
	var (
		rec activities.Recorded
		err error
	)
	if q.afterCommit {
		ctx, _ := workflow.NewDisconnectedContext(ctx)
		err = workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, fallbackStepOptions), activities.RecordStatusName, change).Get(ctx, &rec)
	} else {
		err = w.decide(ctx, activities.RecordStatusName, change, &rec, nil)
	}
	if rec.Stored != nil {
		// An earlier attempt of this step, in a task that never completed,
		// stored the message first: the order shows what the store holds.
		w.status.Restamp(*rec.Stored)
		workflow.SetCurrentDetails(ctx, w.details())
	}
	w.redeliver(ctx, rec.Sent)
	if err != nil {
		// Only a message the store can never accept gets here; the order's life
		// goes on and the message stays readable through the status query.
		w.logger.Error("Status message not stored", "Seq", entry.Seq, "Stage", entry.Stage, "Error", err)
	}
}

// awaitQuiet waits for status writes and update handlers still running, so the
// workflow never ends with a message unstored or an update unanswered.
func (w *terminationOrder) awaitQuiet(ctx workflow.Context) {
	_ = workflow.Await(ctx, func() bool {
		return w.writes == 0 && len(w.queued) == 0 && w.delivering == 0 && workflow.AllHandlersFinished(ctx)
	})
}

// transition changes the stage, the search attributes and the Web UI details at
// once, without blocking, and returns the timeline entry still to be stored.
func (w *terminationOrder) transition(ctx workflow.Context, stage order.Stage, message, requestID string) order.TimelineEntry {
	same := stage == w.status.Stage
	// To the microsecond, as the status store keeps it.
	entry := w.status.EnterFor(requestID, stage, workflow.Now(ctx).Truncate(time.Microsecond), message)
	if w.onAnswer != nil {
		entry.AWS = w.onAnswer
		w.status.Timeline[len(w.status.Timeline)-1].AWS = w.onAnswer
		w.onAnswer = nil
	}
	if !same {
		countStage(ctx, stage)
	}
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
	setTime := func(key temporal.SearchAttributeKeyTime, value time.Time) {
		if got, ok := current.GetTime(key); !value.IsZero() && (!ok || !got.Equal(value)) {
			updates = append(updates, key.ValueSet(value))
		}
	}
	setTime(ReopenDeadlineKey, w.status.ReopenDeadline)
	setTime(UnlinkDueByKey, w.unlinkDueBy)
	if len(updates) == 0 {
		return
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, updates...); err != nil {
		w.logger.Error("Search attributes not updated", "Stage", w.status.Stage, "Error", err)
	}
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
	return d + w.awsDetails() + w.notificationDetails()
}
