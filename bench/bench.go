// Package bench measures what a termination order costs on a real Temporal
// server (the dev command's embedded one): history events per path,
// throughput against the bare workflow of the same shape, latencies, the cost
// of payload encryption, and the worker's memory as open orders grow.
// cmd/termination-bench runs it.
package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"go.uber.org/zap"

	"github.com/cloudmarket/termination-orders/app"
	"github.com/cloudmarket/termination-orders/codec"
	"github.com/cloudmarket/termination-orders/config"
	"github.com/cloudmarket/termination-orders/devserver"
	"github.com/cloudmarket/termination-orders/internal/ports"
	"github.com/cloudmarket/termination-orders/logging"
	"github.com/cloudmarket/termination-orders/order"
	"github.com/cloudmarket/termination-orders/starter"
	"github.com/cloudmarket/termination-orders/store"
	"github.com/cloudmarket/termination-orders/workflows"
)

// Options size a run.
type Options struct {
	Orders      int           // N orders through their full life, and N baseline runs
	Concurrency int           // C in flight
	Window      time.Duration // reopen window of those orders
	// LastWarning is how long before the deadline the customer is warned
	// (the worker's notify.last_warning); no warning unless below Window.
	LastWarning time.Duration
	Open        []int // open-order counts at which to measure the worker's memory
	// APIOrders is how many orders go each through the HTTP API and the Go
	// starter, one at a time, for the API's latency; 0 for none.
	APIOrders int
	// EncryptionCost runs the product a second time with payload encryption
	// on, for its cost against the first run's (encryption off).
	EncryptionCost bool
	CacheSize      int // the worker's workflow cache; 0 for the SDK default
	Progress       func(format string, args ...any)
}

// Results is what a run measured; the JSON output is this.
type Results struct {
	Orders      int     `json:"orders"`
	Concurrency int     `json:"concurrency"`
	WindowSec   float64 `json:"reopenWindowSeconds"`
	CacheSize   int     `json:"workflowCacheSize"`

	// Notifications is what the benchmark's webhook receiver got: distinct
	// events by type, every request, and requests whose signature failed.
	Notifications struct {
		ByType   map[string]int `json:"byType"`
		Requests int            `json:"requests"`
		Invalid  int            `json:"invalidSignatures"`
	} `json:"notifications"`

	// API is the HTTP API's latency against the Go starter's, call by call.
	API struct {
		Orders int        `json:"orders"`
		Start  APILatency `json:"start"`
		Status APILatency `json:"status"`
		Unlink APILatency `json:"unlink"`
	} `json:"api"`

	Events struct {
		PermanentlyClosed int `json:"permanentlyClosed"`
		Reopened          int `json:"reopened"`
		Cancelled         int `json:"cancelled"`
		Baseline          int `json:"baseline"`
	} `json:"historyEventsPerOrder"`

	Throughput struct {
		Product  float64 `json:"productOrdersPerSecond"`
		Baseline float64 `json:"baselineOrdersPerSecond"`
		Ratio    float64 `json:"ratio"`
		// Cap is min(orders, concurrency) / window: no run can exceed it.
		Cap float64 `json:"capOrdersPerSecond"`
		// ProductBound and BaselineBound are BoundWindow or BoundServer
		// (see Bound): the ratio says something about the server only when
		// both are BoundServer.
		ProductBound  string `json:"productBound"`
		BaselineBound string `json:"baselineBound"`
	} `json:"throughput"`

	Latency struct {
		Start         Percentiles `json:"startCall"`
		BaselineStart Percentiles `json:"baselineStartCall"`
		UnlinkStored  Percentiles `json:"unlinkSignalToMessageStored"`
		TimerStored   Percentiles `json:"timerDueToFinalMessageStored"`
	} `json:"latencyMillis"`

	// Encryption is the product's run with payload encryption off and on;
	// absent unless Options.EncryptionCost.
	Encryption *EncryptionCost `json:"encryption,omitempty"`

	Memory []MemorySample `json:"workerMemory"`
}

