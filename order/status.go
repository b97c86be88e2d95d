package order

import (
	"fmt"
	"slices"
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
	// AWS is what AWS Organizations last answered about the account, newest
	// last (at most MaxAWSChecks); empty when the order does not ask AWS.
	AWS []AWSCheck `json:"aws,omitempty"`
}

// TimelineEntry is one status change. Seq numbers the entries of an order from 1;
// with the workflow run it identifies the change for idempotent writes.
type TimelineEntry struct {
	Seq     int       `json:"seq"`
	Time    time.Time `json:"time"`
	Stage   Stage     `json:"stage"`
	Message string    `json:"message"`
	// RequestID is the request ID of the unlink, reopen or cancel that made
	// this change, if its caller gave one.
	RequestID string `json:"requestId,omitempty"`
	// AWS is AWS Organizations' answer this change rests on, if it rests on one.
	AWS *AWSCheck `json:"aws,omitempty"`
}

// NewStatus is the status of an order before its first stage.
func NewStatus(o Order) Status {
	return Status{OrderID: o.OrderID, SubscriptionID: o.SubscriptionID, AccountID: o.AccountID, Timeline: []TimelineEntry{}}
}

// Enter moves the order to stage at the given time with the given customer
// message, and returns the timeline entry that records the change.
func (s *Status) Enter(stage Stage, at time.Time, message string) TimelineEntry {
	return s.EnterFor("", stage, at, message)
}

// EnterFor is Enter for a change made by a request with the given request ID
// ("" for none), which the entry keeps.
func (s *Status) EnterFor(requestID string, stage Stage, at time.Time, message string) TimelineEntry {
	entry := TimelineEntry{Seq: len(s.Timeline) + 1, Time: at, Stage: stage, Message: message, RequestID: requestID}
	s.Stage = stage
	s.OrderStatus = stage.OrderStatus()
	s.StatusMessage = message
	s.Timeline = append(s.Timeline, entry)
	return entry
}

// Restamp gives the timeline entry with seq the time and message the status
// store holds for it: the store keeps the first write of a message, and when
// a step was decided again (its workflow task ran twice after a worker died)
// every place that shows the message shows that first write.
func (s *Status) Restamp(stored TimelineEntry) {
	i := stored.Seq - 1
	if i < 0 || i >= len(s.Timeline) {
		return
	}
	s.Timeline[i].Time, s.Timeline[i].Message = stored.Time, stored.Message
	if i == len(s.Timeline)-1 {
		s.StatusMessage = stored.Message
	}
}

// EnteredAt is when the order entered its current stage.
func (s Status) EnteredAt() time.Time {
	if len(s.Timeline) == 0 {
		return time.Time{}
	}
	// A stage can have more than one message (the last warning of the
	// post-closure period): it was entered with the first of them.
	i := len(s.Timeline) - 1
	for i > 0 && s.Timeline[i-1].Stage == s.Stage {
		i--
	}
	return s.Timeline[i].Time
}

// Applied returns the timeline entry of the change that the request with this
// ID made, if it made one: a retried request is answered from it.
func (s Status) Applied(requestID string) (TimelineEntry, bool) {
	if requestID == "" {
		return TimelineEntry{}, false
	}
	for _, e := range s.Timeline {
		if e.RequestID == requestID {
			return e, true
		}
	}
	return TimelineEntry{}, false
}

// RefusalKind classifies why a request is refused. The values are part of the
// wire contract: they are the failure type of a rejected update.
type RefusalKind string

