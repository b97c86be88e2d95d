// Package worker runs the termination order worker: it polls the task queue
// and runs the workflow and its status activities until told to stop.
package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.uber.org/zap"

	"github.com/cloudmarket/termination-orders/activities"
	"github.com/cloudmarket/termination-orders/config"
	"github.com/cloudmarket/termination-orders/health"
	"github.com/cloudmarket/termination-orders/logging"
	"github.com/cloudmarket/termination-orders/metrics"
	"github.com/cloudmarket/termination-orders/notify"
	"github.com/cloudmarket/termination-orders/store"
	"github.com/cloudmarket/termination-orders/workflows"
)

// Options shape a worker.
type Options struct {
	TaskQueue string
	// Policy is what the orders this worker accepts follow: their reopen
	// window and the timing of their notifications.
	Policy activities.Policy
	// StopTimeout is how long a stopping worker waits for running activities.
	StopTimeout time.Duration
	// CacheSize bounds how many orders the process keeps in memory between
	// their workflow tasks (the SDK's sticky cache, shared by every worker of
	// the process); zero keeps the SDK's default.
	CacheSize int
	// MaxConcurrentActivities and MaxConcurrentLocalActivities bound the
	// activities and local activities (status writes) running at once; zero
	// keeps the SDK's default of 1,000 each.
	MaxConcurrentActivities      int
	MaxConcurrentLocalActivities int
	// OnFatalError is called once if the worker stops polling on an error it
	// cannot recover from (the namespace is gone, the server refuses the client).
	OnFatalError func(error)
	// Notifier sends the orders' notifications (nil: nobody is told) with
	// links to Links.
	Notifier activities.Notifier
	Links    activities.Links
	// Deployment is the Worker Deployment and build this worker runs as;
	// the zero value runs it unversioned.
	Deployment Deployment
}

// SDKOptions are the Temporal SDK's worker options these options make.
func (o Options) SDKOptions() sdkworker.Options {
	return sdkworker.Options{
		WorkerStopTimeout:                       o.StopTimeout,
		MaxConcurrentActivityExecutionSize:      o.MaxConcurrentActivities,
		MaxConcurrentLocalActivityExecutionSize: o.MaxConcurrentLocalActivities,
		OnFatalError:                            o.OnFatalError,
		DeploymentOptions:                       o.Deployment.sdkOptions(),
	}
}

// New builds a worker with the workflow and activities registered, writing
// status messages to st.
func New(c client.Client, st activities.StatusStore, opts Options) sdkworker.Worker {
	w := newSDKWorker(c, opts)
	workflows.Register(w)
	registerActivities(w, c, st, opts)
	return w
}

// Start builds the worker and starts it polling. With
// Deployment.MakeCurrent it returns once its build is the deployment's
// current version, so that orders are routed to it.
func Start(ctx context.Context, c client.Client, st activities.StatusStore, opts Options) (sdkworker.Worker, error) {
	w := New(c, st, opts)
	if err := w.Start(); err != nil {
		return nil, fmt.Errorf("start worker: %w", err)
	}
	if opts.Deployment.MakeCurrent {
		if err := makeCurrent(ctx, c, opts.Deployment); err != nil {
			w.Stop()
			return nil, err
		}
	}
	return w, nil
}

func newSDKWorker(c client.Client, opts Options) sdkworker.Worker {
	if opts.CacheSize > 0 {
		sdkworker.SetStickyWorkflowCacheSize(opts.CacheSize)
	}
	return sdkworker.New(c, opts.TaskQueue, opts.SDKOptions())
}

func registerActivities(w sdkworker.Worker, c client.Client, st activities.StatusStore, opts Options) {
	activities.Register(w, &activities.Activities{
		Store:    st,
		Policy:   opts.Policy,
		Signals:  activities.HistorySignals{Client: c},
		Notifier: opts.Notifier,
		Links:    opts.Links,
	})
}

// RunOption changes how Run starts.
type RunOption func(*runOptions)

type runOptions struct {
	ensureSearchAttributes bool
	logNotifications       bool
	onStarted              func()
}

