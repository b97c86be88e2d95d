package bench

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"go.uber.org/zap"

	"github.com/cloudmarket/termination-orders/codec"
	"github.com/cloudmarket/termination-orders/config"
	"github.com/cloudmarket/termination-orders/devserver"
	"github.com/cloudmarket/termination-orders/internal/ports"
	"github.com/cloudmarket/termination-orders/order"
	"github.com/cloudmarket/termination-orders/starter"
	"github.com/cloudmarket/termination-orders/store"
	"github.com/cloudmarket/termination-orders/worker"
	"github.com/cloudmarket/termination-orders/workflows"
)

// HerdOptions size a herd run.
type HerdOptions struct {
	Orders      int // N orders, and N bare workflows of each kind
	Concurrency int // calls in flight at once, in the start and unlink phases
	// Window is the orders' reopen window, counted from one close time
	// stated by every unlink, so that every deadline falls in one second; it
	// must outlast the unlink phase. 0 picks one from Orders.
	Window time.Duration
	// BareWindow is the same for the bare shapes, counted from the start of
	// their unlink phase; 0 picks one from Orders.
	BareWindow time.Duration
	CacheSize  int // the worker's workflow cache
	// ProbeOrders are started before the herd, outside it, for the
	// interactive unlinks: one every second of a phase until none is left.
	ProbeOrders int
	// ProfileDir, when set, receives the worker's CPU profiles of the
	// unlink phase and of the drain (worker.pprof_address).
	ProfileDir string
	// ProfileSeconds is each profile's length: 30 s when 0.
	ProfileSeconds int
	// Server is where Temporal keeps its state: HerdOnSQLite (the default,
	// the dev command's server) or HerdOnPostgres, on the PostgreSQL server
	// of PostgresDSN (an administrator's DSN), which then holds the status
	// store too.
	Server      string
	PostgresDSN string
	// PostgresConns bounds each of the server's connection pools on
	// PostgreSQL (it opens about eight); 0 keeps 10.
	PostgresConns int
	// PostgresShards is the history shard count of the server on
	// PostgreSQL; 0 keeps 4, the compose server's (temporalio/server).
	PostgresShards int
	Progress       func(format string, args ...any)
}

// autoWindow leaves the unlink phase 25 calls a second and a minute more.
func autoWindow(n int) time.Duration {
	return time.Minute + time.Duration(n)*40*time.Millisecond
}

// autoBareWindow leaves the bare shapes 40 calls a second and 30 s more:
// an update round trip is about ten times a signal's.
func autoBareWindow(n int) time.Duration {
	return 30*time.Second + time.Duration(n)*25*time.Millisecond
}

// HerdResults is what a herd run measured; the JSON output is this.
type HerdResults struct {
	Orders        int     `json:"orders"`
	Concurrency   int     `json:"concurrency"`
	WindowSec     float64 `json:"reopenWindowSeconds"`
	BareWindowSec float64 `json:"bareWindowSeconds"`
	CacheSize     int     `json:"workflowCacheSize"`
	Server        string  `json:"server"`
	HistoryShards int     `json:"historyShards"`
	// Load is the machine's load average (1, 5, 15 min) at the start and the
	// end of the run: the machine may be shared.
	Load struct {
		Start string `json:"start"`
		End   string `json:"end"`
	} `json:"loadAverage"`

	Product    HerdShape `json:"product"`
	BareSignal HerdShape `json:"bareSignal"`
	BareUpdate HerdShape `json:"bareUpdate"`

	// List is the latency of listing the N orders by stage
	// (TerminationStage = 'PostClosure', 1,000 a page, the first page) and
	// of counting them, with all N in that stage.
	List struct {
		FirstPage float64 `json:"firstPageMillis"`
		Count     float64 `json:"countMillis"`
	} `json:"listAtN"`

	Ratios struct {
		StartRate         float64 `json:"startRate"`
		UnlinkVsUpdate    float64 `json:"unlinkRateVsBareUpdate"`
		UnlinkVsSignal    float64 `json:"unlinkRateVsBareSignal"`
		DrainVsBare       float64 `json:"drainTimeVsBareSignal"`
		BytesVsBare       float64 `json:"bytesPerOrderVsBareSignal"`
		UnlinkP99VsBare   float64 `json:"unlinkP99VsBareUpdate"`
		DrainVsBareUpdate float64 `json:"drainTimeVsBareUpdate"`
	} `json:"ratios"`

	Profiles []string `json:"workerCPUProfiles,omitempty"`
}

