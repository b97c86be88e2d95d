package starter_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"google.golang.org/grpc"

	"github.com/cloudmarket/termination-orders/activities"
	"github.com/cloudmarket/termination-orders/awsorg"
	"github.com/cloudmarket/termination-orders/internal/netfault"
	"github.com/cloudmarket/termination-orders/internal/pgtest"
	"github.com/cloudmarket/termination-orders/order"
	"github.com/cloudmarket/termination-orders/starter"
	"github.com/cloudmarket/termination-orders/store"
	"github.com/cloudmarket/termination-orders/worker"
	"github.com/cloudmarket/termination-orders/workflows"
)

// durableEnv is an env whose worker writes to the status store at dsn, and
// a starter that reads statuses from that store.
type durableEnv struct {
	*env
	st     *store.Store
	dsn    string
	reader *starter.Client
}

func newDurableEnv(t *testing.T, dsn string, opts worker.Options) *durableEnv {
	t.Helper()
	st, err := store.Open(context.Background(), dsn)
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	e := newEnvWithOptions(t, opts, func(*store.Store) activities.StatusStore { return st })
	return &durableEnv{env: e, st: st, dsn: dsn, reader: starter.New(e.temporal, taskQueue, starter.WithStatusStore(st))}
}

// forEachDialect runs test with the worker writing to a SQLite and to a
// PostgreSQL status store.
func forEachDialect(t *testing.T, test func(t *testing.T, dsn string)) {
	t.Run("sqlite", func(t *testing.T) { test(t, "sqlite:"+filepath.Join(t.TempDir(), "status.db")) })
	t.Run("postgres", func(t *testing.T) { test(t, pgtest.NewDatabase(t)) })
}

// settled waits until the order is in stage with every message of its
// timeline stored, and returns its live status then.
func (e *durableEnv) settled(t *testing.T, id string, stage order.Stage) order.Status {
	t.Helper()
	var live order.Status
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		var err error
		live, err = e.orders.LiveStatus(context.Background(), id)
		require.NoError(c, err)
		require.Equal(c, stage, live.Stage)
		msgs, err := e.st.LatestLife(context.Background(), id)
		require.NoError(c, err)
		require.Len(c, msgs, len(live.Timeline), "every message stored")
	}, 60*time.Second, 50*time.Millisecond)
	return live
}

// durable reads the status the way callers do, from the store.
func (e *durableEnv) durable(t *testing.T, id string) order.Status {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := e.reader.Status(ctx, id)
	require.NoError(t, err, "order %s", id)
	return s
}

// requireSameStatus compares two statuses as callers see them: as JSON.
func requireSameStatus(t *testing.T, want, got order.Status, msgAndArgs ...any) {
	t.Helper()
	w, err := json.Marshal(want)
	require.NoError(t, err)
	g, err := json.Marshal(got)
	require.NoError(t, err)
	require.JSONEq(t, string(w), string(g), msgAndArgs...)
}

// requireNoWorker proves no worker answers for a running order.
func (e *durableEnv) requireNoWorker(t *testing.T, id string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err := e.orders.LiveStatus(ctx, id)
	require.ErrorIs(t, err, starter.ErrNoAnswer, "the workflow's status query has no worker to answer it")
}

