package worker_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"go.temporal.io/server/common/dynamicconfig"
	servertemporal "go.temporal.io/server/temporal"
	"go.temporal.io/server/temporaltest"

	"github.com/cloudmarket/termination-orders/activities"
	"github.com/cloudmarket/termination-orders/internal/ordertest"
	"github.com/cloudmarket/termination-orders/order"
	"github.com/cloudmarket/termination-orders/starter"
	"github.com/cloudmarket/termination-orders/store"
	"github.com/cloudmarket/termination-orders/worker"
	"github.com/cloudmarket/termination-orders/workflows"
)

// changeAudit is the change build B makes to the workflow: before anything
// else, the order is sent to an audit activity.
const changeAudit = "audit-before-acceptance"

// A deploy under Worker Versioning, as docs/versioning.md describes it: an
// order is started under build A; build B, whose workflow has one more step
// patched with workflow.GetVersion, is rolled out (started, made current)
// and A is stopped. The running order moves to B (AutoUpgrade) and finishes
// there on its old path, closed for good with the right status messages,
// while A already counts as drained; an order started after the rollout
// takes B's new path. The same change unpatched breaks the running order on
// its first workflow task under B, and making A current again (the rollback)
// lets it finish.
func TestRolloutOfAChangedWorkflow(t *testing.T) {
	ts := temporaltest.NewServer(temporaltest.WithT(t), temporaltest.WithBaseServerOptions(
		servertemporal.WithDynamicConfigClient(dynamicconfig.StaticClient{
			dynamicconfig.ForceSearchAttributesCacheRefreshOnRead.Key(): []dynamicconfig.ConstrainedValue{{Value: true}},
			// The server checks whether a build still runs pinned workflows
			// every three minutes by default; the test reads its answer sooner.
			dynamicconfig.VersionDrainageStatusRefreshInterval.Key():       []dynamicconfig.ConstrainedValue{{Value: time.Second}},
			dynamicconfig.VersionDrainageStatusVisibilityGracePeriod.Key(): []dynamicconfig.ConstrainedValue{{Value: time.Second}},
		})))
	c := ts.GetDefaultClient()
	ctx := context.Background()
	require.NoError(t, worker.RegisterSearchAttributes(ctx, c, ts.GetDefaultNamespace()))
	st, err := store.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "status.db"))
	require.NoError(t, err)
	defer st.Close()

	t.Run("patched", func(t *testing.T) {
		d := newDeploy(t, c, st, "rollout-patched")
		a := d.start(d.build("A"))
		d.makeCurrent("A")
		running := d.startOrder("ORD-ROLL-1")
		requireVersion(t, c, running.WorkflowID, "A")

		audit := &auditLog{}
		b := d.start(d.changedBuild("B", audit, true))
		d.makeCurrent("B")
		a.Stop()

		// An AutoUpgrade order holds no build: A counts as drained while
		// the order still runs, so A's workers may go.
		handle := c.WorkerDeploymentClient().GetHandle(d.deployment)
		require.EventuallyWithT(t, func(ct *assert.CollectT) {
			desc, err := handle.DescribeVersion(ctx, client.WorkerDeploymentDescribeVersionOptions{BuildID: "A"})
			require.NoError(ct, err)
			require.NotNil(ct, desc.Info.DrainageInfo)
			require.Equal(ct, client.WorkerDeploymentVersionDrainageStatus(client.WorkerDeploymentVersionDrainageStatusDrained), desc.Info.DrainageInfo.DrainageStatus)
		}, 30*time.Second, 200*time.Millisecond)
		require.Equal(t, order.StageAwaitingUnlink, d.status(running.OrderID).Stage)

		final := d.finish(running)
		requireMessages(t, st, running.OrderID, final)
		require.Empty(t, audit.orders(), "the running order kept its old path on B")
		require.Equal(t, []string{"A", "B"}, taskBuilds(t, c, running.WorkflowID), "workflow tasks before and after the rollout")

		after := d.startOrder("ORD-ROLL-2")
		final = d.finish(after)
		requireMessages(t, st, after.OrderID, final)
		require.Equal(t, []string{after.WorkflowID}, audit.orders(), "the new order took B's new path")
		require.Equal(t, []string{"B"}, taskBuilds(t, c, after.WorkflowID))

		// The queries docs/versioning.md gives: who took the new path, and
		// who could still take the old one (started before B was current;
		// closed orders count until the namespace's retention drops them).
		requireFound(t, c, fmt.Sprintf("TaskQueue = '%s' AND TemporalChangeVersion = '%s-1'", d.queue, changeAudit), after.WorkflowID)
		bDesc, err := handle.DescribeVersion(ctx, client.WorkerDeploymentDescribeVersionOptions{BuildID: "B"})
		require.NoError(t, err)
		requireFound(t, c, fmt.Sprintf("TaskQueue = '%s' AND WorkflowType = '%s' AND StartTime < '%s'",
			d.queue, workflows.WorkflowType, bDesc.Info.CurrentSinceTime.UTC().Format(time.RFC3339Nano)), running.WorkflowID)
		b.Stop()
	})

	t.Run("unpatched", func(t *testing.T) {
		d := newDeploy(t, c, st, "rollout-unpatched")
		a := d.start(d.build("A"))
		d.makeCurrent("A")
		running := d.startOrder("ORD-ROLL-3")

		b := d.start(d.changedBuild("B", &auditLog{}, false))
		defer b.Stop()
		d.makeCurrent("B")
		a.Stop()
		require.NoError(t, c.SignalWorkflow(ctx, running.WorkflowID, "", workflows.SignalUnlinkCompleted,
			order.UnlinkCompleted{CompletedBy: "ops", Reference: "OPS-3"}))
		require.EventuallyWithT(t, func(ct *assert.CollectT) {
			var failed *historypb.WorkflowTaskFailedEventAttributes
			for _, e := range history(t, c, running.WorkflowID) {
				if f := e.GetWorkflowTaskFailedEventAttributes(); f != nil {
					failed = f
				}
			}
			require.NotNil(ct, failed, "B failed the order's workflow task")
			require.Equal(ct, enumspb.WORKFLOW_TASK_FAILED_CAUSE_NON_DETERMINISTIC_ERROR, failed.GetCause())
		}, 30*time.Second, 200*time.Millisecond)
		msgs, err := st.Timeline(ctx, running.OrderID)
		require.NoError(t, err)
		require.Len(t, msgs, 1, "stuck on B: the unlink is not applied")

		// The rollback: A's workers again, and A current.
		a = d.start(d.build("A"))
		defer a.Stop()
		d.makeCurrent("A")
		final := d.finish(running)
		requireMessages(t, st, running.OrderID, final)
		require.Equal(t, []string{"A"}, taskBuilds(t, c, running.WorkflowID), "B completed none of its tasks")
	})
}

