package devserver_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"go.uber.org/zap"

	"github.com/cloudmarket/termination-orders/bench"
	"github.com/cloudmarket/termination-orders/devserver"
	"github.com/cloudmarket/termination-orders/internal/ports"
	"github.com/cloudmarket/termination-orders/logging"
	"github.com/cloudmarket/termination-orders/order"
	"github.com/cloudmarket/termination-orders/worker"
	"github.com/cloudmarket/termination-orders/workflows"
)

// With 1,500 orders in the namespace, the Web UI's list by stage and the
// temporal CLI's default list, a page of 1,000 at a time, answer every page (two each),
// asked side by side as a browser and a terminal would: the server refuses
// none of them for its own persistence rate limit.
func TestListsAnswerWithThousandsOfOrders(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err := devserver.Start(ctx, devserver.Options{DataDir: t.TempDir(), IP: "127.0.0.1", Port: ports.FreeForTest(t), Namespace: "default", Logger: zap.NewNop()})
	require.NoError(t, err)
	defer srv.Stop()
	c, err := client.Dial(client.Options{HostPort: srv.Address(), Namespace: "default", Logger: logging.ForTemporal(zap.NewNop())})
	require.NoError(t, err)
	defer c.Close()

	const orders = 1500
	began := time.Now()
	fill, err := bench.FillOrders(ctx, c, 0, orders)
	require.NoError(t, err)
	t.Logf("%d orders started in %v", orders, time.Since(began))
	require.NoError(t, bench.WaitVisible(ctx, c, "default", orders))
	t.Logf("visible after %v", time.Since(began))

	for range 3 {
		var wg sync.WaitGroup
		errs := make([]error, 2)
		wg.Go(func() {
			var n int
			if n, errs[0] = bench.ListAll(ctx, c, "default", bench.StageQuery); errs[0] == nil && n != fill.PostClosure {
				t.Errorf("the list by stage gave %d orders, want %d", n, fill.PostClosure)
			}
		})
		wg.Go(func() {
			var n int
			if n, errs[1] = bench.ListAll(ctx, c, "default", ""); errs[1] == nil && n != orders {
				t.Errorf("the default list gave %d orders, want %d", n, orders)
			}
		})
		wg.Wait()
		require.NoError(t, errs[0], "the list by stage")
		require.NoError(t, errs[1], "the default list")
	}
	t.Logf("listed after %v", time.Since(began))
}

// A data directory whose namespace lacks one of the contract's search
// attributes (made by an older version) gets it at start, and Start returns
// only once every service of the server uses it: an order started at once
// is accepted with it, its workflow upserts it without a failed task, and
// the list by it finds the order.
func TestSearchAttributeAddedAtStartIsUsableAtOnce(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	opts := devserver.Options{DataDir: t.TempDir(), IP: "127.0.0.1", Port: ports.FreeForTest(t), Namespace: "default", Logger: zap.NewNop()}
	srv, err := devserver.Start(ctx, opts)
	require.NoError(t, err)
	c, err := client.Dial(client.Options{HostPort: srv.Address(), Namespace: "default", Logger: logging.ForTemporal(zap.NewNop())})
	require.NoError(t, err)
	_, err = c.OperatorService().RemoveSearchAttributes(ctx, &operatorservice.RemoveSearchAttributesRequest{
		Namespace: "default", SearchAttributes: []string{workflows.StageKey.GetName()},
	})
	require.NoError(t, err)
	require.Error(t, worker.CheckSearchAttributes(ctx, c, "default"), "the namespace lacks TerminationStage")
	c.Close()
	srv.Stop()

	srv, err = devserver.Start(ctx, opts)
	require.NoError(t, err)
	defer srv.Stop()
	c, err = client.Dial(client.Options{HostPort: srv.Address(), Namespace: "default", Logger: logging.ForTemporal(zap.NewNop())})
	require.NoError(t, err)
	defer c.Close()

	const queue = "search-attribute-probe"
	w := sdkworker.New(c, queue, sdkworker.Options{})
	w.RegisterWorkflowWithOptions(func(ctx workflow.Context) error {
		return workflow.UpsertTypedSearchAttributes(ctx, workflows.StageKey.ValueSet(string(order.StagePostClosure)))
	}, workflow.RegisterOptions{Name: "UpsertStage"})
	require.NoError(t, w.Start())
	defer w.Stop()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "probe-1", TaskQueue: queue,
		TypedSearchAttributes: temporal.NewSearchAttributes(workflows.StageKey.ValueSet(string(order.StageAwaitingUnlink)))}, "UpsertStage")
	require.NoError(t, err, "a start with the added attribute is accepted")
	require.NoError(t, run.Get(ctx, nil))
	it := c.GetWorkflowHistory(ctx, run.GetID(), run.GetRunID(), false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		e, err := it.Next()
		require.NoError(t, err)
		require.NotEqual(t, enumspb.EVENT_TYPE_WORKFLOW_TASK_FAILED, e.GetEventType(), "the upsert was refused: %v", e)
	}
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		n, err := bench.ListAll(ctx, c, "default", bench.StageQuery)
		require.NoError(ct, err)
		require.Equal(ct, 1, n)
	}, 30*time.Second, 200*time.Millisecond)
}