// Defect: the order's status (the HTTP API's GET, terminationctl status and
// the Go starter) was the workflow's status query, which failed while
// workers were stopped or saturated. Read from the store, it answers with
// every worker stopped, and equals the workflow's own status for an order
// at rest in each stage.
func TestStatusAnswersWithEveryWorkerStopped(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dsn string) {
		e := newDurableEnv(t, dsn, worker.Options{Policy: activities.Policy{ReopenWindow: time.Hour}})
		ctx := context.Background()
		want := map[string]order.Stage{}
		place := func(id string, stage order.Stage, o ...order.Order) {
			t.Helper()
			ord := newOrder(id)
			if len(o) > 0 {
				ord = o[0]
			}
			_, err := e.orders.Start(ctx, ord)
			require.NoError(t, err)
			want[id] = stage
		}
		place("ORD-DUR-WAIT", order.StageAwaitingUnlink)
		place("ORD-DUR-POST", order.StagePostClosure)
		place("ORD-DUR-CANCEL", order.StageCancelled)
		place("ORD-DUR-REOPEN", order.StageReopened)
		short := newOrder("ORD-DUR-FINAL")
		short.ReopenWindowSeconds = 1
		place("ORD-DUR-FINAL", order.StagePermanentlyClosed, short)

		for _, id := range []string{"ORD-DUR-POST", "ORD-DUR-REOPEN", "ORD-DUR-FINAL"} {
			_, err := e.orders.ConfirmUnlink(ctx, id, unlinkWithID("U-"+id))
			require.NoError(t, err)
		}
		_, err := e.orders.Cancel(ctx, "ORD-DUR-CANCEL", order.Request{RequestedBy: "jane", Reason: "Changed my mind", RequestID: "C-1"})
		require.NoError(t, err)
		_, err = e.orders.Reopen(ctx, "ORD-DUR-REOPEN", order.Request{RequestedBy: "jane", Reason: "Need it back", RequestID: "R-1"})
		require.NoError(t, err)
		// Input no starter would send: the order fails, and says why.
		bad := newOrder("ORD-DUR-FAILED")
		bad.Items = nil
		_, err = e.temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: order.WorkflowID(bad.OrderID), TaskQueue: taskQueue},
			workflows.WorkflowType, bad)
		require.NoError(t, err)
		want[bad.OrderID] = order.StageFailed

		live := map[string]order.Status{}
		for id, stage := range want {
			live[id] = e.settled(t, id, stage)
			requireSameStatus(t, live[id], e.durable(t, id), "order %s at rest in %s: the store's status is the workflow's", id, stage)
		}
		require.NotEmpty(t, live["ORD-DUR-POST"].Timeline[1].RequestID, "request IDs are part of the status")
		require.False(t, live["ORD-DUR-POST"].ReopenDeadline.IsZero())

		e.worker.Stop()
		e.requireNoWorker(t, "ORD-DUR-WAIT")
		for id := range want {
			requireSameStatus(t, live[id], e.durable(t, id), "order %s with every worker stopped", id)
		}
		_, err = e.reader.Status(ctx, "ORD-DUR-NONE")
		require.ErrorIs(t, err, starter.ErrOrderNotFound)

		// A request for an order that ended is answered from the store: the
		// retry of the reopen gets its original answer, a cancel the reason.
		s, err := e.reader.Reopen(ctx, "ORD-DUR-REOPEN", order.Request{RequestedBy: "jane", Reason: "Need it back", RequestID: "R-1"})
		require.NoError(t, err)
		requireSameStatus(t, live["ORD-DUR-REOPEN"], s)
		_, err = e.reader.Cancel(ctx, "ORD-DUR-FINAL", order.Request{RequestedBy: "jane", Reason: "too late"})
		require.ErrorIs(t, err, starter.ErrRejected)
		require.ErrorContains(t, err, "can no longer be cancelled")

		// Past Temporal's retention the order is gone from Temporal; its
		// status is still the store's. A client of a namespace that never
		// held the order sees Temporal as such a reader does.
		elsewhere, err := client.NewLazyClient(client.Options{HostPort: e.frontend, Namespace: "never-held-the-order"})
		require.NoError(t, err)
		t.Cleanup(elsewhere.Close)
		gone := starter.New(elsewhere, taskQueue, starter.WithStatusStore(e.st))
		s, err = gone.Status(ctx, "ORD-DUR-FINAL")
		require.NoError(t, err)
		requireSameStatus(t, live["ORD-DUR-FINAL"], s, "beyond Temporal's retention")
	})
}