// deploy is one worker deployment on its own task queue, and its orders.
type deploy struct {
	t          *testing.T
	c          client.Client
	st         *store.Store
	queue      string
	deployment string
	orders     *starter.Client
}

func newDeploy(t *testing.T, c client.Client, st *store.Store, queue string) *deploy {
	return &deploy{t: t, c: c, st: st, queue: queue, deployment: queue, orders: starter.New(c, queue)}
}

func (d *deploy) options(buildID string) worker.Options {
	return worker.Options{
		TaskQueue:   d.queue,
		Policy:      activities.Policy{ReopenWindow: 3 * time.Second},
		StopTimeout: 5 * time.Second,
		Deployment:  worker.Deployment{Name: d.deployment, BuildID: buildID},
	}
}

// build is the worker as the product builds it.
func (d *deploy) build(buildID string) sdkworker.Worker {
	return worker.New(d.c, d.st, d.options(buildID))
}

// changedBuild is the next build: the product's workflow and activities,
// with an audit step scheduled first, patched or not. The order's own life
// runs while the audit does, not after it: a start is an update-with-start,
// refused unless the workflow's first task registers the acceptance handler.
func (d *deploy) changedBuild(buildID string, audit *auditLog, patched bool) sdkworker.Worker {
	w := worker.NewWithWorkflow(d.c, d.st, d.options(buildID), func(ctx workflow.Context, input converter.RawValue) (workflows.Status, error) {
		var audited workflow.Future
		if !patched || workflow.GetVersion(ctx, changeAudit, workflow.DefaultVersion, 1) == 1 {
			actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 10 * time.Second})
			audited = workflow.ExecuteActivity(actx, "AuditOrder", workflow.GetInfo(ctx).WorkflowExecution.ID)
		}
		status, err := workflows.TerminationOrder(ctx, input)
		if err == nil && audited != nil {
			err = audited.Get(ctx, nil)
		}
		return status, err
	})
	w.RegisterActivityWithOptions(audit.record, activity.RegisterOptions{Name: "AuditOrder"})
	return w
}

func (d *deploy) start(w sdkworker.Worker) sdkworker.Worker {
	require.NoError(d.t, w.Start())
	return w
}

// makeCurrent is the deploy step `temporal worker deployment set-current-version`.
func (d *deploy) makeCurrent(buildID string) {
	d.t.Helper()
	require.NoError(d.t, worker.MakeCurrent(context.Background(), d.c, worker.Deployment{Name: d.deployment, BuildID: buildID}))
}