// Percentiles of a latency, in milliseconds.
type Percentiles struct {
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95"`
	P99 float64 `json:"p99"`
}

// MemorySample is the worker process's memory with Open orders waiting in their window.
type MemorySample struct {
	Open     int    `json:"openOrders"`
	RSS      uint64 `json:"rssBytes"`
	HeapLive uint64 `json:"goHeapLiveBytes"`
}

const (
	productQueue   = "bench-orders"
	encryptedQueue = "bench-orders-encrypted"
	baselineQueue  = "bench-baseline"
	namespace      = "default"
)

// Run starts an embedded server, the worker process (and, for the encryption
// cost, a second one that encrypts) and a baseline worker, measures, and
// tears everything down.
func Run(ctx context.Context, opts Options) (*Results, error) {
	dir, err := os.MkdirTemp("", "termination-bench-")
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
	// Encryption off, as a worker with codec.encryption off and no keys.
	plainRing, err := codec.NewKeyRing("")
	if err != nil {
		return nil, err
	}
	temporal := config.LocalTemporal(srv.Address(), namespace, productQueue)
	c, err := dial(ctx, temporal, codec.New(plainRing))
	if err != nil {
		return nil, err
	}
	defer c.Close()

	dsn := "sqlite:" + filepath.Join(dir, "status.db")
	st, err := store.Open(ctx, dsn)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	opts.Progress("building and starting the production worker (cmd/termination-worker) as its own process")
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	bin, err := buildWorker(ctx, dir)
	if err != nil {
		return nil, err
	}
	recv, err := startReceiver()
	if err != nil {
		return nil, err
	}
	defer recv.close()
	child, err := startWorkerProcess(ctx, cancel, bin, opts, workerSetup{temporal: temporal, dsn: dsn, receiverURL: recv.url})
	if err != nil {
		return nil, err
	}
	defer child.stop()
	if err := waitForPollers(ctx, c, temporal.TaskQueue); err != nil {
		return nil, err
	}
	seq := new(atomic.Int64)
	// The encrypting worker polls from here on, as the plain one does
	// during the encrypted run: each run has the other's idle worker beside it.
	var encrypted *encryptedRig
	if opts.EncryptionCost {
		opts.Progress("starting a second worker process that encrypts (a fresh key, its own task queue)")
		if encrypted, err = startEncryptedRig(ctx, cancel, bin, opts, srv.Address(), dsn, st, seq); err != nil {
			return nil, err
		}
		defer encrypted.close()
	}

	baseline := sdkworker.New(c, baselineQueue, bareWorkerOptions())
	// (The baseline worker runs in this process: only the product worker's memory is measured.)
	baseline.RegisterWorkflowWithOptions(Baseline, workflow.RegisterOptions{Name: BaselineType})
	if err := baseline.Start(); err != nil {
		return nil, err
	}
	defer baseline.Stop()

	r := &Results{Orders: opts.Orders, Concurrency: opts.Concurrency, WindowSec: opts.Window.Seconds(), CacheSize: opts.CacheSize}
	// As terminationctl and the API start orders: with the unlink SLA's
	// deadline as a search attribute (the workers' default SLA).
	b := &bench{c: c, st: st, orders: starter.New(c, temporal.TaskQueue, starter.WithUnlinkSLA(defaultUnlinkSLA)), opts: opts, seq: seq}

	opts.Progress("%d orders through their full life, %d in flight", opts.Orders, opts.Concurrency)
	plain, err := b.productRun(ctx, "BENCH")
	if err != nil {
		return nil, fmt.Errorf("product run: %w", err)
	}
	r.Throughput.Product = plain.throughput
	r.Latency.Start, r.Latency.UnlinkStored, r.Latency.TimerStored = plain.start, plain.unlink, plain.timer
	if r.Events.PermanentlyClosed, err = b.countEvents(ctx, plain.first.WorkflowID, plain.first.RunID); err != nil {
		return nil, err
	}
	r.Notifications.ByType, r.Notifications.Requests, r.Notifications.Invalid = recv.counts()
	if err := checkNotifications(r.Notifications.ByType, opts.Orders, b.messagesPerOrder()); err != nil {
		return nil, err
	}
	r.Throughput.Cap = Cap(opts.Orders, opts.Concurrency, opts.Window)
	r.Throughput.ProductBound = Bound(r.Throughput.Product, r.Throughput.Cap)
	opts.Progress("product: %.2f orders/s, cap %.2f/s, bound by the %s", r.Throughput.Product, r.Throughput.Cap, r.Throughput.ProductBound)
	if encrypted != nil {
		// Right after the plain run: the server differs only by that run's
		// histories in its database.
		off, err := b.encryptionRun(ctx, plain, r.Throughput.Cap, r.Notifications.ByType, false)
		if err != nil {
			return nil, fmt.Errorf("product run: %w", err)
		}
		opts.Progress("%d orders through their full life again, %d in flight, with payload encryption on", opts.Orders, opts.Concurrency)
		on, err := encrypted.measure(ctx, r.Throughput.Cap)
		if err != nil {
			return nil, fmt.Errorf("encrypted run: %w", err)
		}
		encrypted.close()
		r.Encryption = &EncryptionCost{Off: off, On: on, Ratio: on.Throughput / off.Throughput}
		opts.Progress("encryption on: %.2f orders/s against %.2f off, ratio %.2f; payloads stored as %s", on.Throughput, off.Throughput, r.Encryption.Ratio, on.InputEncoding)
	}
	opts.Progress("%d baseline workflows of the same shape", opts.Orders)
	if err := b.baselineRun(ctx, r); err != nil {
		return nil, fmt.Errorf("baseline run: %w", err)
	}
	r.Throughput.Ratio = r.Throughput.Product / r.Throughput.Baseline
	r.Throughput.BaselineBound = Bound(r.Throughput.Baseline, r.Throughput.Cap)
	opts.Progress("baseline: %.2f orders/s, cap %.2f/s, bound by the %s; ratio %.2f", r.Throughput.Baseline, r.Throughput.Cap, r.Throughput.BaselineBound, r.Throughput.Ratio)
	r.API.Orders = opts.APIOrders
	if opts.APIOrders > 0 {
		opts.Progress("%d orders through the HTTP API and %d through the Go starter, one at a time", opts.APIOrders, opts.APIOrders)
		if err := b.apiRun(ctx, r, opts.APIOrders); err != nil {
			return nil, err
		}
	}
	opts.Progress("history of the reopened and cancelled paths")
	if err := b.otherPaths(ctx, r); err != nil {
		return nil, fmt.Errorf("other paths: %w", err)
	}
	for _, open := range opts.Open {
		opts.Progress("worker memory with %d orders open in their window", open)
		sample, err := b.memoryWith(ctx, open, child)
		if err != nil {
			return nil, fmt.Errorf("memory with %d open: %w", open, err)
		}
		r.Memory = append(r.Memory, sample)
	}
	return r, nil
}

