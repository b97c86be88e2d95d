package starter_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	sdkpb "go.temporal.io/api/sdk/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/server/temporaltest"

	"github.com/cloudmarket/termination-orders/activities"
	"github.com/cloudmarket/termination-orders/internal/ordertest"
	"github.com/cloudmarket/termination-orders/order"
	"github.com/cloudmarket/termination-orders/starter"
	"github.com/cloudmarket/termination-orders/store"
	"github.com/cloudmarket/termination-orders/worker"
)

// env is a real in-process Temporal server with the real worker and a real
// SQLite status store behind it.
type env struct {
	worker   interface{ Stop() }
	temporal client.Client
	store    *store.Store
	orders   *starter.Client
	// queue is the task queue orders starts orders on.
	queue string
	// newWorker starts another worker like the first, for restarts.
	newWorker func(t testing.TB) interface{ Stop() }
	// onQueue starts a worker like the first on a task queue of its own, so
	// a test can stop it without holding up the orders of others.
	onQueue   func(t testing.TB, queue string) interface{ Stop() }
	namespace string
	// frontend is the server's host:port.
	frontend string
}

const taskQueue = "termination-orders-test"

func newEnv(t *testing.T, window time.Duration) *env {
	return newEnvWithStore(t, window, nil)
}

// newEnvWithStore is newEnv with the worker's status store wrapped, for
// faults; nil wraps nothing.
func newEnvWithStore(t *testing.T, window time.Duration, wrap func(*store.Store) activities.StatusStore, opts ...func(*worker.Options)) *env {
	t.Helper()
	o := worker.Options{Policy: activities.Policy{ReopenWindow: window}}
	for _, opt := range opts {
		opt(&o)
	}
	return newEnvWithOptions(t, o, wrap)
}

// newEnvWithOptions is newEnvWithStore with the worker's options (its
// policy, notifications); the task queue and stop timeout are the tests'.
func newEnvWithOptions(t testing.TB, opts worker.Options, wrap func(*store.Store) activities.StatusStore) *env {
	t.Helper()
	return newEnvOn(t, newTestServer(t), opts, wrap)
}

// newTestServer is a Temporal test server that stops when t ends; a
// benchmark's too.
func newTestServer(t testing.TB, opts ...temporaltest.TestServerOption) *temporaltest.TestServer {
	tt, ok := t.(*testing.T)
	if ok {
		opts = append(opts, temporaltest.WithT(tt))
	}
	ts := temporaltest.NewServer(opts...)
	if !ok {
		t.Cleanup(ts.Stop)
	}
	return ts
}

// newEnvOn is newEnvWithOptions on a test server of the caller's.
func newEnvOn(t testing.TB, ts *temporaltest.TestServer, opts worker.Options, wrap func(*store.Store) activities.StatusStore) *env {
	t.Helper()
	opts.TaskQueue, opts.StopTimeout = taskQueue, 5*time.Second
	c := ts.GetDefaultClient()
	ctx := context.Background()
	require.NoError(t, worker.RegisterSearchAttributes(ctx, c, ts.GetDefaultNamespace()))
	require.NoError(t, worker.CheckSearchAttributes(ctx, c, ts.GetDefaultNamespace()))
	st, err := store.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "status.db"))
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	var workerStore activities.StatusStore = st
	if wrap != nil {
		workerStore = wrap(st)
	}
	onQueue := func(t testing.TB, queue string) interface{ Stop() } {
		o := opts
		o.TaskQueue = queue
		w := worker.New(c, workerStore, o)
		require.NoError(t, w.Start())
		t.Cleanup(w.Stop)
		return w
	}
	newWorker := func(t testing.TB) interface{ Stop() } { return onQueue(t, taskQueue) }
	return &env{worker: newWorker(t), temporal: c, store: st, orders: starter.New(c, taskQueue), queue: taskQueue, newWorker: newWorker, onQueue: onQueue,
		namespace: ts.GetDefaultNamespace(), frontend: ts.GetFrontendHostPort()}
}

