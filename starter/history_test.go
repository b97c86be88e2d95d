package starter_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	sdkpb "go.temporal.io/api/sdk/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/cloudmarket/termination-orders/activities"
	"github.com/cloudmarket/termination-orders/order"
	"github.com/cloudmarket/termination-orders/starter"
	"github.com/cloudmarket/termination-orders/store"
	"github.com/cloudmarket/termination-orders/worker"
	"github.com/cloudmarket/termination-orders/workflows"
)

// historyDir holds the histories that workflows/replay_test.go replays.
const historyDir = "../workflows/testdata/replay"

// historyVersion prefixes the files this code records: the workflow version
// (version 5: ChangeAcceptanceStep version 4). Files of earlier versions (no
// prefix: version 1; v2_, v3_, v4_: versions 2 to 4) stay and keep being
// replayed.
const historyVersion = "v5_"

// historyWindow and historyNotify are the policy the histories are recorded
// under: every timer of version 5 runs (the unlink SLA, its reminders, the
// last warning) within seconds.
const historyWindow = 4 * time.Second

var historyNotify = activities.NotifyPolicy{
	UnlinkSLA: 3 * time.Second, ReminderInterval: time.Second, MaxReminders: 5,
	LastWarning: 2 * time.Second, GiveUpAfter: time.Minute,
}

// A branch is one path of an order's life, driven on a real server.
type branch struct {
	// exact: the committed history's event types must be what the code
	// produces today. Races are recorded once and replayed, not compared.
	exact bool
	drive func(t *testing.T, e *env, id string) (runID string)
}

// failingStore refuses the write of one order's final message (written by a
// local activity when the timer fires) a number of times, a store outage, so
// it falls back to a regular activity.
type failingStore struct {
	*store.Store
	mu      sync.Mutex
	orderID string
	left    int
}

func (f *failingStore) Record(ctx context.Context, m store.Message) (bool, error) {
	f.mu.Lock()
	if m.OrderID == f.orderID && m.Seq == 3 && f.left > 0 {
		f.left--
		f.mu.Unlock()
		return false, errors.New("connection refused")
	}
	f.mu.Unlock()
	return f.Store.Record(ctx, m)
}

// closedForGood drives the happy path: started, unlinked, closed for good.
func closedForGood(t *testing.T, e *env, id string) string {
	run := start(t, e, id)
	require.NoError(t, confirmed(e.orders.ConfirmUnlink(context.Background(), id, ops())))
	return finish(t, e, id, run, order.StagePermanentlyClosed)
}