type bench struct {
	c      client.Client
	st     *store.Store
	orders *starter.Client
	opts   Options
	// seq numbers the orders of every bench on the store, the encrypting
	// one's too: the store holds one live termination per AWS account and
	// closes an account for good, so each order needs an account of its own.
	seq    *atomic.Int64
	opened int // orders left open in their window for the memory phase
}

func (b *bench) newOrder(prefix string, window time.Duration) order.Order {
	n := b.seq.Add(1)
	return order.Order{
		OrderID: fmt.Sprintf("%s-%06d", prefix, n), SubscriptionID: fmt.Sprintf("SUB-%06d", n), AccountID: fmt.Sprintf("%012d", n),
		TerminationType: order.TerminationTypeCloseAccount, Items: []order.Item{{ItemID: "ITM-1"}}, RequestedBy: "bench",
		ReopenWindowSeconds: int64(window / time.Second),
	}
}

// waitForMessage polls the store until the order's message seq is stored.
// Latencies come from the message's recorded_at, so the poll interval costs
// no accuracy; polling faster would only load the machine being measured.
func (b *bench) waitForMessage(ctx context.Context, orderID string, seq int) (store.Message, error) {
	for {
		msgs, err := b.st.Timeline(ctx, orderID)
		if err != nil {
			return store.Message{}, err
		}
		for _, m := range msgs {
			if m.Seq == seq {
				return m, nil
			}
		}
		select {
		case <-ctx.Done():
			return store.Message{}, ctx.Err()
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// each runs f for n items with the configured concurrency and returns the wall time.
func (b *bench) each(ctx context.Context, n int, f func(ctx context.Context, i int) error) (time.Duration, error) {
	return eachWith(ctx, n, b.opts.Concurrency, f)
}

// memoryConcurrency bounds the orders opened at once for the memory phase,
// which measures memory, not throughput: at 200 in flight, opening 10,000
// orders overloaded the embedded server until updates timed out.
const memoryConcurrency = 20

// eachWith runs f for n items, concurrency at a time, and returns the wall time.
func eachWith(ctx context.Context, n, concurrency int, f func(ctx context.Context, i int) error) (time.Duration, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, concurrency)
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	began := time.Now()
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := f(ctx, i); err != nil {
				once.Do(func() { first = err; cancel() })
			}
		})
	}
	wg.Wait()
	return time.Since(began), first
}

