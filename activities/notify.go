package activities

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"

	"github.com/cloudmarket/termination-orders/notify"
	"github.com/cloudmarket/termination-orders/order"
)

// Activity types of the notifications, as they appear in history.
const (
	NotifyName  = "Notify"
	DeliverName = "Deliver"
)

// Failure types of a delivery that retrying cannot help.
const (
	// ErrTypeDeliveryRefused: the target answered with a permanent refusal
	// (an HTTP 4xx other than 408 and 429, an SMTP 5xx).
	ErrTypeDeliveryRefused = "DeliveryRefused"
	// ErrTypeTargetRemoved: the target is no longer configured.
	ErrTypeTargetRemoved = "TargetRemoved"
	// ErrTypeDeliveryFailed: the target asked to be tried again later
	// (Retry-After); retried.
	ErrTypeDeliveryFailed = "DeliveryFailed"
)

// MetricNotifications counts notification sends by audience and outcome
// (delivered, retrying, refused); the workflow adds given_up.
const MetricNotifications = "termination_notifications"

// Notifier is where notifications go; *notify.Notifier is the real one.
type Notifier interface {
	Targets(a notify.Audience) []notify.Target
	Target(a notify.Audience, name string) (notify.Target, bool)
}

// Links is what notifications link to: the Web UI and the namespace of the
// commands that confirm an unlink.
type Links struct {
	// WebUIURL is the Temporal Web UI's base URL; empty for no links.
	WebUIURL  string
	Namespace string
}

// Announcement is one thing that happened to an order that people must hear
// of. The workflow decides what happened; the activity writes the words, so a
// change of wording or of targets never touches history.
type Announcement struct {
	Kind string `json:"kind"`
	// Entry is the status message of an order.NoticeStatus announcement.
	Entry *order.TimelineEntry `json:"entry,omitempty"`
	// ClosedAt is when the account was closed (order.NoticeReopenRequested).
	ClosedAt time.Time `json:"closedAt,omitzero"`
	// Reopen and Cancel are the customer's requests.
	Reopen *order.Request `json:"reopen,omitempty"`
	Cancel *order.Request `json:"cancel,omitempty"`
	// OverdueSince, Reminder and Last describe an escalation (order.NoticeUnlinkOverdue).
	OverdueSince time.Time `json:"overdueSince,omitzero"`
	Reminder     int       `json:"reminder,omitempty"`
	Last         bool      `json:"last,omitempty"`
	// AWS is an order.NoticeAWSAttention work item.
	AWS *AWSAttention `json:"aws,omitempty"`
}

// AWSAttention is what Operations are to look at with AWS.
type AWSAttention struct {
	// Reason names the case; N numbers the order's work items of that reason.
	Reason string `json:"reason"`
	N      int    `json:"n"`
	// Subject and Detail are for the person who reads the work item.
	Subject string         `json:"subject"`
	Detail  string         `json:"detail"`
	Check   order.AWSCheck `json:"check"`
}

// Audience is who hears of the announcement.
func (a Announcement) Audience() notify.Audience {
	switch a.Kind {
	case order.NoticeStatus:
		return notify.Marketplace
	case order.NoticeUnlinkOverdue:
		return notify.Escalation
	default:
		return notify.Operations
	}
}

// Subject is the order an announcement is about.
type Subject struct {
	Order order.Order `json:"order"`
	// RunKey identifies the order's life (see StatusChange).
	RunKey      string    `json:"runKey"`
	UnlinkDueBy time.Time `json:"unlinkDueBy,omitzero"`
}

// NotifyInput is the input of Notify.
type NotifyInput struct {
	Subject       Subject        `json:"subject"`
	Announcements []Announcement `json:"announcements"`
}

// Delivery is one notice for one target that failed and is retried on its own.
type Delivery struct {
	Audience notify.Audience `json:"audience"`
	Target   string          `json:"target"`
	Notice   notify.Notice   `json:"notice"`
	// Error is why the first attempt failed.
	Error string `json:"error"`
	// NotBefore is when the target asked to be tried again (its Retry-After
	// to the first attempt); zero when it did not say.
	NotBefore time.Time `json:"notBefore,omitzero"`
}

