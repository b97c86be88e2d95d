package app_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/server/temporaltest"
	"go.uber.org/zap"

	"github.com/cloudmarket/termination-orders/app"
	"github.com/cloudmarket/termination-orders/config"
	"github.com/cloudmarket/termination-orders/order"
	"github.com/cloudmarket/termination-orders/starter"
	"github.com/cloudmarket/termination-orders/worker"
)

// The worker process under Worker Versioning. Without a build ID, the
// settings of a binary that carries no revision (a test binary carries none)
// are refused, naming the setting; with worker.make_current, the worker's build becomes
// the deployment's current version once it polls, and orders run on it.
func TestRunUnderVersioning(t *testing.T) {
	ctx := context.Background()
	_, err := worker.RevisionBuildID()
	require.ErrorContains(t, err, "no VCS revision")
	isolate(t)
	_, err = loadFor(t, config.Worker, "--versioning=true")
	require.ErrorContains(t, err, "worker.build_id (flag --build-id, env TERMINATION_WORKER_BUILD_ID): not set, and the binary carries no VCS revision")

	ts := temporaltest.NewServer(temporaltest.WithT(t))
	c := ts.GetDefaultClient()
	require.NoError(t, worker.RegisterSearchAttributes(ctx, c, ts.GetDefaultNamespace()))
	a := loadConfig(t, "--temporal-address", ts.GetFrontendHostPort(), "--temporal-namespace", ts.GetDefaultNamespace(),
		"--task-queue", "run-versioned", "--store-dsn", "sqlite:"+filepath.Join(t.TempDir(), "status.db"), "--reopen-window", "1s",
		"--versioning=true", "--deployment-name", "run-versioned", "--build-id", "run-1", "--make-current=true")
	runCtx, stop := context.WithCancel(ctx)
	started := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- a.RunWorker(runCtx, zap.NewNop(), app.OnStarted(func() { close(started) })) }()
	defer func() { stop(); require.NoError(t, <-done) }()
	select {
	case <-started:
	case err := <-done:
		t.Fatalf("RunWorker: %v", err)
	}

	current, err := worker.Deployment{Name: "run-versioned", BuildID: "run-1"}.IsCurrent(ctx, c)
	require.NoError(t, err)
	require.True(t, current, "the build is current once the worker has started")
	orders := starter.New(c, "run-versioned")
	run, err := orders.Start(ctx, order.Order{OrderID: "ORD-RUN-V", SubscriptionID: "SUB-1", AccountID: "123456789012",
		TerminationType: order.TerminationTypeCloseAccount, Items: []order.Item{{ItemID: "I"}}, RequestedBy: "jane"})
	require.NoError(t, err)
	require.NoError(t, confirmed(orders.ConfirmUnlink(ctx, "ORD-RUN-V", order.UnlinkCompleted{CompletedBy: "ops", Reference: "OPS-1"})))
	var final order.Status
	require.NoError(t, c.GetWorkflow(ctx, run.WorkflowID, run.RunID).Get(ctx, &final))
	require.Equal(t, order.StagePermanentlyClosed, final.Stage)
	desc, err := c.DescribeWorkflowExecution(ctx, run.WorkflowID, run.RunID)
	require.NoError(t, err)
	info := desc.GetWorkflowExecutionInfo().GetVersioningInfo()
	require.Equal(t, enumspb.VERSIONING_BEHAVIOR_AUTO_UPGRADE, info.GetBehavior())
	require.Equal(t, "run-1", info.GetDeploymentVersion().GetBuildId())
}

// The worker's deployment comes from worker.* settings, and only with
// worker.versioning on: a deployment name alone versions nothing.
func TestWorkerOptionsCarryTheDeployment(t *testing.T) {
	isolate(t)
	a, err := loadFor(t, config.Worker, "--deployment-name", "orders-eu", "--build-id", "9f2c1e7")
	require.NoError(t, err)
	require.Equal(t, worker.Deployment{}, a.WorkerOptions().Deployment)
	a, err = loadFor(t, config.Worker, "--versioning=true", "--deployment-name", "orders-eu", "--build-id", "9f2c1e7", "--make-current=true")
	require.NoError(t, err)
	require.Equal(t, worker.Deployment{Name: "orders-eu", BuildID: "9f2c1e7", MakeCurrent: true}, a.WorkerOptions().Deployment)
}
