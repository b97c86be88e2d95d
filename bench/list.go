package bench

import (
	"context"
	"fmt"
	"os"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.uber.org/zap"

	"github.com/cloudmarket/termination-orders/devserver"
	"github.com/cloudmarket/termination-orders/internal/ports"
	"github.com/cloudmarket/termination-orders/logging"
	"github.com/cloudmarket/termination-orders/order"
	"github.com/cloudmarket/termination-orders/workflows"
)

// ListPageSize is the page the Web UI asks for, and the server's default
// (frontend.visibilityMaxPageSize), which the temporal CLI gets when it asks
// for none.
const ListPageSize = 1000

// StageQuery is the list by stage the Web UI's saved view and
// `temporal workflow list --query "TerminationStage='PostClosure'"` send.
const StageQuery = "TerminationStage = 'PostClosure'"

// unpolledQueue is where filled orders wait: no worker polls it, so they
// never run and cost the server their start and visibility row only.
const unpolledQueue = "bench-list-never-polled"

// fillConcurrency is the starts in flight while filling: enough to keep the
// server busy, few enough that no start waits on its deadline.
const fillConcurrency = 32

// Fill is what FillOrders started, by the stage their search attribute says.
type Fill struct {
	Total       int
	PostClosure int
}

// FillOrders starts orders numbered from first to first+n-1 as workflows of
// the order's type and ID, with the search attributes an order carries in its
// stage (three in four waiting in their reopen window, PostClosure, the rest
// waiting for their unlink), on a task queue no worker polls. A list sees
// them as it sees orders; they cost the server only their start.
func FillOrders(ctx context.Context, c client.Client, first, n int) (Fill, error) {
	now := time.Now().UTC().Truncate(time.Millisecond)
	var f Fill
	for i := first; i < first+n; i++ {
		if stageOf(i) == order.StagePostClosure {
			f.PostClosure++
		}
	}
	f.Total = n
	_, err := eachWith(ctx, n, fillConcurrency, func(ctx context.Context, k int) error {
		i := first + k
		o := order.Order{
			OrderID: fmt.Sprintf("LIST-%07d", i), SubscriptionID: fmt.Sprintf("SUB-%07d", i), AccountID: fmt.Sprintf("%012d", i),
			TerminationType: order.TerminationTypeCloseAccount, Items: []order.Item{{ItemID: "ITM-1"}}, RequestedBy: "bench",
		}
		attrs := []temporal.SearchAttributeUpdate{
			workflows.StageKey.ValueSet(string(stageOf(i))),
			workflows.AccountIDKey.ValueSet(o.AccountID),
			workflows.SubscriptionIDKey.ValueSet(o.SubscriptionID),
			workflows.UnlinkDueByKey.ValueSet(now.Add(defaultUnlinkSLA)),
		}
		if stageOf(i) == order.StagePostClosure {
			attrs = append(attrs, workflows.ReopenDeadlineKey.ValueSet(now.Add(90*24*time.Hour)))
		}
		_, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
			ID: order.WorkflowID(o.OrderID), TaskQueue: unpolledQueue,
			TypedSearchAttributes: temporal.NewSearchAttributes(attrs...),
		}, workflows.WorkflowType, o)
		if err != nil {
			return fmt.Errorf("start order %s: %w", o.OrderID, err)
		}
		return nil
	})
	return f, err
}

func stageOf(i int) order.Stage {
	if i%4 == 0 {
		return order.StageAwaitingUnlink
	}
	return order.StagePostClosure
}

// WaitVisible waits until visibility counts n workflows in the namespace:
// a start's row is written after the start answers.
func WaitVisible(ctx context.Context, c client.Client, namespace string, n int) error {
	for {
		resp, err := c.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Namespace: namespace})
		if err != nil {
			return err
		}
		if int(resp.GetCount()) >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("visibility counts %d of %d workflows: %w", resp.GetCount(), n, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// ListAll lists every page of query as the temporal CLI does, ListPageSize
// at a time, and returns how many executions it got.
func ListAll(ctx context.Context, c client.Client, namespace, query string) (int, error) {
	var (
		n     int
		token []byte
	)
	for page := 1; ; page++ {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: namespace, Query: query, PageSize: ListPageSize, NextPageToken: token,
		})
		if err != nil {
			return n, fmt.Errorf("list %q, page %d: %w", query, page, err)
		}
		n += len(resp.GetExecutions())
		if token = resp.GetNextPageToken(); len(token) == 0 {
			return n, nil
		}
	}
}

// ListOptions size a list run.
type ListOptions struct {
	// Orders are the counts at which to measure, growing: the run fills up
	// to each in turn.
	Orders []int
	// Repeats is how many times each list is asked at each count.
	Repeats  int
	Progress func(format string, args ...any)
}

// ListResults are the list latencies at each count of orders.
type ListResults struct {
	Repeats int           `json:"repeats"`
	At      []ListSamples `json:"at"`
}