// Sent is what Notify and RecordStatus report: the deliveries that failed
// and are to be retried one by one. A failed delivery never fails the step
// that sent it, so a target that is down holds up no message and no order.
type Sent struct {
	Undelivered []Delivery `json:"undelivered,omitempty"`
	// Refused lists the deliveries a target refused for good: they are not
	// retried, only reported.
	Refused []Delivery `json:"refused,omitempty"`
}

// Notify sends announcements to every target of their audiences.
func (a *Activities) Notify(ctx context.Context, in NotifyInput) (Sent, error) {
	return a.announce(ctx, in.Subject, in.Announcements), nil
}

// Deliver sends one notice to one target, as often as its retry policy
// allows: a refusal is final, a Retry-After answer sets the next attempt.
func (a *Activities) Deliver(ctx context.Context, d Delivery) error {
	logger := log.With(activity.GetLogger(ctx), "OrderID", d.Notice.OrderID, "Audience", d.Audience, "Target", d.Target, "EventID", d.Notice.ID)
	if wait := d.NotBefore.Sub(a.now()); wait > 0 {
		// The workflow runs Deliver as soon as the first attempt failed; the
		// target's Retry-After holds until then, without a request.
		logger.Info("Notification waits for the time its target asked for", "NotBefore", d.NotBefore)
		return temporal.NewApplicationErrorWithOptions(
			fmt.Sprintf("target %s asked to be tried again at %s", d.Target, d.NotBefore.UTC().Format(time.RFC3339Nano)),
			ErrTypeDeliveryFailed, temporal.ApplicationErrorOptions{NextRetryDelay: wait})
	}
	target, ok := a.notifier().Target(d.Audience, d.Target)
	if !ok {
		logger.Error("Notification dropped: its target is no longer configured")
		return temporal.NewNonRetryableApplicationError("target "+d.Target+" is no longer configured", ErrTypeTargetRemoved, nil)
	}
	err := target.Send(ctx, d.Notice)
	a.count(ctx, d.Audience, err)
	if err == nil {
		logger.Info("Notification delivered", "Kind", d.Notice.Kind, "Attempt", activity.GetInfo(ctx).Attempt)
		return nil
	}
	var de *notify.DeliveryError
	errors.As(err, &de)
	if notify.IsPermanent(err) {
		logger.Error("Notification refused by its target; not retried", "Error", err)
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeDeliveryRefused, err)
	}
	logger.Warn("Notification not delivered; will retry", "Error", err, "Attempt", activity.GetInfo(ctx).Attempt)
	if de != nil && de.RetryAfter > 0 {
		return temporal.NewApplicationErrorWithOptions(err.Error(), ErrTypeDeliveryFailed,
			temporal.ApplicationErrorOptions{Cause: err, NextRetryDelay: de.RetryAfter})
	}
	return err
}

