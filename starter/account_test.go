package starter_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/server/temporaltest"

	"github.com/cloudmarket/termination-orders/activities"
	"github.com/cloudmarket/termination-orders/internal/pgtest"
	"github.com/cloudmarket/termination-orders/order"
	"github.com/cloudmarket/termination-orders/starter"
	"github.com/cloudmarket/termination-orders/store"
	"github.com/cloudmarket/termination-orders/worker"
	"github.com/cloudmarket/termination-orders/workflows"
)

// forAccount is a valid order of subscription sub for the AWS account acct.
func forAccount(id, sub, acct string) order.Order {
	o := newOrder(id)
	o.SubscriptionID, o.AccountID = sub, acct
	return o
}

// requireRefused checks that a start was refused because of holder, and
// that the refused order's run failed with nothing but its own page written.
func requireRefused(t *testing.T, e *env, run starter.Run, err error, sentinel error, holder string) *starter.AccountRefusedError {
	t.Helper()
	var refused *starter.AccountRefusedError
	require.ErrorAs(t, err, &refused)
	require.ErrorIs(t, err, sentinel)
	require.Equal(t, holder, refused.Holder.OrderID, "the refusal names the order that holds the account")
	require.Contains(t, err.Error(), "by order "+holder)

	var appErr *temporal.ApplicationError
	require.ErrorAs(t, e.temporal.GetWorkflow(context.Background(), run.WorkflowID, run.RunID).Get(context.Background(), nil), &appErr)
	require.Equal(t, string(refused.Kind), appErr.Type(), "the refused order's run ends Failed with that reason")
	latest, err := e.store.Latest(context.Background(), run.OrderID)
	require.NoError(t, err)
	require.Equal(t, run.RunID, latest.RunID, "its own page says why")
	require.Equal(t, order.StageFailed, latest.Stage)
	require.Contains(t, latest.Text, "by order "+holder)
	return refused
}

// waitForStored waits until the store holds the order's message of stage.
func waitForStored(t *testing.T, e *env, id string, stage order.Stage) {
	t.Helper()
	require.Eventually(t, func() bool {
		m, err := e.store.Latest(context.Background(), id)
		return err == nil && m.Stage == stage
	}, 30*time.Second, 20*time.Millisecond)
}

// The reproduction of the defect: three orders for one AWS account were all
// accepted, and the customer was told both that the account stays and that
// it is closed for good. Now one order holds the account; the others are
// refused at the call, naming it; once it is closed for good, every later
// order is refused with that date.
func TestOneAccountOneFate(t *testing.T) {
	e := newEnv(t, 3*time.Second)
	ctx := context.Background()
	const acct = "999999999999"

	a, err := e.orders.Start(ctx, forAccount("DUP-A", "SUB-1", acct))
	require.NoError(t, err)
	c, err := e.orders.Start(ctx, forAccount("DUP-C", "SUB-1", acct))
	refused := requireRefused(t, e, c, err, starter.ErrAccountInTermination, "DUP-A")
	require.Equal(t, order.StageAwaitingUnlink, refused.Holder.Stage)
	require.Equal(t, "SUB-1", refused.Holder.SubscriptionID)
	b, err := e.orders.Start(ctx, forAccount("DUP-B", "SUB-2", acct))
	requireRefused(t, e, b, err, starter.ErrAccountInTermination, "DUP-A")

	// The holder's page and life are untouched by the refusals.
	msgs, err := e.store.Timeline(ctx, "DUP-A")
	require.NoError(t, err)
	require.Len(t, msgs, 1)

	s, err := e.orders.ConfirmUnlink(ctx, "DUP-A", ops())
	require.NoError(t, err)
	waitForStored(t, e, "DUP-A", order.StagePostClosure) // its message is stored behind the answer
	c, err = e.orders.Start(ctx, forAccount("DUP-C", "SUB-1", acct))
	refused = requireRefused(t, e, c, err, starter.ErrAccountInTermination, "DUP-A")
	require.Equal(t, order.StagePostClosure, refused.Holder.Stage, "the refusal gives the holder's stage now")
	finish(t, e, "DUP-A", a.RunID, order.StagePermanentlyClosed)

	d, err := e.orders.Start(ctx, forAccount("DUP-D", "SUB-1", acct))
	requireRefused(t, e, d, err, starter.ErrAccountClosedForGood, "DUP-A")
	require.Contains(t, err.Error(), "closed for good on "+order.FormatTime(s.ReopenDeadline))

	// A client that is not ours starts one anyway: its run fails with the
	// reason, on its own page only.
	raw, err := e.temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: order.WorkflowID("DUP-E"), TaskQueue: taskQueue},
		workflows.WorkflowType, forAccount("DUP-E", "SUB-3", acct))
	require.NoError(t, err)
	var appErr *temporal.ApplicationError
	require.ErrorAs(t, raw.Get(ctx, nil), &appErr)
	require.Equal(t, workflows.ErrTypeAccountClosedForGood, appErr.Type())
	msgs, err = e.store.Timeline(ctx, "DUP-E")
	require.NoError(t, err)
	require.Len(t, msgs, 1)
	require.Contains(t, msgs[0].Text, "was closed for good on "+order.FormatTime(s.ReopenDeadline)+" by order DUP-A")

	acctRecord, err := e.store.Account(ctx, acct)
	require.NoError(t, err)
	require.Equal(t, order.AccountClosedForGood, acctRecord.State)
	require.Equal(t, "DUP-A", acctRecord.Holder.OrderID)
	require.Len(t, acctRecord.Orders, 1, "refused orders never held the account")
}

