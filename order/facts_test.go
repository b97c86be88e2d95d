package order_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cloudmarket/termination-orders/order"
)

// A status rebuilt from its timeline and the facts its latest change left
// is the status itself, and shares nothing with them.
func TestStatusFromItsTimelineAndFacts(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	s := order.NewStatus(order.Order{OrderID: "ORD-1", SubscriptionID: "SUB-1", AccountID: "123456789012"})
	s.Enter(order.StageAwaitingUnlink, t0, "submitted")
	s.Checked(order.AWSCheck{Operation: "DescribeAccount", State: "SUSPENDED", At: t0.Add(time.Hour)})
	s.ClosedAt, s.ReopenDeadline = t0.Add(time.Hour), t0.Add(time.Hour+order.DefaultReopenWindow)
	s.EnterFor("U-1", order.StagePostClosure, t0.Add(time.Hour), "closed")

	f := s.Facts()
	got := order.StatusFrom(s.OrderID, s.Timeline, f)
	require.Equal(t, s, got)
	got.AWS[0].State = "ACTIVE"
	got.Timeline[0].Message = "changed"
	require.Equal(t, "SUSPENDED", s.AWS[0].State)
	require.Equal(t, "SUSPENDED", f.AWS[0].State)
	require.Equal(t, "submitted", s.Timeline[0].Message)

	empty := order.StatusFrom("ORD-2", nil, order.Facts{})
	require.NotNil(t, empty.Timeline, "an empty timeline is [] in JSON, as the workflow's")
}

// An order only moves forward through the stages.
func TestStagesComeInTheOrderOfALife(t *testing.T) {
	require.True(t, order.StageAwaitingUnlink.Before(order.StageClosing))
	require.True(t, order.StageClosing.Before(order.StagePostClosure))
	require.True(t, order.StagePostClosure.Before(order.StageReopened))
	require.True(t, order.StageAwaitingUnlink.Before(order.StageCancelled))
	require.False(t, order.StagePostClosure.Before(order.StagePostClosure))
	require.False(t, order.StagePermanentlyClosed.Before(order.StagePostClosure))
	require.False(t, order.StagePostClosure.Before(order.Stage("")), "an unknown stage is never ahead")
}
