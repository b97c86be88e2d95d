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

// Who is told what. A status message's notifications
// go with its write (steps.go): the marketplace's status event, and
// Operations' work item when the order awaits the unlink, is reopened or is
// cancelled. Here: the unlink SLA's escalation and reminders, the customer's
// last warning, and the retries of notifications that failed.
//
// Nothing here holds up the order: a failed notification is retried by an
// activity of its own in a coroutine of its own, bounded by the policy's
// GiveUpAfter, and an order only waits for those still retrying when it has
// nothing else left to do.

// MetricNotificationsGivenUp counts notifications the workflow stopped
// retrying (label "audience"; "reason": refused or timed_out).
const MetricNotificationsGivenUp = "termination_notifications_given_up"

// notifyOptions are the retries of one failed notification to one target:
// timeouts, 5xx, 408 and 429 answers are retried with backoff (the target's
// Retry-After sets the next attempt), other refusals are not, and after the
// policy's GiveUpAfter the notification is given up.
func (w *terminationOrder) notifyOptions() workflow.ActivityOptions {
	return workflow.ActivityOptions{
		StartToCloseTimeout:    time.Minute,
		ScheduleToCloseTimeout: w.notify.GiveUpAfter,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        10 * time.Second,
			BackoffCoefficient:     2,
			MaximumInterval:        time.Hour,
			NonRetryableErrorTypes: []string{activities.ErrTypeDeliveryRefused, activities.ErrTypeTargetRemoved},
		},
	}
}

// subject is what notifications say about the order.
func (w *terminationOrder) subject() *activities.Subject {
	o := w.order
	if w.status.Stage == order.StageFailed {
		// Input that failed validation may be anything: only its ID is told.
		o = order.Order{OrderID: w.owner}
	}
	return &activities.Subject{Order: o, RunKey: w.runKey, UnlinkDueBy: w.unlinkDueBy}
}

// dueBy is the unlink SLA's deadline: the UnlinkDueBy search attribute the
// starter set with the start (no event), else the start time plus the SLA,
// upserted. Zero when the policy has no SLA.
func (w *terminationOrder) dueBy(ctx workflow.Context) time.Time {
	if w.notify.UnlinkSLA <= 0 {
		return time.Time{}
	}
	start := workflow.GetInfo(ctx).WorkflowStartTime
	if due, ok := workflow.GetTypedSearchAttributes(ctx).GetTime(UnlinkDueByKey); ok &&
		!due.Before(start.Add(-time.Minute)) && !due.After(start.Add(order.MaxReopenWindow)) {
		return due.UTC()
	}
	return start.Add(w.notify.UnlinkSLA).UTC()
}

// escalate tells the escalation target when the unlink is overdue, then
// reminds it every ReminderInterval up to MaxReminders times; it stops the
// moment the order leaves AwaitingUnlink.
func (w *terminationOrder) escalate(ctx workflow.Context) {
	waiting := func() bool { return w.status.Stage == order.StageAwaitingUnlink }
	for n := 0; n <= w.notify.MaxReminders; n++ {
		at := w.unlinkDueBy.Add(time.Duration(n) * w.notify.ReminderInterval)
		summary := fmt.Sprintf("Unlink SLA of AWS account %s: escalate at %s", w.order.AccountID, order.FormatTime(at))
		if n > 0 {
			summary = fmt.Sprintf("Unlink overdue: reminder %d of %d at %s", n, w.notify.MaxReminders, order.FormatTime(at))
		}
		// A time already past (a start whose first task came late) is due now.
		if elapsed, _ := sleep(ctx, at.Sub(workflow.Now(ctx)), summary, func() bool { return !waiting() }); !elapsed {
			return
		}
		if n == 0 {
			w.overdueSince = w.unlinkDueBy
			w.logger.Warn("Unlink overdue: escalated", "UnlinkDueBy", w.unlinkDueBy)
		} else {
			w.reminders = n
			w.logger.Warn("Unlink overdue: reminder sent", "Reminder", n)
		}
		workflow.SetCurrentDetails(ctx, w.details())
		w.send(ctx, activities.Announcement{
			Kind: order.NoticeUnlinkOverdue, OverdueSince: w.unlinkDueBy, Reminder: n, Last: n == w.notify.MaxReminders,
		})
		if w.notify.ReminderInterval <= 0 {
			return
		}
	}
}