// Defect: in a herd of deadlines the server took seconds to describe a
// workflow, and the status, read from the store, waited for it (p99 2.6 s
// during the drain of 10,000 orders). With Temporal accepting connections
// and never answering, the store's status is given once Temporal's record
// is past its short wait, long before the caller's own timeout.
func TestStatusDoesNotWaitForATemporalThatDoesNotAnswer(t *testing.T) {
	e := newDurableEnv(t, "sqlite:"+filepath.Join(t.TempDir(), "status.db"), worker.Options{Policy: activities.Policy{ReopenWindow: time.Hour}})
	ctx := context.Background()
	_, err := e.orders.Start(ctx, newOrder("ORD-DUR-SLOW"))
	require.NoError(t, err)
	_, err = e.orders.ConfirmUnlink(ctx, "ORD-DUR-SLOW", unlinkWithID("U-SLOW"))
	require.NoError(t, err)
	live := e.settled(t, "ORD-DUR-SLOW", order.StagePostClosure)

	proxy, through := dialThroughProxy(t, e.frontend, e.namespace)
	reader := starter.New(through, taskQueue, starter.WithStatusStore(e.st))
	s, err := reader.Status(ctx, "ORD-DUR-SLOW")
	require.NoError(t, err)
	requireSameStatus(t, live, s, "Temporal answering")
	require.NoError(t, proxy.Set(netfault.BlackHole))

	callerCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	began := time.Now()
	s, err = reader.Status(callerCtx, "ORD-DUR-SLOW")
	require.NoError(t, err)
	requireSameStatus(t, live, s, "the store's status")
	require.NoError(t, callerCtx.Err(), "answered before the caller's timeout")
	require.Less(t, time.Since(began), 10*time.Second, "answered without waiting for Temporal")
}

// A busy server and a busy store cost a status the longer of their waits,
// not their sum: Temporal's record is asked for while the store is read.
// The store here answers only once the describe has gone out (or after 10 s,
// when it never does).
func TestStatusAsksTemporalWhileTheStoreIsRead(t *testing.T) {
	e := newDurableEnv(t, "sqlite:"+filepath.Join(t.TempDir(), "status.db"), worker.Options{Policy: activities.Policy{ReopenWindow: time.Hour}})
	ctx := context.Background()
	_, err := e.orders.Start(ctx, newOrder("ORD-DUR-BOTH"))
	require.NoError(t, err)
	live := e.settled(t, "ORD-DUR-BOTH", order.StageAwaitingUnlink)

	described := make(chan struct{})
	var once sync.Once
	c, err := client.Dial(client.Options{HostPort: e.frontend, Namespace: e.namespace, ConnectionOptions: client.ConnectionOptions{
		DialOptions: []grpc.DialOption{grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			if strings.HasSuffix(method, "/DescribeWorkflowExecution") {
				once.Do(func() { close(described) })
			}
			return invoker(ctx, method, req, reply, cc, opts...)
		})},
	}})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	st := &waitingStore{StatusStore: e.st, until: described}
	s, err := starter.New(c, taskQueue, starter.WithStatusStore(st)).Status(ctx, "ORD-DUR-BOTH")
	require.NoError(t, err)
	requireSameStatus(t, live, s, "read from both")
	require.True(t, st.sawDescribe.Load(), "Temporal was asked while the store was being read")
}

// waitingStore is a status store that answers once until is closed, or
// after 10 s.
type waitingStore struct {
	starter.StatusStore
	until       chan struct{}
	sawDescribe atomic.Bool
}

func (w *waitingStore) LatestLife(ctx context.Context, orderID string) ([]store.Message, error) {
	select {
	case <-w.until:
		w.sawDescribe.Store(true)
	case <-time.After(10 * time.Second):
	}
	return w.StatusStore.LatestLife(ctx, orderID)
}

