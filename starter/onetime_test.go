package starter_test

import (
	"context"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/server/temporaltest"

	"github.com/cloudmarket/termination-orders/activities"
	"github.com/cloudmarket/termination-orders/internal/netfault"
	"github.com/cloudmarket/termination-orders/notify"
	"github.com/cloudmarket/termination-orders/order"
	"github.com/cloudmarket/termination-orders/starter"
	"github.com/cloudmarket/termination-orders/store"
	"github.com/cloudmarket/termination-orders/worker"
)

// cutAfterWrite cuts its worker off from Temporal right after the store
// took the first message of one order: the worker is as good as dead, with
// the write landed and its workflow task never completed.
type cutAfterWrite struct {
	*store.Store
	orderID string
	proxy   *netfault.Proxy
	once    sync.Once
	cut     chan struct{}
}

func (c *cutAfterWrite) Record(ctx context.Context, m store.Message) (bool, error) {
	inserted, err := c.Store.Record(ctx, m)
	if err == nil && m.OrderID == c.orderID && m.Seq == 1 {
		c.once.Do(func() {
			if c.proxy.Set(netfault.BlackHole) == nil {
				close(c.cut)
			}
		})
	}
	return inserted, err
}

// A worker dies between a status write and the completion of its workflow
// task. The task runs again on another worker, later, so the order decides
// the message again with another time; the store keeps the first write. The
// message must carry one time everywhere: the status store, the order's
// timeline (the status query) and the marketplace's webhook event.
func TestMessageKeepsOneTimeWhenTheWorkerDiesAfterTheWrite(t *testing.T) {
	const id = "ORD-ONE-TIME"
	ctx := context.Background()
	ts := temporaltest.NewServer(temporaltest.WithT(t))
	direct := ts.GetDefaultClient()
	require.NoError(t, worker.RegisterSearchAttributes(ctx, direct, ts.GetDefaultNamespace()))
	require.NoError(t, worker.CheckSearchAttributes(ctx, direct, ts.GetDefaultNamespace()))
	st, err := store.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "status.db"))
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })

	// The dead worker's event never reached the marketplace: the event the
	// second worker sends is the one the marketplace keeps.
	marketplace := newHookReceiver(t, func(n int) (int, int) {
		if n == 1 {
			return http.StatusServiceUnavailable, 0
		}
		return http.StatusOK, 0
	})
	notifier, err := notify.New(notify.Config{
		Marketplace:    notify.Targets{WebhookURLs: []string{marketplace.srv.URL}, WebhookSecret: hookSecret},
		RequestTimeout: 5 * time.Second,
	}, nil)
	require.NoError(t, err)
	opts := worker.Options{
		TaskQueue: "one-time", StopTimeout: time.Second, Notifier: notifier,
		Policy: activities.Policy{ReopenWindow: time.Hour},
	}

	// The first worker reaches Temporal through a proxy the store cuts.
	proxy, err := netfault.Listen(ts.GetFrontendHostPort())
	require.NoError(t, err)
	t.Cleanup(func() { proxy.Close() })
	viaProxy, err := client.Dial(client.Options{HostPort: proxy.Addr(), Namespace: ts.GetDefaultNamespace()})
	require.NoError(t, err)
	t.Cleanup(viaProxy.Close)
	dying := &cutAfterWrite{Store: st, orderID: id, proxy: proxy, cut: make(chan struct{})}
	first := worker.New(viaProxy, dying, opts)
	require.NoError(t, first.Start())
	t.Cleanup(first.Stop)

	orders := starter.New(direct, opts.TaskQueue)
	started := make(chan error, 1)
	go func() {
		startCtx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		_, err := orders.Start(startCtx, newOrder(id))
		started <- err
	}()
	select {
	case <-dying.cut:
	case <-time.After(30 * time.Second):
		t.Fatal("the first worker never wrote the order's first message")
	}
	// Another worker takes over once the dead one's task times out.
	second := worker.New(direct, st, opts)
	require.NoError(t, second.Start())
	t.Cleanup(second.Stop)
	require.NoError(t, <-started, "the order is accepted on the second worker")

	status := waitForStage(t, orders, id, order.StageAwaitingUnlink)
	stored, err := st.Timeline(ctx, id)
	require.NoError(t, err)
	require.Len(t, stored, 1)
	var wf order.TimelineEntry
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		s, err := orders.Status(ctx, id)
		require.NoError(c, err)
		wf = s.Timeline[0]
		require.True(c, wf.Time.Equal(stored[0].OccurredAt), "timeline %s, store %s", wf.Time, stored[0].OccurredAt)
	}, 30*time.Second, 50*time.Millisecond)
	require.Equal(t, stored[0].Text, wf.Message)
	require.Equal(t, status.Timeline[0].Seq, wf.Seq)

	// The task did run twice: the first attempt timed out with its worker.
	h := history(t, direct, order.WorkflowID(id), "")
	timedOut := 0
	for _, ev := range h.GetEvents() {
		if ev.GetEventType() == enumspb.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT {
			timedOut++
		}
	}
	require.Positive(t, timedOut, "the dead worker's workflow task timed out")

	// The marketplace's event carries the stored time too.
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		var ev *statusEvent
		for _, e := range marketplace.events(id) {
			if e.Sequence == 1 {
				ev = &e
			}
		}
		require.NotNil(c, ev, "the status event of the first message")
		require.True(c, ev.Time.Equal(stored[0].OccurredAt), "webhook %s, store %s", ev.Time, stored[0].OccurredAt)
	}, 30*time.Second, 50*time.Millisecond)
}
