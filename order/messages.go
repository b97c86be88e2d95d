package order

import (
	"fmt"
	"time"
)

// The customer-facing status messages. Each says what happens now and what the
// customer can do; times are exact and in UTC.

// SubmittedMessage is shown while the order awaits the unlink.
func SubmittedMessage(o Order) string {
	return fmt.Sprintf("Your termination order %s to close AWS account %s permanently has been submitted. "+
		"Our Operations team will contact you to help unlink the account; no action is needed from you until then. "+
		"You can cancel this order until the account has been unlinked.",
		o.OrderID, o.AccountID)
}

// PostClosureMessage is shown once the account is unlinked and closed.
func PostClosureMessage(s Status) string {
	return fmt.Sprintf("AWS account %s was unlinked and closed on %s. It is now in its post-closure period: "+
		"you can still reopen it until %s. After that date the account will be closed permanently and can no longer be reopened.",
		s.AccountID, FormatTime(s.ClosedAt), FormatTime(s.ReopenDeadline))
}

// ReopenedMessage is shown when the account was reopened during its post-closure period.
func ReopenedMessage(s Status, at time.Time, r Request) string {
	return fmt.Sprintf("AWS account %s was reopened on %s at the request of %s (%s). "+
		"The account will not be closed permanently; this termination order is complete. "+
		"To close the account again, place a new termination order.",
		s.AccountID, FormatTime(at), r.RequestedBy, r.Reason)
}

// PermanentlyClosedMessage is shown when the post-closure period has ended.
func PermanentlyClosedMessage(s Status) string {
	return fmt.Sprintf("The post-closure period of AWS account %s ended on %s. "+
		"The account is now closed permanently and can no longer be reopened. This termination order is complete.",
		s.AccountID, FormatTime(s.ReopenDeadline))
}

// CancelledMessage is shown when the order was cancelled before the unlink.
func CancelledMessage(s Status, at time.Time, r Request) string {
	return fmt.Sprintf("Your termination order %s was cancelled on %s at the request of %s (%s). "+
		"AWS account %s was not closed and stays as it was. To close it later, place a new termination order.",
		s.OrderID, FormatTime(at), r.RequestedBy, r.Reason, s.AccountID)
}

// AlreadyProcessedMessage is the status of a run refused because its order
// already lived. It is never written to the order's page, which belongs to
// the order's first life.
func AlreadyProcessedMessage(orderID string, prior error) string {
	return fmt.Sprintf("Termination order %s was not started again: %v.", orderID, prior)
}

// FailedMessage is shown when the order could not be processed.
func FailedMessage(err error) string {
	return fmt.Sprintf("Your termination order could not be processed: %v. "+
		"Nothing was changed on your AWS account. Please correct the order and place it again, or contact support.", err)
}

// LastWarningMessage is the customer's last warning, shown a set time before
// the post-closure period ends: the exact date, and how to keep the account.
func LastWarningMessage(s Status) string {
	return fmt.Sprintf("Last reminder: AWS account %s will be closed permanently on %s and can then no longer be reopened. "+
		"To keep the account, reopen it before then from this order's page or by contacting support. "+
		"If you do nothing, the closure becomes final on that date.",
		s.AccountID, FormatTime(s.ReopenDeadline))
}

// AWSPostClosurePeriod is AWS's own post-closure period: a closed account can
// be reopened with AWS for 90 days after its closure, whatever window the
// order gives the customer.
const AWSPostClosurePeriod = 90 * 24 * time.Hour
