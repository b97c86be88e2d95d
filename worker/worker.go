// Package worker is the termination order worker: it polls the task queue
// and runs the workflow and its status activities. Package app runs it as a
// process, with the client, store and notifier the settings describe.
package worker

import (
	"context"
	"fmt"
	"time"

	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/cloudmarket/termination-orders/activities"
	"github.com/cloudmarket/termination-orders/awsorg"
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
	// WorkflowTaskPollers and ActivityTaskPollers are the most polls open at
	// once for each kind of task; the SDK scales between one and that on the
	// server's feedback (0 keeps the SDK's fixed two).
	WorkflowTaskPollers, ActivityTaskPollers int
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
	// AWS is AWS Organizations, for a Policy.AWS mode other than off. In the
	// close mode the worker also polls Policy.AWS.CloseTaskQueue, where
	// Temporal runs at most CloseRate CloseAccount calls a second for every
	// worker together, one at a time in each.
	AWS       awsorg.Organizations
	CloseRate float64
}

// SDKOptions are the Temporal SDK's worker options these options make.
func (o Options) SDKOptions() sdkworker.Options {
	opts := sdkworker.Options{
		WorkerStopTimeout:                       o.StopTimeout,
		MaxConcurrentActivityExecutionSize:      o.MaxConcurrentActivities,
		MaxConcurrentLocalActivityExecutionSize: o.MaxConcurrentLocalActivities,
		OnFatalError:                            o.OnFatalError,
		DeploymentOptions:                       o.Deployment.sdkOptions(),
	}
	if o.WorkflowTaskPollers > 0 {
		opts.WorkflowTaskPollerBehavior = autoscaled(o.WorkflowTaskPollers)
	}
	if o.ActivityTaskPollers > 0 {
		opts.ActivityTaskPollerBehavior = autoscaled(o.ActivityTaskPollers)
	}
	return opts
}

// autoscaled polls with between one and most polls open: the server tells
// the SDK when a backlog calls for more, and an idle worker keeps few.
func autoscaled(most int) sdkworker.PollerBehavior {
	return sdkworker.NewPollerBehaviorAutoscaling(sdkworker.PollerBehaviorAutoscalingOptions{
		InitialNumberOfPollers: min(2, most), MinimumNumberOfPollers: 1, MaximumNumberOfPollers: most,
	})
}

// New builds a worker with the workflow and activities registered, writing
// status messages to st.
func New(c client.Client, st activities.StatusStore, opts Options) sdkworker.Worker {
	w := newSDKWorker(c, opts)
	workflows.Register(w)
	acts := newActivities(c, st, opts)
	activities.Register(w, acts)
	if opts.Policy.AWS.Mode != activities.AWSClose {
		return w
	}
	closer := sdkworker.New(c, opts.Policy.AWS.CloseTaskQueue, sdkworker.Options{
		// The server's limit holds across every worker of the queue.
		TaskQueueActivitiesPerSecond:       opts.CloseRate,
		MaxConcurrentActivityExecutionSize: 1,
		WorkerStopTimeout:                  opts.StopTimeout,
		OnFatalError:                       opts.OnFatalError,
		DeploymentOptions:                  opts.Deployment.sdkOptions(),
	})
	activities.RegisterClose(closer, acts)
	return &pair{Worker: w, closer: closer}
}

// pair is the worker with the close task queue's worker beside it.
type pair struct {
	sdkworker.Worker
	closer sdkworker.Worker
}

func (p *pair) Start() error {
	if err := p.closer.Start(); err != nil {
		return fmt.Errorf("close task queue: %w", err)
	}
	if err := p.Worker.Start(); err != nil {
		p.closer.Stop()
		return err
	}
	return nil
}

func (p *pair) Run(interruptCh <-chan any) error {
	if err := p.closer.Start(); err != nil {
		return fmt.Errorf("close task queue: %w", err)
	}
	defer p.closer.Stop()
	return p.Worker.Run(interruptCh)
}

func (p *pair) Stop() {
	p.Worker.Stop()
	p.closer.Stop()
}

// Start builds the worker and starts it polling. With
// Deployment.MakeCurrent it returns once its build is the deployment's
// current version, so that orders are routed to it.
func Start(ctx context.Context, c client.Client, st activities.StatusStore, opts Options) (sdkworker.Worker, error) {
	if opts.Deployment.Versioned() && opts.Deployment.BuildID == "" {
		return nil, fmt.Errorf("worker deployment %s: a versioned worker needs a build ID", opts.Deployment.Name)
	}
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

func newActivities(c client.Client, st activities.StatusStore, opts Options) *activities.Activities {
	return &activities.Activities{
		Store:      st,
		Policy:     opts.Policy,
		Signals:    activities.HistorySignals{Client: c},
		Runs:       activities.TemporalRuns{Client: c},
		Priorities: activities.TemporalPriorities{Client: c},
		AWS:        opts.AWS,
		Notifier:   opts.Notifier,
		Links:      opts.Links,
	}
}