// send runs the Notify activity in a coroutine of its own. It is a regular
// activity, so it runs only once the decision to send is in history.
func (w *terminationOrder) send(ctx workflow.Context, list ...activities.Announcement) {
	w.delivering++
	workflow.Go(ctx, func(ctx workflow.Context) {
		defer func() { w.delivering-- }()
		in := activities.NotifyInput{Subject: *w.subject(), Announcements: list}
		var sent activities.Sent
		err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, fallbackStepOptions), activities.NotifyName, in).Get(ctx, &sent)
		if err != nil {
			w.logger.Error("Notifications not sent", "Error", err)
			return
		}
		w.redeliver(ctx, sent)
	})
}

// redeliver retries each failed notification on its own, without waiting,
// and reports those refused for good.
func (w *terminationOrder) redeliver(ctx workflow.Context, sent activities.Sent) {
	for _, d := range sent.Refused {
		w.givenUp(ctx, d, "refused", errors.New(d.Error))
	}
	for _, d := range sent.Undelivered {
		w.delivering++
		workflow.Go(ctx, func(ctx workflow.Context) {
			defer func() { w.delivering-- }()
			err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, w.notifyOptions()), activities.DeliverName, d).Get(ctx, nil)
			if err == nil {
				return
			}
			reason := "timed_out"
			if isRefusal(err) {
				reason = "refused"
			}
			w.givenUp(ctx, d, reason, err)
		})
	}
}

// givenUp reports a notification no longer retried: in the log, the metrics
// and the Web UI's details.
func (w *terminationOrder) givenUp(ctx workflow.Context, d activities.Delivery, reason string, err error) {
	w.logger.Error("Notification given up", "Audience", d.Audience, "Target", d.Target, "EventID", d.Notice.ID, "Reason", reason, "Error", err)
	workflow.GetMetricsHandler(ctx).WithTags(map[string]string{"audience": string(d.Audience), "reason": reason}).
		Counter(MetricNotificationsGivenUp).Inc(1)
	w.failed = append(w.failed, fmt.Sprintf("%s to %s (%s): %s", d.Notice.Kind, d.Target, reason, rootMessage(err)))
	workflow.SetCurrentDetails(ctx, w.details())
}

func isRefusal(err error) bool {
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) {
		return false
	}
	return appErr.Type() == activities.ErrTypeDeliveryRefused || appErr.Type() == activities.ErrTypeTargetRemoved
}

// rootMessage is the innermost message of an activity failure: what the
// target said, without the SDK's wrapping.
func rootMessage(err error) string {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return appErr.Error()
	}
	return err.Error()
}

// lastWarningAt is when the customer gets the last warning before the reopen
// deadline: LastWarning before it, if the window is longer than that.
func (w *terminationOrder) lastWarningAt() (time.Time, bool) {
	lead := w.notify.LastWarning
	if lead <= 0 || w.status.ReopenDeadline.Sub(w.status.ClosedAt) <= lead {
		return time.Time{}, false
	}
	return w.status.ReopenDeadline.Add(-lead), true
}

// notificationDetails adds the SLA and failed notifications to the Web UI's details.
func (w *terminationOrder) notificationDetails() string {
	d := ""
	if !w.unlinkDueBy.IsZero() && w.status.ClosedAt.IsZero() {
		d += "\n\nUnlink due by " + order.FormatTime(w.unlinkDueBy)
		if !w.overdueSince.IsZero() {
			d += fmt.Sprintf(" · **overdue since %s**, escalated", order.FormatTime(w.overdueSince))
			if w.reminders > 0 {
				d += fmt.Sprintf(", %d of %d reminders sent", w.reminders, w.notify.MaxReminders)
			}
		}
	}
	if len(w.failed) > 0 {
		d += fmt.Sprintf("\n\n**Notifications given up (%d):**", len(w.failed))
		for _, f := range w.failed {
			d += "\n- " + f
		}
	}
	return d
}
