// Package order is the termination order domain: the order a customer places
// to close an AWS account permanently, the stages of its life, the rules its
// input must follow and the status messages the customer reads.
//
// It knows nothing of Temporal; workflows, activities and the starter build on it.
package order

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// TerminationTypeCloseAccount is the only termination the product handles:
// "Close account permanently" in the marketplace's Terminate wizard.
const TerminationTypeCloseAccount = "CloseAccount"

// DefaultReopenWindow is the post-closure period in which a closed account can
// still be reopened.
const DefaultReopenWindow = 90 * 24 * time.Hour

// Bounds on a per-order reopen window. Short windows exist for demos and tests;
// a year is far beyond any real policy and guards against unit mistakes.
const (
	MinReopenWindow = time.Second
	MaxReopenWindow = 365 * 24 * time.Hour
)

// Bounds on the reopenWindowSeconds field itself. The field is range-checked as
// an integer before it is ever turned into a duration: multiplying first would
// wrap a huge value into a short window.
const (
	MinReopenWindowSeconds = int64(MinReopenWindow / time.Second)
	MaxReopenWindowSeconds = int64(MaxReopenWindow / time.Second)
)

// Bounds on the size of an order. A subscription has a handful of items; the
// limits keep every order far below Temporal's payload limits, so that input
// too large is refused here with the field named, never at the server.
const (
	MaxItems = 100
	// MaxInputBytes bounds the start input as JSON.
	MaxInputBytes = 64 << 10
)

// Order is a termination order as the marketplace submits it.
type Order struct {
	OrderID         string `json:"orderId"`
	SubscriptionID  string `json:"subscriptionId"`
	AccountID       string `json:"accountId"`
	TerminationType string `json:"terminationType"`
	Items           []Item `json:"items"`
	RequestedBy     string `json:"requestedBy"`
	// SubmittedAt is when the customer placed the order, RFC 3339. Optional.
	SubmittedAt string `json:"submittedAt,omitempty"`
	// ReopenWindowSeconds overrides, for this order only, the reopen window the
	// worker is configured with. Optional.
	ReopenWindowSeconds int64 `json:"reopenWindowSeconds,omitempty"`

	// decodeErrs record what decoding found wrong with the JSON (a field
	// of the wrong type, an explicit reopenWindowSeconds of 0, a key sent
	// twice, text that is not UTF-8), so that Validate reports it by name
	// instead of the order failing to decode or taking a value silently.
	decodeErrs []*FieldError
}

// Item is one subscription line of the order. A termination sets its new
// quantity to 0.
type Item struct {
	ItemID   string `json:"itemId"`
	Quantity int    `json:"quantity"`
}

// UnmarshalJSON decodes an order, keeping a field of the wrong JSON type as a
// validation problem rather than an error, so that a malformed start from any
// client still produces a Failed order with a status message naming the field.
func (o *Order) UnmarshalJSON(b []byte) error {
	type plain Order
	var p plain
	err := json.Unmarshal(b, &p)
	var typeErr *json.UnmarshalTypeError
	switch {
	case err == nil:
	case errors.As(err, &typeErr):
		// encoding/json keeps decoding the other fields after a type error.
		field := typeErr.Field
		if field == "" {
			field = "(order)" // the input itself, not one of its fields
		}
		p.decodeErrs = append(p.decodeErrs, &FieldError{Field: field, Rule: "must be a JSON " + jsonKind(typeErr.Type.String())})
	default:
		return err
	}
	if p.ReopenWindowSeconds == 0 {
		// omitempty makes 0 read as "not set": an explicit 0 breaks the
		// rule of a set window, and the order must say so, not take the
		// default window.
		var set struct {
			ReopenWindowSeconds *int64 `json:"reopenWindowSeconds"`
		}
		if json.Unmarshal(b, &set) == nil && set.ReopenWindowSeconds != nil {
			p.decodeErrs = append(p.decodeErrs, windowProblem(0))
		}
	}
	*o = Order(p)
	return nil
}

