// Package soak drives termination orders through their whole life while it
// injects faults, and then checks every order against what its callers were
// told. The real worker binary runs as separate processes on a Temporal server
// process of its own (on SQLite as the dev command runs it, or on PostgreSQL
// as production does); the soak SIGKILLs and restarts both, and cuts and
// black-holes the status store's PostgreSQL connection through a TCP proxy.
// cmd/termination-soak runs it.
package soak

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver, for creating and dropping the run's databases
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.uber.org/zap"

	"github.com/cloudmarket/termination-orders/app"
	"github.com/cloudmarket/termination-orders/codec"
	"github.com/cloudmarket/termination-orders/config"
	"github.com/cloudmarket/termination-orders/devserver"
	"github.com/cloudmarket/termination-orders/internal/netfault"
	"github.com/cloudmarket/termination-orders/internal/ports"
	"github.com/cloudmarket/termination-orders/logging"
	"github.com/cloudmarket/termination-orders/starter"
	"github.com/cloudmarket/termination-orders/store"
)

// Options size a soak run.
type Options struct {
	// Servers are the Temporal servers to run on, in order: ServerSQLite, ServerPostgres.
	Servers []string
	// Orders is how many orders each server run drives.
	Orders int
	// Workers is how many worker processes run at once.
	Workers int
	// Window is the orders' reopen window (whole seconds).
	Window time.Duration
	// CallTimeout bounds every client call.
	CallTimeout time.Duration
	// StoreOutage is how long each cut and each black hole of the store lasts.
	StoreOutage time.Duration
	// Gap is the quiet time between two faults of the program.
	Gap time.Duration
	// WorkerKillEvery is how often a worker process is SIGKILLed.
	WorkerKillEvery time.Duration
	// Drain bounds the wait for every order to finish once the faults end;
	// drivers stop retrying their calls halfway through it.
	Drain time.Duration
	// PostgresDSN is an administrator's DSN of the PostgreSQL server that holds
	// the run's fresh databases (the status store's, and Temporal's own).
	PostgresDSN string
	// Self is an executable that serves Temporal when ServeIfAsked finds its
	// environment: the soak command itself.
	Self string
	// KeepLogs keeps the run's directory with the server's and workers' logs.
	KeepLogs bool
	Seed     uint64
	Progress func(format string, args ...any)
}

// DefaultPostgresDSN is the local PostgreSQL server the tests use too.
const DefaultPostgresDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

const (
	namespace = "default"
	taskQueue = "soak-orders"
)