// HerdShape is one shape's herd: the product's orders or a bare shape's.
type HerdShape struct {
	Start  HerdPhase `json:"start"`
	Unlink HerdPhase `json:"unlink"`
	Drain  HerdDrain `json:"drain"`
	// BytesPerOrder is the growth of Temporal's database over the shape's
	// run, divided by N.
	BytesPerOrder float64 `json:"temporalDatabaseBytesPerOrder"`
}

// HerdPhase is N calls, Concurrency at a time.
type HerdPhase struct {
	Seconds float64     `json:"seconds"`
	Rate    float64     `json:"perSecond"`
	Latency Percentiles `json:"latencyMillis"`
	Failed  int         `json:"failed"`
	// PastAPITimeout counts the calls that took longer than the HTTP API's
	// own request timeout (30 s).
	PastAPITimeout int     `json:"pastAPITimeout"`
	FirstError     string  `json:"firstError,omitempty"`
	Probes         *Probes `json:"probes,omitempty"`
	// Backlog is the product's task queue during the phase.
	Backlog *Backlog `json:"backlog,omitempty"`
	// Usage is where the phase's CPU went.
	Usage *Usage `json:"usage,omitempty"`
}

// HerdDrain is every deadline, in one second, reached.
type HerdDrain struct {
	// Seconds is from the deadline until the last workflow of the herd closed.
	Seconds float64 `json:"seconds"`
	// Overlapped says the unlink phase ended after the deadline: the window
	// was too short, and the drain ran into the unlinks.
	Overlapped bool     `json:"overlappedUnlinks"`
	Probes     *Probes  `json:"probes,omitempty"`
	Backlog    *Backlog `json:"backlog,omitempty"`
	Usage      *Usage   `json:"usage,omitempty"`
}

// Probes are interactive calls made during a phase: an order's status every
// half second, and an unlink of an order outside the herd every second.
type Probes struct {
	Status ProbeStats `json:"status"`
	Unlink ProbeStats `json:"unlink"`
}

// ProbeStats is one kind of probe's calls.
type ProbeStats struct {
	Calls      int         `json:"calls"`
	Failed     int         `json:"failed"`
	Latency    Percentiles `json:"latencyMillis"`
	FirstError string      `json:"firstError,omitempty"`
	// For the unlinks, each answered call in two parts, split at the start of
	// the workflow task that decided it (the unlink's time in the order's
	// timeline; the server and this process share a clock): ToTask is the
	// server's until a worker took the task, FromTask the worker's task and
	// the server's recording of its completion until the answer.
	ToTask   *Percentiles `json:"toWorkflowTaskMillis,omitempty"`
	FromTask *Percentiles `json:"fromWorkflowTaskMillis,omitempty"`
}

const (
	herdQueue     = "herd-orders"
	herdBareQueue = "herd-bare"
	// apiRequestTimeout is the HTTP API's api.request_timeout default.
	apiRequestTimeout = 30 * time.Second
	probeInterval     = 500 * time.Millisecond
)

