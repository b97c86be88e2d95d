package starter_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/cloudmarket/termination-orders/activities"
	"github.com/cloudmarket/termination-orders/order"
	"github.com/cloudmarket/termination-orders/starter"
	"github.com/cloudmarket/termination-orders/store"
	"github.com/cloudmarket/termination-orders/workflows"
)

// Defect: an unlink signal and a cancel sent at the same moment; history
// showed the signal first, yet the order ended Cancelled and both callers
// were told they succeeded. Here both reach the order in one workflow task
// (the worker is down while they are sent): the signal, recorded first, wins
// and the cancel's caller is told it was refused.
func TestUnlinkSignalAndCancelInOneWorkflowTask(t *testing.T) {
	e := newEnv(t, 2*time.Second)
	ctx := context.Background()
	run := start(t, e, "ORD-RACE")
	e.worker.Stop()

	require.NoError(t, e.temporal.SignalWorkflow(ctx, order.WorkflowID("ORD-RACE"), "", workflows.SignalUnlinkCompleted, ops()))
	cancelled := make(chan error, 1)
	go func() {
		_, err := e.orders.Cancel(ctx, "ORD-RACE", order.Request{RequestedBy: "jane", Reason: "race"})
		cancelled <- err
	}()
	time.Sleep(time.Second) // the update reaches the server
	e.newWorker(t)

	err := <-cancelled
	require.ErrorIs(t, err, starter.ErrRejected, "the cancel must not be told it succeeded")
	require.ErrorContains(t, err, "already unlinked and closed")
	finish(t, e, "ORD-RACE", run, order.StagePermanentlyClosed)
	requireNoFailedWorkflowTasks(t, e, "ORD-RACE")
}

// blockingStore holds the write of one stage until released, so that a test
// can send something while the workflow task that completes the order runs.
type blockingStore struct {
	*store.Store
	stage   order.Stage
	reached chan struct{}
	release chan struct{}
	once    sync.Once
}

func (b *blockingStore) Record(ctx context.Context, m store.Message) (bool, error) {
	if m.Stage == b.stage {
		b.once.Do(func() {
			close(b.reached)
			<-b.release
		})
	}
	return b.Store.Record(ctx, m)
}

// Defect: the loser of the race got "unexpected workflow task failure" (the
// server fails the task that completes the order when a signal arrives during
// it, and drops the update it carried). The starter sends the request again
// and its caller gets the truth: refused, the account was unlinked.
func TestCancelDroppedWithAFailedTaskGetsTheTruth(t *testing.T) {
	blocking := &blockingStore{stage: order.StageCancelled, reached: make(chan struct{}), release: make(chan struct{})}
	e := newEnvWithStore(t, 2*time.Second, func(s *store.Store) activities.StatusStore {
		blocking.Store = s
		return blocking
	})
	ctx := context.Background()
	run := start(t, e, "ORD-LOSER")
	cancelled := make(chan error, 1)
	go func() {
		_, err := e.orders.Cancel(ctx, "ORD-LOSER", order.Request{RequestedBy: "jane", Reason: "race", RequestID: "C-LOSER"})
		cancelled <- err
	}()
	<-blocking.reached // the task that cancels and completes the order is running
	require.NoError(t, e.temporal.SignalWorkflow(ctx, order.WorkflowID("ORD-LOSER"), "", workflows.SignalUnlinkCompleted, ops()))
	time.Sleep(200 * time.Millisecond)
	close(blocking.release)

	err := <-cancelled
	final := settleStatus(t, e, "ORD-LOSER", run)
	switch final.Stage {
	case order.StageCancelled:
		require.NoError(t, err, "the order is cancelled: its caller must be told so")
	default:
		require.ErrorIs(t, err, starter.ErrRejected, "the order was unlinked: the cancel must be told it was refused")
		require.ErrorContains(t, err, "already unlinked and closed")
		require.Equal(t, order.StagePermanentlyClosed, final.Stage)
	}
	require.NotContains(t, errString(err), "unexpected workflow task failure")
}

// A request ID makes a retry get the original answer, also after the order
// has ended; another request is told why not.
func TestRetryWithTheRequestIDAfterTheOrderEnded(t *testing.T) {
	e := newEnv(t, 2*time.Second)
	ctx := context.Background()
	run := start(t, e, "ORD-RETRY")
	req := order.Request{RequestedBy: "jane", Reason: "Placed by mistake", RequestID: "REQ-1"}
	first, err := e.orders.Cancel(ctx, "ORD-RETRY", req)
	require.NoError(t, err)
	finish(t, e, "ORD-RETRY", run, order.StageCancelled)

	again, err := e.orders.Cancel(ctx, "ORD-RETRY", req)
	require.NoError(t, err, "the retry gets the original answer")
	require.Equal(t, first.Timeline, again.Timeline)

	req.RequestID = "REQ-2"
	_, err = e.orders.Cancel(ctx, "ORD-RETRY", req)
	require.ErrorIs(t, err, starter.ErrRejected)
	require.ErrorContains(t, err, "already cancelled")
}

