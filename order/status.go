package order

import (
	"fmt"
	"time"
)

// Status is what the order details page and the status query show.
type Status struct {
	OrderID        string      `json:"orderId"`
	SubscriptionID string      `json:"subscriptionId,omitempty"`
	AccountID      string      `json:"accountId,omitempty"`
	Stage          Stage       `json:"stage"`
	OrderStatus    OrderStatus `json:"orderStatus"`
	// StatusMessage is the latest customer-facing message.
	StatusMessage  string    `json:"statusMessage"`
	ClosedAt       time.Time `json:"closedAt,omitzero"`
	ReopenDeadline time.Time `json:"reopenDeadline,omitzero"`
	// Timeline holds every status change, oldest first.
	Timeline []TimelineEntry `json:"timeline"`
}

// TimelineEntry is one status change. Seq numbers the entries of an order from 1;
// with the workflow run it identifies the change for idempotent writes.
type TimelineEntry struct {
	Seq     int       `json:"seq"`
	Time    time.Time `json:"time"`
	Stage   Stage     `json:"stage"`
	Message string    `json:"message"`
}

// NewStatus is the status of an order before its first stage.
func NewStatus(o Order) Status {
	return Status{OrderID: o.OrderID, SubscriptionID: o.SubscriptionID, AccountID: o.AccountID, Timeline: []TimelineEntry{}}
}

// Enter moves the order to stage at the given time with the given customer
// message, and returns the timeline entry that records the change.
func (s *Status) Enter(stage Stage, at time.Time, message string) TimelineEntry {
	entry := TimelineEntry{Seq: len(s.Timeline) + 1, Time: at, Stage: stage, Message: message}
	s.Stage = stage
	s.OrderStatus = stage.OrderStatus()
	s.StatusMessage = message
	s.Timeline = append(s.Timeline, entry)
	return entry
}

// EnteredAt is when the order entered its current stage.
func (s Status) EnteredAt() time.Time {
	if len(s.Timeline) == 0 {
		return time.Time{}
	}
	return s.Timeline[len(s.Timeline)-1].Time
}

// CheckReopen says whether the account can be reopened now, and if not, why.
func (s Status) CheckReopen(now time.Time) error {
	switch s.Stage {
	case StagePostClosure:
		if !now.Before(s.ReopenDeadline) {
			return fmt.Errorf("the post-closure period of AWS account %s ended on %s: the account is closed for good and can no longer be reopened",
				s.AccountID, FormatTime(s.ReopenDeadline))
		}
		return nil
	case StageAwaitingUnlink:
		return fmt.Errorf("AWS account %s has not been closed yet (the order is awaiting the unlink), so there is nothing to reopen; cancel the order instead", s.AccountID)
	case StageReopened:
		return fmt.Errorf("AWS account %s was already reopened on %s", s.AccountID, FormatTime(s.EnteredAt()))
	case StagePermanentlyClosed:
		return fmt.Errorf("AWS account %s has been closed for good since %s, when its post-closure period ended; it can no longer be reopened",
			s.AccountID, FormatTime(s.ReopenDeadline))
	case StageCancelled:
		return fmt.Errorf("the order was cancelled on %s and AWS account %s was never closed, so there is nothing to reopen", FormatTime(s.EnteredAt()), s.AccountID)
	default:
		return fmt.Errorf("the order failed and AWS account %s was never closed, so there is nothing to reopen", s.AccountID)
	}
}

// CheckCancel says whether the order can be cancelled now, and if not, why.
func (s Status) CheckCancel() error {
	switch s.Stage {
	case StageAwaitingUnlink:
		return nil
	case StagePostClosure:
		return fmt.Errorf("AWS account %s was already unlinked and closed on %s, so the order can no longer be cancelled; reopen the account before %s instead",
			s.AccountID, FormatTime(s.ClosedAt), FormatTime(s.ReopenDeadline))
	case StageCancelled:
		return fmt.Errorf("the order was already cancelled on %s", FormatTime(s.EnteredAt()))
	default:
		return fmt.Errorf("the order can no longer be cancelled: it is %s since %s", s.Stage, FormatTime(s.EnteredAt()))
	}
}

// FormatTime renders a time the way status messages show it: exact and in UTC.
func FormatTime(t time.Time) string {
	return t.UTC().Format("2 January 2006, 15:04:05 UTC")
}
