package order

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// ClockSkew is how far in the future a client-supplied timestamp may be before
// it is rejected: clocks of the marketplace, Operations' tools and the workers differ a little.
const ClockSkew = 5 * time.Minute

const (
	maxIDLength   = 100
	maxTextLength = 500
)

// FieldError is one broken rule: the field (as named on the wire) and the rule.
type FieldError struct {
	Field string
	Rule  string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Rule }

// ValidationError lists every broken rule of one input.
type ValidationError struct {
	// Subject names the input, e.g. "termination order".
	Subject string
	Fields  []*FieldError
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Error()
	}
	return "invalid " + e.Subject + ": " + strings.Join(parts, "; ")
}

// Unwrap exposes the field errors to errors.As.
func (e *ValidationError) Unwrap() []error {
	errs := make([]error, len(e.Fields))
	for i, f := range e.Fields {
		errs[i] = f
	}
	return errs
}

// checker collects broken rules in the order they are found.
type checker struct{ fields []*FieldError }

func (c *checker) fail(field, rule string, args ...any) {
	c.fields = append(c.fields, &FieldError{Field: field, Rule: fmt.Sprintf(rule, args...)})
}

func (c *checker) err(subject string) error {
	if len(c.fields) == 0 {
		return nil
	}
	return &ValidationError{Subject: subject, Fields: c.fields}
}

func (c *checker) identifier(field, v string) {
	switch {
	case v == "":
		c.fail(field, "is required")
	case len(v) > maxIDLength:
		c.fail(field, "must be at most %d characters", maxIDLength)
	case strings.IndexFunc(v, func(r rune) bool { return !isIDRune(r) }) >= 0:
		c.fail(field, "may contain only letters, digits, '-', '_' and '.'")
	}
}

func (c *checker) text(field, v string) {
	switch {
	case strings.TrimSpace(v) == "":
		c.fail(field, "is required")
	case len(v) > maxTextLength:
		c.fail(field, "must be at most %d characters", maxTextLength)
	case !utf8.ValidString(v):
		c.fail(field, "must be valid UTF-8 text")
	case strings.IndexFunc(v, func(r rune) bool { return unicode.IsControl(r) && r != '\n' && r != '\t' }) >= 0:
		c.fail(field, "must not contain control characters")
	}
}

// timestamp checks an optional RFC 3339 time that must not lie in the future.
func (c *checker) timestamp(field, v string, now time.Time) (time.Time, bool) {
	if v == "" {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		c.fail(field, "must be an RFC 3339 time such as 2026-11-26T14:03:00Z, got %s", quote(v))
		return time.Time{}, false
	}
	if t.After(now.Add(ClockSkew)) {
		c.fail(field, "must not be in the future (got %s)", v)
		return time.Time{}, false
	}
	return t, true
}

// quote shows a rejected value, shortened: an error message must stay readable
// (and small enough for a status message) whatever the input was.
func quote(v string) string {
	const max = 40
	if len(v) > max {
		return fmt.Sprintf("%q… (%d bytes)", v[:max], len(v))
	}
	return fmt.Sprintf("%q", v)
}

func isIDRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.'
}

// Validate checks the order against the contract. now is the current time of the
// caller (the workflow's own clock inside a workflow).
func (o Order) Validate(now time.Time) error {
	var c checker
	if o.decodeErr != nil {
		c.fields = append(c.fields, o.decodeErr)
	}
	c.identifier("orderId", o.OrderID)
	c.identifier("subscriptionId", o.SubscriptionID)
	if !isAccountID(o.AccountID) {
		c.fail("accountId", "must be a 12-digit AWS account ID as a string, got %s", quote(o.AccountID))
	}
	if o.TerminationType != TerminationTypeCloseAccount {
		c.fail("terminationType", "must be %q, got %s", TerminationTypeCloseAccount, quote(o.TerminationType))
	}
	if len(o.Items) == 0 {
		c.fail("items", "must list at least one item")
	}
	seen := make(map[string]bool, len(o.Items))
	for i, it := range o.Items {
		field := fmt.Sprintf("items[%d]", i)
		c.identifier(field+".itemId", it.ItemID)
		if seen[it.ItemID] && it.ItemID != "" {
			c.fail(field+".itemId", "duplicates item %s", quote(it.ItemID))
		}
		seen[it.ItemID] = true
		if it.Quantity != 0 {
			c.fail(field+".quantity", "must be 0 (closing the account sets every quantity to 0), got %d", it.Quantity)
		}
	}
	c.text("requestedBy", o.RequestedBy)
	c.timestamp("submittedAt", o.SubmittedAt, now)
	if o.ReopenWindowSeconds != 0 {
		w := time.Duration(o.ReopenWindowSeconds) * time.Second
		if o.ReopenWindowSeconds < 0 || w < MinReopenWindow || w > MaxReopenWindow {
			c.fail("reopenWindowSeconds", "must be between %d and %d seconds when set, got %d",
				int64(MinReopenWindow/time.Second), int64(MaxReopenWindow/time.Second), o.ReopenWindowSeconds)
		}
	}
	return c.err("termination order")
}