// Messages stored by workers before the store kept the facts (schema
// version 4) carry no close time, reopen deadline or account: the
// workflow gives them while it answers (a finished one from its result,
// which needs no worker), and an order not yet closed reads from the store
// and the search attributes alone.
func TestStatusOfMessagesStoredBeforeTheFacts(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dsn string) {
		e := newDurableEnv(t, dsn, worker.Options{Policy: activities.Policy{ReopenWindow: time.Hour}})
		ctx := context.Background()
		for _, id := range []string{"ORD-OLD-WAIT", "ORD-OLD-POST", "ORD-OLD-FINAL"} {
			o := newOrder(id)
			if id == "ORD-OLD-FINAL" {
				o.ReopenWindowSeconds = 1
			}
			_, err := e.orders.Start(ctx, o)
			require.NoError(t, err)
		}
		for _, id := range []string{"ORD-OLD-POST", "ORD-OLD-FINAL"} {
			_, err := e.orders.ConfirmUnlink(ctx, id, unlinkWithID("U-"+id))
			require.NoError(t, err)
		}
		live := map[string]order.Status{
			"ORD-OLD-WAIT":  e.settled(t, "ORD-OLD-WAIT", order.StageAwaitingUnlink),
			"ORD-OLD-POST":  e.settled(t, "ORD-OLD-POST", order.StagePostClosure),
			"ORD-OLD-FINAL": e.settled(t, "ORD-OLD-FINAL", order.StagePermanentlyClosed),
		}
		stripFacts(t, dsn)
		msgs, err := e.st.LatestLife(ctx, "ORD-OLD-POST")
		require.NoError(t, err)
		require.Nil(t, msgs[len(msgs)-1].Facts, "the rows are as an older worker wrote them")

		for id, s := range live {
			requireSameStatus(t, s, e.durable(t, id), "order %s, old rows, worker running", id)
		}
		e.worker.Stop()
		e.requireNoWorker(t, "ORD-OLD-WAIT")
		wait := live["ORD-OLD-WAIT"]
		requireSameStatus(t, wait, e.durable(t, "ORD-OLD-WAIT"), "not closed yet: the store and the search attributes suffice")
		requireSameStatus(t, live["ORD-OLD-FINAL"], e.durable(t, "ORD-OLD-FINAL"), "finished: its result gives the facts")
		ctxShort, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		_, err = e.reader.Status(ctxShort, "ORD-OLD-POST")
		require.ErrorIs(t, err, starter.ErrNoAnswer, "its close time is known only to its workflow")
		require.ErrorContains(t, err, "--live")
	})
}

// stripFacts makes every stored message look as a worker before schema
// version 4 wrote it.
func stripFacts(t *testing.T, dsn string) {
	t.Helper()
	driver, source := "pgx", dsn
	if path, ok := strings.CutPrefix(dsn, "sqlite:"); ok {
		driver, source = "sqlite", path
	}
	db, err := sql.Open(driver, source)
	require.NoError(t, err)
	defer db.Close()
	_, err = db.Exec(`UPDATE order_status_messages SET request_id = NULL, aws_check = NULL, facts = NULL`)
	require.NoError(t, err)
}

// In AWS Organizations' modes the status carries AWS's answers: the store
// keeps them with each change, so an order at rest reads the same from the
// store as from its workflow, also with every worker stopped. Answers that
// came after the latest change (a refused unlink in verify mode) are the
// workflow's alone: the store's status has those up to its latest change.
func TestStatusInAWSModesFromTheStore(t *testing.T) {
	for _, mode := range []activities.AWSMode{activities.AWSVerify, activities.AWSClose} {
		t.Run(string(mode), func(t *testing.T) {
			a := newAWSEnv(t, mode, time.Hour, nil)
			e := &durableEnv{env: a.env, st: a.store, reader: starter.New(a.temporal, taskQueue, starter.WithStatusStore(a.store))}
			ctx := context.Background()
			post, final, refused := "ORD-AWSD-POST-"+string(mode), "ORD-AWSD-FINAL-"+string(mode), "ORD-AWSD-REFUSED"
			ids := []string{post, final}
			if mode == activities.AWSVerify {
				ids = append(ids, refused)
			}
			for _, id := range ids {
				acct := a.member(t, id)
				o := newOrder(id)
				if id == final {
					o.ReopenWindowSeconds = 1
				}
				_, err := e.orders.Start(ctx, o)
				require.NoError(t, err)
				if mode == activities.AWSVerify && id != refused {
					require.NoError(t, a.em.SetState(acct, awsorg.StateSuspended))
				}
			}
			for _, id := range []string{post, final} {
				_, err := e.orders.ConfirmUnlink(ctx, id, unlinkWithID("U-"+id))
				require.NoError(t, err)
			}
			live := map[string]order.Status{
				post:  e.settled(t, post, order.StagePostClosure),
				final: e.settled(t, final, order.StagePermanentlyClosed),
			}
			require.NotEmpty(t, live[post].AWS, "AWS's answers are in the status")
			if mode == activities.AWSVerify {
				_, err := e.orders.ConfirmUnlink(ctx, refused, unlinkWithID("U-refused"))
				require.ErrorIs(t, err, starter.ErrAWSAccountActive)
				live[refused] = e.settled(t, refused, order.StageAwaitingUnlink)
				require.Len(t, live[refused].AWS, 1, "the refusal's answer is the workflow's")
			}
			check := func(what string) {
				for id, s := range live {
					got := e.durable(t, id)
					if id == refused {
						require.Empty(t, got.AWS, "no status change since the answer: the store has none")
						got.AWS = s.AWS
					}
					requireSameStatus(t, s, got, "order %s %s", id, what)
				}
			}
			check("with its worker")
			e.worker.Stop()
			check("with every worker stopped")
		})
	}
}

