// Package ordertest gives test orders AWS accounts that do not collide: the
// status store refuses an order whose account another live order holds, or
// that was closed for good, so two test orders on one store must not share
// an account unless the test is about that.
package ordertest

import (
	"fmt"
	"hash/fnv"
)

// Account is the 12-digit AWS account of a test order, derived from its ID:
// the same ID always has the same account, so a test can assert on it, and
// different IDs practically never share one.
func Account(orderID string) string {
	h := fnv.New64a()
	h.Write([]byte(orderID))
	return fmt.Sprintf("%012d", h.Sum64()%1_000_000_000_000)
}