// RunHerd starts an embedded server (SQLite), the production worker as its
// own process and a bare worker in this one, then runs the herd for the
// product, the bare shape unlinked by signal, and by update.
func RunHerd(ctx context.Context, opts HerdOptions) (*HerdResults, error) {
	if opts.Window == 0 {
		opts.Window = autoWindow(opts.Orders)
	}
	if opts.BareWindow == 0 {
		opts.BareWindow = autoBareWindow(opts.Orders)
	}
	dir, err := os.MkdirTemp("", "termination-herd-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	r := &HerdResults{Orders: opts.Orders, Concurrency: opts.Concurrency, WindowSec: opts.Window.Seconds(),
		BareWindowSec: opts.BareWindow.Seconds(), CacheSize: opts.CacheSize, Server: herdServerSQLite}
	r.Load.Start = loadAverage()

	port, err := ports.Free("127.0.0.1")
	if err != nil {
		return nil, err
	}
	serverOpts := devserver.Options{DataDir: dir, IP: "127.0.0.1", Port: port, Namespace: namespace, Logger: zap.NewNop()}
	size := func() int64 { return dbSize(dir) }
	dsn := "sqlite:" + filepath.Join(dir, "status.db")
	meter := &cpuMeter{}
	switch opts.Server {
	case "", HerdOnSQLite:
		opts.Progress("starting the embedded Temporal server (SQLite in %s)", dir)
	case HerdOnPostgres:
		pg, err := newHerdPostgres(ctx, opts.PostgresDSN, cmp.Or(opts.PostgresConns, 10), cmp.Or(opts.PostgresShards, 4))
		if err != nil {
			return nil, err
		}
		defer pg.close()
		serverOpts.Persistence, size, dsn = pg.temporal.Persistence(), pg.size, pg.statusDSN
		meter.pg, meter.dbs = pg.admin, [3]string{pg.temporal.Main, pg.temporal.Visibility, pg.status}
		r.Server = herdServerPostgres
		opts.Progress("starting the embedded Temporal server on PostgreSQL (%s, %s; status store in PostgreSQL too)", pg.temporal.Main, pg.temporal.Visibility)
	default:
		return nil, fmt.Errorf("herd server %q: want %s or %s", opts.Server, HerdOnSQLite, HerdOnPostgres)
	}
	srv, err := devserver.Start(ctx, serverOpts)
	if err != nil {
		return nil, err
	}
	defer srv.Stop()

	plainRing, err := codec.NewKeyRing("")
	if err != nil {
		return nil, err
	}
	temporal := config.LocalTemporal(srv.Address(), namespace, herdQueue)
	c, err := dial(ctx, temporal, codec.New(plainRing))
	if err != nil {
		return nil, err
	}
	defer c.Close()
	// The shard count the server runs with, as it reports it.
	info, err := c.WorkflowService().GetClusterInfo(ctx, &workflowservice.GetClusterInfoRequest{})
	if err != nil {
		return nil, err
	}
	r.HistoryShards = int(info.GetHistoryShardCount())
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
	pprofAddr, err := ports.FreeAddress("127.0.0.1")
	if err != nil {
		return nil, err
	}
	child, err := startWorkerProcess(ctx, cancel, bin, Options{CacheSize: opts.CacheSize},
		workerSetup{temporal: temporal, dsn: dsn, receiverURL: recv.url, env: []string{"TERMINATION_WORKER_PPROF_ADDRESS=" + pprofAddr}})
	if err != nil {
		return nil, err
	}
	defer child.stop()
	meter.worker = child.cmd.Process.Pid
	if err := waitForPollers(ctx, c, temporal.TaskQueue); err != nil {
		return nil, err
	}
	bare := sdkworker.New(c, herdBareQueue, bareWorkerOptions())
	bare.RegisterWorkflowWithOptions(HerdBaseline, workflow.RegisterOptions{Name: HerdBaselineType})
	if err := bare.Start(); err != nil {
		return nil, err
	}
	defer bare.Stop()

	h := &herd{c: c, orders: starter.New(c, temporal.TaskQueue, starter.WithUnlinkSLA(defaultUnlinkSLA), starter.WithStatusStore(st)), opts: opts,
		pprof: pprofAddr, cpu: meter, bench: &bench{c: c, st: st, opts: Options{}, seq: new(atomic.Int64)}}
	h.bench.orders = h.orders

	h.size = size
	if err := h.product(ctx, r); err != nil {
		return nil, fmt.Errorf("product herd: %w", err)
	}

	for _, byUpdate := range []bool{false, true} {
		before := size()
		shape, err := h.bareShape(ctx, byUpdate)
		if err != nil {
			return nil, fmt.Errorf("bare herd (update %t): %w", byUpdate, err)
		}
		shape.BytesPerOrder = float64(size()-before) / float64(opts.Orders)
		if byUpdate {
			r.BareUpdate = shape
		} else {
			r.BareSignal = shape
		}
	}
	h.profiling.Wait()
	r.Profiles = h.profiles
	ratio := func(a, b float64) float64 {
		if b == 0 {
			return 0
		}
		return a / b
	}
	r.Ratios.StartRate = ratio(r.Product.Start.Rate, r.BareSignal.Start.Rate)
	r.Ratios.UnlinkVsUpdate = ratio(r.Product.Unlink.Rate, r.BareUpdate.Unlink.Rate)
	r.Ratios.UnlinkVsSignal = ratio(r.Product.Unlink.Rate, r.BareSignal.Unlink.Rate)
	r.Ratios.UnlinkP99VsBare = ratio(r.Product.Unlink.Latency.P99, r.BareUpdate.Unlink.Latency.P99)
	r.Ratios.DrainVsBare = ratio(r.Product.Drain.Seconds, r.BareSignal.Drain.Seconds)
	r.Ratios.DrainVsBareUpdate = ratio(r.Product.Drain.Seconds, r.BareUpdate.Drain.Seconds)
	r.Ratios.BytesVsBare = ratio(r.Product.BytesPerOrder, r.BareSignal.BytesPerOrder)
	r.Load.End = loadAverage()
	return r, nil
}