// A reopened order frees its account: a refused order can then be placed
// again and goes through, to the end (order, reopen, new order, closed for good).
func TestFreedAccountCanBeTerminatedAgain(t *testing.T) {
	e := newEnv(t, 3*time.Second)
	ctx := context.Background()
	const acct = "888888888888"
	first, err := e.orders.Start(ctx, forAccount("FREE-1", "SUB-F", acct))
	require.NoError(t, err)
	waiting, err := e.orders.Start(ctx, forAccount("FREE-2", "SUB-F", acct))
	requireRefused(t, e, waiting, err, starter.ErrAccountInTermination, "FREE-1")

	require.NoError(t, confirmed(e.orders.ConfirmUnlink(ctx, "FREE-1", ops())))
	_, err = e.orders.Reopen(ctx, "FREE-1", order.Request{RequestedBy: "jane.doe@example.com", Reason: "changed my mind"})
	require.NoError(t, err)
	finish(t, e, "FREE-1", first.RunID, order.StageReopened)

	second, err := e.orders.Start(ctx, forAccount("FREE-2", "SUB-F", acct))
	require.NoError(t, err, "the refused order is placed again once the account is free")
	require.NotEqual(t, waiting.RunID, second.RunID)
	require.NoError(t, confirmed(e.orders.ConfirmUnlink(ctx, "FREE-2", ops())))
	finish(t, e, "FREE-2", second.RunID, order.StagePermanentlyClosed)

	record, err := e.store.Account(ctx, acct)
	require.NoError(t, err)
	require.Equal(t, order.AccountClosedForGood, record.State)
	require.Equal(t, []string{"FREE-2", "FREE-1"}, []string{record.Orders[0].OrderID, record.Orders[1].OrderID}, "newest first")
	require.Equal(t, order.StageReopened, record.Orders[1].Stage)
}

// Twenty starts for one AWS account at once, from two clients each with its
// own worker, on PostgreSQL: exactly one is accepted, and the nineteen others
// are refused naming it.
func TestConcurrentStartsForOneAccountAcceptOne(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	ctx := context.Background()
	ts := temporaltest.NewServer(temporaltest.WithT(t))
	require.NoError(t, worker.RegisterSearchAttributes(ctx, ts.GetDefaultClient(), ts.GetDefaultNamespace()))
	var clients []*starter.Client
	for range 2 {
		c := ts.NewClientWithOptions(client.Options{})
		st, err := store.Open(ctx, dsn)
		require.NoError(t, err)
		t.Cleanup(func() { st.Close() })
		w := worker.New(c, st, worker.Options{TaskQueue: taskQueue, Policy: activities.Policy{ReopenWindow: time.Hour}, StopTimeout: 5 * time.Second})
		require.NoError(t, w.Start())
		t.Cleanup(w.Stop)
		clients = append(clients, starter.New(c, taskQueue))
	}

	const acct = "777777777777"
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		accepted []string
		holders  = map[string]int{}
		others   []error
	)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := "RACE-" + string(rune('A'+i))
			_, err := clients[i%2].Start(ctx, forAccount(id, "SUB-"+string(rune('A'+i%3)), acct))
			mu.Lock()
			defer mu.Unlock()
			var refused *starter.AccountRefusedError
			switch {
			case err == nil:
				accepted = append(accepted, id)
			case errors.As(err, &refused):
				holders[refused.Holder.OrderID]++
			default:
				others = append(others, err)
			}
		}()
	}
	wg.Wait()
	require.Empty(t, others)
	require.Len(t, accepted, 1, "exactly one order holds the account")
	require.Equal(t, map[string]int{accepted[0]: 19}, holders, "every refusal names the one accepted")

	st, err := store.Open(ctx, dsn)
	require.NoError(t, err)
	defer st.Close()
	record, err := st.Account(ctx, acct)
	require.NoError(t, err)
	require.Equal(t, order.AccountInTermination, record.State)
	require.Equal(t, accepted[0], record.Holder.OrderID)
	require.Len(t, record.Orders, 1)
}

