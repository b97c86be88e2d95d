// Package activities holds the termination order's side effects and the
// decisions that depend on the worker's rules and policy: accepting an order,
// deciding an unlink report that came as a raw signal, and writing each
// customer-facing status message to the status store an order page reads.
//
// A decision made here is recorded in the order's history (as a local
// activity's result), so a later change of rules or policy never changes what
// an order already decided.
package activities

import (
	"context"
	"errors"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"

	"github.com/cloudmarket/termination-orders/awsorg"
	"github.com/cloudmarket/termination-orders/order"
	"github.com/cloudmarket/termination-orders/store"
)

// Activity types, as they appear in history.
const (
	RecordStatusName       = "RecordStatus"
	AcceptOrderName        = "AcceptOrder"
	DecideUnlinkSignalName = "DecideUnlinkSignal"
)

// ErrTypeInvalidStatusMessage is the failure type of a status message the store
// can never accept; retrying it is pointless, so it is non-retryable.
const ErrTypeInvalidStatusMessage = "InvalidStatusMessage"

// StatusChange is the input of RecordStatus: one timeline entry of an order.
type StatusChange struct {
	OrderID string `json:"orderId"`
	// RunKey identifies the order's life in the store: the workflow's original
	// run ID, which a reset keeps, so a message re-decided after a reset is
	// stored once.
	RunKey string              `json:"runKey"`
	Entry  order.TimelineEntry `json:"entry"`
	// Facts are the order's facts as the change left them, which the store
	// keeps with the message so that the order's status reads without the
	// workflow. Nil in changes decided by workers before release 1.3.
	Facts *order.Facts `json:"facts,omitempty"`
	// Subject and Announce are the notifications that go with the message
	// once it is stored: the marketplace's status event and any work item for
	// Operations. A nil Subject tells nobody.
	Subject  *Subject       `json:"subject,omitempty"`
	Announce []Announcement `json:"announce,omitempty"`
}

// StatusStore is where status messages go; *store.Store is the real one.
type StatusStore interface {
	Record(ctx context.Context, m store.Message) (inserted bool, err error)
	// Message returns the message stored for an order's life and sequence number.
	Message(ctx context.Context, orderID, runKey string, seq int) (store.Message, error)
	// PriorLife returns the latest message of the order written by another
	// life than runKey in a stage other than Failed, if there is one.
	PriorLife(ctx context.Context, orderID, runKey string) (store.Message, bool, error)
	// Claim claims an AWS account for an order's life: nil when the claim is
	// that life's, an *order.AccountRefusal naming the claim in its way.
	// Record ends the claim when it stores the order's final message.
	Claim(ctx context.Context, c order.Claim) error
	// ReleaseAbandoned ends the claim of an order that stopped while it
	// awaited the unlink, and reports whether it did.
	ReleaseAbandoned(ctx context.Context, c order.Claim, at time.Time) (bool, error)
}

// WorkflowRuns tells whether an order's workflow still runs.
type WorkflowRuns interface {
	Running(ctx context.Context, workflowID string) (bool, error)
}

// SignalTimes finds when the server received a signal: the time of the
// ordinal-th signal of that name (counting from 1) in a workflow run's history.
type SignalTimes interface {
	SignalTime(ctx context.Context, workflowID, runID, signalName string, ordinal int) (time.Time, error)
}

// Policy is the worker's configuration that orders take on when accepted.
type Policy struct {
	// ReopenWindow is the post-closure period of an order that does not set
	// its own; zero means order.DefaultReopenWindow.
	ReopenWindow time.Duration
	// Notify is when people are told what about an order.
	Notify NotifyPolicy
	// AWS is how orders use AWS Organizations.
	AWS AWSPolicy
}

// NotifyPolicy is the timing of an order's notifications, fixed when the
// order is accepted.
type NotifyPolicy struct {
	// UnlinkSLA is how long Operations have to unlink the account before the
	// order is escalated; zero for no SLA.
	UnlinkSLA time.Duration `json:"unlinkSla,omitempty"`
	// ReminderInterval and MaxReminders space and bound the reminders after
	// the escalation.
	ReminderInterval time.Duration `json:"reminderInterval,omitempty"`
	MaxReminders     int           `json:"maxReminders,omitempty"`
	// LastWarning is how long before the reopen deadline the customer is
	// warned; zero for no warning, and none when the window is not longer.
	LastWarning time.Duration `json:"lastWarning,omitempty"`
	// GiveUpAfter bounds how long a failed notification is retried.
	GiveUpAfter time.Duration `json:"giveUpAfter,omitempty"`
}

// Activities holds what the activities need. Register it with Register.
type Activities struct {
	Store  StatusStore
	Policy Policy
	// Signals finds the server's receive time of a raw unlink signal that
	// states no close time; nil uses the time the decision is made.
	Signals SignalTimes
	// Runs tells whether the order holding an account still runs, so that an
	// order terminated before its unlink does not hold its account forever;
	// nil leaves every claim to its order.
	Runs WorkflowRuns
	// Now is the clock of the rules' "not in the future" checks; nil is time.Now.
	Now func() time.Time
	// AWS is AWS Organizations, for orders accepted in an AWS mode; nil for a
	// worker whose mode is off.
	AWS awsorg.Organizations
	// Priorities lowers an order's task priority once it rests in its reopen
	// window; nil leaves every order at the default.
	Priorities WorkflowPriorities
	// Notifier sends notifications; nil notifies nobody.
	Notifier Notifier
	// Links is what notifications link to.
	Links Links
}