// Run runs the soak on each server in turn.
func Run(ctx context.Context, opts Options) (*Results, error) {
	if opts.Progress == nil {
		opts.Progress = func(string, ...any) {}
	}
	rs := &Results{Orders: opts.Orders, Workers: opts.Workers, WindowSec: opts.Window.Seconds(),
		StoreOutageSec: opts.StoreOutage.Seconds(), CallTimeoutSec: opts.CallTimeout.Seconds(), Pass: true}
	dir, err := os.MkdirTemp("", "termination-soak-")
	if err != nil {
		return nil, err
	}
	if opts.KeepLogs {
		opts.Progress("the processes' logs stay in %s", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	// Payloads are encrypted as production's should be, under a key of the
	// run's own that lives only in memory and in the workers' environment.
	key, err := codec.NewKey("soak")
	if err != nil {
		return nil, err
	}
	opts.Progress("building the production worker (cmd/termination-worker)")
	bin, err := buildWorker(ctx, dir)
	if err != nil {
		return nil, err
	}
	for _, kind := range opts.Servers {
		r, err := runOn(ctx, opts, kind, dir, bin, key)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", kind, err)
		}
		rs.Runs = append(rs.Runs, r)
		rs.Pass = rs.Pass && r.Pass
	}
	return rs, nil
}

// runner is one server run: its processes, proxy and orders.
type runner struct {
	opts     Options
	kind     string
	temporal *temporalProcess
	workers  *workerPool
	proxy    *netfault.Proxy
	c        client.Client
	dc       converter.DataConverter // c's: the checker decrypts failures with it
	orders   *starter.Client
	st       *store.Store
	receiver *receiver // of the workers' notifications
	rng      *rand.Rand
	rngMu    sync.Mutex
	giveUp   time.Time // drivers stop retrying a call after this

	mu       sync.Mutex
	runs     []*orderRun
	faults   Faults
	outages  []outage
	restarts []time.Duration
}

type outage struct {
	mode        netfault.Mode
	began, back time.Time
}

func runOn(ctx context.Context, opts Options, kind, parent, bin string, key codec.Key) (_ Result, err error) {
	began := time.Now()
	dir, err := os.MkdirTemp(parent, kind+"-")
	if err != nil {
		return Result{}, err
	}
	pg, err := url.Parse(opts.PostgresDSN)
	if err != nil || pg.Host == "" {
		return Result{}, fmt.Errorf("PostgreSQL DSN %q: want postgres://user@host:port/db", opts.PostgresDSN)
	}
	admin, err := sql.Open("pgx", opts.PostgresDSN)
	if err != nil {
		return Result{}, err
	}
	defer admin.Close()
	if err := admin.PingContext(ctx); err != nil {
		return Result{}, fmt.Errorf("PostgreSQL at %s: %w", pg.Redacted(), err)
	}
	prefix := fmt.Sprintf("soak_%d_%d_%s", os.Getpid(), time.Now().UnixNano(), kind)
	var dbs []string
	defer func() {
		for _, db := range dbs {
			if _, derr := admin.ExecContext(context.WithoutCancel(ctx), "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)"); derr != nil && err == nil {
				err = fmt.Errorf("drop database %s: %w", db, derr)
			}
		}
	}()

	statusDB := prefix + "_status"
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+statusDB); err != nil {
		return Result{}, err
	}
	dbs = append(dbs, statusDB)
	port, err := ports.Free("127.0.0.1")
	if err != nil {
		return Result{}, err
	}
	spec := serverSpec{DataDir: dir, Port: port, Namespace: namespace}
	if kind == ServerPostgres {
		opts.Progress("[%s] Temporal's databases %s_temporal and %s_visibility on PostgreSQL, schema set up", kind, prefix, prefix)
		dbs = append(dbs, prefix+"_temporal", prefix+"_visibility")
		password, _ := pg.User.Password()
		// Small pools: the PostgreSQL server (100 connections) is shared with the tests.
		spec.Postgres = &devserver.Postgres{Addr: pg.Host, User: pg.User.Username(), Password: password,
			Main: prefix + "_temporal", Visibility: prefix + "_visibility", MaxConns: 5, MaxIdleConns: 2}
		if err = devserver.CreatePostgres(ctx, admin, *spec.Postgres); err != nil {
			return Result{}, err
		}
	} else if kind != ServerSQLite {
		return Result{}, fmt.Errorf("unknown server %q (want %s or %s)", kind, ServerSQLite, ServerPostgres)
	}

	r := &runner{opts: opts, kind: kind, rng: rand.New(rand.NewPCG(opts.Seed, uint64(len(kind))))}
	if r.temporal, err = newTemporalProcess(opts.Self, dir, spec); err != nil {
		return Result{}, err
	}
	opts.Progress("[%s] starting the Temporal server process", kind)
	if err := r.temporal.start(ctx); err != nil {
		return Result{}, err
	}
	defer r.temporal.stop()

	if r.proxy, err = netfault.Listen(pg.Host); err != nil {
		return Result{}, err
	}
	defer r.proxy.Close()
	direct, through := *pg, *pg
	direct.Path, through.Path = "/"+statusDB, "/"+statusDB
	through.Host = r.proxy.Addr()
	if r.st, err = store.Open(ctx, direct.String()); err != nil {
		return Result{}, err
	}
	defer r.st.Close()

	ring, err := codec.NewKeyRing(key.ID, key)
	if err != nil {
		return Result{}, err
	}
	copts, err := app.ClientOptions(config.LocalTemporal(r.temporal.address, namespace, taskQueue), codec.New(ring), logging.ForTemporal(zap.NewNop()))
	if err != nil {
		return Result{}, err
	}
	r.dc = copts.DataConverter
	if r.c, err = client.DialContext(ctx, copts); err != nil {
		return Result{}, err
	}
	defer r.c.Close()
	r.orders = starter.New(r.c, taskQueue)

	if r.receiver, err = startReceiver(); err != nil {
		return Result{}, err
	}
	defer r.receiver.close()
	opts.Progress("[%s] starting %d worker processes, status store through the proxy at %s, notifications to a failing, slow receiver at %s",
		kind, opts.Workers, r.proxy.Addr(), r.receiver.url)
	r.workers, err = startWorkers(bin, dir, opts.Workers, append([]string{
		"TEMPORAL_CONFIG_FILE=" + dir + "/no-temporal.toml",
		"TERMINATION_CONFIG=",
		"TERMINATION_TEMPORAL_ADDRESS=" + r.temporal.address,
		"TERMINATION_TEMPORAL_NAMESPACE=" + namespace,
		"TERMINATION_TEMPORAL_TASK_QUEUE=" + taskQueue,
		// The run's key only, whatever keys the soak's own environment names.
		"TERMINATION_CODEC_ENCRYPTION=on",
		"TERMINATION_CODEC_KEYS=" + key.Entry(),
		"TERMINATION_CODEC_KEYS_FILE=",
		"TERMINATION_CODEC_ACTIVE_KEY=",
		"TERMINATION_STORE_DSN=" + through.String(),
		// The soak shares its PostgreSQL server with Temporal's databases and
		// with other tests: a few connections per worker are plenty.
		"TERMINATION_STORE_MAX_OPEN_CONNS=4",
		"TERMINATION_STORE_MAX_IDLE_CONNS=2",
		"TERMINATION_LOG_LEVEL=warn",
		"TERMINATION_WORKER_STOP_TIMEOUT=5s",
	}, notifyEnv(r.receiver.url)...), 500*time.Millisecond)
	if err != nil {
		return Result{}, err
	}
	defer r.workers.stop()

	program := r.program()
	// Drivers retry until half the drain; the drain ends a full Drain after the faults.
	r.giveUp = time.Now().Add(program.length() + opts.Drain/2)
	opts.Progress("[%s] %d orders over %s of faults: %s", kind, opts.Orders, program.length().Round(time.Second), program)
	var drivers sync.WaitGroup
	driveCtx, stopDriving := context.WithCancel(ctx)
	defer stopDriving()
	r.startOrders(driveCtx, &drivers, program.length())
	if err := r.runProgram(ctx, program); err != nil {
		return Result{}, err
	}
	drainUntil := time.Now().Add(opts.Drain)
	opts.Progress("[%s] faults over; waiting for the drivers' last calls", kind)
	drivers.Wait()
	opts.Progress("[%s] draining: every order to its end (until %s after the faults)", kind, opts.Drain)
	drained := r.drain(ctx, drainUntil)
	opts.Progress("[%s] checking %d orders through the Temporal API and the status store", kind, len(r.runs))
	res, err := r.check(ctx)
	if err != nil {
		return Result{}, err
	}
	if !drained {
		res.finding("drain: orders still running after %s", opts.Drain)
	}
	res.Faults.WorkerCrashes = r.workers.crashCount()
	res.DurationSec = time.Since(began).Seconds()
	res.Pass = res.Lost == 0 && res.Doubled == 0 && res.Early == 0 && res.Stuck == 0 && res.WrongAnswers == 0 && res.WorkflowTaskFailed == 0 &&
		res.InputsInClear == 0 && res.Notifications.Missing == 0 && res.Notifications.Unexpected == 0 &&
		res.Notifications.Conflicting == 0 && res.Notifications.Invalid == 0
	return res, nil
}