// lastWarning is the worker's notify.last_warning setting: 0 for none.
func lastWarning(d time.Duration) string {
	if d <= 0 {
		return "0"
	}
	return strconv.Itoa(int(d/time.Second)) + "s"
}

// defaultUnlinkSLA is the workers' default unlink SLA (notify.unlink_sla).
const defaultUnlinkSLA = 5 * 24 * time.Hour

// messagesPerOrder is the status messages of a happy-path order: submitted,
// closed, the last warning if the window is longer than its lead, closed for good.
func (b *bench) messagesPerOrder() int {
	if b.opts.LastWarning > 0 && b.opts.Window > b.opts.LastWarning {
		return 4
	}
	return 3
}

// saturatedRun is one saturated run of the product.
type saturatedRun struct {
	throughput           float64 // completed orders/s
	start, unlink, timer Percentiles
	first                starter.Run // the first order's, for its history
}

// productRun drives the configured orders through their full life, their
// IDs starting with prefix.
func (b *bench) productRun(ctx context.Context, prefix string) (saturatedRun, error) {
	n := b.opts.Orders
	starts, unlinks, timers := make([]time.Duration, n), make([]time.Duration, n), make([]time.Duration, n)
	var firstRun starter.Run
	wall, err := b.each(ctx, n, func(ctx context.Context, i int) error {
		o := b.newOrder(prefix, b.opts.Window)
		t := time.Now()
		run, err := b.orders.Start(ctx, o)
		if err != nil {
			return err
		}
		starts[i] = time.Since(t)
		if i == 0 {
			firstRun = run
		}
		// Its first workflow task stores its first message (a local activity).
		if err := b.waitForFirstTask(ctx, run.WorkflowID); err != nil {
			return err
		}
		signalled := time.Now()
		if _, err := b.orders.ConfirmUnlink(ctx, o.OrderID, order.UnlinkCompleted{CompletedBy: "bench", Reference: "BENCH"}); err != nil {
			return err
		}
		var final order.Status
		if err := b.c.GetWorkflow(ctx, run.WorkflowID, run.RunID).Get(ctx, &final); err != nil {
			return err
		}
		msgs, err := b.st.Timeline(ctx, o.OrderID)
		if err != nil {
			return err
		}
		if len(msgs) != b.messagesPerOrder() || final.Stage != order.StagePermanentlyClosed {
			return fmt.Errorf("order %s ended %s with %d stored messages, want %d", o.OrderID, final.Stage, len(msgs), b.messagesPerOrder())
		}
		unlinks[i] = msgs[1].RecordedAt.Sub(signalled)
		timers[i] = msgs[len(msgs)-1].RecordedAt.Sub(final.ReopenDeadline)
		return nil
	})
	if err != nil {
		return saturatedRun{}, err
	}
	return saturatedRun{
		throughput: float64(n) / wall.Seconds(),
		start:      percentiles(starts), unlink: percentiles(unlinks), timer: percentiles(timers),
		first: firstRun,
	}, nil
}

