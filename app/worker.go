package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/client"
	"go.uber.org/zap"

	"github.com/cloudmarket/termination-orders/activities"
	"github.com/cloudmarket/termination-orders/awsorg"
	"github.com/cloudmarket/termination-orders/config"
	"github.com/cloudmarket/termination-orders/health"
	"github.com/cloudmarket/termination-orders/logging"
	"github.com/cloudmarket/termination-orders/metrics"
	"github.com/cloudmarket/termination-orders/notify"
	"github.com/cloudmarket/termination-orders/store"
	"github.com/cloudmarket/termination-orders/worker"
)

// WorkerOption changes how RunWorker starts.
type WorkerOption func(*workerOptions)

type workerOptions struct {
	ensureSearchAttributes bool
	logNotifications       bool
	onStarted              func()
}

// LogNotifications makes every audience without a target log what it would
// be sent; for the dev command, so that a demo shows its notifications.
func LogNotifications() WorkerOption {
	return func(o *workerOptions) { o.logNotifications = true }
}

// EnsureSearchAttributes makes Run create missing search attributes instead of
// refusing to start; for servers the process owns, such as the dev server.
func EnsureSearchAttributes() WorkerOption {
	return func(o *workerOptions) { o.ensureSearchAttributes = true }
}

// OnStarted calls f once the worker polls its task queue.
func OnStarted(f func()) WorkerOption {
	return func(o *workerOptions) { o.onStarted = f }
}

// RunWorker is the worker process: it opens the status store, connects to
// Temporal, checks the namespace, and polls until ctx is cancelled (SIGINT or
// SIGTERM in the command); then it stops taking work and lets running
// activities finish. Cancelled before it polls, it returns nil: stopped
// before it started.
func (a App) RunWorker(ctx context.Context, logger *zap.Logger, opts ...WorkerOption) error {
	var o workerOptions
	for _, opt := range opts {
		opt(&o)
	}
	err := a.runWorker(ctx, logger, o)
	if err != nil && ctx.Err() != nil {
		logger.Info("Worker stopped before it started", zap.NamedError("cause", err))
		return nil
	}
	return err
}

func (a App) runWorker(ctx context.Context, logger *zap.Logger, o workerOptions) error {
	cfg := a.Config
	wopts := a.WorkerOptions()
	opts, err := WorkerClientOptions(cfg.Temporal, a.Codec, logging.ForTemporal(logger))
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

	if cfg.PprofAddress != "" {
		profiles, err := metrics.StartProfiles(cfg.PprofAddress, logger)
		if err != nil {
			return err
		}
		defer profiles.Close(context.WithoutCancel(ctx)) //nolint:errcheck // stopping anyway
		logger.Info("Go profiles served", zap.String("url", profiles.URL()))
	}

	st, err := OpenStore(ctx, cfg, logger)
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
		if err := worker.RegisterSearchAttributes(ctx, c, cfg.Temporal.Namespace); err != nil {
			return err
		}
	}
	if err := worker.CheckSearchAttributes(ctx, c, cfg.Temporal.Namespace); err != nil {
		return err
	}

	// The SDK stops polling on an error it cannot recover from; then this
	// process must end, so that whatever runs it starts another.
	fatal := make(chan error, 1)
	wopts.OnFatalError = func(err error) { fatal <- err }
	notifier, err := notify.New(notifyConfig(cfg.Notify), logger)
	if err != nil {
		return err
	}
	if o.logNotifications {
		notifier = notifier.WithLogTargets()
	}
	wopts.Notifier = notifier
	if wopts.Policy.AWS.Mode != activities.AWSOff {
		org, err := awsorg.New(ctx, a.OrganizationsSettings(), a.AWSOptions...)
		if err != nil {
			return fmt.Errorf("aws.organizations: %w", err)
		}
		wopts.AWS = org
	}
	w, err := worker.Start(ctx, c, st, wopts)
	if err != nil {
		return err
	}
	readiness.Polling(cfg.Temporal.TaskQueue)
	logger.Info("Worker started",
		zap.String("temporalAddress", cfg.Temporal.Address),
		zap.String("namespace", cfg.Temporal.Namespace),
		zap.String("taskQueue", cfg.Temporal.TaskQueue),
		zap.Stringer("reopenWindow", cfg.ReopenWindow),
		zap.Stringer("unlinkSLA", cfg.Notify.UnlinkSLA),
		zap.Stringer("lastWarning", cfg.Notify.LastWarning),
		zap.Strings("notifying", cfg.Notify.Audiences()),
		zap.Int("workflowCacheSize", cfg.WorkflowCacheSize),
		zap.Int("maxConcurrentActivities", wopts.MaxConcurrentActivities),
		zap.Int("maxConcurrentLocalActivities", wopts.MaxConcurrentLocalActivities),
		zap.Int("workflowTaskPollers", wopts.WorkflowTaskPollers),
		zap.Int("activityTaskPollers", wopts.ActivityTaskPollers),
		zap.Bool("tls", cfg.Temporal.TLS()),
		zap.Bool("apiKey", cfg.Temporal.APIKeySet()),
		zap.String("encryption", EncryptionLine(a.Codec)),
		zap.String("store", st.Dialect()),
		zap.String("workerDeployment", wopts.Deployment.Name),
		zap.String("buildID", wopts.Deployment.BuildID),
		zap.Bool("madeCurrent", wopts.Deployment.MakeCurrent),
		zap.String("awsOrganizationsMode", cfg.AWS.Mode),
		zap.String("awsOrganizationsEndpoint", cfg.AWS.Endpoint),
		zap.Bool("awsRole", cfg.AWS.RoleARN != ""))
	warnUnlessCurrent(ctx, c, wopts.Deployment, logger)
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