// newOrder is a valid order whose AWS account is its own, so
// that orders of different tests never hold each other's account.
func newOrder(id string) order.Order {
	return order.Order{
		OrderID: id, SubscriptionID: "SUB-" + id, AccountID: ordertest.Account(id),
		TerminationType: order.TerminationTypeCloseAccount,
		Items:           []order.Item{{ItemID: "ITM-1"}, {ItemID: "ITM-2"}},
		RequestedBy:     "jane.doe@example.com",
	}
}

func ops() order.UnlinkCompleted {
	return order.UnlinkCompleted{CompletedBy: "ops.sam@example.com", Reference: "OPS-7781"}
}

func (e *env) waitForStage(t testing.TB, orderID string, stage order.Stage) order.Status {
	t.Helper()
	return waitForStage(t, e.orders, orderID, stage)
}

func TestFullLifeAndClosedForGood(t *testing.T) {
	e := newEnv(t, 2*time.Second)
	ctx := context.Background()
	run, err := e.orders.Start(ctx, newOrder("ORD-LIFE"))
	require.NoError(t, err)
	require.Equal(t, "termination-ORD-LIFE", run.WorkflowID)
	require.Equal(t, order.StageAwaitingUnlink, e.waitForStage(t, "ORD-LIFE", order.StageAwaitingUnlink).Stage)

	require.NoError(t, confirmed(e.orders.ConfirmUnlink(ctx, "ORD-LIFE", ops())))
	post := e.waitForStage(t, "ORD-LIFE", order.StagePostClosure)
	require.Equal(t, post.ClosedAt.Add(2*time.Second), post.ReopenDeadline)
	final := e.waitForStage(t, "ORD-LIFE", order.StagePermanentlyClosed)

	// The workflow's own result is the final status.
	var result order.Status
	require.NoError(t, e.temporal.GetWorkflow(ctx, run.WorkflowID, run.RunID).Get(ctx, &result))
	require.Equal(t, order.StagePermanentlyClosed, result.Stage)

	// Every message in the store, in order, once.
	msgs, err := e.store.Timeline(ctx, "ORD-LIFE")
	require.NoError(t, err)
	require.Len(t, msgs, 3)
	for i, m := range msgs {
		require.Equal(t, final.Timeline[i].Stage, m.Stage)
		require.Equal(t, final.Timeline[i].Message, m.Text)
	}

	// Reopening now: closed for good, and since when.
	_, err = e.orders.Reopen(ctx, "ORD-LIFE", order.Request{RequestedBy: "jane.doe@example.com", Reason: "Need it back"})
	require.ErrorIs(t, err, starter.ErrClosedForGood)
	require.ErrorIs(t, err, starter.ErrRejected)
	require.ErrorContains(t, err, "closed for good since "+order.FormatTime(final.ReopenDeadline))

	// A late unlink report changes nothing and says so.
	err = confirmed(e.orders.ConfirmUnlink(ctx, "ORD-LIFE", ops()))
	require.ErrorIs(t, err, starter.ErrAlreadyUnlinked)
	require.ErrorContains(t, err, "was reported unlinked and closed on "+order.FormatTime(final.ClosedAt)+" (the order is PermanentlyClosed); nothing changed")
}

func TestReopenInsideTheWindow(t *testing.T) {
	e := newEnv(t, time.Hour)
	ctx := context.Background()
	_, err := e.orders.Start(ctx, newOrder("ORD-REOPEN"))
	require.NoError(t, err)
	// (A request that arrives while the order is being accepted is decided
	// just after: accepted by the validator, refused by the handler.)
	e.waitForStage(t, "ORD-REOPEN", order.StageAwaitingUnlink)

	// Before the unlink there is nothing to reopen.
	_, err = e.orders.Reopen(ctx, "ORD-REOPEN", order.Request{RequestedBy: "jane", Reason: "early"})
	require.ErrorIs(t, err, starter.ErrRejected)
	require.NotErrorIs(t, err, starter.ErrClosedForGood)
	require.ErrorContains(t, err, "has not been closed yet")

	require.NoError(t, confirmed(e.orders.ConfirmUnlink(ctx, "ORD-REOPEN", ops())))
	e.waitForStage(t, "ORD-REOPEN", order.StagePostClosure)
	s, err := e.orders.Reopen(ctx, "ORD-REOPEN", order.Request{RequestedBy: "jane", Reason: "Still need it"})
	require.NoError(t, err)
	require.Equal(t, order.StageReopened, s.Stage)
	// The reopen answers once decided; its message is stored behind it.
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		latest, err := e.store.Latest(ctx, "ORD-REOPEN")
		require.NoError(c, err)
		require.Equal(c, s.StatusMessage, latest.Text)
	}, 10*time.Second, 50*time.Millisecond)

	// The rejected reopen left no trace in history; the start's acceptance,
	// the unlink and the reopen did.
	accepted, rejected := updateEvents(t, e.temporal, "termination-ORD-REOPEN")
	require.Equal(t, 3, accepted)
	require.Equal(t, 0, rejected)
}