type herd struct {
	c         client.Client
	orders    *starter.Client
	opts      HerdOptions
	pprof     string
	cpu       *cpuMeter
	size      func() int64 // Temporal's database, in bytes
	bench     *bench
	profiling sync.WaitGroup
	mu        sync.Mutex
	profiles  []string
}

func (h *herd) product(ctx context.Context, r *HerdResults) error {
	n := h.opts.Orders
	h.opts.Progress("%d probe orders outside the herd, for the interactive unlinks", h.opts.ProbeOrders)
	probes := make([]string, max(h.opts.ProbeOrders, 1))
	if _, err := eachWith(ctx, len(probes), min(20, h.opts.Concurrency), func(ctx context.Context, i int) error {
		o := h.bench.newOrder("PROBE", time.Hour)
		probes[i] = o.OrderID
		_, err := h.orders.Start(ctx, o)
		return err
	}); err != nil {
		return err
	}
	p := &prober{h: h, unlinkPool: probes}
	// From here on, the database grows by the herd's orders (and the few
	// probe unlinks, which add a message each).
	before := h.size()
	defer func() { r.Product.BytesPerOrder = float64(h.size()-before) / float64(n) }()

	ids := make([]string, n)
	h.opts.Progress("product: %d orders started, %d calls in flight", n, h.opts.Concurrency)
	// Orders of the herd are being written while it starts: read the probes'.
	stop := p.run(ctx, func(int) string { return probes[rand.IntN(len(probes))] })
	r.Product.Start = h.phase(ctx, n, func(ctx context.Context, i int) error {
		o := h.bench.newOrder("HERD", h.opts.Window)
		_, err := h.orders.Start(ctx, o)
		if err == nil {
			ids[i] = o.OrderID
		}
		return err
	})
	r.Product.Start.Probes = stop()
	h.probed("starts", r.Product.Start.Probes)
	h.opts.Progress("product starts: %.1f/s, p99 %.0f ms, %d failed", r.Product.Start.Rate, r.Product.Start.Latency.P99, r.Product.Start.Failed)

	// One close time for every unlink, a whole second after the last order
	// was placed, so that every deadline falls in the same second.
	closedAt := time.Now().Truncate(time.Second).Add(time.Second)
	if err := sleepUntil(ctx, closedAt); err != nil {
		return err
	}
	deadline := closedAt.Add(h.opts.Window)
	h.opts.Progress("product: %d unlinks (confirm-unlink updates), %d in flight; every deadline at %s", n, h.opts.Concurrency, deadline.Format(time.RFC3339))
	all := func(int) string { return ids[rand.IntN(n)] }
	stop = p.run(ctx, all)
	backlog := h.sampleBacklog(ctx, herdQueue)
	h.profile(ctx, "unlink")
	report := order.UnlinkCompleted{CompletedBy: "bench", Reference: "HERD", CompletedAt: closedAt.UTC().Format(time.RFC3339)}
	r.Product.Unlink = h.phase(ctx, n, func(ctx context.Context, i int) error {
		if ids[i] == "" {
			return errors.New("not started")
		}
		_, err := h.orders.ConfirmUnlink(ctx, ids[i], report)
		return err
	})
	r.Product.Unlink.Probes = stop()
	r.Product.Unlink.Backlog = backlog()
	h.probed("unlinks", r.Product.Unlink.Probes)
	h.backlogged("unlinks", r.Product.Unlink.Backlog)
	h.opts.Progress("product unlinks: %.1f/s, p50 %.0f ms, p99 %.0f ms, %d failed, %d past 30 s",
		r.Product.Unlink.Rate, r.Product.Unlink.Latency.P50, r.Product.Unlink.Latency.P99, r.Product.Unlink.Failed, r.Product.Unlink.PastAPITimeout)

	if err := h.listAtN(ctx, r, n-r.Product.Unlink.Failed); err != nil {
		return err
	}
	r.Product.Drain.Overlapped = time.Now().After(deadline)
	query := fmt.Sprintf("WorkflowType = '%s' AND ExecutionStatus = 'Running' AND ReopenDeadline <= '%s'",
		workflows.WorkflowType, deadline.Add(time.Second).UTC().Format(time.RFC3339))
	h.opts.Progress("product: waiting for the deadline, then the drain")
	if err := sleepUntil(ctx, deadline); err != nil {
		return err
	}
	stop = p.run(ctx, all)
	backlog = h.sampleBacklog(ctx, herdQueue)
	used := h.usage(ctx)
	h.profile(ctx, "drain")
	secs, err := h.drain(ctx, deadline, query)
	r.Product.Drain.Usage = used()
	r.Product.Drain.Probes = stop()
	r.Product.Drain.Backlog = backlog()
	h.probed("drain", r.Product.Drain.Probes)
	h.backlogged("drain", r.Product.Drain.Backlog)
	r.Product.Drain.Seconds = secs
	h.opts.Progress("product drain: %.1f s", secs)
	return err
}