var branches = map[string]branch{
	"permanently_closed": {exact: true, drive: closedForGood},
	"warned_then_closed_for_good": {exact: true, drive: func(t *testing.T, e *env, id string) string {
		s := closedForGood(t, e, id)
		status, err := e.orders.Status(context.Background(), id)
		require.NoError(t, err)
		require.Len(t, status.Timeline, 4, "submitted, closed, warned, closed for good")
		return s
	}},
	"warned_then_reopened": {exact: true, drive: func(t *testing.T, e *env, id string) string {
		run := start(t, e, id)
		require.NoError(t, confirmed(e.orders.ConfirmUnlink(context.Background(), id, ops())))
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			s, err := e.orders.Status(context.Background(), id)
			require.NoError(c, err)
			require.Len(c, s.Timeline, 3, "the last warning")
		}, 30*time.Second, 20*time.Millisecond)
		waitQuiet(t, e, id)
		_, err := e.orders.Reopen(context.Background(), id, order.Request{RequestedBy: "jane.doe@example.com", Reason: "Warned in time"})
		require.NoError(t, err)
		return finish(t, e, id, run, order.StageReopened)
	}},
	"escalated_twice_then_unlinked": {exact: true, drive: func(t *testing.T, e *env, id string) string {
		run := start(t, e, id)
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			require.Contains(c, currentDetails(t, e, id), "1 of 5 reminders sent")
		}, 30*time.Second, 20*time.Millisecond)
		waitQuiet(t, e, id)
		require.NoError(t, confirmed(e.orders.ConfirmUnlink(context.Background(), id, ops())))
		return finish(t, e, id, run, order.StagePermanentlyClosed)
	}},
	"reopened": {exact: true, drive: func(t *testing.T, e *env, id string) string {
		run := start(t, e, id)
		require.NoError(t, confirmed(e.orders.ConfirmUnlink(context.Background(), id, ops())))
		waitQuiet(t, e, id)
		_, err := e.orders.Reopen(context.Background(), id, order.Request{RequestedBy: "jane.doe@example.com", Reason: "Still need it"})
		require.NoError(t, err)
		return finish(t, e, id, run, order.StageReopened)
	}},
	"cancelled": {exact: true, drive: func(t *testing.T, e *env, id string) string {
		run := start(t, e, id)
		_, err := e.orders.Cancel(context.Background(), id, order.Request{RequestedBy: "jane.doe@example.com", Reason: "Keeping it"})
		require.NoError(t, err)
		return finish(t, e, id, run, order.StageCancelled)
	}},
	"cancel_refused_after_unlink": {exact: true, drive: func(t *testing.T, e *env, id string) string {
		run := start(t, e, id)
		require.NoError(t, confirmed(e.orders.ConfirmUnlink(context.Background(), id, ops())))
		waitQuiet(t, e, id)
		_, err := e.orders.Cancel(context.Background(), id, order.Request{RequestedBy: "jane.doe@example.com", Reason: "Too late"})
		require.ErrorIs(t, err, starter.ErrRejected)
		return finish(t, e, id, run, order.StagePermanentlyClosed)
	}},
	"failed_input": {exact: true, drive: func(t *testing.T, e *env, id string) string {
		bad := newOrder(id)
		bad.AccountID = "12345"
		run, err := e.temporal.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{ID: order.WorkflowID(id), TaskQueue: taskQueue}, workflows.WorkflowType, bad)
		require.NoError(t, err)
		require.ErrorContains(t, run.Get(context.Background(), nil), "accountId")
		return run.GetRunID()
	}},
	"temporal_cancel": {exact: true, drive: func(t *testing.T, e *env, id string) string {
		run := start(t, e, id)
		require.NoError(t, e.temporal.CancelWorkflow(context.Background(), order.WorkflowID(id), run))
		err := e.temporal.GetWorkflow(context.Background(), order.WorkflowID(id), run).Get(context.Background(), nil)
		require.Error(t, err)
		return run
	}},
	"unlink_signal_server_time": {exact: true, drive: func(t *testing.T, e *env, id string) string {
		run := start(t, e, id)
		require.NoError(t, e.temporal.SignalWorkflow(context.Background(), order.WorkflowID(id), "", workflows.SignalUnlinkCompleted, ops()))
		return finish(t, e, id, run, order.StagePermanentlyClosed)
	}},
	"unlink_signal_early_and_duplicate": {drive: func(t *testing.T, e *env, id string) string {
		run, err := e.temporal.SignalWithStartWorkflow(context.Background(), order.WorkflowID(id), workflows.SignalUnlinkCompleted, ops(),
			client.StartWorkflowOptions{TaskQueue: taskQueue}, workflows.WorkflowType, newOrder(id))
		require.NoError(t, err)
		e.waitForStage(t, id, order.StagePostClosure)
		require.NoError(t, e.temporal.SignalWorkflow(context.Background(), order.WorkflowID(id), "", workflows.SignalUnlinkCompleted, ops()))
		return finish(t, e, id, run.GetRunID(), order.StagePermanentlyClosed)
	}},
	"race_unlink_update_and_cancel": {drive: func(t *testing.T, e *env, id string) string {
		run := start(t, e, id)
		race(func() { _, _ = e.orders.ConfirmUnlink(context.Background(), id, ops()) },
			func() {
				_, _ = e.orders.Cancel(context.Background(), id, order.Request{RequestedBy: "jane.doe@example.com", Reason: "race"})
			})
		return settle(t, e, id, run)
	}},
	"race_unlink_signal_and_cancel": {drive: func(t *testing.T, e *env, id string) string {
		run := start(t, e, id)
		race(func() {
			_ = e.temporal.SignalWorkflow(context.Background(), order.WorkflowID(id), "", workflows.SignalUnlinkCompleted, ops())
		}, func() {
			_, _ = e.orders.Cancel(context.Background(), id, order.Request{RequestedBy: "jane.doe@example.com", Reason: "race"})
		})
		return settle(t, e, id, run)
	}},
	"reopen_at_the_deadline": {drive: func(t *testing.T, e *env, id string) string {
		run := start(t, e, id)
		s, err := e.orders.ConfirmUnlink(context.Background(), id, ops())
		require.NoError(t, err)
		time.Sleep(time.Until(s.ReopenDeadline))
		_, _ = e.orders.Reopen(context.Background(), id, order.Request{RequestedBy: "jane.doe@example.com", Reason: "just in time?"})
		return settle(t, e, id, run)
	}},
	// The failing store refuses this order's final write (see failingStore).
	"write_falls_back_to_regular_activity": {exact: true, drive: closedForGood},
	"already_processed": {exact: true, drive: func(t *testing.T, e *env, id string) string {
		first := start(t, e, id)
		require.NoError(t, e.temporal.TerminateWorkflow(context.Background(), order.WorkflowID(id), first, "operator"))
		// A client that is not ours starts it again, allowing a duplicate.
		run, err := e.temporal.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{ID: order.WorkflowID(id), TaskQueue: taskQueue,
			WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE}, workflows.WorkflowType, newOrder(id))
		require.NoError(t, err)
		require.ErrorContains(t, run.Get(context.Background(), nil), "already processed")
		return run.GetRunID()
	}},
}