// With no worker to decide, a request's caller is told its outcome is
// unknown, with the request ID to retry with; the retry, once a worker is
// back, gets the one answer.
func TestOutcomeUnknownThenRetried(t *testing.T) {
	e := newEnv(t, 2*time.Second)
	run := start(t, e, "ORD-UNKNOWN")
	e.worker.Stop()

	short, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req := order.Request{RequestedBy: "jane", Reason: "Placed by mistake", RequestID: "REQ-U"}
	_, err := e.orders.Cancel(short, "ORD-UNKNOWN", req)
	require.ErrorIs(t, err, starter.ErrOutcomeUnknown)
	var unknown *starter.OutcomeUnknownError
	require.True(t, errors.As(err, &unknown))
	require.Equal(t, "REQ-U", unknown.RequestID)
	require.ErrorContains(t, err, "terminationctl status ORD-UNKNOWN")

	e.newWorker(t)
	s, err := e.orders.Cancel(context.Background(), "ORD-UNKNOWN", req)
	require.NoError(t, err)
	require.Equal(t, order.StageCancelled, s.Stage)
	finish(t, e, "ORD-UNKNOWN", run, order.StageCancelled)
	require.Len(t, s.Timeline, 2, "cancelled once")
}

// Defect: the close time was when a worker handled the report, so a killed
// worker moved the deadline. The starter stamps the time it reports; a raw
// signal without one closes at the server's time for the signal.
func TestCloseTimeIsWhenTheUnlinkWasReported(t *testing.T) {
	e := newEnv(t, time.Hour)
	ctx := context.Background()
	start(t, e, "ORD-STAMP")
	start(t, e, "ORD-SIGNAL")
	e.worker.Stop()

	reported := time.Now().UTC()
	confirmed := make(chan order.Status, 1)
	go func() {
		s, err := e.orders.ConfirmUnlink(ctx, "ORD-STAMP", ops())
		require.NoError(t, err)
		confirmed <- s
	}()
	signalled := time.Now().UTC()
	require.NoError(t, e.temporal.SignalWorkflow(ctx, order.WorkflowID("ORD-SIGNAL"), "", workflows.SignalUnlinkCompleted, ops()))
	time.Sleep(3 * time.Second) // the worker is late
	e.newWorker(t)

	s := <-confirmed
	require.WithinDuration(t, reported, s.ClosedAt, 1500*time.Millisecond)
	require.Equal(t, s.ClosedAt.Add(time.Hour), s.ReopenDeadline)
	post := e.waitForStage(t, "ORD-SIGNAL", order.StagePostClosure)
	require.WithinDuration(t, signalled, post.ClosedAt, time.Second, "the server's receive time, not the late worker's")
}

// Defect: an order terminated in its window could be started again. The
// starter refuses it; the workflow's own acceptance step refuses a raw start.
func TestTerminatedOrderIsNotStartedAgain(t *testing.T) {
	e := newEnv(t, time.Hour)
	ctx := context.Background()
	first := start(t, e, "ORD-TERM")
	require.NoError(t, e.temporal.TerminateWorkflow(ctx, order.WorkflowID("ORD-TERM"), first, "operator"))
	_, err := e.orders.Start(ctx, newOrder("ORD-TERM"))
	require.ErrorIs(t, err, starter.ErrOrderExists)

	// A failed run (invalid input) may be followed by the corrected order.
	bad := newOrder("ORD-FIXED")
	bad.AccountID = "1"
	run, err := e.temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: order.WorkflowID("ORD-FIXED"), TaskQueue: taskQueue}, workflows.WorkflowType, bad)
	require.NoError(t, err)
	require.Error(t, run.Get(ctx, nil))
	_, err = e.orders.Start(ctx, newOrder("ORD-FIXED"))
	require.NoError(t, err)
	e.waitForStage(t, "ORD-FIXED", order.StageAwaitingUnlink)
}

// settleStatus waits for the order's run to end, whatever its final stage,
// and returns its result, which the status the starter reads must match.
func settleStatus(t *testing.T, e *env, id, run string) order.Status {
	t.Helper()
	var result order.Status
	require.NoError(t, e.temporal.GetWorkflow(context.Background(), order.WorkflowID(id), run).Get(context.Background(), &result))
	s, err := e.orders.Status(context.Background(), id)
	require.NoError(t, err)
	require.Equal(t, result.Stage, s.Stage)
	return s
}

func requireNoFailedWorkflowTasks(t *testing.T, e *env, id string) {
	t.Helper()
	for _, ev := range history(t, e.temporal, order.WorkflowID(id), "").GetEvents() {
		require.NotEqual(t, enumspb.EVENT_TYPE_WORKFLOW_TASK_FAILED, ev.GetEventType(), "event %d", ev.GetEventId())
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