// holdingStore refuses to store one message of one order while hold is set,
// as a store that lags behind the workflow.
type holdingStore struct {
	activities.StatusStore
	orderID string
	seq     int
	hold    atomic.Bool
}

func (h *holdingStore) Record(ctx context.Context, m store.Message) (bool, error) {
	if m.OrderID == h.orderID && m.Seq == h.seq && h.hold.Load() {
		return false, errors.New("held by the test")
	}
	return h.StatusStore.Record(ctx, m)
}

// An update answers before its message is stored. Until it is, the status
// is the workflow's when the workflow answers (the caller reads what it just
// did), and the store's when no worker does: never older than the store.
func TestStatusWhileAnUpdatesMessageIsBeingStored(t *testing.T) {
	const id = "ORD-DUR-LAG"
	st, err := store.Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "status.db"))
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	held := &holdingStore{StatusStore: st, orderID: id, seq: 2}
	held.hold.Store(true)
	e := newEnvWithOptions(t, worker.Options{Policy: activities.Policy{ReopenWindow: time.Hour}},
		func(*store.Store) activities.StatusStore { return held })
	d := &durableEnv{env: e, st: st, reader: starter.New(e.temporal, taskQueue, starter.WithStatusStore(st))}
	ctx := context.Background()
	_, err = e.orders.Start(ctx, newOrder(id))
	require.NoError(t, err)
	d.settled(t, id, order.StageAwaitingUnlink)
	post, err := e.orders.ConfirmUnlink(ctx, id, unlinkWithID("U-LAG"))
	require.NoError(t, err)
	msgs, err := st.LatestLife(ctx, id)
	require.NoError(t, err)
	require.Len(t, msgs, 1, "the unlink's message is not stored yet")

	got := d.durable(t, id)
	require.Equal(t, order.StagePostClosure, got.Stage, "the workflow answers: the caller reads its own unlink")
	requireSameStatus(t, post, got)

	e.worker.Stop()
	got = d.durable(t, id)
	require.Equal(t, order.StageAwaitingUnlink, got.Stage, "no worker: what the store holds")
	require.Len(t, got.Timeline, 1)

	held.hold.Store(false)
	e.newWorker(t)
	stored := d.settled(t, id, order.StagePostClosure)
	requireSameStatus(t, stored, d.durable(t, id))
}

// dialThroughProxy is a client of the server at frontend that reaches it
// through a proxy the test can cut or black-hole.
func dialThroughProxy(t *testing.T, frontend, namespace string) (*netfault.Proxy, client.Client) {
	t.Helper()
	proxy, err := netfault.Listen(frontend)
	require.NoError(t, err)
	t.Cleanup(func() { proxy.Close() })
	c, err := client.Dial(client.Options{HostPort: proxy.Addr(), Namespace: namespace})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return proxy, c
}
