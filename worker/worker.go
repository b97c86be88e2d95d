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
	"github.com/cloudmarket/termination-orders/store"
	"github.com/cloudmarket/termination-orders/workflows"
)

// New builds a worker on the task queue with the workflow and activities
// registered. A stopping worker waits up to stopTimeout for running activities.
func New(c client.Client, taskQueue string, acts *activities.Activities, stopTimeout time.Duration) sdkworker.Worker {
	w := sdkworker.New(c, taskQueue, sdkworker.Options{WorkerStopTimeout: stopTimeout})
	workflows.Register(w)
	activities.Register(w, acts)
	return w
}

// RunOption changes how Run prepares the namespace.
type RunOption int

// EnsureSearchAttributes makes Run create missing search attributes instead of
// refusing to start; for servers the process owns, such as the dev server.
const EnsureSearchAttributes RunOption = 1

// Run is the worker process: it opens the status store, connects to Temporal,
// checks the namespace, and polls until ctx is cancelled (SIGINT or SIGTERM in
// the command); then it stops taking work and lets running activities finish.
func Run(ctx context.Context, cfg config.Config, logger *zap.Logger, runOpts ...RunOption) error {
	st, err := store.Open(ctx, cfg.StoreDSN)
	if err != nil {
		return err
	}
	defer st.Close()

	opts, err := cfg.Temporal.ClientOptions(logging.ForTemporal(logger))
	if err != nil {
		return err
	}
	c, err := client.DialContext(ctx, opts)
	if err != nil {
		return fmt.Errorf("connect to Temporal at %s (namespace %s): %w", cfg.Temporal.Address, cfg.Temporal.Namespace, err)
	}
	defer c.Close()

	for _, o := range runOpts {
		if o == EnsureSearchAttributes {
			if err := RegisterSearchAttributes(ctx, c, cfg.Temporal.Namespace); err != nil {
				return err
			}
		}
	}
	if err := CheckSearchAttributes(ctx, c, cfg.Temporal.Namespace); err != nil {
		return err
	}

	w := New(c, cfg.Temporal.TaskQueue, &activities.Activities{Store: st, ReopenWindow: cfg.ReopenWindow}, cfg.StopTimeout)
	if err := w.Start(); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	logger.Info("Worker started",
		zap.String("temporalAddress", cfg.Temporal.Address),
		zap.String("namespace", cfg.Temporal.Namespace),
		zap.String("taskQueue", cfg.Temporal.TaskQueue),
		zap.Stringer("reopenWindow", cfg.ReopenWindow),
		zap.Bool("tls", cfg.Temporal.TLS()),
		zap.Bool("apiKey", cfg.Temporal.APIKeySet()),
		zap.String("store", st.Dialect()))

	<-ctx.Done()
	logger.Info("Worker stopping: no new work taken, running activities may finish", zap.Duration("stopTimeout", cfg.StopTimeout))
	w.Stop()
	logger.Info("Worker stopped")
	return nil
}