// An order Temporal no longer holds (its retention is over) but the status
// store remembers is refused at the call, not only in its run.
func TestStartAfterRetentionIsAnsweredAlreadyProcessed(t *testing.T) {
	e := newEnv(t, time.Hour)
	ctx := context.Background()
	_, err := e.store.Record(ctx, store.Message{OrderID: "RET-1", RunID: "run-deleted-by-retention", Seq: 1,
		Stage: order.StageAwaitingUnlink, OrderStatus: order.OrderStatusProcessing, Text: "Submitted long ago", OccurredAt: time.Now().Add(-200 * 24 * time.Hour)})
	require.NoError(t, err)
	_, err = e.orders.Start(ctx, newOrder("RET-1"))
	require.ErrorIs(t, err, starter.ErrOrderAlreadyProcessed)
	require.ErrorContains(t, err, "already processed")
}

// A start racing the cancel of the order that holds the account is either
// refused, naming it, or accepted after the release: never both live.
func TestStartRacingTheHoldersCancel(t *testing.T) {
	e := newEnv(t, time.Hour)
	ctx := context.Background()
	for i := range 5 {
		acct := fmt.Sprintf("6666666666%02d", i)
		holder, next := fmt.Sprintf("RC-%d-H", i), fmt.Sprintf("RC-%d-N", i)
		_, err := e.orders.Start(ctx, forAccount(holder, "SUB-RC", acct))
		require.NoError(t, err)
		var cancelErr, startErr error
		race(func() {
			_, cancelErr = e.orders.Cancel(ctx, holder, order.Request{RequestedBy: "jane.doe@example.com", Reason: "race"})
		}, func() {
			_, startErr = e.orders.Start(ctx, forAccount(next, "SUB-RC", acct))
		})
		require.NoError(t, cancelErr)
		record, err := e.store.Account(ctx, acct)
		require.NoError(t, err)
		if startErr == nil {
			require.Equal(t, order.AccountInTermination, record.State)
			require.Equal(t, next, record.Holder.OrderID, "accepted after the release")
			require.Len(t, record.Orders, 2)
			require.Equal(t, order.StageCancelled, record.Orders[1].Stage)
			require.False(t, record.Orders[0].ClaimedAt.Before(record.Orders[1].EndedAt), "claimed only once the holder had let go")
		} else {
			require.ErrorIs(t, startErr, starter.ErrAccountInTermination)
			require.ErrorContains(t, startErr, "by order "+holder)
			waitForStored(t, e, holder, order.StageCancelled)
			record, err = e.store.Account(ctx, acct)
			require.NoError(t, err)
			require.Equal(t, order.AccountFree, record.State, "the refused start holds nothing")
			require.Len(t, record.Orders, 1)
		}
	}
}

// race runs both at the same moment and returns when both are done.
func race(a, b func()) {
	var wg sync.WaitGroup
	gate := make(chan struct{})
	for _, f := range []func(){a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			f()
		}()
	}
	close(gate)
	wg.Wait()
}

// An order terminated in Temporal before its unlink can never reach a final
// stage; its account was never closed, so the next order for the account is
// accepted and the terminated one's claim ends as Failed. One terminated
// after the unlink keeps the account: it was closed, and nothing decided it.
func TestTerminatedHolderFreesItsAccountOnlyBeforeTheUnlink(t *testing.T) {
	e := newEnv(t, time.Hour)
	ctx := context.Background()
	const early, late = "555000000001", "555000000002"
	a, err := e.orders.Start(ctx, forAccount("TERM-A", "SUB-T", early))
	require.NoError(t, err)
	require.NoError(t, e.temporal.TerminateWorkflow(ctx, a.WorkflowID, a.RunID, "operator"))
	_, err = e.orders.Start(ctx, forAccount("TERM-B", "SUB-T", early))
	require.NoError(t, err, "the terminated order no longer holds the account")
	record, err := e.store.Account(ctx, early)
	require.NoError(t, err)
	require.Equal(t, "TERM-B", record.Holder.OrderID)
	require.Equal(t, order.StageFailed, record.Orders[1].Stage)
	require.False(t, record.Orders[1].EndedAt.IsZero())

	c, err := e.orders.Start(ctx, forAccount("TERM-C", "SUB-T", late))
	require.NoError(t, err)
	require.NoError(t, confirmed(e.orders.ConfirmUnlink(ctx, "TERM-C", ops())))
	waitForStored(t, e, "TERM-C", order.StagePostClosure)
	require.NoError(t, e.temporal.TerminateWorkflow(ctx, c.WorkflowID, c.RunID, "operator"))
	d, err := e.orders.Start(ctx, forAccount("TERM-D", "SUB-T", late))
	requireRefused(t, e, d, err, starter.ErrAccountInTermination, "TERM-C")
}
