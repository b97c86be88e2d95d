package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cloudmarket/termination-orders/order"
	"github.com/cloudmarket/termination-orders/store"
)

// Each message keeps the request that made its change, AWS's answer it
// rests on and the order's facts as the change left them, to the
// nanosecond the facts were given in; a message without them reads back
// without them.
func TestMessagesKeepTheirChangesFacts(t *testing.T) {
	forEachStore(t, func(t *testing.T, _ string, s *store.Store) {
		ctx := context.Background()
		t0 := time.Date(2026, 11, 26, 14, 3, 0, 500_000, time.UTC)
		check := &order.AWSCheck{Operation: "DescribeAccount", State: "SUSPENDED", At: t0.Add(time.Minute)}
		facts := &order.Facts{
			AccountID: "123456789012", SubscriptionID: "SUB-1",
			ClosedAt: t0.Add(time.Minute + 123), ReopenDeadline: t0.Add(90*24*time.Hour + time.Minute + 123),
			AWS: []order.AWSCheck{*check},
		}
		first := message("ORD-F", 1, t0)
		second := message("ORD-F", 2, t0.Add(time.Hour))
		second.RequestID, second.AWS, second.Facts = "U-1", check, facts
		for _, m := range []store.Message{first, second} {
			_, err := s.Record(ctx, m)
			require.NoError(t, err)
		}
		msgs, err := s.LatestLife(ctx, "ORD-F")
		require.NoError(t, err)
		require.Len(t, msgs, 2)
		require.Nil(t, msgs[0].Facts)
		require.Nil(t, msgs[0].AWS)
		require.Empty(t, msgs[0].RequestID)
		require.Equal(t, "U-1", msgs[1].RequestID)
		require.Equal(t, check, msgs[1].AWS)
		require.Equal(t, facts, msgs[1].Facts)
		require.Equal(t, order.TimelineEntry{Seq: 2, Time: t0.Add(time.Hour), Stage: order.StagePostClosure, Message: "message 2", RequestID: "U-1", AWS: check},
			msgs[1].Entry())
	})
}

// LatestLife is the order's latest life only, in sequence order: a life
// that failed on invalid input and the one after it are two timelines.
func TestLatestLifeIsTheNewestLife(t *testing.T) {
	forEachStore(t, func(t *testing.T, _ string, s *store.Store) {
		ctx := context.Background()
		t0 := time.Date(2026, 11, 26, 14, 3, 0, 0, time.UTC)
		failed := store.Message{OrderID: "ORD-L", RunID: "run-1", Seq: 1, Stage: order.StageFailed, OrderStatus: order.OrderStatusFailed, Text: "failed", OccurredAt: t0}
		second := message("ORD-L", 1, t0.Add(time.Hour))
		second.RunID = "run-2"
		third := message("ORD-L", 2, t0.Add(2*time.Hour))
		third.RunID = "run-2"
		for _, m := range []store.Message{third, failed, second, message("ORD-OTHER", 1, t0.Add(3*time.Hour))} {
			_, err := s.Record(ctx, m)
			require.NoError(t, err)
		}
		msgs, err := s.LatestLife(ctx, "ORD-L")
		require.NoError(t, err)
		require.Len(t, msgs, 2)
		require.Equal(t, []int{1, 2}, []int{msgs[0].Seq, msgs[1].Seq})
		require.Equal(t, "run-2", msgs[0].RunID)
		none, err := s.LatestLife(ctx, "ORD-NONE")
		require.NoError(t, err)
		require.Empty(t, none)
	})
}