// The kinds of refusal.
const (
	// RefusedByStage: the order's stage does not allow the request.
	RefusedByStage RefusalKind = "RejectedByStage"
	// RefusedClosedForGood: the account's post-closure period is over; it can
	// never be reopened.
	RefusedClosedForGood RefusalKind = "ClosedForGood"
	// RefusedAlreadyUnlinked: the unlink was reported before; nothing changed.
	RefusedAlreadyUnlinked RefusalKind = "AlreadyUnlinked"
	// RefusedNotAcceptedYet: the order is still being accepted (its
	// acceptance waits for the status store); nothing changed, ask again shortly.
	RefusedNotAcceptedYet RefusalKind = "NotAcceptedYet"
	// RefusedRequestIDReused: the request ID was already used by a different
	// kind of request on this order.
	RefusedRequestIDReused RefusalKind = "RequestIDReused"
	// RefusedAWSAccountActive: an unlink was reported while AWS reports the
	// account ACTIVE (AWS Organizations' verify mode); nothing changed.
	RefusedAWSAccountActive RefusalKind = "AWSAccountActive"
)

// NotAcceptedYet is the refusal of a request that reaches an order before its
// acceptance step has decided.
func NotAcceptedYet(orderID string) *Refusal {
	return refuse(RefusedNotAcceptedYet, "order %s is still being accepted (its acceptance waits for the status store to confirm the order ID was never used); nothing changed, ask again shortly", orderID)
}

// CheckRequestID refuses a request whose ID already made a change of another
// kind (one that entered a stage other than want) on this order. It returns
// the entry the ID made, if it made want's change.
func (s Status) CheckRequestID(requestID string, want Stage) (TimelineEntry, bool, error) {
	e, ok := s.Applied(requestID)
	if !ok {
		return TimelineEntry{}, false, nil
	}
	if e.Stage != want {
		return TimelineEntry{}, false, refuse(RefusedRequestIDReused, "request ID %s was already used on this order for the change to %s on %s; use a new request ID", requestID, e.Stage, FormatTime(e.Time))
	}
	return e, true, nil
}

// CheckCloseTime refuses a close time before the order was placed (allowing
// for clock skew): Operations close the account in answer to the order.
func (s Status) CheckCloseTime(closedAt time.Time) error {
	if len(s.Timeline) == 0 {
		return nil
	}
	placed := s.Timeline[0].Time
	if closedAt.Before(placed.Add(-ClockSkew)) {
		var c checker
		c.fail("completedAt", "must not be before the order was placed (%s), got %s", FormatTime(placed), closedAt.UTC().Format(time.RFC3339))
		return c.err("unlink-completed report")
	}
	return nil
}

// Refusal is a request the order's stage does not allow, and why.
type Refusal struct {
	Kind RefusalKind
	// Reason is for the person who asked.
	Reason string
}

func (r *Refusal) Error() string { return r.Reason }

func refuse(kind RefusalKind, format string, args ...any) *Refusal {
	return &Refusal{Kind: kind, Reason: fmt.Sprintf(format, args...)}
}

// The Check methods say whether a request can be taken now; if not, the
// error is a *Refusal saying why.

// CheckUnlink says whether Operations' unlink report can be taken now, and if
// not, why.
func (s Status) CheckUnlink() error {
	switch s.Stage {
	case StageAwaitingUnlink:
		return nil
	case StageClosing:
		return refuse(RefusedAlreadyUnlinked, "AWS account %s was reported ready to close on %s and AWS is closing it; nothing changed",
			s.AccountID, FormatTime(s.EnteredAt()))
	case StagePostClosure, StageReopened, StagePermanentlyClosed:
		return refuse(RefusedAlreadyUnlinked, "AWS account %s was reported unlinked and closed on %s (the order is %s); nothing changed",
			s.AccountID, FormatTime(s.ClosedAt), s.Stage)
	case StageCancelled:
		return refuse(RefusedByStage, "the order was cancelled on %s, so AWS account %s must not be closed; there is no unlink to report",
			FormatTime(s.EnteredAt()), s.AccountID)
	default:
		return refuse(RefusedByStage, "the order is %s since %s; there is no unlink to report", s.Stage, FormatTime(s.EnteredAt()))
	}
}

