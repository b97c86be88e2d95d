// Package activities holds the termination order's side effects: writing each
// customer-facing status message to the status store an order page reads.
package activities

import (
	"context"
	"errors"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"

	"github.com/cloudmarket/termination-orders/order"
	"github.com/cloudmarket/termination-orders/store"
)

// RecordStatusName is the activity type of RecordStatus, as it appears in history.
const RecordStatusName = "RecordStatus"

// ErrTypeInvalidStatusMessage is the failure type of a status message the store
// can never accept; retrying it is pointless, so it is non-retryable.
const ErrTypeInvalidStatusMessage = "InvalidStatusMessage"

// StatusChange is the input of RecordStatus: one timeline entry of an order.
type StatusChange struct {
	OrderID string              `json:"orderId"`
	Entry   order.TimelineEntry `json:"entry"`
}

// StatusStore is where status messages go; *store.Store is the real one.
type StatusStore interface {
	Record(ctx context.Context, m store.Message) (inserted bool, err error)
}

// Activities holds what the activities need. Register it with Register.
type Activities struct {
	Store StatusStore
}

// Register registers the activities under their contract names.
func Register(r worker.ActivityRegistry, a *Activities) {
	r.RegisterActivityWithOptions(a.RecordStatus, activity.RegisterOptions{Name: RecordStatusName})
}

// RecordStatus writes a status message where the order details page reads it.
// It is idempotent: the workflow run and the entry's sequence number identify
// the message, so a retry after a timeout whose first write landed stores nothing new.
func (a *Activities) RecordStatus(ctx context.Context, in StatusChange) error {
	info := activity.GetInfo(ctx)
	logger := log.With(activity.GetLogger(ctx), "OrderID", in.OrderID, "Seq", in.Entry.Seq, "Stage", in.Entry.Stage)
	m := store.Message{
		OrderID:     in.OrderID,
		RunID:       info.WorkflowExecution.RunID,
		Seq:         in.Entry.Seq,
		Stage:       in.Entry.Stage,
		OrderStatus: in.Entry.Stage.OrderStatus(),
		Text:        in.Entry.Message,
		OccurredAt:  in.Entry.Time,
	}
	inserted, err := a.Store.Record(ctx, m)
	if errors.Is(err, store.ErrInvalidMessage) {
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeInvalidStatusMessage, err)
	}
	if err != nil {
		return err
	}
	if !inserted {
		logger.Info("Status message already stored; retry changed nothing")
		return nil
	}
	logger.Info("Status message stored")
	return nil
}
