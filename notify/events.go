package notify

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/cloudmarket/termination-orders/order"
)

// Order is what a notification tells about an order: the facts its workflow
// knows, gathered by the activity that sends it.
type Order struct {
	Order order.Order
	// RunKey identifies the order's life: an order ID that failed on invalid
	// input may be placed again, and its events must not collide.
	RunKey string
	// URL opens the order in the Temporal Web UI ("" if none is configured).
	URL string
	// Namespace is the Temporal namespace, for the commands in work items.
	Namespace string
	// UnlinkDueBy is the unlink SLA's deadline (zero if none).
	UnlinkDueBy time.Time
}

// WebUIURL is the link to a workflow run in the Temporal Web UI at base, or ""
// when base is empty.
func WebUIURL(base, namespace, workflowID, runID string) string {
	if base == "" {
		return ""
	}
	return fmt.Sprintf("%s/namespaces/%s/workflows/%s/%s/history", strings.TrimRight(base, "/"),
		url.PathEscape(namespace), url.PathEscape(workflowID), url.PathEscape(runID))
}

// eventID is a notification's stable ID: the same order life and event give
// the same ID on every retry, so a receiver stores each event once.
func (o Order) eventID(parts ...string) string {
	return strings.Join(append([]string{o.Order.OrderID, o.RunKey}, parts...), "/")
}

// StatusEvent is the marketplace's event for one status message.
func StatusEvent(o Order, e order.TimelineEntry) Notice {
	id := o.eventID("status", strconv.Itoa(e.Seq))
	return Notice{
		ID: id, Kind: order.NoticeStatus, OrderID: o.Order.OrderID,
		Subject: fmt.Sprintf("Order %s: %s", o.Order.OrderID, e.Stage),
		Text:    e.Message,
		Data: body(map[string]any{
			"type": order.NoticeStatus, "id": id, "orderId": o.Order.OrderID,
			"subscriptionId": o.Order.SubscriptionID, "accountId": o.Order.AccountID,
			"stage": e.Stage, "orderStatus": e.Stage.OrderStatus(), "message": e.Message,
			"sequence": e.Seq, "time": e.Time.UTC(),
		}),
	}
}

// UnlinkRequested is Operations' work item when an order awaits the unlink:
// everything needed to act, and the exact commands that confirm it.
func UnlinkRequested(o Order) Notice {
	id := o.eventID("unlink-requested")
	text := fmt.Sprintf("Termination order %s asks Operations to unlink AWS account %s.\n\n%s\n\nWhen the account is unlinked, confirm it with either command:\n  %s\n  %s",
		o.Order.OrderID, o.Order.AccountID, o.facts(), o.terminationctl(), o.temporalSignal())
	return Notice{
		ID: id, Kind: order.NoticeUnlinkRequested, OrderID: o.Order.OrderID,
		Subject: fmt.Sprintf("Unlink AWS account %s (termination order %s)", o.Order.AccountID, o.Order.OrderID),
		Text:    text,
		Data: body(o.fields(order.NoticeUnlinkRequested, id, map[string]any{
			"unlinkDueBy": timeOrNil(o.UnlinkDueBy),
			"confirmWith": o.commands(),
		})),
	}
}

// UnlinkOverdue escalates an unlink not confirmed by its deadline. reminder
// is 0 for the escalation and counts the reminders after it; last says no
// reminder follows.
func UnlinkOverdue(o Order, overdueSince time.Time, reminder int, last bool) Notice {
	id := o.eventID("unlink-overdue", strconv.Itoa(reminder))
	subject := fmt.Sprintf("Overdue: unlink AWS account %s (termination order %s)", o.Order.AccountID, o.Order.OrderID)
	if reminder > 0 {
		subject = fmt.Sprintf("Reminder %d: %s", reminder, subject)
	}
	text := fmt.Sprintf("The unlink of AWS account %s for termination order %s is overdue since %s and has not been confirmed.\n\n%s\n\nWhen the account is unlinked, confirm it with either command:\n  %s\n  %s",
		o.Order.AccountID, o.Order.OrderID, order.FormatTime(overdueSince), o.facts(), o.terminationctl(), o.temporalSignal())
	if last {
		text += "\n\nThis is the last reminder."
	}
	return Notice{
		ID: id, Kind: order.NoticeUnlinkOverdue, OrderID: o.Order.OrderID, Subject: subject, Text: text,
		Data: body(o.fields(order.NoticeUnlinkOverdue, id, map[string]any{
			"unlinkDueBy": timeOrNil(o.UnlinkDueBy), "overdueSince": overdueSince.UTC(),
			"reminder": reminder, "lastReminder": last, "confirmWith": o.commands(),
		})),
	}
}

