package order

import (
	"encoding/json"
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

// EarliestTime is the earliest time an order or a report may state: a
// timestamp before it is a client's zero value or a typing mistake, never a
// real date of this product.
var EarliestTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// FieldError is one broken rule: the field (as named on the wire) and the rule.
type FieldError struct {
	Field string `json:"field"`
	Rule  string `json:"rule"`
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

// requestID checks an optional request ID: the caller's key that makes a
// retried request get the original answer.
func (c *checker) requestID(v string) {
	if v != "" {
		c.identifier("requestId", v)
	}
}

// timestamp checks an optional RFC 3339 time that must lie between EarliestTime
// and now (with clock skew).
func (c *checker) timestamp(field, v string, now time.Time) {
	c.timestampSince(field, v, now, EarliestTime)
}

// timestampSince is timestamp with its own lower bound; the zero time means none.
func (c *checker) timestampSince(field, v string, now, earliest time.Time) {
	if v == "" {
		return
	}
	t, err := time.Parse(time.RFC3339, v)
	switch {
	case err != nil:
		c.fail(field, "must be an RFC 3339 time such as 2026-11-26T14:03:00Z, got %s", quote(v))
	case t.After(now.Add(ClockSkew)):
		c.fail(field, "must not be in the future (got %s)", v)
	case !earliest.IsZero() && t.Before(earliest):
		c.fail(field, "must not be before %s (got %s)", earliest.Format(time.RFC3339), v)
	}
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

// Validate checks the order against the contract. now is the current time of
// the caller. Inside the workflow only the acceptance step calls it, and its
// answer is recorded in history, so tightening a rule never changes an order
// that was already accepted.
func (o Order) Validate(now time.Time) error {
	return o.validate(now, currentRules)
}

// ValidateV1 checks the order by the rules orders were accepted under before
// the acceptance step existed (workflow version 1), which re-ran validation on
// every replay. Orders started then replay with it, so it must never change.
func (o Order) ValidateV1(now time.Time) error {
	return o.validate(now, rulesV1)
}

// rules are what differ between the rule sets of Validate and ValidateV1.
type rules struct {
	maxItems int       // 0: no bound
	earliest time.Time // zero: no lower bound on submittedAt
	// windowMultipliedFirst is version 1's check of reopenWindowSeconds, which
	// multiplied before it range-checked and so let a huge value wrap.
	windowMultipliedFirst bool
}

var (
	currentRules = rules{maxItems: MaxItems, earliest: EarliestTime}
	rulesV1      = rules{windowMultipliedFirst: true}
)

func (o Order) validate(now time.Time, r rules) error {
	var c checker
	c.fields = append(c.fields, o.decodeErrs...)
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
	if r.maxItems > 0 && len(o.Items) > r.maxItems {
		c.fail("items", "must list at most %d items, got %d", r.maxItems, len(o.Items))
		return c.err("termination order") // one line, not one per item beyond the bound
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
	c.timestampSince("submittedAt", o.SubmittedAt, now, r.earliest)
	if o.ReopenWindowSeconds != 0 && !r.windowAllowed(o.ReopenWindowSeconds) {
		c.fields = append(c.fields, windowProblem(o.ReopenWindowSeconds))
	}
	return c.err("termination order")
}

// windowProblem is the broken rule of a reopenWindowSeconds that is set
// out of its bounds.
func windowProblem(seconds int64) *FieldError {
	return &FieldError{Field: "reopenWindowSeconds", Rule: fmt.Sprintf("must be between %d and %d seconds when set, got %d",
		MinReopenWindowSeconds, MaxReopenWindowSeconds, seconds)}
}

func (r rules) windowAllowed(seconds int64) bool {
	if r.windowMultipliedFirst {
		w := time.Duration(seconds) * time.Second
		return seconds >= 0 && w >= MinReopenWindow && w <= MaxReopenWindow
	}
	return seconds >= MinReopenWindowSeconds && seconds <= MaxReopenWindowSeconds
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
	// CompletedAt is when the account was closed, RFC 3339. Optional: the
	// starter stamps the moment it reports the unlink; a raw signal without it
	// closes at the time the server received the signal, a raw update at the
	// time the workflow handles it.
	CompletedAt string `json:"completedAt,omitempty"`
	// RequestID is the caller's key for this report (optional): a retry with
	// the same ID gets the original answer.
	RequestID string `json:"requestId,omitempty"`

	// decodeErrs are what CheckJSON found in the report's JSON.
	decodeErrs []*FieldError
}

// UnmarshalJSON decodes a report, keeping what CheckJSON finds for Validate:
// a raw signal or update from any client is refused with the field named.
// Decoding itself never fails on it, so an update accepted before the check
// existed still decodes the same on replay (validators do not run then).
func (u *UnlinkCompleted) UnmarshalJSON(b []byte) error {
	type plain UnlinkCompleted
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	p.decodeErrs = CheckJSON(b)
	*u = UnlinkCompleted(p)
	return nil
}

// Validate checks the report; now is the caller's current time.
func (u UnlinkCompleted) Validate(now time.Time) error {
	var c checker
	c.fields = append(c.fields, u.decodeErrs...)
	c.text("completedBy", u.CompletedBy)
	c.text("reference", u.Reference)
	c.timestamp("completedAt", u.CompletedAt, now)
	c.requestID(u.RequestID)
	return c.err("unlink-completed report")
}

// ValidateFor checks the report against the order it is for: besides Validate,
// the stated close time cannot come before the order was placed.
func (u UnlinkCompleted) ValidateFor(s Status, now time.Time) error {
	if err := u.Validate(now); err != nil {
		return err
	}
	if u.CompletedAt == "" {
		return nil
	}
	return s.CheckCloseTime(u.ClosedAt(now))
}

// ClosedAt is the close time the report states, or handledAt when it states none.
// Call it only on a report that passed Validate.
func (u UnlinkCompleted) ClosedAt(handledAt time.Time) time.Time {
	if t, err := time.Parse(time.RFC3339, u.CompletedAt); err == nil {
		return t.UTC()
	}
	return handledAt
}

// Request is a person's request to reopen a closed account during its
// post-closure period, or to cancel an order before the unlink: who asks and
// why. Both updates take it.
type Request struct {
	RequestedBy string `json:"requestedBy"`
	Reason      string `json:"reason"`
	// RequestID is the caller's key for this request (optional): a retry with
	// the same ID gets the original answer, also after the order has ended.
	RequestID string `json:"requestId,omitempty"`

	// decodeErrs are what CheckJSON found in the request's JSON.
	decodeErrs []*FieldError
}

// UnmarshalJSON decodes a request, keeping what CheckJSON finds for
// Validate, as UnlinkCompleted's does.
func (r *Request) UnmarshalJSON(b []byte) error {
	type plain Request
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	p.decodeErrs = CheckJSON(b)
	*r = Request(p)
	return nil
}

// Validate checks the request. what is what it asks for ("reopen",
// "cancel"), which names it in the error: "invalid reopen request: ...".
func (r Request) Validate(what string) error {
	var c checker
	c.fields = append(c.fields, r.decodeErrs...)
	c.text("requestedBy", r.RequestedBy)
	c.text("reason", r.Reason)
	c.requestID(r.RequestID)
	return c.err(what + " request")
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