// backlogged says how much of a phase waited in the product's task queue.
func (h *herd) backlogged(phase string, b *Backlog) {
	h.opts.Progress("backlog during the %s: at most %d workflow tasks (the oldest waited %.0f ms) and %d activity tasks",
		phase, b.WorkflowTasks, b.WorkflowAge, b.ActivityTasks)
}

// probed says what the probes of a phase measured.
func (h *herd) probed(phase string, p *Probes) {
	h.opts.Progress("probes during the %s: status p99 %.0f ms (%d of %d failed), unlink p99 %.0f ms (%d of %d failed)",
		phase, p.Status.Latency.P99, p.Status.Failed, p.Status.Calls, p.Unlink.Latency.P99, p.Unlink.Failed, p.Unlink.Calls)
}

// listAtN times the list by stage and its count, with want orders in PostClosure.
func (h *herd) listAtN(ctx context.Context, r *HerdResults, want int) error {
	query := fmt.Sprintf("WorkflowType = '%s' AND TerminationStage = 'PostClosure'", workflows.WorkflowType)
	// Visibility follows the histories by a moment.
	deadline := time.Now().Add(15 * time.Second)
	var count int64
	for time.Now().Before(deadline) {
		t := time.Now()
		resp, err := h.c.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Namespace: namespace, Query: query})
		if err != nil {
			return fmt.Errorf("count by stage: %w", err)
		}
		r.List.Count = ms(time.Since(t))
		if count = resp.GetCount(); count >= int64(want) {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	t := time.Now()
	if _, err := h.c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: namespace, Query: query, PageSize: 1000}); err != nil {
		return fmt.Errorf("list by stage: %w", err)
	}
	r.List.FirstPage = ms(time.Since(t))
	h.opts.Progress("list by stage at %d orders: first page of 1,000 in %.0f ms, count in %.0f ms", count, r.List.FirstPage, r.List.Count)
	return nil
}

