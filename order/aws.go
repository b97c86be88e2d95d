package order

import (
	"fmt"
	"time"
)

// AWS Organizations as the orders see it. Where the worker asks AWS (its
// verify and close modes), what AWS answers decides: an unlink is taken only
// when AWS agrees the account is closed, and an order says "closed for good"
// only when AWS does not report the account ACTIVE. Each answer an order acts
// on is kept with the order.

// AWS's account states the rules read (AWS Organizations' Account.State);
// AWSStateNotInOrganization is an account AWS no longer lists.
const (
	AWSStateActive            = "ACTIVE"
	AWSStateSuspended         = "SUSPENDED"
	AWSStateNotInOrganization = "NOT_IN_ORGANIZATION"
)

// MaxAWSChecks bounds the AWS answers a status keeps.
const MaxAWSChecks = 10

// AWSCheck is one answer of AWS Organizations about an order's account.
type AWSCheck struct {
	// Operation is the AWS call: DescribeAccount or CloseAccount.
	Operation string `json:"operation"`
	// State is the account's state as AWS reported it (DescribeAccount, or
	// the state found before a CloseAccount).
	State string `json:"state,omitempty"`
	// Outcome is what a CloseAccount came to (see the activities' close
	// outcomes); empty for a DescribeAccount.
	Outcome string    `json:"outcome,omitempty"`
	At      time.Time `json:"at"`
}

// AWSClosed reports whether the state means AWS agrees the account is closed
// or gone: PENDING_CLOSURE, SUSPENDED, CLOSED or no longer in the organization.
func AWSClosed(state string) bool {
	switch state {
	case "PENDING_CLOSURE", AWSStateSuspended, "CLOSED", AWSStateNotInOrganization:
		return true
	}
	return false
}

func (c AWSCheck) String() string {
	s := fmt.Sprintf("%s %s", c.Operation, FormatTime(c.At))
	if c.State != "" {
		s += ": " + c.State
	}
	if c.Outcome != "" {
		s += " (" + c.Outcome + ")"
	}
	return s
}

// Checked keeps an answer of AWS, the newest MaxAWSChecks only.
func (s *Status) Checked(c AWSCheck) {
	s.AWS = append(s.AWS, c)
	if len(s.AWS) > MaxAWSChecks {
		s.AWS = append([]AWSCheck(nil), s.AWS[len(s.AWS)-MaxAWSChecks:]...)
	}
}

// RefuseActiveAccount is the refusal of an unlink report while AWS still
// reports the account ACTIVE.
func (s Status) RefuseActiveAccount(c AWSCheck) error {
	return refuse(RefusedAWSAccountActive, "AWS reports account %s %s (DescribeAccount at %s), so it was not closed; "+
		"close it in AWS, then report the unlink again with a new request ID; nothing changed", s.AccountID, c.State, FormatTime(c.At))
}

// ClosingMessage is shown once Operations confirmed the account is ready to
// close and the order closes it with AWS.
func ClosingMessage(s Status) string {
	return fmt.Sprintf("Our Operations team confirmed that AWS account %s is unlinked and ready to close. "+
		"We are now closing it with AWS; you will see the date of its closure here. The order can no longer be cancelled.",
		s.AccountID)
}

// ReopenedOutsideMessage is shown when the reopen deadline came and AWS
// reported the account ACTIVE: it was reopened outside this order.
func ReopenedOutsideMessage(s Status, c AWSCheck) string {
	return fmt.Sprintf("AWS account %s is active again: AWS reported it %s on %s, at the end of its post-closure period, "+
		"so it was reopened outside this order (through AWS Support) and was not closed permanently. "+
		"This termination order is complete; to close the account, place a new termination order.",
		s.AccountID, c.State, FormatTime(c.At))
}
