// Package worker runs the termination order worker: it polls the task queue
// and runs the workflow and its status activities until told to stop.
package worker

import (
	"context"
	"fmt"
	"time"

	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.uber.org/zap"

	"github.com/cloudmarket/termination-orders/activities"
	"github.com/cloudmarket/termination-orders/config"
	"github.com/cloudmarket/termination-orders/logging"
	"github.com/cloudmarket/termination-orders/metrics"
	"github.com/cloudmarket/termination-orders/store"
	"github.com/cloudmarket/termination-orders/workflows"
)

// Options shape a worker.
type Options struct {
	TaskQueue string
	// Policy is what the orders this worker runs follow (their reopen window).
	Policy workflows.Policy
	// StopTimeout is how long a stopping worker waits for running activities.
	StopTimeout time.Duration
	// CacheSize bounds how many orders the process keeps in memory between
	// their workflow tasks (the SDK's sticky cache, shared by every worker of
	// the process); zero keeps the SDK's default.
	CacheSize int
}

// New builds a worker with the workflow and activities registered, writing
// status messages to st.
func New(c client.Client, st activities.StatusStore, opts Options) sdkworker.Worker {
	if opts.CacheSize > 0 {
		sdkworker.SetStickyWorkflowCacheSize(opts.CacheSize)
	}
	w := sdkworker.New(c, opts.TaskQueue, sdkworker.Options{WorkerStopTimeout: opts.StopTimeout})
	workflows.Register(w, opts.Policy)
	activities.Register(w, &activities.Activities{Store: st})
	return w
}

// RunOption changes how Run starts.
type RunOption func(*runOptions)

type runOptions struct {
	ensureSearchAttributes bool
	onStarted              func()
}

// EnsureSearchAttributes makes Run create missing search attributes instead of
// refusing to start; for servers the process owns, such as the dev server.
func EnsureSearchAttributes() RunOption {
	return func(o *runOptions) { o.ensureSearchAttributes = true }
}

// OnStarted calls f once the worker polls its task queue.
func OnStarted(f func()) RunOption {
	return func(o *runOptions) { o.onStarted = f }
}

// Run is the worker process: it opens the status store, connects to Temporal,
// checks the namespace, and polls until ctx is cancelled (SIGINT or SIGTERM in
// the command); then it stops taking work and lets running activities finish.
// Cancelled before it polls, it returns nil: stopped before it started.
func Run(ctx context.Context, cfg config.Config, logger *zap.Logger, opts ...RunOption) error {
	var o runOptions
	for _, opt := range opts {
		opt(&o)
	}
	err := run(ctx, cfg, logger, o)
	if err != nil && ctx.Err() != nil {
		logger.Info("Worker stopped before it started", zap.NamedError("cause", err))
		return nil
	}
	return err
}

func run(ctx context.Context, cfg config.Config, logger *zap.Logger, o runOptions) error {
	st, err := store.Open(ctx, cfg.StoreDSN)
	if err != nil {
		return err
	}
	defer st.Close()

	opts, err := cfg.Temporal.ClientOptions(logging.ForTemporal(logger))
	if err != nil {
		return err
	}
	if cfg.MetricsAddress != "" {
		exporter, err := metrics.Start(cfg.MetricsAddress, logger)
		if err != nil {
			return err
		}
		defer exporter.Close(context.WithoutCancel(ctx)) //nolint:errcheck // stopping anyway
		opts.MetricsHandler = exporter.Handler
		logger.Info("Metrics for Prometheus", zap.String("url", exporter.URL()))
	}
	c, err := client.DialContext(ctx, opts)
	if err != nil {
		return fmt.Errorf("connect to Temporal at %s (namespace %s): %w", cfg.Temporal.Address, cfg.Temporal.Namespace, err)
	}
	defer c.Close()

	if o.ensureSearchAttributes {
		if err := RegisterSearchAttributes(ctx, c, cfg.Temporal.Namespace); err != nil {
			return err
		}
	}
	if err := CheckSearchAttributes(ctx, c, cfg.Temporal.Namespace); err != nil {
		return err
	}

	w := New(c, st, Options{
		TaskQueue:   cfg.Temporal.TaskQueue,
		Policy:      workflows.Policy{ReopenWindow: cfg.ReopenWindow},
		StopTimeout: cfg.StopTimeout,
		CacheSize:   cfg.WorkflowCacheSize,
	})
	if err := w.Start(); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	logger.Info("Worker started",
		zap.String("temporalAddress", cfg.Temporal.Address),
		zap.String("namespace", cfg.Temporal.Namespace),
		zap.String("taskQueue", cfg.Temporal.TaskQueue),
		zap.Stringer("reopenWindow", cfg.ReopenWindow),
		zap.Int("workflowCacheSize", cfg.WorkflowCacheSize),
		zap.Bool("tls", cfg.Temporal.TLS()),
		zap.Bool("apiKey", cfg.Temporal.APIKeySet()),
		zap.String("store", st.Dialect()))
	if o.onStarted != nil {
		o.onStarted()
	}

	<-ctx.Done()
	logger.Info("Worker stopping: no new work taken, running activities may finish", zap.Duration("stopTimeout", cfg.StopTimeout))
	w.Stop()
	logger.Info("Worker stopped")
	return nil
}