func (h *herd) bareShape(ctx context.Context, byUpdate bool) (HerdShape, error) {
	var shape HerdShape
	n := h.opts.Orders
	kind := "signal"
	if byUpdate {
		kind = "update"
	}
	prefix := "herd-bare-" + kind + "-"
	h.opts.Progress("bare (%s): %d started", kind, n)
	shape.Start = h.phase(ctx, n, func(ctx context.Context, i int) error {
		op := h.c.NewWithStartWorkflowOperation(client.StartWorkflowOptions{
			ID: fmt.Sprintf("%s%06d", prefix, i), TaskQueue: herdBareQueue,
			WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		}, HerdBaselineType)
		handle, err := h.c.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{
			StartWorkflowOperation: op,
			UpdateOptions:          client.UpdateWorkflowOptions{UpdateName: herdStarted, WaitForStage: client.WorkflowUpdateStageCompleted},
		})
		if err != nil {
			return err
		}
		return handle.Get(ctx, nil)
	})
	deadline := time.Now().Truncate(time.Second).Add(h.opts.BareWindow)
	u := HerdUnlink{Deadline: deadline}
	h.opts.Progress("bare (%s): %d unlinks; every deadline at %s", kind, n, deadline.Format(time.RFC3339))
	shape.Unlink = h.phase(ctx, n, func(ctx context.Context, i int) error {
		id := fmt.Sprintf("%s%06d", prefix, i)
		if !byUpdate {
			return h.c.SignalWorkflow(ctx, id, "", workflows.SignalUnlinkCompleted, u)
		}
		handle, err := h.c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
			WorkflowID: id, UpdateName: workflows.UpdateConfirmUnlink, Args: []any{u}, WaitForStage: client.WorkflowUpdateStageCompleted,
		})
		if err != nil {
			return err
		}
		return handle.Get(ctx, nil)
	})
	h.opts.Progress("bare (%s) unlinks: %.1f/s, p50 %.0f ms, p99 %.0f ms, %d failed", kind, shape.Unlink.Rate, shape.Unlink.Latency.P50, shape.Unlink.Latency.P99, shape.Unlink.Failed)
	shape.Drain.Overlapped = time.Now().After(deadline)
	if err := sleepUntil(ctx, deadline); err != nil {
		return shape, err
	}
	query := fmt.Sprintf("WorkflowType = '%s' AND ExecutionStatus = 'Running'", HerdBaselineType)
	used := h.usage(ctx)
	secs, err := h.drain(ctx, deadline, query)
	shape.Drain.Usage = used()
	shape.Drain.Seconds = secs
	h.opts.Progress("bare (%s) drain: %.1f s", kind, secs)
	return shape, err
}

