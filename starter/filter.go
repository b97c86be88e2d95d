package starter

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cloudmarket/termination-orders/order"
	"github.com/cloudmarket/termination-orders/workflows"
)

// Filter narrows a listing to the orders of one AWS account or one
// subscription (or both), through their search attributes.
type Filter struct {
	// AccountID keeps the orders of one AWS account (12 digits).
	AccountID string
	// SubscriptionID keeps the orders of one subscription.
	SubscriptionID string
}

// check adds the filter's broken rules to ch. The values go into a
// visibility query, so only values the contract allows get there.
func (f Filter) check(ch *checkList) {
	if f.AccountID != "" {
		if fieldBroken(order.Order{AccountID: f.AccountID}, "accountId") {
			ch.fail("accountId", fmt.Sprintf("must be 12 digits, got %q", f.AccountID))
		}
	}
	if f.SubscriptionID != "" {
		if fieldBroken(order.Order{SubscriptionID: f.SubscriptionID}, "subscriptionId") {
			ch.fail("subscriptionId", "must be 1 to 100 letters, digits, '-', '_' or '.'")
		}
	}
}

// clauses are the filter's conditions of a visibility query.
func (f Filter) clauses() string {
	var q string
	if f.AccountID != "" {
		q += fmt.Sprintf(" AND %s = '%s'", workflows.AccountIDKey.GetName(), f.AccountID)
	}
	if f.SubscriptionID != "" {
		q += fmt.Sprintf(" AND %s = '%s'", workflows.SubscriptionIDKey.GetName(), f.SubscriptionID)
	}
	return q
}

// Query is the visibility query of the listing: ListQuery for its stage,
// narrowed by its filter.
func (r ListRequest) Query() string {
	return ListQuery(r.Stage) + r.Filter.clauses()
}

// fieldBroken reports whether the order breaks a rule of the field: the
// filter's values follow the contract's rules for the same fields.
func fieldBroken(o order.Order, field string) bool {
	var v *order.ValidationError
	if !errors.As(o.Validate(time.Now()), &v) {
		return false
	}
	for _, f := range v.Fields {
		if f.Field == field {
			return true
		}
	}
	return false
}

// Ping checks that Temporal answers, for readiness checks.
func (c *Client) Ping(ctx context.Context) error {
	if _, err := c.temporal.CheckHealth(ctx, nil); err != nil {
		return fmt.Errorf("temporal health check: %w", err)
	}
	return nil
}