func updateEvents(t *testing.T, c client.Client, workflowID string) (accepted, rejected int) {
	t.Helper()
	it := c.GetWorkflowHistory(context.Background(), workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		require.NoError(t, err)
		switch ev.GetEventType() {
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
			accepted++
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_REJECTED:
			rejected++
		}
	}
	return accepted, rejected
}

func TestStartTwiceGivesOneWorkflow(t *testing.T) {
	e := newEnv(t, time.Hour)
	ctx := context.Background()
	first, err := e.orders.Start(ctx, newOrder("ORD-TWICE"))
	require.NoError(t, err)
	again, err := e.orders.Start(ctx, newOrder("ORD-TWICE"))
	require.ErrorIs(t, err, starter.ErrOrderExists)
	require.ErrorContains(t, err, first.RunID)
	require.Equal(t, first.RunID, again.RunID, "the answer names the existing run")

	// Duplicate unlink: accepted, changes nothing.
	require.NoError(t, confirmed(e.orders.ConfirmUnlink(ctx, "ORD-TWICE", ops())))
	s := e.waitForStage(t, "ORD-TWICE", order.StagePostClosure)
	later := ops()
	later.CompletedBy = "someone.else@example.com"
	require.ErrorIs(t, confirmed(e.orders.ConfirmUnlink(ctx, "ORD-TWICE", later)), starter.ErrAlreadyUnlinked)
	after, err := e.orders.Status(ctx, "ORD-TWICE")
	require.NoError(t, err)
	require.Equal(t, s.ClosedAt, after.ClosedAt)
	require.Len(t, after.Timeline, 2)

	// Cancel after the unlink is refused, with the way out.
	_, err = e.orders.Cancel(ctx, "ORD-TWICE", order.Request{RequestedBy: "jane", Reason: "oops"})
	require.ErrorIs(t, err, starter.ErrRejected)
	require.ErrorContains(t, err, "reopen the account before")
}

func TestCancelBeforeUnlink(t *testing.T) {
	e := newEnv(t, time.Hour)
	ctx := context.Background()
	_, err := e.orders.Start(ctx, newOrder("ORD-CANCEL"))
	require.NoError(t, err)
	s, err := e.orders.Cancel(ctx, "ORD-CANCEL", order.Request{RequestedBy: "jane", Reason: "Keeping it"})
	require.NoError(t, err)
	require.Equal(t, order.StageCancelled, s.Stage)
	require.Equal(t, order.OrderStatusFailed, s.OrderStatus)
	// Once cancelled, the order is over: a second cancel says so.
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		_, err := e.orders.Cancel(ctx, "ORD-CANCEL", order.Request{RequestedBy: "jane", Reason: "again"})
		require.ErrorIs(c, err, starter.ErrRejected)
		require.ErrorContains(c, err, "already cancelled")
	}, 10*time.Second, 100*time.Millisecond)
}