// sleepUntil waits until t, or until ctx is done (the run interrupted).
func sleepUntil(ctx context.Context, t time.Time) error {
	timer := time.NewTimer(time.Until(t))
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// phase makes n calls, Concurrency at a time; a failed call is counted, not fatal.
func (h *herd) phase(ctx context.Context, n int, f func(ctx context.Context, i int) error) HerdPhase {
	lat := make([]time.Duration, n)
	var (
		mu    sync.Mutex
		p     HerdPhase
		first error
	)
	used := h.usage(ctx)
	wall, _ := eachWith(ctx, n, h.opts.Concurrency, func(ctx context.Context, i int) error {
		t := time.Now()
		err := f(ctx, i)
		lat[i] = time.Since(t)
		mu.Lock()
		defer mu.Unlock()
		if lat[i] > apiRequestTimeout {
			p.PastAPITimeout++
		}
		if err != nil {
			p.Failed++
			if first == nil {
				first = err
			}
		}
		return nil
	})
	p.Usage = used()
	p.Seconds = wall.Seconds()
	p.Rate = float64(n-p.Failed) / wall.Seconds()
	p.Latency = percentiles(lat)
	if first != nil {
		p.FirstError = first.Error()
	}
	return p
}

// drain waits until no workflow matches query and returns the seconds since deadline.
func (h *herd) drain(ctx context.Context, deadline time.Time, query string) (float64, error) {
	for {
		resp, err := h.c.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Namespace: namespace, Query: query})
		if err != nil {
			return 0, err
		}
		if resp.GetCount() == 0 {
			return time.Since(deadline).Seconds(), nil
		}
		select {
		case <-ctx.Done():
			return 0, context.Cause(ctx)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// profile takes the first ProfileSeconds of a phase's worker CPU profile
// into the profile directory, if any, in the background: the phase goes on
// meanwhile. (The Go runtime takes one CPU profile at a time.)
func (h *herd) profile(ctx context.Context, name string) {
	if h.opts.ProfileDir == "" {
		return
	}
	h.profiling.Go(func() {
		path := filepath.Join(h.opts.ProfileDir, name+".cpu.pprof")
		secs := h.opts.ProfileSeconds
		if secs <= 0 {
			secs = 30
		}
		if err := fetchProfile(ctx, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", h.pprof, secs), path); err != nil {
			h.opts.Progress("worker CPU profile of the %s phase: %v", name, err)
			return
		}
		h.mu.Lock()
		h.profiles = append(h.profiles, path)
		h.mu.Unlock()
		h.opts.Progress("worker CPU profile of the %s phase in %s", name, path)
	})
}

func fetchProfile(ctx context.Context, url, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// prober makes the interactive calls of a phase.
type prober struct {
	h          *herd
	mu         sync.Mutex
	unlinkPool []string // probe orders not yet unlinked
}

// run probes until the returned func is called, which returns what it measured.
func (p *prober) run(ctx context.Context, pick func(i int) string) func() *Probes {
	ctx, cancel := context.WithCancel(ctx)
	var (
		wg               sync.WaitGroup
		status, unlink   []time.Duration
		toTask, fromTask []time.Duration
		out              Probes
	)
	record := func(s *ProbeStats, lat *[]time.Duration, t time.Time, err error) {
		p.mu.Lock()
		defer p.mu.Unlock()
		s.Calls++
		*lat = append(*lat, time.Since(t))
		if err != nil {
			s.Failed++
			if s.FirstError == "" {
				s.FirstError = err.Error()
			}
		}
	}
	wg.Go(func() {
		tick := time.NewTicker(probeInterval)
		defer tick.Stop()
		// The first probes go at once, so that every phase has some.
		for i := 0; ; i++ {
			if i > 0 {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
			}
			wg.Go(func() {
				id := pick(i)
				if id == "" {
					return
				}
				cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
				defer cancel()
				t := time.Now()
				_, err := p.h.orders.Status(cctx, id)
				record(&out.Status, &status, t, err)
			})
			if i%2 != 0 {
				continue // an unlink a second
			}
			p.mu.Lock()
			var id string
			if len(p.unlinkPool) > 0 {
				id, p.unlinkPool = p.unlinkPool[0], p.unlinkPool[1:]
			}
			p.mu.Unlock()
			if id == "" {
				continue
			}
			wg.Go(func() {
				cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
				defer cancel()
				t := time.Now()
				s, err := p.h.orders.ConfirmUnlink(cctx, id, order.UnlinkCompleted{CompletedBy: "bench", Reference: "PROBE"})
				answered := time.Now()
				record(&out.Unlink, &unlink, t, err)
				if n := len(s.Timeline); err == nil && n > 0 {
					decided := s.Timeline[n-1].Time
					p.mu.Lock()
					toTask, fromTask = append(toTask, decided.Sub(t)), append(fromTask, answered.Sub(decided))
					p.mu.Unlock()
				}
			})
		}
	})
	return func() *Probes {
		cancel()
		wg.Wait()
		out.Status.Latency, out.Unlink.Latency = percentiles(status), percentiles(unlink)
		if len(toTask) > 0 {
			to, from := percentiles(toTask), percentiles(fromTask)
			out.Unlink.ToTask, out.Unlink.FromTask = &to, &from
		}
		return &out
	}
}

// dbSize is the size of Temporal's SQLite database in dir, with its WAL.
func dbSize(dir string) int64 {
	var total int64
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), devserver.DatabaseFile) {
			continue
		}
		if info, err := e.Info(); err == nil {
			total += info.Size()
		}
	}
	return total
}