func (b *bench) baselineRun(ctx context.Context, r *Results) error {
	n := b.opts.Orders
	starts := make([]time.Duration, n)
	var firstID, firstRun string
	wall, err := b.each(ctx, n, func(ctx context.Context, i int) error {
		id := fmt.Sprintf("baseline-%06d", i)
		t := time.Now()
		run, err := b.c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: baselineQueue}, BaselineType, b.opts.Window)
		if err != nil {
			return err
		}
		starts[i] = time.Since(t)
		if i == 0 {
			firstID, firstRun = id, run.GetRunID()
		}
		// Like an order, it is signalled once its first workflow task is done.
		if err := b.waitForFirstTask(ctx, id); err != nil {
			return err
		}
		if err := b.c.SignalWorkflow(ctx, id, "", workflows.SignalUnlinkCompleted, nil); err != nil {
			return err
		}
		return run.Get(ctx, nil)
	})
	if err != nil {
		return err
	}
	r.Throughput.Baseline = float64(n) / wall.Seconds()
	r.Latency.BaselineStart = percentiles(starts)
	r.Events.Baseline, err = b.countEvents(ctx, firstID, firstRun)
	return err
}

// waitForFirstTask waits until a workflow's first workflow task has completed.
// It long-polls the history, so the server answers when the event is written:
// polling it with DescribeWorkflowExecution loaded the server it measures, at
// 200 in flight, more than the workflows did, and slowed the baseline below
// the product.
func (b *bench) waitForFirstTask(ctx context.Context, workflowID string) error {
	iter := b.c.GetWorkflowHistory(ctx, workflowID, "", true, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for iter.HasNext() {
		e, err := iter.Next()
		if err != nil {
			return err
		}
		if e.GetEventType() == enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED {
			return nil
		}
	}
	return fmt.Errorf("workflow %s ended before its first workflow task completed", workflowID)
}

func (b *bench) otherPaths(ctx context.Context, r *Results) error {
	o := b.newOrder("PATH", time.Hour)
	run, err := b.orders.Start(ctx, o)
	if err != nil {
		return err
	}
	if _, err := b.orders.ConfirmUnlink(ctx, o.OrderID, order.UnlinkCompleted{CompletedBy: "bench", Reference: "BENCH"}); err != nil {
		return err
	}
	if _, err := b.waitForMessage(ctx, o.OrderID, 2); err != nil {
		return err
	}
	if _, err := b.orders.Reopen(ctx, o.OrderID, order.Request{RequestedBy: "bench", Reason: "bench"}); err != nil {
		return err
	}
	if err := b.c.GetWorkflow(ctx, run.WorkflowID, run.RunID).Get(ctx, nil); err != nil {
		return err
	}
	if r.Events.Reopened, err = b.countEvents(ctx, run.WorkflowID, run.RunID); err != nil {
		return err
	}

	o = b.newOrder("PATH", time.Hour)
	if run, err = b.orders.Start(ctx, o); err != nil {
		return err
	}
	if _, err := b.waitForMessage(ctx, o.OrderID, 1); err != nil {
		return err
	}
	if _, err := b.orders.Cancel(ctx, o.OrderID, order.Request{RequestedBy: "bench", Reason: "bench"}); err != nil {
		return err
	}
	if err := b.c.GetWorkflow(ctx, run.WorkflowID, run.RunID).Get(ctx, nil); err != nil {
		return err
	}
	r.Events.Cancelled, err = b.countEvents(ctx, run.WorkflowID, run.RunID)
	return err
}

// memoryWith opens orders (started and unlinked, waiting in a one-hour
// window) until open are waiting, then reads the worker process's memory.
func (b *bench) memoryWith(ctx context.Context, open int, child *workerProcess) (MemorySample, error) {
	more := open - b.opened
	if more > 0 {
		if _, err := eachWith(ctx, more, min(memoryConcurrency, b.opts.Concurrency), func(ctx context.Context, _ int) error {
			o := b.newOrder("OPEN", time.Hour)
			run, err := b.orders.Start(ctx, o)
			if err != nil {
				return err
			}
			_, err = b.orders.ConfirmUnlink(ctx, run.OrderID, order.UnlinkCompleted{CompletedBy: "bench", Reference: "BENCH"})
			return err
		}); err != nil {
			return MemorySample{}, err
		}
		b.opened = open
	}
	// Every one of them has had its workflow tasks: waiting on its timer.
	query := fmt.Sprintf("WorkflowType = '%s' AND TerminationStage = 'PostClosure' AND ExecutionStatus = 'Running'", workflows.WorkflowType)
	for {
		resp, err := b.c.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Namespace: namespace, Query: query})
		if err != nil {
			return MemorySample{}, err
		}
		if int(resp.GetCount()) >= open {
			break
		}
		select {
		case <-ctx.Done():
			return MemorySample{}, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	time.Sleep(2 * time.Second) // let the last tasks settle
	rss, heap, err := child.memory()
	if err != nil {
		return MemorySample{}, err
	}
	return MemorySample{Open: open, RSS: rss, HeapLive: heap}, nil
}

func (b *bench) countEvents(ctx context.Context, workflowID, runID string) (int, error) {
	it := b.c.GetWorkflowHistory(ctx, workflowID, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	n := 0
	for it.HasNext() {
		if _, err := it.Next(); err != nil {
			return 0, err
		}
		n++
	}
	return n, nil
}

func percentiles(ds []time.Duration) Percentiles {
	sorted := slices.Clone(ds)
	slices.Sort(sorted)
	at := func(p float64) float64 {
		if len(sorted) == 0 {
			return 0
		}
		i := int(p*float64(len(sorted)-1) + 0.5)
		return float64(sorted[i].Microseconds()) / 1000
	}
	return Percentiles{P50: at(0.50), P95: at(0.95), P99: at(0.99)}
}

// workerProcess is the production worker binary, run as its own process so
// that its memory is measured alone, with exactly the code production runs.
type workerProcess struct {
	cmd         *exec.Cmd
	metricsAddr string
	exited      chan struct{}
	stopping    atomic.Bool // stop was called: its exit is no failure
}

// buildWorker builds cmd/termination-worker into dir.
func buildWorker(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "termination-worker")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/cloudmarket/termination-orders/cmd/termination-worker").CombinedOutput(); err != nil {
		return "", fmt.Errorf("build the worker: %v\n%s", err, out)
	}
	return bin, nil
}