func (r *runner) intn(n int) int {
	r.rngMu.Lock()
	defer r.rngMu.Unlock()
	return r.rng.IntN(n)
}

// step is one fault of the program, or a quiet gap.
type step struct {
	kind string // "gap", "server-kill", "store-cut", "store-black-hole"
	d    time.Duration
}

type program []step

// program is the run's sequence of faults: the Temporal server killed three
// times, the store cut once and black-holed once, with quiet gaps between
// them. Worker kills run beside it the whole time.
func (r *runner) program() program {
	g, o := r.opts.Gap, r.opts.StoreOutage
	return program{
		{"gap", g}, {"server-kill", 0}, {"gap", g}, {"store-cut", o}, {"gap", g},
		{"server-kill", 0}, {"gap", g}, {"store-black-hole", o}, {"gap", g}, {"server-kill", 0}, {"gap", g},
	}
}

// serverRestartGuess is what one server kill and restart adds to the program's length.
const serverRestartGuess = 3 * time.Second

func (p program) length() time.Duration {
	var d time.Duration
	for _, s := range p {
		d += s.d
		if s.kind == "server-kill" {
			d += serverRestartGuess
		}
	}
	return d
}

func (p program) String() string {
	var parts []string
	for _, s := range p {
		if s.kind != "gap" {
			parts = append(parts, s.kind)
		}
	}
	return strings.Join(parts, ", ")
}