// announce sends each announcement to every target of its audience at once,
// each send bounded so that the step that calls it keeps its deadline.
func (a *Activities) announce(ctx context.Context, s Subject, list []Announcement) Sent {
	if len(list) == 0 {
		return Sent{}
	}
	info := activity.GetInfo(ctx)
	logger := log.With(activity.GetLogger(ctx), "OrderID", s.Order.OrderID)
	o := notify.Order{
		Order: s.Order, RunKey: s.RunKey, UnlinkDueBy: s.UnlinkDueBy, Namespace: a.Links.Namespace,
		URL: notify.WebUIURL(a.Links.WebUIURL, a.Links.Namespace, info.WorkflowExecution.ID, info.WorkflowExecution.RunID),
	}
	sendCtx, cancel := context.WithCancel(ctx)
	if deadline, ok := ctx.Deadline(); ok {
		// Leave the step time to report what failed.
		cancel()
		sendCtx, cancel = context.WithDeadline(ctx, deadline.Add(-sendMargin(time.Until(deadline))))
	}
	defer cancel()

	var (
		mu      sync.Mutex
		failed  []Delivery
		refused []Delivery
		wg      sync.WaitGroup
	)
	for _, ann := range list {
		n, err := compose(o, ann)
		if err != nil {
			// A workflow bug, not a target's: no retry can help.
			logger.Error("Notification not composed", "Error", err)
			continue
		}
		aud := ann.Audience()
		for _, t := range a.notifier().Targets(aud) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := t.Send(sendCtx, n)
				a.count(ctx, aud, err)
				if err == nil {
					logger.Info("Notification delivered", "Audience", aud, "Target", t.Name(), "Kind", n.Kind, "EventID", n.ID)
					return
				}
				d := Delivery{Audience: aud, Target: t.Name(), Notice: n, Error: err.Error()}
				var de *notify.DeliveryError
				if errors.As(err, &de) && de.RetryAfter > 0 {
					d.NotBefore = a.now().Add(de.RetryAfter)
				}
				mu.Lock()
				defer mu.Unlock()
				if notify.IsPermanent(err) {
					logger.Error("Notification refused by its target; not retried", "Audience", aud, "Target", t.Name(), "Kind", n.Kind, "EventID", n.ID, "Error", err)
					refused = append(refused, d)
					return
				}
				logger.Warn("Notification not delivered; retried on its own", "Audience", aud, "Target", t.Name(), "Kind", n.Kind, "EventID", n.ID, "Error", err)
				failed = append(failed, d)
			}()
		}
	}
	wg.Wait()
	// Goroutines finish in any order; history must not depend on it.
	byID := func(a, b Delivery) int {
		return cmp.Or(cmp.Compare(a.Notice.ID, b.Notice.ID), cmp.Compare(a.Target, b.Target))
	}
	slices.SortFunc(failed, byID)
	slices.SortFunc(refused, byID)
	return Sent{Undelivered: failed, Refused: refused}
}

// sendMargin is the part of a step's remaining time kept for reporting.
func sendMargin(remaining time.Duration) time.Duration {
	return min(remaining/4, time.Second)
}

// compose writes the words of an announcement.
func compose(o notify.Order, a Announcement) (notify.Notice, error) {
	switch {
	case a.Kind == order.NoticeStatus && a.Entry != nil:
		return notify.StatusEvent(o, *a.Entry), nil
	case a.Kind == order.NoticeUnlinkRequested:
		return notify.UnlinkRequested(o), nil
	case a.Kind == order.NoticeUnlinkOverdue:
		return notify.UnlinkOverdue(o, a.OverdueSince, a.Reminder, a.Last), nil
	case a.Kind == order.NoticeReopenRequested && a.Reopen != nil:
		return notify.ReopenRequested(o, a.ClosedAt, *a.Reopen), nil
	case a.Kind == order.NoticeUnlinkCancelled && a.Cancel != nil:
		return notify.UnlinkCancelled(o, *a.Cancel), nil
	case a.Kind == order.NoticeAWSAttention && a.AWS != nil:
		return notify.AWSAttention(o, a.AWS.Reason, a.AWS.N, a.AWS.Subject, a.AWS.Detail, a.AWS.Check), nil
	}
	return notify.Notice{}, fmt.Errorf("announcement of kind %q without what it announces", a.Kind)
}

func (a *Activities) count(ctx context.Context, aud notify.Audience, err error) {
	outcome := "delivered"
	switch {
	case notify.IsPermanent(err):
		outcome = "refused"
	case err != nil:
		outcome = "retrying"
	}
	activity.GetMetricsHandler(ctx).WithTags(map[string]string{"audience": string(aud), "outcome": outcome}).
		Counter(MetricNotifications).Inc(1)
}

// noTargets is the notifier of a worker that notifies nobody.
type noTargets struct{}

func (noTargets) Targets(notify.Audience) []notify.Target              { return nil }
func (noTargets) Target(notify.Audience, string) (notify.Target, bool) { return nil, false }

func (a *Activities) notifier() Notifier {
	if a.Notifier == nil {
		return noTargets{}
	}
	return a.Notifier
}