func (d *deploy) startOrder(id string) starter.Run {
	d.t.Helper()
	run, err := d.orders.Start(context.Background(), order.Order{OrderID: id, SubscriptionID: "SUB-1", AccountID: ordertest.Account(id),
		TerminationType: order.TerminationTypeCloseAccount, Items: []order.Item{{ItemID: "I"}}, RequestedBy: "jane"})
	require.NoError(d.t, err)
	require.EventuallyWithT(d.t, func(ct *assert.CollectT) {
		s, err := d.orders.Status(context.Background(), id)
		require.NoError(ct, err)
		require.Equal(ct, order.StageAwaitingUnlink, s.Stage)
	}, 30*time.Second, 100*time.Millisecond)
	return run
}

func (d *deploy) status(id string) order.Status {
	d.t.Helper()
	s, err := d.orders.Status(context.Background(), id)
	require.NoError(d.t, err)
	return s
}

// finish confirms the unlink if it is not yet, and waits for the order's
// end: closed for good once its reopen window ran out.
func (d *deploy) finish(run starter.Run) order.Status {
	d.t.Helper()
	ctx := context.Background()
	if d.status(run.OrderID).Stage == order.StageAwaitingUnlink {
		require.NoError(d.t, confirmed(d.orders.ConfirmUnlink(ctx, run.OrderID, order.UnlinkCompleted{CompletedBy: "ops", Reference: "OPS-" + run.OrderID})))
	}
	var final order.Status
	require.NoError(d.t, d.c.GetWorkflow(ctx, run.WorkflowID, run.RunID).Get(ctx, &final))
	require.Equal(d.t, order.StagePermanentlyClosed, final.Stage)
	return final
}

// requireMessages checks the order page: submitted, unlinked and closed,
// closed for good; each once.
func requireMessages(t *testing.T, st *store.Store, orderID string, final order.Status) {
	t.Helper()
	msgs, err := st.Timeline(context.Background(), orderID)
	require.NoError(t, err)
	var texts []string
	for _, m := range msgs {
		texts = append(texts, m.Text)
	}
	o := order.Order{OrderID: final.OrderID, AccountID: final.AccountID}
	require.Equal(t, []string{order.SubmittedMessage(o), order.PostClosureMessage(final), order.PermanentlyClosedMessage(final)}, texts)
}

// requireVersion checks the order runs AutoUpgrade on the build.
func requireVersion(t *testing.T, c client.Client, workflowID, buildID string) {
	t.Helper()
	desc, err := c.DescribeWorkflowExecution(context.Background(), workflowID, "")
	require.NoError(t, err)
	info := desc.GetWorkflowExecutionInfo().GetVersioningInfo()
	require.Equal(t, enumspb.VERSIONING_BEHAVIOR_AUTO_UPGRADE, info.GetBehavior())
	require.Equal(t, buildID, info.GetDeploymentVersion().GetBuildId())
}

// taskBuilds are the builds that completed the workflow's tasks, in turn.
func taskBuilds(t *testing.T, c client.Client, workflowID string) []string {
	t.Helper()
	var builds []string
	for _, e := range history(t, c, workflowID) {
		if done := e.GetWorkflowTaskCompletedEventAttributes(); done != nil {
			id := done.GetDeploymentVersion().GetBuildId()
			if len(builds) == 0 || builds[len(builds)-1] != id {
				builds = append(builds, id)
			}
		}
	}
	return builds
}

func history(t *testing.T, c client.Client, workflowID string) []*historypb.HistoryEvent {
	t.Helper()
	var events []*historypb.HistoryEvent
	it := c.GetWorkflowHistory(context.Background(), workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		e, err := it.Next()
		require.NoError(t, err)
		events = append(events, e)
	}
	return events
}

// requireFound checks that a visibility query finds exactly these
// workflows, once visibility has caught up.
func requireFound(t *testing.T, c client.Client, query string, workflowIDs ...string) {
	t.Helper()
	slices.Sort(workflowIDs)
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		resp, err := c.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{Query: query})
		require.NoError(ct, err)
		var ids []string
		for _, e := range resp.GetExecutions() {
			ids = append(ids, e.GetExecution().GetWorkflowId())
		}
		slices.Sort(ids)
		require.Equal(ct, workflowIDs, ids, query)
	}, 10*time.Second, 200*time.Millisecond)
}

// auditLog is the audit step's activity: it notes the orders it saw.
type auditLog struct {
	mu   sync.Mutex
	seen []string
}

func (a *auditLog) record(_ context.Context, workflowID string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.seen = append(a.seen, workflowID)
	return nil
}

func (a *auditLog) orders() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.seen)
}
