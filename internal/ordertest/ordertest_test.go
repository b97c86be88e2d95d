package ordertest_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/cloudmarket/termination-orders/internal/ordertest"
	"github.com/cloudmarket/termination-orders/order"
)

func TestAccountIsValidStableAndOwnPerOrder(t *testing.T) {
	seen := map[string]string{}
	for i := range 10_000 {
		id := fmt.Sprintf("ORD-%d", i)
		a := ordertest.Account(id)
		o := order.Order{OrderID: id, SubscriptionID: "SUB-1", AccountID: a, TerminationType: order.TerminationTypeCloseAccount,
			Items: []order.Item{{ItemID: "I"}}, RequestedBy: "jane"}
		if err := o.Validate(time.Now()); err != nil {
			t.Fatalf("order %s with account %s: %v", id, a, err)
		}
		if a != ordertest.Account(id) {
			t.Fatalf("order %s: account %s, then %s", id, a, ordertest.Account(id))
		}
		if other, ok := seen[a]; ok {
			t.Fatalf("orders %s and %s share account %s", other, id, a)
		}
		seen[a] = id
	}
}