// workerSetup is what differs between the benchmark's worker processes.
type workerSetup struct {
	temporal    config.Temporal // address, namespace and task queue
	dsn         string
	receiverURL string
	// key, if set, is the worker's only key, and encryption is on; else
	// it is off and the worker holds no key.
	key *codec.Key
	// env is more of the worker's settings, as TERMINATION_* variables.
	env []string
}

func startWorkerProcess(ctx context.Context, cancel context.CancelCauseFunc, bin string, opts Options, setup workerSetup) (*workerProcess, error) {
	metricsAddr, err := ports.FreeAddress("127.0.0.1")
	if err != nil {
		return nil, err
	}
	// Whatever the benchmark's own environment says about encryption, this
	// process encrypts exactly when setup says so.
	codecEnv := []string{"TERMINATION_CODEC_ENCRYPTION=off", "TERMINATION_CODEC_KEYS=", "TERMINATION_CODEC_KEYS_FILE=", "TERMINATION_CODEC_ACTIVE_KEY="}
	if setup.key != nil {
		codecEnv = []string{"TERMINATION_CODEC_ENCRYPTION=on", "TERMINATION_CODEC_KEYS=" + setup.key.Entry(), "TERMINATION_CODEC_KEYS_FILE=", "TERMINATION_CODEC_ACTIVE_KEY=" + setup.key.ID}
	}
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(),
		"TEMPORAL_CONFIG_FILE="+filepath.Join(filepath.Dir(bin), "no-temporal.toml"),
		"TERMINATION_CONFIG=",
		"TERMINATION_TEMPORAL_ADDRESS="+setup.temporal.Address,
		"TERMINATION_TEMPORAL_NAMESPACE="+setup.temporal.Namespace,
		"TERMINATION_TEMPORAL_TASK_QUEUE="+setup.temporal.TaskQueue,
		"TERMINATION_STORE_DSN="+setup.dsn,
		"TERMINATION_WORKER_WORKFLOW_CACHE_SIZE="+strconv.Itoa(opts.CacheSize),
		"TERMINATION_METRICS_LISTEN_ADDRESS="+metricsAddr,
		"TERMINATION_LOG_LEVEL=warn",
		// Notifications on, to the benchmark's own receiver: every status
		// message to the marketplace, every work item to Operations.
		"TERMINATION_NOTIFY_MARKETPLACE_WEBHOOK_URLS="+setup.receiverURL,
		"TERMINATION_NOTIFY_MARKETPLACE_WEBHOOK_SECRET="+receiverSecret,
		"TERMINATION_NOTIFY_OPERATIONS_WEBHOOK_URLS="+setup.receiverURL,
		"TERMINATION_NOTIFY_OPERATIONS_WEBHOOK_SECRET="+receiverSecret,
		"TERMINATION_NOTIFY_LAST_WARNING="+lastWarning(opts.LastWarning),
	)
	cmd.Env = append(cmd.Env, codecEnv...)
	cmd.Env = append(cmd.Env, setup.env...)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlives the benchmark
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &workerProcess{cmd: cmd, metricsAddr: metricsAddr, exited: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		close(p.exited)
		if !p.stopping.Load() {
			cancel(fmt.Errorf("the worker process exited: %v", err)) // fails the run instead of hanging it
		}
	}()
	return p, nil
}