func TestBadInputStartsNothing(t *testing.T) {
	e := newEnv(t, time.Hour)
	ctx := context.Background()
	bad := newOrder("ORD-BAD")
	bad.AccountID = "1234"
	bad.Items[1].Quantity = 3
	_, err := e.orders.Start(ctx, bad)
	var verr *order.ValidationError
	require.ErrorAs(t, err, &verr)
	require.ErrorContains(t, err, "accountId: must be a 12-digit AWS account ID")
	require.ErrorContains(t, err, "items[1].quantity: must be 0")
	_, err = e.temporal.DescribeWorkflowExecution(ctx, "termination-ORD-BAD", "")
	var nf *serviceerror.NotFound
	require.True(t, errors.As(err, &nf), "nothing was started: %v", err)

	// Bad requests on an existing order change nothing either.
	_, err = e.orders.Start(ctx, newOrder("ORD-OK"))
	require.NoError(t, err)
	require.ErrorContains(t, confirmed(e.orders.ConfirmUnlink(ctx, "ORD-OK", order.UnlinkCompleted{CompletedBy: "ops"})), "reference: is required")
	typo := ops()
	typo.CompletedAt = "2020-01-01T00:00:00Z"
	require.ErrorContains(t, confirmed(e.orders.ConfirmUnlink(ctx, "ORD-OK", typo)), "completedAt: must not be before the order was placed")
	_, err = e.orders.Cancel(ctx, "ORD-OK", order.Request{RequestedBy: "jane", Reason: "bad\x00byte"})
	require.ErrorContains(t, err, "reason: must not contain control characters")
	_, err = e.orders.Reopen(ctx, "ORD-OK", order.Request{})
	require.ErrorContains(t, err, "requestedBy: is required")
	_, err = e.orders.Status(ctx, "ORD OK")
	require.ErrorContains(t, err, "orderId: may contain only letters")
	s, err := e.orders.Status(ctx, "ORD-OK")
	require.NoError(t, err)
	require.Equal(t, order.StageAwaitingUnlink, s.Stage)
	require.Len(t, s.Timeline, 1)

	_, err = e.orders.List(ctx, starter.ListRequest{Stage: "Closed", PageSize: 5000})
	require.ErrorContains(t, err, `stage: must be one of AwaitingUnlink, Closing, PostClosure`)
	require.ErrorContains(t, err, `pageSize: must be between 1 and 1000, got 5000`)
}

func TestUnknownOrder(t *testing.T) {
	e := newEnv(t, time.Hour)
	_, err := e.orders.Status(context.Background(), "ORD-NOPE")
	require.ErrorIs(t, err, starter.ErrOrderNotFound)
	err = confirmed(e.orders.ConfirmUnlink(context.Background(), "ORD-NOPE", ops()))
	require.ErrorIs(t, err, starter.ErrOrderNotFound)
}

func TestListByStage(t *testing.T) {
	e := newEnv(t, time.Hour)
	ctx := context.Background()
	for _, id := range []string{"ORD-L1", "ORD-L2", "ORD-L3"} {
		_, err := e.orders.Start(ctx, newOrder(id))
		require.NoError(t, err)
	}
	require.NoError(t, confirmed(e.orders.ConfirmUnlink(ctx, "ORD-L2", ops())))
	post := e.waitForStage(t, "ORD-L2", order.StagePostClosure)

	require.EventuallyWithT(t, func(c *assert.CollectT) {
		page, err := e.orders.List(ctx, starter.ListRequest{Stage: order.StagePostClosure})
		require.NoError(c, err)
		list := page.Orders
		require.Len(c, list, 1)
		require.Equal(c, "ORD-L2", list[0].OrderID)
		require.Equal(c, ordertest.Account("ORD-L2"), list[0].AccountID)
		require.Equal(c, "SUB-ORD-L2", list[0].SubscriptionID)
		require.True(c, post.ReopenDeadline.Equal(list[0].ReopenDeadline), "deadline %v vs %v", post.ReopenDeadline, list[0].ReopenDeadline)

		awaiting, err := e.orders.List(ctx, starter.ListRequest{Stage: order.StageAwaitingUnlink})
		require.NoError(c, err)
		var ids []string
		for _, s := range awaiting.Orders {
			ids = append(ids, s.OrderID)
		}
		require.ElementsMatch(c, []string{"ORD-L1", "ORD-L3"}, ids)

		// Page by page, never everything at once: 2, then 1, then the end.
		first, err := e.orders.List(ctx, starter.ListRequest{PageSize: 2})
		require.NoError(c, err)
		require.Len(c, first.Orders, 2)
		require.NotEmpty(c, first.NextPageToken)
		second, err := e.orders.List(ctx, starter.ListRequest{PageSize: 2, PageToken: first.NextPageToken})
		require.NoError(c, err)
		require.Len(c, second.Orders, 1)
		require.NotEqual(c, first.Orders[0].OrderID, second.Orders[0].OrderID)
	}, 30*time.Second, 200*time.Millisecond)
	require.True(t, strings.Contains(starter.ListQuery(order.StagePostClosure), "TerminationStage = 'PostClosure'"))
}