// TestRecordedHistoriesMatchTheWorkflow runs every branch of an order's life on
// a real server and checks it against its committed history, so the replay
// test replays what the code really does. A branch without a history fails,
// unless TERMINATION_WRITE_HISTORIES=1, which writes the missing ones. A
// history is never rewritten: a change that alters one needs a
// workflow.GetVersion path and new files (a new historyVersion) beside the old.
func TestRecordedHistoriesMatchTheWorkflow(t *testing.T) {
	fallbackID := "ORD-HIST-write_falls_back_to_regular_activity"
	e := newEnvWithStore(t, historyWindow, func(s *store.Store) activities.StatusStore {
		return &failingStore{Store: s, orderID: fallbackID, left: 6}
	}, func(o *worker.Options) { o.Notify = historyNotify })
	// As the CLI and the API start orders: UnlinkDueBy set with the start.
	e.orders = starter.New(e.temporal, taskQueue, starter.WithUnlinkSLA(historyNotify.UnlinkSLA))
	for name, b := range branches {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			id := "ORD-HIST-" + name
			run := b.drive(t, e, id)
			compareOrWrite(t, history(t, e.temporal, order.WorkflowID(id), run), historyVersion+name+".json", b.exact)
		})
	}
}

func compareOrWrite(t *testing.T, got *historypb.History, name string, exact bool) {
	t.Helper()
	file := filepath.Join(historyDir, name)
	if _, err := os.Stat(file); errors.Is(err, os.ErrNotExist) {
		require.Equal(t, "1", os.Getenv("TERMINATION_WRITE_HISTORIES"),
			"no committed history %s: record it with TERMINATION_WRITE_HISTORIES=1 go test ./starter -run TestRecordedHistories", file)
		body, err := protojson.MarshalOptions{Indent: "  "}.Marshal(got)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(file, body, 0o644))
		return
	}
	if !exact {
		return
	}
	committed, err := client.HistoryFromJSON(mustOpen(t, file), client.HistoryJSONOptions{})
	require.NoError(t, err)
	require.Equal(t, eventTypes(committed), eventTypes(got),
		"the workflow no longer produces the committed history %s: a determinism-breaking change needs workflow.GetVersion and new histories beside the old", file)
}

// TestRecordOrderAcceptedUnderLooserRules records an order accepted by rules
// looser than today's (150 items, over order.MaxItems), as if the bound had
// been tightened after the order started. workflows/replay_test.go replays it
// to prove that a stricter rule never breaks an order already accepted.
func TestRecordOrderAcceptedUnderLooserRules(t *testing.T) {
	e := newEnv(t, 2*time.Second)
	const queue = "looser-rules"
	w := newLooserRulesWorker(t, e.temporal, e.store, queue)
	defer w.Stop()
	o := newOrder("ORD-HIST-looser-rules")
	o.Items = nil
	for i := range 150 {
		o.Items = append(o.Items, order.Item{ItemID: "ITM-" + string(rune('A'+i/26)) + string(rune('a'+i%26))})
	}
	require.ErrorContains(t, o.Validate(time.Now()), "items: must list at most 100 items", "today's rules refuse it")
	run, err := e.temporal.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{ID: order.WorkflowID(o.OrderID), TaskQueue: queue}, workflows.WorkflowType, o)
	require.NoError(t, err)
	_, err = e.orders.Cancel(context.Background(), o.OrderID, order.Request{RequestedBy: "jane.doe@example.com", Reason: "recorded"})
	require.NoError(t, err)
	require.NoError(t, run.Get(context.Background(), nil))
	compareOrWrite(t, history(t, e.temporal, run.GetID(), run.GetRunID()), historyVersion+"accepted_under_looser_rules.json", true)
}