// WorkerOptions are the worker options the settings give.
func (a App) WorkerOptions() worker.Options {
	cfg := a.Config
	return worker.Options{
		TaskQueue:                    cfg.Temporal.TaskQueue,
		Policy:                       activities.Policy{ReopenWindow: cfg.ReopenWindow, Notify: notifyPolicy(cfg.Notify), AWS: awsPolicy(cfg.AWS)},
		CloseRate:                    cfg.AWS.CloseRate,
		StopTimeout:                  cfg.StopTimeout,
		CacheSize:                    cfg.WorkflowCacheSize,
		MaxConcurrentActivities:      cfg.MaxConcurrentActivities,
		MaxConcurrentLocalActivities: cfg.MaxConcurrentLocalActivities,
		WorkflowTaskPollers:          cfg.WorkflowTaskPollers,
		ActivityTaskPollers:          cfg.ActivityTaskPollers,
		Links:                        activities.Links{WebUIURL: cfg.Notify.WebUIURL, Namespace: cfg.Temporal.Namespace},
		Deployment:                   workerDeployment(cfg.Deployment),
	}
}

// awsPolicy is how the worker's orders use AWS Organizations.
func awsPolicy(c config.AWSOrganizations) activities.AWSPolicy {
	mode := activities.AWSOff
	switch c.Mode {
	case config.AWSModeVerify:
		mode = activities.AWSVerify
	case config.AWSModeClose:
		mode = activities.AWSClose
	default:
		return activities.AWSPolicy{}
	}
	return activities.AWSPolicy{
		Mode: mode, CheckInterval: c.CheckInterval, MaxCheckInterval: c.MaxCheckInterval,
		QuotaWait: c.QuotaWait, CloseTaskQueue: c.CloseTaskQueue,
	}
}

// OrganizationsSettings are the AWS Organizations adapter's settings.
func (a App) OrganizationsSettings() awsorg.Settings {
	c := a.Config.AWS
	return awsorg.Settings{Region: c.Region, RoleARN: c.RoleARN, ExternalID: c.ExternalID, Endpoint: c.Endpoint}
}

// workerDeployment is the deployment the settings give: none unless
// worker.versioning is on.
func workerDeployment(d config.WorkerDeployment) worker.Deployment {
	if !d.Versioning {
		return worker.Deployment{}
	}
	return worker.Deployment{Name: d.Name, BuildID: d.BuildID, MakeCurrent: d.MakeCurrent}
}

// warnUnlessCurrent says when the worker gets no orders: it runs unversioned
// (a deploy then changes the code under running orders as processes
// restart), or its build is not its deployment's current version yet.
func warnUnlessCurrent(ctx context.Context, c client.Client, d worker.Deployment, logger *zap.Logger) {
	if !d.Versioned() {
		logger.Warn("Worker runs unversioned: a deploy changes the code under running orders as each process restarts; " +
			"production runs versioned (worker.versioning, docs/versioning.md)")
		return
	}
	if d.MakeCurrent {
		return
	}
	current, err := d.IsCurrent(ctx, c)
	if err != nil {
		logger.Warn("Could not tell whether this build is current", zap.Error(err))
		return
	}
	if !current {
		logger.Warn("This build is not the deployment's current version, so it receives no orders until it is made current",
			zap.String("workerDeployment", d.Name), zap.String("buildID", d.BuildID),
			zap.String("command", fmt.Sprintf("temporal worker deployment set-current-version --deployment-name %s --build-id %s", d.Name, d.BuildID)))
	}
}

// OpenStore opens the status store within store.connect_timeout, with the
// pool the store.* settings bound, saying what it waits for: a store that
// accepts connections and never answers would otherwise hold the worker
// silently.
func OpenStore(ctx context.Context, cfg config.Config, logger *zap.Logger) (*store.Store, error) {
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

// CheckReadyTimeout bounds CheckWorkerReady: longer than /readyz's own ping
// of the store, so that its answer arrives. A container health check's
// timeout must exceed it.
const CheckReadyTimeout = health.DefaultPingTimeout + 3*time.Second

// CheckWorkerReady asks, once, whether the worker these settings describe is
// ready: it reads the /readyz the worker serves on metrics.listen_address, on
// this machine. It is the command's --health-check mode, for images without
// curl. The answer is one line; an error means not ready.
func (a App) CheckWorkerReady(ctx context.Context) (string, error) {
	if a.Config.MetricsAddress == "" {
		return "", errors.New("metrics.listen_address is empty, so the worker serves no /readyz to check")
	}
	ctx, cancel := context.WithTimeout(ctx, CheckReadyTimeout)
	defer cancel()
	return health.Probe(ctx, a.Config.MetricsAddress)
}