// waitForPollers waits until a worker polls the task queue.
func waitForPollers(ctx context.Context, c client.Client, queue string) error {
	for {
		resp, err := c.DescribeTaskQueue(ctx, queue, enumspb.TASK_QUEUE_TYPE_WORKFLOW)
		if err == nil && len(resp.GetPollers()) > 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// memory reads the worker's resident memory and live heap (after its last
// garbage collection) from its own Prometheus endpoint.
func (p *workerProcess) memory() (rss, heapLive uint64, err error) {
	resp, err := http.Get("http://" + p.metricsAddr + "/metrics")
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		v, perr := strconv.ParseFloat(value, 64)
		switch {
		case perr != nil:
		case name == "process_resident_memory_bytes":
			rss = uint64(v)
		case name == "go_gc_heap_live_bytes":
			heapLive = uint64(v)
		}
	}
	if rss == 0 || heapLive == 0 {
		return 0, 0, errors.New("the worker's /metrics has no process_resident_memory_bytes or go_gc_heap_live_bytes")
	}
	return rss, heapLive, sc.Err()
}

func (p *workerProcess) stop() {
	p.stopping.Store(true)
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
	}
}

// dial connects to Temporal as the commands do (app.ClientOptions), payloads
// through c, logging nothing.
func dial(ctx context.Context, t config.Temporal, c *codec.Codec) (client.Client, error) {
	copts, err := app.ClientOptions(t, c, logging.ForTemporal(zap.NewNop()))
	if err != nil {
		return nil, err
	}
	return client.DialContext(ctx, copts)
}