// looserAcceptance is the acceptance step under rules that allowed any number
// of items: it decides on the order with its items cut to one, then restores them.
type looserAcceptance struct{ real *activities.Activities }

func (l looserAcceptance) AcceptOrder(ctx context.Context, in activities.AcceptInput) (activities.Acceptance, error) {
	full := order.DecodeJSON(in.Input)
	cut := full
	cut.Items = full.Items[:1]
	body, err := jsonMarshal(cut)
	if err != nil {
		return activities.Acceptance{}, err
	}
	in.Input = body
	acc, err := l.real.AcceptOrder(ctx, in)
	acc.Order = full
	return acc, err
}

func newLooserRulesWorker(t *testing.T, c client.Client, st *store.Store, queue string) interface{ Stop() } {
	t.Helper()
	w := newSDKWorker(c, queue)
	workflows.Register(w, workflows.Policy{})
	real := &activities.Activities{Store: st}
	activities.Register(w, real)
	w.RegisterActivityWithOptions(looserAcceptance{real}.AcceptOrder, activity.RegisterOptions{Name: activities.AcceptOrderName, DisableAlreadyRegisteredCheck: true})
	require.NoError(t, w.Start())
	return w
}

// waitQuiet waits until the order has no activity and no workflow task
// pending, so that the next request starts a workflow task of its own and the
// history's shape does not depend on timing.
func waitQuiet(t *testing.T, e *env, id string) {
	t.Helper()
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		desc, err := e.temporal.DescribeWorkflowExecution(context.Background(), order.WorkflowID(id), "")
		require.NoError(c, err)
		require.Empty(c, desc.GetPendingActivities())
		require.Nil(c, desc.GetPendingWorkflowTask())
	}, 30*time.Second, 20*time.Millisecond)
}

// currentDetails is the order's details in the Web UI.
func currentDetails(t *testing.T, e *env, id string) string {
	t.Helper()
	v, err := e.temporal.QueryWorkflow(context.Background(), order.WorkflowID(id), "", "__temporal_workflow_metadata")
	require.NoError(t, err)
	var md sdkpb.WorkflowMetadata
	require.NoError(t, v.Get(&md))
	return md.GetCurrentDetails()
}

// start starts an order through the starter and waits until it is accepted.
func start(t *testing.T, e *env, id string) string {
	t.Helper()
	run, err := e.orders.Start(context.Background(), newOrder(id))
	require.NoError(t, err)
	e.waitForStage(t, id, order.StageAwaitingUnlink)
	return run.RunID
}

// finish waits for the order to end in stage.
func finish(t *testing.T, e *env, id, run string, stage order.Stage) string {
	t.Helper()
	_ = e.temporal.GetWorkflow(context.Background(), order.WorkflowID(id), run).Get(context.Background(), nil)
	require.Equal(t, stage, e.waitForStage(t, id, stage).Stage)
	return run
}

// settle waits for the order to end, whatever its final stage.
func settle(t *testing.T, e *env, id, run string) string {
	t.Helper()
	_ = e.temporal.GetWorkflow(context.Background(), order.WorkflowID(id), run).Get(context.Background(), nil)
	return run
}

// race runs both at the same moment.
func race(a, b func()) {
	var wg sync.WaitGroup
	gate := make(chan struct{})
	for _, f := range []func(){a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			f()
		}()
	}
	close(gate)
	wg.Wait()
}

func history(t *testing.T, c client.Client, workflowID, runID string) *historypb.History {
	t.Helper()
	h := &historypb.History{}
	it := c.GetWorkflowHistory(context.Background(), workflowID, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		require.NoError(t, err)
		h.Events = append(h.Events, ev)
	}
	return h
}

func eventTypes(h *historypb.History) []string {
	out := make([]string, len(h.GetEvents()))
	for i, ev := range h.GetEvents() {
		out[i] = ev.GetEventType().String()
	}
	return out
}

func mustOpen(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	t.Cleanup(func() { f.Close() })
	return f
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

func newSDKWorker(c client.Client, queue string) sdkworker.Worker {
	return sdkworker.New(c, queue, sdkworker.Options{})
}