// ReopenWindow is the post-closure period of this order: its own override if
// it has one, else the window of the policy it was accepted under, else
// DefaultReopenWindow. An override outside its bounds (which Validate refuses)
// is never used.
func (o Order) ReopenWindow(policy time.Duration) time.Duration {
	switch {
	case o.ReopenWindowSeconds >= MinReopenWindowSeconds && o.ReopenWindowSeconds <= MaxReopenWindowSeconds:
		return time.Duration(o.ReopenWindowSeconds) * time.Second
	case policy > 0:
		return policy
	default:
		return DefaultReopenWindow
	}
}

// workflowIDPrefix starts the workflow ID of every order.
const workflowIDPrefix = "termination-"

// WorkflowID is the Temporal workflow ID of the order: termination-<orderId>.
func WorkflowID(orderID string) string {
	return workflowIDPrefix + orderID
}

// ParseWorkflowID is the orderId part of termination-<orderId>, valid or
// not; ok is false (and orderID "") for a workflow ID of another kind.
func ParseWorkflowID(workflowID string) (orderID string, ok bool) {
	if orderID, ok = strings.CutPrefix(workflowID, workflowIDPrefix); !ok {
		return "", false
	}
	return orderID, true
}

// OwnerOf is the order a workflow ID belongs to: the orderId of
// termination-<orderId>, if that is a valid order ID, else "". Only the owner's
// order page may receive a workflow's status messages.
func OwnerOf(workflowID string) string {
	id, ok := ParseWorkflowID(workflowID)
	if !ok || CheckOrderID(id) != nil {
		return ""
	}
	return id
}

// DecodeJSON decodes start input from any client. It never fails: input that
// is too large, not JSON, not an object, or that CheckJSON finds fault with
// comes back as an order whose Validate reports it, so that such a start
// still ends as a Failed order with a message naming the problem.
func DecodeJSON(b []byte) Order {
	if len(b) > MaxInputBytes {
		return Order{decodeErrs: []*FieldError{{Field: "(input)", Rule: fmt.Sprintf("must be at most %d bytes of JSON, got %d", MaxInputBytes, len(b))}}}
	}
	problems := CheckJSON(b)
	var o Order
	if err := json.Unmarshal(b, &o); err != nil {
		rule := "must be a JSON object"
		var syntax *json.SyntaxError
		if errors.As(err, &syntax) {
			rule = fmt.Sprintf("must be a JSON object (invalid JSON at byte %d: %v)", syntax.Offset, syntax)
		}
		return Order{decodeErrs: []*FieldError{{Field: "(input)", Rule: rule}}}
	}
	o.decodeErrs = append(problems, o.decodeErrs...)
	return o
}

func jsonKind(goType string) string {
	switch goType {
	case "string":
		return "string"
	case "int", "int64":
		return "integer"
	default:
		if len(goType) > 2 && goType[:2] == "[]" {
			return "array"
		}
		return "object"
	}
}

// ParseJSON decodes an order typed by a person (a file for the CLI) strictly:
// a key that is not exactly one of the contract's field names is reported by
// name, where plain decoding would match it case-insensitively or drop it.
func ParseJSON(b []byte) (Order, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return Order{}, fmt.Errorf("order is not a JSON object: %w", err)
	}
	var c checker
	c.fields = CheckJSON(b)
	for _, k := range slices.Sorted(maps.Keys(raw)) {
		if !slices.Contains(orderFields, k) {
			c.fail(k, "is not a field of the order; the fields are %s", strings.Join(orderFields, ", "))
		}
	}
	if err := c.err("termination order"); err != nil {
		return Order{}, err
	}
	var o Order
	if err := json.Unmarshal(b, &o); err != nil {
		return Order{}, err
	}
	return o, nil
}

var orderFields = []string{"orderId", "subscriptionId", "accountId", "terminationType", "items", "requestedBy", "submittedAt", "reopenWindowSeconds"}