// ReopenRequested is Operations' work item when a customer reopens a closed
// account: it must be reopened with AWS before AWS's own period ends.
func ReopenRequested(o Order, closedAt time.Time, r order.Request) Notice {
	id := o.eventID("reopen-requested")
	awsDeadline := closedAt.Add(order.AWSPostClosurePeriod).UTC()
	text := fmt.Sprintf("The customer reopened AWS account %s (termination order %s). Reopen the account with AWS before %s, when AWS's own post-closure period ends and the account can no longer be reopened.\n\nReopened by: %s\nReason: %s\nClosed on: %s\n%s",
		o.Order.AccountID, o.Order.OrderID, order.FormatTime(awsDeadline), r.RequestedBy, r.Reason, order.FormatTime(closedAt), o.facts())
	return Notice{
		ID: id, Kind: order.NoticeReopenRequested, OrderID: o.Order.OrderID,
		Subject: fmt.Sprintf("Reopen AWS account %s with AWS before %s (termination order %s)", o.Order.AccountID, order.FormatTime(awsDeadline), o.Order.OrderID),
		Text:    text,
		Data: body(o.fields(order.NoticeReopenRequested, id, map[string]any{
			"reopenedBy": r.RequestedBy, "reason": r.Reason, "closedAt": closedAt.UTC(), "awsDeadline": awsDeadline,
		})),
	}
}

// UnlinkCancelled tells Operations that the order was cancelled before the
// unlink, so its work item needs no action.
func UnlinkCancelled(o Order, r order.Request) Notice {
	id := o.eventID("unlink-cancelled")
	text := fmt.Sprintf("Termination order %s was cancelled before the unlink: its work item needs no action, and AWS account %s must stay as it is.\n\nCancelled by: %s\nReason: %s\n%s",
		o.Order.OrderID, o.Order.AccountID, r.RequestedBy, r.Reason, o.facts())
	return Notice{
		ID: id, Kind: order.NoticeUnlinkCancelled, OrderID: o.Order.OrderID,
		Subject: fmt.Sprintf("No action: termination order %s was cancelled (AWS account %s)", o.Order.OrderID, o.Order.AccountID),
		Text:    text,
		Data: body(o.fields(order.NoticeUnlinkCancelled, id, map[string]any{
			"cancelledBy": r.RequestedBy, "reason": r.Reason,
		})),
	}
}

// AWSAttention is Operations' work item when AWS and the order disagree or
// AWS holds a closure up. Reason names the case (for example
// "unlink-while-active"); n numbers the order's work items of that reason,
// so each is its own event.
func AWSAttention(o Order, reason string, n int, subject, detail string, check order.AWSCheck) Notice {
	id := o.eventID("aws", reason, strconv.Itoa(n))
	text := fmt.Sprintf("%s\n\nAWS's answer: %s\n%s", detail, check, o.facts())
	return Notice{
		ID: id, Kind: order.NoticeAWSAttention, OrderID: o.Order.OrderID,
		Subject: fmt.Sprintf("%s (AWS account %s, termination order %s)", subject, o.Order.AccountID, o.Order.OrderID),
		Text:    text,
		Data: body(o.fields(order.NoticeAWSAttention, id, map[string]any{
			"reason": reason, "detail": detail, "awsOperation": check.Operation, "awsState": check.State,
			"awsOutcome": check.Outcome, "awsCheckedAt": check.At.UTC(),
		})),
	}
}

func (o Order) facts() string {
	lines := []string{
		"Order: " + o.Order.OrderID,
		"AWS account: " + o.Order.AccountID,
		"Subscription: " + o.Order.SubscriptionID,
		"Requested by: " + o.Order.RequestedBy,
	}
	if o.Order.SubmittedAt != "" {
		lines = append(lines, "Submitted at: "+o.Order.SubmittedAt)
	}
	if !o.UnlinkDueBy.IsZero() {
		lines = append(lines, "Unlink due by: "+order.FormatTime(o.UnlinkDueBy))
	}
	if o.URL != "" {
		lines = append(lines, "Order in the Temporal Web UI: "+o.URL)
	}
	return strings.Join(lines, "\n")
}

func (o Order) fields(kind, id string, extra map[string]any) map[string]any {
	m := map[string]any{
		"type": kind, "id": id, "orderId": o.Order.OrderID,
		"accountId": o.Order.AccountID, "subscriptionId": o.Order.SubscriptionID,
		"requestedBy": o.Order.RequestedBy, "orderUrl": o.URL,
	}
	if o.Order.SubmittedAt != "" {
		m["submittedAt"] = o.Order.SubmittedAt
	}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

func (o Order) commands() map[string]string {
	return map[string]string{"terminationctl": o.terminationctl(), "temporal": o.temporalSignal()}
}

// The order ID is an identifier (letters, digits, '-', '_' and '.'), so the
// commands need no quoting of it.
func (o Order) terminationctl() string {
	return fmt.Sprintf(`terminationctl unlink %s --completed-by "<your name>" --reference "<ticket>"`, o.Order.OrderID)
}

func (o Order) temporalSignal() string {
	ns := o.Namespace
	if ns == "" {
		ns = "default"
	}
	return fmt.Sprintf(`temporal workflow signal --namespace %s --workflow-id %s --name unlink-completed --input '{"completedBy":"<your name>","reference":"<ticket>"}'`,
		ns, order.WorkflowID(o.Order.OrderID))
}

func timeOrNil(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC()
}

// body encodes a webhook body. Its values are strings, numbers, times and
// maps of strings, which always encode.
func body(m map[string]any) json.RawMessage {
	b, err := json.Marshal(m)
	if err != nil {
		panic(fmt.Sprintf("notify: encode event: %v", err))
	}
	return b
}
