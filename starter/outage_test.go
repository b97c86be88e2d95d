package starter_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/server/temporaltest"

	"github.com/cloudmarket/termination-orders/activities"
	"github.com/cloudmarket/termination-orders/internal/netfault"
	"github.com/cloudmarket/termination-orders/internal/pgtest"
	"github.com/cloudmarket/termination-orders/order"
	"github.com/cloudmarket/termination-orders/starter"
	"github.com/cloudmarket/termination-orders/store"
	"github.com/cloudmarket/termination-orders/worker"
)

// Defect: while the status store's PostgreSQL was unreachable, queries failed
// after 10 s, unlinks sent nothing, and reopen and cancel timed out although
// they were applied. With the store black-holed (accepting, never
// answering), every caller here gets its answer within its own timeout.
func TestCallersAreAnsweredWhileTheStoreIsBlackHoled(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	proxy, err := netfault.Listen("127.0.0.1:5432")
	require.NoError(t, err)
	t.Cleanup(func() { proxy.Close() })
	ctx := context.Background()
	st, err := store.Open(ctx, strings.Replace(dsn, "127.0.0.1:5432", proxy.Addr(), 1))
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })

	ts := temporaltest.NewServer(temporaltest.WithT(t))
	c := ts.GetDefaultClient()
	require.NoError(t, worker.RegisterSearchAttributes(ctx, c, ts.GetDefaultNamespace()))
	w := worker.New(c, st, worker.Options{TaskQueue: taskQueue, Policy: activities.Policy{ReopenWindow: time.Hour}, StopTimeout: 5 * time.Second})
	require.NoError(t, w.Start())
	t.Cleanup(w.Stop)
	orders := starter.New(c, taskQueue)
	e := &env{temporal: c, orders: orders}
	start(t, e, "ORD-OUT-1")
	start(t, e, "ORD-OUT-2")

	require.NoError(t, proxy.Set(netfault.BlackHole))
	answered := func(timeout time.Duration) (context.Context, context.CancelFunc) {
		return context.WithTimeout(ctx, timeout)
	}

	// Operations' unlink is decided without the store.
	c1, cancel1 := answered(10 * time.Second)
	defer cancel1()
	s, err := orders.ConfirmUnlink(c1, "ORD-OUT-1", ops())
	require.NoError(t, err)
	require.Equal(t, order.StagePostClosure, s.Stage)

	// A cancel that comes after it is refused, with the reason.
	c2, cancel2 := answered(10 * time.Second)
	defer cancel2()
	_, err = orders.Cancel(c2, "ORD-OUT-1", order.Request{RequestedBy: "jane", Reason: "late"})
	require.ErrorIs(t, err, starter.ErrRejected)

	// A cancel of the other order is applied and answered.
	c3, cancel3 := answered(10 * time.Second)
	defer cancel3()
	s, err = orders.Cancel(c3, "ORD-OUT-2", order.Request{RequestedBy: "jane", Reason: "changed my mind"})
	require.NoError(t, err)
	require.Equal(t, order.StageCancelled, s.Stage)

	// The status query answers.
	c4, cancel4 := answered(10 * time.Second)
	defer cancel4()
	s, err = orders.Status(c4, "ORD-OUT-1")
	require.NoError(t, err)
	require.Equal(t, order.StagePostClosure, s.Stage)

	// A new order cannot be accepted without the store: its start is told, in
	// its own time, that the outcome is unknown. The order waits for its
	// acceptance, and requests to it say so. (A request that reaches it in
	// its very first workflow task is held until the acceptance instead: its
	// caller is told the outcome is unknown, and the request is applied once
	// the store is back.)
	c0, cancel0 := answered(10 * time.Second)
	defer cancel0()
	_, err = orders.Start(c0, newOrder("ORD-OUT-3"))
	require.ErrorIs(t, err, starter.ErrOutcomeUnknown)
	require.ErrorContains(t, err, "may or may not have been accepted")
	held := false
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		c5, cancel5 := answered(10 * time.Second)
		defer cancel5()
		_, err := orders.Cancel(c5, "ORD-OUT-3", order.Request{RequestedBy: "jane", Reason: "early"})
		if errors.Is(err, starter.ErrOutcomeUnknown) {
			held = true
		}
		require.ErrorIs(ct, err, starter.ErrRejected)
		require.ErrorContains(ct, err, "still being accepted")
	}, 60*time.Second, time.Second)
	out3 := []order.Stage{order.StageAwaitingUnlink}
	if held {
		out3 = append(out3, order.StageCancelled)
	}

	require.NoError(t, proxy.Set(netfault.Forward))
	// Every message lands once the store is back.
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		for id, want := range map[string][]order.Stage{
			"ORD-OUT-1": {order.StageAwaitingUnlink, order.StagePostClosure},
			"ORD-OUT-2": {order.StageAwaitingUnlink, order.StageCancelled},
			"ORD-OUT-3": out3,
		} {
			msgs, err := st.Timeline(ctx, id)
			require.NoError(ct, err)
			var got []order.Stage
			for _, m := range msgs {
				got = append(got, m.Stage)
			}
			require.Equal(ct, want, got, id)
		}
	}, 90*time.Second, time.Second)
}