// Register registers the activities under their contract names.
func Register(r worker.ActivityRegistry, a *Activities) {
	r.RegisterActivityWithOptions(a.RecordStatus, activity.RegisterOptions{Name: RecordStatusName})
	r.RegisterActivityWithOptions(a.AcceptOrder, activity.RegisterOptions{Name: AcceptOrderName})
	r.RegisterActivityWithOptions(a.DecideUnlinkSignal, activity.RegisterOptions{Name: DecideUnlinkSignalName})
	r.RegisterActivityWithOptions(a.Notify, activity.RegisterOptions{Name: NotifyName})
	r.RegisterActivityWithOptions(a.Deliver, activity.RegisterOptions{Name: DeliverName})
	r.RegisterActivityWithOptions(a.CheckAWSAccount, activity.RegisterOptions{Name: CheckAWSAccountName})
}

// RegisterClose registers CloseAWSAccount, the one activity of the close task
// queue.
func RegisterClose(r worker.ActivityRegistry, a *Activities) {
	r.RegisterActivityWithOptions(a.CloseAWSAccount, activity.RegisterOptions{Name: CloseAWSAccountName})
}

func (a *Activities) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// Recorded is the result of RecordStatus: what was not delivered, and the
// message as the store holds it when that differs from the one given.
type Recorded struct {
	Sent
	// Stored is set when the store already held the message with another time
	// or text: an earlier attempt of the same step wrote it, in a workflow
	// task that never completed (its worker died). The order adopts it, so
	// the message has one time everywhere.
	Stored *order.TimelineEntry `json:"stored,omitempty"`
}

// RecordStatus writes a status message where the order details page reads it,
// then sends the notifications that go with it (see announce).
// It is idempotent: the order's life (RunKey) and the entry's sequence number
// identify the message, so a retry whose first write landed stores nothing
// new, and the message and its notifications carry what the first write
// stored; a notification sent again has the same event ID.
func (a *Activities) RecordStatus(ctx context.Context, in StatusChange) (Recorded, error) {
	stored, err := a.store(ctx, in)
	if err != nil {
		return Recorded{}, err
	}
	rec := Recorded{Stored: stored}
	if stored != nil {
		in.Entry = *stored
		for i := range in.Announce {
			if e := in.Announce[i].Entry; e != nil && e.Seq == stored.Seq {
				in.Announce[i].Entry = stored
			}
		}
	}
	if in.Subject != nil {
		rec.Sent = a.announce(ctx, *in.Subject, in.Announce)
	}
	a.rest(ctx, in)
	return rec, nil
}

// rest lowers the task priority of an order whose message says it rests in
// its reopen window (PriorityResting). It only orders the server's queues,
// so a failure is logged, never retried at the cost of the message.
func (a *Activities) rest(ctx context.Context, in StatusChange) {
	if a.Priorities == nil || in.Entry.Stage != order.StagePostClosure {
		return
	}
	info := activity.GetInfo(ctx)
	if err := a.Priorities.SetPriority(ctx, info.Namespace, info.WorkflowExecution.ID, info.WorkflowExecution.RunID, PriorityResting); err != nil {
		activity.GetLogger(ctx).Warn("Order's task priority not lowered for its reopen window", "OrderID", in.OrderID, "Error", err)
	}
}

// store writes the message, and returns the stored one when an earlier write
// stored it differently.
func (a *Activities) store(ctx context.Context, in StatusChange) (*order.TimelineEntry, error) {
	logger := log.With(activity.GetLogger(ctx), "OrderID", in.OrderID, "Seq", in.Entry.Seq, "Stage", in.Entry.Stage)
	runKey := in.RunKey
	if runKey == "" {
		return nil, temporal.NewNonRetryableApplicationError("status change without a runKey", ErrTypeInvalidStatusMessage, nil)
	}
	m := store.Message{
		OrderID:     in.OrderID,
		RunID:       runKey,
		Seq:         in.Entry.Seq,
		Stage:       in.Entry.Stage,
		OrderStatus: in.Entry.Stage.OrderStatus(),
		Text:        in.Entry.Message,
		OccurredAt:  in.Entry.Time,
		RequestID:   in.Entry.RequestID,
		AWS:         in.Entry.AWS,
		Facts:       in.Facts,
	}
	inserted, err := a.Store.Record(ctx, m)
	if errors.Is(err, store.ErrInvalidMessage) {
		return nil, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeInvalidStatusMessage, err)
	}
	if err != nil {
		return nil, err
	}
	if inserted {
		logger.Info("Status message stored")
		return nil, nil
	}
	first, err := a.Store.Message(ctx, in.OrderID, runKey, in.Entry.Seq)
	if err != nil {
		return nil, err
	}
	if first.Stage != m.Stage {
		// Not a retry of the same step: nothing to adopt; the store keeps its own.
		logger.Error("Status message already stored with another stage", "StoredStage", first.Stage)
		return nil, nil
	}
	if first.OccurredAt.Equal(m.OccurredAt.Truncate(time.Microsecond)) && first.Text == m.Text {
		logger.Info("Status message already stored; retry changed nothing")
		return nil, nil
	}
	logger.Warn("Status message already stored by an earlier attempt; the order takes its time and text",
		"StoredTime", first.OccurredAt, "DecidedTime", m.OccurredAt)
	entry := in.Entry
	entry.Time, entry.Message = first.OccurredAt, first.Text
	return &entry, nil
}