// CheckReopen says whether the account can be reopened now, and if not, why.
func (s Status) CheckReopen(now time.Time) error {
	switch s.Stage {
	case StagePostClosure:
		if !now.Before(s.ReopenDeadline) {
			return refuse(RefusedClosedForGood, "the post-closure period of AWS account %s ended on %s: the account is closed for good and can no longer be reopened",
				s.AccountID, FormatTime(s.ReopenDeadline))
		}
		return nil
	case StageAwaitingUnlink:
		return refuse(RefusedByStage, "AWS account %s has not been closed yet (the order is awaiting the unlink), so there is nothing to reopen; cancel the order instead", s.AccountID)
	case StageClosing:
		return refuse(RefusedByStage, "AWS is closing account %s since %s; it can be reopened once it is closed", s.AccountID, FormatTime(s.EnteredAt()))
	case StageReopened:
		return refuse(RefusedByStage, "AWS account %s was already reopened on %s", s.AccountID, FormatTime(s.EnteredAt()))
	case StagePermanentlyClosed:
		return refuse(RefusedClosedForGood, "AWS account %s has been closed for good since %s, when its post-closure period ended; it can no longer be reopened",
			s.AccountID, FormatTime(s.ReopenDeadline))
	case StageCancelled:
		return refuse(RefusedByStage, "the order was cancelled on %s and AWS account %s was never closed, so there is nothing to reopen", FormatTime(s.EnteredAt()), s.AccountID)
	default:
		return refuse(RefusedByStage, "the order failed and AWS account %s was never closed, so there is nothing to reopen", s.AccountID)
	}
}

// CheckCancel says whether the order can be cancelled now, and if not, why.
func (s Status) CheckCancel() error {
	switch s.Stage {
	case StageAwaitingUnlink:
		return nil
	case StagePostClosure:
		return refuse(RefusedByStage, "AWS account %s was already unlinked and closed on %s, so the order can no longer be cancelled; reopen the account before %s instead",
			s.AccountID, FormatTime(s.ClosedAt), FormatTime(s.ReopenDeadline))
	case StageCancelled:
		return refuse(RefusedByStage, "the order was already cancelled on %s", FormatTime(s.EnteredAt()))
	default:
		return refuse(RefusedByStage, "the order can no longer be cancelled: it is %s since %s", s.Stage, FormatTime(s.EnteredAt()))
	}
}

// FormatTime renders a time the way status messages show it: exact and in UTC.
func FormatTime(t time.Time) string {
	return t.UTC().Format("2 January 2006, 15:04:05 UTC")
}

// Facts are what an order's status holds beside its stage and timeline: the
// account it is for, its close time and reopen deadline, and AWS's answers.
// The status store keeps them with each status message, as that change left
// them, so that the status reads without the order's workflow.
type Facts struct {
	AccountID      string     `json:"accountId,omitempty"`
	SubscriptionID string     `json:"subscriptionId,omitempty"`
	ClosedAt       time.Time  `json:"closedAt,omitzero"`
	ReopenDeadline time.Time  `json:"reopenDeadline,omitzero"`
	AWS            []AWSCheck `json:"aws,omitempty"`
}

// Facts returns the status's facts, sharing nothing with it.
func (s Status) Facts() Facts {
	return Facts{
		AccountID: s.AccountID, SubscriptionID: s.SubscriptionID,
		ClosedAt: s.ClosedAt, ReopenDeadline: s.ReopenDeadline, AWS: slices.Clone(s.AWS),
	}
}

// StatusFrom rebuilds the status of order orderID from its timeline (oldest
// first) and the facts its latest change left: the stage, order status and
// message are the latest entry's.
func StatusFrom(orderID string, timeline []TimelineEntry, f Facts) Status {
	s := Status{
		OrderID: orderID, SubscriptionID: f.SubscriptionID, AccountID: f.AccountID,
		ClosedAt: f.ClosedAt, ReopenDeadline: f.ReopenDeadline, AWS: slices.Clone(f.AWS),
		Timeline: slices.Clone(timeline),
	}
	if s.Timeline == nil {
		s.Timeline = []TimelineEntry{}
	}
	if n := len(s.Timeline); n > 0 {
		last := s.Timeline[n-1]
		s.Stage, s.OrderStatus, s.StatusMessage = last.Stage, last.Stage.OrderStatus(), last.Message
	}
	return s
}