// A person reading the Web UI understands the order without decoding
// payloads; and nothing but the reopen window decides when it ends.
func TestWebUIMetadataAndNoTimeouts(t *testing.T) {
	e := newEnv(t, time.Hour)
	ctx := context.Background()
	run, err := e.orders.Start(ctx, newOrder("ORD-UI"))
	require.NoError(t, err)
	require.NoError(t, confirmed(e.orders.ConfirmUnlink(ctx, "ORD-UI", ops())))
	e.waitForStage(t, "ORD-UI", order.StagePostClosure)

	desc, err := e.temporal.DescribeWorkflowExecution(ctx, run.WorkflowID, run.RunID)
	require.NoError(t, err)
	cfg := desc.GetExecutionConfig()
	require.Zero(t, cfg.GetWorkflowExecutionTimeout().AsDuration(), "no execution timeout may cut the window short")
	require.Zero(t, cfg.GetWorkflowRunTimeout().AsDuration(), "no run timeout may cut the window short")
	var summary, details string
	require.NoError(t, converter.GetDefaultDataConverter().FromPayload(cfg.GetUserMetadata().GetSummary(), &summary))
	require.NoError(t, converter.GetDefaultDataConverter().FromPayload(cfg.GetUserMetadata().GetDetails(), &details))
	require.Equal(t, "Close AWS account "+ordertest.Account("ORD-UI")+" permanently (order ORD-UI, subscription SUB-ORD-UI)", summary)
	require.Contains(t, details, "requested by jane.doe@example.com")

	// Current details, as the UI reads them through the built-in metadata query.
	v, err := e.temporal.QueryWorkflow(ctx, run.WorkflowID, run.RunID, "__temporal_workflow_metadata")
	require.NoError(t, err)
	var meta sdkpb.WorkflowMetadata
	require.NoError(t, v.Get(&meta))
	require.Contains(t, meta.GetCurrentDetails(), "**PostClosure** (order ORD-UI)")
	require.Contains(t, meta.GetCurrentDetails(), "ref. OPS-7781")

	// The reopen-window timer says what it is waiting for.
	var timerSummary string
	for _, ev := range history(t, e.temporal, run.WorkflowID, run.RunID).GetEvents() {
		if ev.GetEventType() == enumspb.EVENT_TYPE_TIMER_STARTED {
			require.NoError(t, converter.GetDefaultDataConverter().FromPayload(ev.GetUserMetadata().GetSummary(), &timerSummary))
		}
	}
	require.Contains(t, timerSummary, "Reopen window of AWS account "+ordertest.Account("ORD-UI")+": closes for good at ")
}

// A finished order's status comes from its result: no worker is needed.
func TestStatusOfAFinishedOrderNeedsNoWorker(t *testing.T) {
	e := newEnv(t, time.Hour)
	ctx := context.Background()
	_, err := e.orders.Start(ctx, newOrder("ORD-DONE"))
	require.NoError(t, err)
	_, err = e.orders.Cancel(ctx, "ORD-DONE", order.Request{RequestedBy: "jane", Reason: "keeping it"})
	require.NoError(t, err)
	e.waitForStage(t, "ORD-DONE", order.StageCancelled)
	require.Eventually(t, func() bool {
		d, err := e.temporal.DescribeWorkflowExecution(ctx, "termination-ORD-DONE", "")
		return err == nil && d.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED
	}, 10*time.Second, 50*time.Millisecond)
	e.worker.Stop()

	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	s, err := e.orders.Status(ctx, "ORD-DONE")
	require.NoError(t, err, "a query would wait for a worker that is not there")
	require.Equal(t, order.StageCancelled, s.Stage)
}

// confirmed is the error of a ConfirmUnlink whose status the test does not need.
func confirmed(_ order.Status, err error) error { return err }