// loadAverage is /proc/loadavg's first three fields, or "unknown".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// Backlog is the most workflow and activity tasks the product's task queue
// held waiting for a worker during a phase, sampled every half second
// (Temporal's approximate counts; a worker's sticky queue is not included),
// and the oldest task's wait.
type Backlog struct {
	WorkflowTasks int64   `json:"maxWorkflowTasks"`
	WorkflowAge   float64 `json:"maxWorkflowTaskAgeMillis"`
	ActivityTasks int64   `json:"maxActivityTasks"`
}

// sampleBacklog samples the product queue's backlog until the returned
// func is called, which returns the maxima.
func (h *herd) sampleBacklog(ctx context.Context, queue string) func() *Backlog {
	ctx, cancel := context.WithCancel(ctx)
	var (
		wg   sync.WaitGroup
		most Backlog
	)
	wg.Go(func() {
		tick := time.NewTicker(probeInterval)
		defer tick.Stop()
		for {
			for _, kind := range []enumspb.TaskQueueType{enumspb.TASK_QUEUE_TYPE_WORKFLOW, enumspb.TASK_QUEUE_TYPE_ACTIVITY} {
				resp, err := h.c.WorkflowService().DescribeTaskQueue(ctx, &workflowservice.DescribeTaskQueueRequest{
					Namespace: namespace, TaskQueue: &taskqueuepb.TaskQueue{Name: queue, Kind: enumspb.TASK_QUEUE_KIND_NORMAL},
					TaskQueueType: kind, ReportStats: true,
				})
				if err != nil {
					continue
				}
				s := resp.GetStats()
				if kind == enumspb.TASK_QUEUE_TYPE_ACTIVITY {
					most.ActivityTasks = maxOf(most.ActivityTasks, s.GetApproximateBacklogCount())
					continue
				}
				most.WorkflowTasks = maxOf(most.WorkflowTasks, s.GetApproximateBacklogCount())
				most.WorkflowAge = maxOf(most.WorkflowAge, ms(s.GetApproximateBacklogAge().AsDuration()))
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	})
	return func() *Backlog {
		cancel()
		wg.Wait()
		return &most
	}
}

func maxOf[T int64 | float64](a, b T) T {
	if b > a {
		return b
	}
	return a
}

// bareWorkerOptions are the worker options of the bare shapes (the herd's
// and the benchmark's baseline): polls scaled as the production worker's are
// by default, so that a bare shape runs at the server's pace, not at that of
// the SDK's two fixed polls (in a herd of 1,000 its drain then took eight
// times as long, at a quarter of a core).
func bareWorkerOptions() sdkworker.Options {
	n, _ := strconv.Atoi(config.Default("worker.workflow_task_pollers"))
	return worker.Options{WorkflowTaskPollers: n}.SDKOptions()
}