// LogNotifications makes every audience without a target log what it would
// be sent; for the dev command, so that a demo shows its notifications.
func LogNotifications() RunOption {
	return func(o *runOptions) { o.logNotifications = true }
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
	wopts := OptionsFrom(cfg)
	var err error
	if wopts.Deployment, err = wopts.Deployment.WithDefaultBuildID(); err != nil {
		return err
	}
	opts, err := cfg.Temporal.WorkerClientOptions(logging.ForTemporal(logger))
	if err != nil {
		return err
	}
	// Health first, so that /healthz answers and /readyz says what is
	// missing while the store and Temporal are still being reached.
	var readiness health.Readiness
	if cfg.MetricsAddress != "" {
		exporter, err := metrics.Start(cfg.MetricsAddress, logger)
		if err != nil {
			return err
		}
		defer exporter.Close(context.WithoutCancel(ctx)) //nolint:errcheck // stopping anyway
		opts.MetricsHandler = exporter.Handler
		h := readiness.Handler()
		exporter.Handle("/healthz", h)
		exporter.Handle("/readyz", h)
		logger.Info("Metrics for Prometheus, health at /healthz and /readyz", zap.String("url", exporter.URL()))
	}

	st, err := openStore(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer st.Close()
	readiness.StoreOpened(st.Dialect()+" status store", st)
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

	// The SDK stops polling on an error it cannot recover from; then this
	// process must end, so that whatever runs it starts another.
	fatal := make(chan error, 1)
	wopts.OnFatalError = func(err error) { fatal <- err }
	notifier, err := notify.New(cfg.Notify.Targets, logger)
	if err != nil {
		return err
	}
	if o.logNotifications {
		notifier = notifier.WithLogTargets()
	}
	wopts.Notifier = notifier
	w, err := Start(ctx, c, st, wopts)
	if err != nil {
		return err
	}
	readiness.Polling(cfg.Temporal.TaskQueue)
	logger.Info("Worker started",
		zap.String("temporalAddress", cfg.Temporal.Address),
		zap.String("namespace", cfg.Temporal.Namespace),
		zap.String("taskQueue", cfg.Temporal.TaskQueue),
		zap.Stringer("reopenWindow", cfg.ReopenWindow),
		zap.Stringer("unlinkSLA", cfg.Notify.Policy.UnlinkSLA),
		zap.Stringer("lastWarning", cfg.Notify.Policy.LastWarning),
		zap.Strings("notifying", cfg.Notify.Audiences()),
		zap.Int("workflowCacheSize", cfg.WorkflowCacheSize),
		zap.Int("maxConcurrentActivities", wopts.MaxConcurrentActivities),
		zap.Int("maxConcurrentLocalActivities", wopts.MaxConcurrentLocalActivities),
		zap.Bool("tls", cfg.Temporal.TLS()),
		zap.Bool("apiKey", cfg.Temporal.APIKeySet()),
		zap.String("encryption", cfg.Temporal.EncryptionLine()),
		zap.String("store", st.Dialect()),
		zap.String("workerDeployment", wopts.Deployment.Name),
		zap.String("buildID", wopts.Deployment.BuildID),
		zap.Bool("madeCurrent", wopts.Deployment.MakeCurrent))
	if d := wopts.Deployment; d.Versioned() && !d.MakeCurrent {
		if current, err := d.IsCurrent(ctx, c); err != nil {
			logger.Warn("Could not tell whether this build is current", zap.Error(err))
		} else if !current {
			logger.Warn("This build is not the deployment's current version, so it receives no orders until it is made current",
				zap.String("workerDeployment", d.Name), zap.String("buildID", d.BuildID),
				zap.String("command", fmt.Sprintf("temporal worker deployment set-current-version --deployment-name %s --build-id %s", d.Name, d.BuildID)))
		}
	}
	if !wopts.Deployment.Versioned() {
		logger.Warn("Worker runs unversioned: a deploy changes the code under running orders as each process restarts; " +
			"production runs versioned (worker.deployment_name, docs/versioning.md)")
	}
	if o.onStarted != nil {
		o.onStarted()
	}

	select {
	case err := <-fatal:
		readiness.Failed(err)
		logger.Error("Worker stopped polling on a fatal error; exiting so that it can be restarted",
			zap.String("namespace", cfg.Temporal.Namespace), zap.String("taskQueue", cfg.Temporal.TaskQueue), zap.Error(err))
		w.Stop()
		return fmt.Errorf("worker stopped polling task queue %s in namespace %s on a fatal error: %w",
			cfg.Temporal.TaskQueue, cfg.Temporal.Namespace, err)
	case <-ctx.Done():
	}
	readiness.Stopping()
	logger.Info("Worker stopping: no new work taken, running activities may finish", zap.Duration("stopTimeout", cfg.StopTimeout))
	w.Stop()
	logger.Info("Worker stopped")
	return nil
}

// OptionsFrom are the worker options the settings give.
func OptionsFrom(cfg config.Config) Options {
	return Options{
		TaskQueue:                    cfg.Temporal.TaskQueue,
		Policy:                       activities.Policy{ReopenWindow: cfg.ReopenWindow, Notify: cfg.Notify.Policy},
		StopTimeout:                  cfg.StopTimeout,
		CacheSize:                    cfg.WorkflowCacheSize,
		MaxConcurrentActivities:      cfg.MaxConcurrentActivities,
		MaxConcurrentLocalActivities: cfg.MaxConcurrentLocalActivities,
		Links:                        activities.Links{WebUIURL: cfg.Notify.WebUIURL, Namespace: cfg.Temporal.Namespace},
		Deployment:                   deploymentFrom(cfg.Deployment),
	}
}

// deploymentFrom is the deployment the settings give: none unless
// worker.versioning is on.
func deploymentFrom(d config.WorkerDeployment) Deployment {
	if !d.Versioning {
		return Deployment{}
	}
	return Deployment{Name: d.Name, BuildID: d.BuildID, MakeCurrent: d.MakeCurrent}
}

// openStore opens the status store within store.connect_timeout, saying what
// it waits for: a store that accepts connections and never answers would
// otherwise hold the worker silently.
func openStore(ctx context.Context, cfg config.Config, logger *zap.Logger) (*store.Store, error) {
	where := store.Redacted(cfg.StoreDSN)
	logger.Info("Opening the status store", zap.String("store", where), zap.Duration("connectTimeout", cfg.Store.ConnectTimeout))
	st, err := store.Open(ctx, cfg.StoreDSN,
		store.WithConnectTimeout(cfg.Store.ConnectTimeout),
		store.WithPool(store.Pool{
			MaxOpenConns:    cfg.Store.MaxOpenConns,
			MaxIdleConns:    cfg.Store.MaxIdleConns,
			ConnMaxLifetime: cfg.Store.ConnMaxLifetime,
		}))
	if errors.Is(err, store.ErrNoAnswer) {
		return nil, fmt.Errorf("%w; store.connect_timeout is %s", err, cfg.Store.ConnectTimeout)
	}
	if err != nil {
		return nil, err
	}
	logger.Info("Status store open", zap.String("store", where),
		zap.Int("maxOpenConns", st.Stats().MaxOpenConnections),
		zap.Int("maxIdleConns", cfg.Store.MaxIdleConns),
		zap.Duration("connMaxLifetime", cfg.Store.ConnMaxLifetime))
	return st, nil
}