func isAccountID(v string) bool {
	if len(v) != 12 {
		return false
	}
	for _, r := range v {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// UnlinkCompleted is Operations' report that the account is unlinked and closed.
type UnlinkCompleted struct {
	CompletedBy string `json:"completedBy"`
	// Reference is the ticket or note that documents the unlink.
	Reference string `json:"reference"`
	// CompletedAt is when the account was closed, RFC 3339. Optional: it
	// defaults to when the workflow handles the report.
	CompletedAt string `json:"completedAt,omitempty"`
}

// Validate checks the report; now is the caller's current time.
func (u UnlinkCompleted) Validate(now time.Time) error {
	var c checker
	c.text("completedBy", u.CompletedBy)
	c.text("reference", u.Reference)
	c.timestamp("completedAt", u.CompletedAt, now)
	return c.err("unlink-completed report")
}

// ValidateFor checks the report against the order it is for: besides Validate,
// the stated close time cannot come before the order was accepted (allowing for
// clock skew), since Operations close the account in answer to the order.
func (u UnlinkCompleted) ValidateFor(s Status, now time.Time) error {
	if err := u.Validate(now); err != nil {
		return err
	}
	if len(s.Timeline) == 0 || u.CompletedAt == "" {
		return nil
	}
	accepted := s.Timeline[0].Time
	if u.ClosedAt(now).Before(accepted.Add(-ClockSkew)) {
		var c checker
		c.fail("completedAt", "must not be before the order was placed (%s), got %s", FormatTime(accepted), u.CompletedAt)
		return c.err("unlink-completed report")
	}
	return nil
}

// ClosedAt is the close time the report states, or handledAt when it states none.
// Call it only on a report that passed Validate.
func (u UnlinkCompleted) ClosedAt(handledAt time.Time) time.Time {
	if t, err := time.Parse(time.RFC3339, u.CompletedAt); err == nil {
		return t.UTC()
	}
	return handledAt
}

// ReopenRequest asks to reopen a closed account during its post-closure period.
type ReopenRequest struct {
	RequestedBy string `json:"requestedBy"`
	Reason      string `json:"reason"`
}

// Validate checks the request.
func (r ReopenRequest) Validate() error {
	var c checker
	c.text("requestedBy", r.RequestedBy)
	c.text("reason", r.Reason)
	return c.err("reopen request")
}

// CancelRequest asks to cancel an order before the account is unlinked.
type CancelRequest struct {
	RequestedBy string `json:"requestedBy"`
	Reason      string `json:"reason"`
}

// Validate checks the request.
func (r CancelRequest) Validate() error {
	var c checker
	c.text("requestedBy", r.RequestedBy)
	c.text("reason", r.Reason)
	return c.err("cancel request")
}

// CheckOrderID validates an order ID on its own, by the orderId field's rule.
func CheckOrderID(id string) error {
	var c checker
	c.identifier("orderId", id)
	return c.err("order ID")
}

// CheckWorkflowID checks that an order runs under its contract workflow ID,
// termination-<orderId>, so one order can never have two workflows.
func CheckWorkflowID(o Order, workflowID string) error {
	if o.OrderID == "" || workflowID == WorkflowID(o.OrderID) {
		return nil
	}
	var c checker
	c.fail("orderId", "must match the workflow ID: order %q runs as %q, not %q", o.OrderID, WorkflowID(o.OrderID), workflowID)
	return c.err("termination order")
}
