package starter

import (
	"errors"
	"time"

	"github.com/cloudmarket/termination-orders/order"
)

// CheckAccountID validates an AWS account ID on its own, by the contract's
// accountId rule (12 digits), for callers that look an account up. It
// returns an *order.ValidationError naming the field, or nil.
func CheckAccountID(id string) error {
	var v *order.ValidationError
	if !errors.As(order.Order{AccountID: id}.Validate(time.Now()), &v) {
		return nil
	}
	for _, f := range v.Fields {
		if f.Field == "accountId" {
			return &order.ValidationError{Subject: "AWS account ID", Fields: []*order.FieldError{f}}
		}
	}
	return nil
}
