package store_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/cloudmarket/termination-orders/internal/pgtest"
	"github.com/cloudmarket/termination-orders/order"
	"github.com/cloudmarket/termination-orders/store"
)

// BenchmarkClaim is what guarding the account costs an order: Claim (at
// acceptance) with the Record that releases it (at its end), beside the same
// Record of an order without a claim. The difference is the claim's cost.
// Each order has an account of its own, as orders mostly do; p50 and p99 are
// the latency of one operation.
func BenchmarkClaim(b *testing.B) {
	for _, db := range []struct {
		name string
		dsn  func(b *testing.B) string
	}{
		{"sqlite", func(b *testing.B) string { return "sqlite:" + filepath.Join(b.TempDir(), "status.db") }},
		{"postgres", func(b *testing.B) string { return pgtest.NewDatabase(b) }},
	} {
		b.Run(db.name, func(b *testing.B) {
			ctx := context.Background()
			s, err := store.Open(ctx, db.dsn(b))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			next := 0
			newClaim := func() order.Claim {
				next++
				return order.Claim{
					AccountID: fmt.Sprintf("%012d", next), OrderID: fmt.Sprintf("BENCH-%d", next), SubscriptionID: "SUB-1",
					RunKey: fmt.Sprintf("run-%d", next), ClaimedAt: time.Now(),
				}
			}
			release := func(c order.Claim) store.Message {
				return store.Message{OrderID: c.OrderID, RunID: c.RunKey, Seq: 2, Stage: order.StageCancelled,
					OrderStatus: order.StageCancelled.OrderStatus(), Text: "cancelled", OccurredAt: time.Now()}
			}
			b.Run("ClaimAndRelease", func(b *testing.B) {
				timed(b, func() {
					c := newClaim()
					if err := s.Claim(ctx, c); err != nil {
						b.Fatal(err)
					}
					if _, err := s.Record(ctx, release(c)); err != nil {
						b.Fatal(err)
					}
				})
			})
			b.Run("Record", func(b *testing.B) {
				timed(b, func() {
					if _, err := s.Record(ctx, release(newClaim())); err != nil {
						b.Fatal(err)
					}
				})
			})
		})
	}
}

// timed runs op b.N times and reports its p50 and p99 latency beside ns/op.
func timed(b *testing.B, op func()) {
	var took []time.Duration
	for b.Loop() {
		start := time.Now()
		op()
		took = append(took, time.Since(start))
	}
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(took[len(took)*99/100].Microseconds()), "p99-µs")
}