// ListSamples are the latencies of the lists with Orders orders in the
// namespace.
type ListSamples struct {
	Orders      int `json:"orders"`
	PostClosure int `json:"postClosure"`
	// FillPerSecond is the rate at which this step's orders were started.
	FillPerSecond float64 `json:"fillStartsPerSecond"`
	// StageFirstPage is the Web UI's list by stage: its first page.
	StageFirstPage Percentiles `json:"stageFirstPageMillis"`
	// DefaultFirstPage is the default list (no query): what the temporal
	// CLI prints first, and the Web UI's workflows page.
	DefaultFirstPage Percentiles `json:"defaultFirstPageMillis"`
	// StageCount is the count the Web UI shows beside the list by stage.
	StageCount Percentiles `json:"stageCountMillis"`
	// DefaultAll is the CLI's whole default list, every page.
	DefaultAll Percentiles `json:"defaultAllPagesMillis"`
}

// RunList starts an embedded server (the dev command's, on SQLite), fills it
// with orders up to each count in turn and measures its lists at each.
func RunList(ctx context.Context, opts ListOptions) (*ListResults, error) {
	dir, err := os.MkdirTemp("", "termination-bench-list-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	port, err := ports.Free("127.0.0.1")
	if err != nil {
		return nil, err
	}
	opts.Progress("starting the embedded Temporal server (SQLite in %s)", dir)
	srv, err := devserver.Start(ctx, devserver.Options{DataDir: dir, IP: "127.0.0.1", Port: port, Namespace: namespace, Logger: zap.NewNop()})
	if err != nil {
		return nil, err
	}
	defer srv.Stop()
	c, err := client.DialContext(ctx, client.Options{HostPort: srv.Address(), Namespace: namespace, Logger: logging.ForTemporal(zap.NewNop())})
	if err != nil {
		return nil, err
	}
	defer c.Close()

	r := &ListResults{Repeats: opts.Repeats}
	var filled Fill
	for _, n := range opts.Orders {
		more := n - filled.Total
		opts.Progress("filling %d orders (to %d)", more, n)
		began := time.Now()
		f, err := FillOrders(ctx, c, filled.Total, more)
		if err != nil {
			return nil, err
		}
		rate := float64(more) / time.Since(began).Seconds()
		filled.Total += f.Total
		filled.PostClosure += f.PostClosure
		if err := WaitVisible(ctx, c, namespace, filled.Total); err != nil {
			return nil, err
		}
		opts.Progress("%d orders (%.0f starts/s); asking each list %d times", n, rate, opts.Repeats)
		s, err := measureLists(ctx, c, filled, opts.Repeats)
		if err != nil {
			return nil, fmt.Errorf("at %d orders: %w", n, err)
		}
		s.FillPerSecond = rate
		r.At = append(r.At, s)
		opts.Progress("%d orders: by stage p50 %.0f ms p99 %.0f ms, default p50 %.0f ms p99 %.0f ms",
			n, s.StageFirstPage.P50, s.StageFirstPage.P99, s.DefaultFirstPage.P50, s.DefaultFirstPage.P99)
	}
	return r, nil
}

// measureLists asks each list repeats times, one after another, checking
// what each answers.
func measureLists(ctx context.Context, c client.Client, f Fill, repeats int) (ListSamples, error) {
	s := ListSamples{Orders: f.Total, PostClosure: f.PostClosure}
	firstPage := func(query string, want int) (time.Duration, error) {
		began := time.Now()
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: namespace, Query: query, PageSize: ListPageSize})
		took := time.Since(began)
		if err != nil {
			return 0, fmt.Errorf("list %q: %w", query, err)
		}
		if got := len(resp.GetExecutions()); got != min(want, ListPageSize) {
			return 0, fmt.Errorf("list %q answered %d executions, want %d", query, got, min(want, ListPageSize))
		}
		return took, nil
	}
	var stage, def, count, all []time.Duration
	for range repeats {
		d, err := firstPage(StageQuery, f.PostClosure)
		if err != nil {
			return s, err
		}
		stage = append(stage, d)
		if d, err = firstPage("", f.Total); err != nil {
			return s, err
		}
		def = append(def, d)
		began := time.Now()
		resp, err := c.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Namespace: namespace, Query: StageQuery})
		if err != nil {
			return s, fmt.Errorf("count %q: %w", StageQuery, err)
		}
		if int(resp.GetCount()) != f.PostClosure {
			return s, fmt.Errorf("count %q = %d, want %d", StageQuery, resp.GetCount(), f.PostClosure)
		}
		count = append(count, time.Since(began))
	}
	// The whole listing is long at large counts: a few times only.
	for range min(repeats, 3) {
		began := time.Now()
		n, err := ListAll(ctx, c, namespace, "")
		if err != nil {
			return s, err
		}
		if n != f.Total {
			return s, fmt.Errorf("the default list gave %d executions, want %d", n, f.Total)
		}
		all = append(all, time.Since(began))
	}
	s.StageFirstPage, s.DefaultFirstPage, s.StageCount, s.DefaultAll = percentiles(stage), percentiles(def), percentiles(count), percentiles(all)
	return s, nil
}