func (r *runner) runProgram(ctx context.Context, p program) error {
	done := make(chan struct{})
	var killer sync.WaitGroup
	killer.Go(func() { r.killWorkers(done) })
	defer func() { close(done); killer.Wait() }()
	for _, s := range p {
		switch s.kind {
		case "gap":
			if err := sleep(ctx, s.d); err != nil {
				return err
			}
		case "server-kill":
			r.opts.Progress("[%s] SIGKILL the Temporal server, start it again", r.kind)
			r.temporal.kill()
			r.count(func(f *Faults) { f.ServerKills++ })
			down := time.Now()
			if err := sleep(ctx, time.Second); err != nil {
				return err
			}
			if err := r.temporal.start(ctx); err != nil {
				return err
			}
			r.mu.Lock()
			r.restarts = append(r.restarts, time.Since(down))
			r.mu.Unlock()
		case "store-cut", "store-black-hole":
			mode := netfault.Refuse
			if s.kind == "store-black-hole" {
				mode = netfault.BlackHole
			}
			r.opts.Progress("[%s] %s of the status store for %s", r.kind, s.kind, s.d)
			if err := r.proxy.Set(mode); err != nil {
				return err
			}
			o := outage{mode: mode, began: time.Now()}
			err := sleep(ctx, s.d)
			if perr := r.proxy.Set(netfault.Forward); perr != nil {
				return perr
			}
			o.back = time.Now()
			r.mu.Lock()
			r.outages = append(r.outages, o)
			if mode == netfault.Refuse {
				r.faults.StoreCuts++
			} else {
				r.faults.StoreBlackHoles++
			}
			r.mu.Unlock()
			if err != nil {
				return err
			}
		}
	}
	return nil
}

func (r *runner) count(f func(*Faults)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f(&r.faults)
}

// killWorkers SIGKILLs a worker process every WorkerKillEvery until done.
func (r *runner) killWorkers(done <-chan struct{}) {
	t := time.NewTicker(r.opts.WorkerKillEvery)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			if r.workers.kill(r.intn(r.opts.Workers)) {
				r.count(func(f *Faults) { f.WorkerKills++ })
			}
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

var errNoServers = errors.New("no server to run on")

// Validate checks the options before anything starts.
func (o Options) Validate() error {
	var problems []string
	if len(o.Servers) == 0 {
		problems = append(problems, errNoServers.Error())
	}
	for _, s := range o.Servers {
		if s != ServerSQLite && s != ServerPostgres {
			problems = append(problems, fmt.Sprintf("unknown server %q", s))
		}
	}
	if o.Orders < 5 {
		problems = append(problems, "at least 5 orders (one per path)")
	}
	if o.Workers < 2 {
		problems = append(problems, "at least 2 workers")
	}
	if o.Window < time.Second || o.Window%time.Second != 0 {
		problems = append(problems, "the window is whole seconds, at least 1s")
	}
	if o.CallTimeout <= 0 || o.StoreOutage <= 0 || o.Gap <= 0 || o.WorkerKillEvery <= 0 || o.Drain <= 0 {
		problems = append(problems, "durations must be positive")
	}
	if o.Self == "" {
		problems = append(problems, "no executable to serve Temporal")
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}
