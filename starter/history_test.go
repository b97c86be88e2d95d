package starter_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
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
	"go.temporal.io/sdk/temporal"
	sdkworker "go.temporal.io/sdk/worker"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/cloudmarket/termination-orders/activities"
	"github.com/cloudmarket/termination-orders/internal/histories"
	"github.com/cloudmarket/termination-orders/internal/ordertest"
	"github.com/cloudmarket/termination-orders/order"
	"github.com/cloudmarket/termination-orders/starter"
	"github.com/cloudmarket/termination-orders/store"
	"github.com/cloudmarket/termination-orders/worker"
	"github.com/cloudmarket/termination-orders/workflows"
)

// historyRelease is the release whose histories this code records, in
// workflows/testdata/replay/<release>/, which workflows/replay_test.go
// replays. A release's histories are only ever added to, never rewritten: a
// workflow change follows docs/versioning.md and records its paths under a
// new release.
const historyRelease = "1.4"

// historyDir holds the histories of every release.
var historyDir = filepath.Join("..", "workflows", "testdata", "replay")

// historyWindow and historyNotify are the policy the histories are recorded
// under: every timer of an order's life (the unlink SLA, its reminders, the
// last warning, the reopen window) runs within seconds.
const historyWindow = 4 * time.Second

var historyNotify = activities.NotifyPolicy{
	UnlinkSLA: 3 * time.Second, ReminderInterval: time.Second, MaxReminders: 5,
	LastWarning: 2 * time.Second, GiveUpAfter: time.Minute,
}

// A branch drives one path of an order's life on a real server, asserts the
// outcome that path allows, and returns the order's run ID. Its history must
// be exactly the committed one.
type branch func(t *testing.T, e *env, id string) (runID string)

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
	if m.OrderID == f.orderID && m.Seq == 4 && f.left > 0 {
		f.left--
		f.mu.Unlock()
		return false, errors.New("connection refused")
	}
	f.mu.Unlock()
	return f.Store.Record(ctx, m)
}

// closedForGood drives the happy path: started, unlinked, warned, closed for good.
func closedForGood(t *testing.T, e *env, id string) string {
	run := start(t, e, id)
	require.NoError(t, confirmed(e.orders.ConfirmUnlink(context.Background(), id, ops())))
	final := finish(t, e, id, run, order.StagePermanentlyClosed)
	require.Equal(t, []order.Stage{order.StageAwaitingUnlink, order.StagePostClosure, order.StagePostClosure, order.StagePermanentlyClosed},
		stages(final), "submitted, closed, warned, closed for good")
	return run
}

var branches = map[string]branch{
	"permanently_closed": closedForGood,
	"warned_then_reopened": func(t *testing.T, e *env, id string) string {
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
		final := finish(t, e, id, run, order.StageReopened)
		require.Equal(t, []order.Stage{order.StageAwaitingUnlink, order.StagePostClosure, order.StagePostClosure, order.StageReopened}, stages(final))
		return run
	},
	"escalated_twice_then_unlinked": func(t *testing.T, e *env, id string) string {
		run := start(t, e, id)
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			require.Contains(c, currentDetails(t, e, id), "1 of 5 reminders sent")
		}, 30*time.Second, 20*time.Millisecond)
		waitQuiet(t, e, id)
		require.NoError(t, confirmed(e.orders.ConfirmUnlink(context.Background(), id, ops())))
		finish(t, e, id, run, order.StagePermanentlyClosed)
		return run
	},
	"reopened": func(t *testing.T, e *env, id string) string {
		run := start(t, e, id)
		require.NoError(t, confirmed(e.orders.ConfirmUnlink(context.Background(), id, ops())))
		waitQuiet(t, e, id)
		_, err := e.orders.Reopen(context.Background(), id, order.Request{RequestedBy: "jane.doe@example.com", Reason: "Still need it"})
		require.NoError(t, err)
		final := finish(t, e, id, run, order.StageReopened)
		require.Equal(t, []order.Stage{order.StageAwaitingUnlink, order.StagePostClosure, order.StageReopened}, stages(final), "reopened before the warning")
		return run
	},
	"cancelled": func(t *testing.T, e *env, id string) string {
		run := start(t, e, id)
		_, err := e.orders.Cancel(context.Background(), id, order.Request{RequestedBy: "jane.doe@example.com", Reason: "Keeping it"})
		require.NoError(t, err)
		finish(t, e, id, run, order.StageCancelled)
		return run
	},
	"cancel_refused_after_unlink": func(t *testing.T, e *env, id string) string {
		run := start(t, e, id)
		require.NoError(t, confirmed(e.orders.ConfirmUnlink(context.Background(), id, ops())))
		waitQuiet(t, e, id)
		_, err := e.orders.Cancel(context.Background(), id, order.Request{RequestedBy: "jane.doe@example.com", Reason: "Too late"})
		require.ErrorIs(t, err, starter.ErrRejected)
		finish(t, e, id, run, order.StagePermanentlyClosed)
		return run
	},
	"failed_input": func(t *testing.T, e *env, id string) string {
		bad := newOrder(id)
		bad.AccountID = "12345"
		run, err := e.temporal.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{ID: order.WorkflowID(id), TaskQueue: e.queue}, workflows.WorkflowType, bad)
		require.NoError(t, err)
		requireFailure(t, run.Get(context.Background(), nil), workflows.ErrTypeInvalidOrder, "accountId")
		return run.GetRunID()
	},
	"temporal_cancel": func(t *testing.T, e *env, id string) string {
		run := start(t, e, id)
		require.NoError(t, e.temporal.CancelWorkflow(context.Background(), order.WorkflowID(id), run))
		err := e.temporal.GetWorkflow(context.Background(), order.WorkflowID(id), run).Get(context.Background(), nil)
		var cancelled *temporal.CanceledError
		require.ErrorAs(t, err, &cancelled, "the run ends cancelled")
		require.Equal(t, order.StageCancelled, e.waitForStage(t, id, order.StageCancelled).Stage)
		return run
	},
	"unlink_signal_server_time": func(t *testing.T, e *env, id string) string {
		run := start(t, e, id)
		require.NoError(t, e.temporal.SignalWorkflow(context.Background(), order.WorkflowID(id), "", workflows.SignalUnlinkCompleted, ops()))
		finish(t, e, id, run, order.StagePermanentlyClosed)
		return run
	},
	"unlink_signal_early_and_duplicate": func(t *testing.T, e *env, id string) string {
		run, err := e.temporal.SignalWithStartWorkflow(context.Background(), order.WorkflowID(id), workflows.SignalUnlinkCompleted, ops(),
			client.StartWorkflowOptions{TaskQueue: e.queue}, workflows.WorkflowType, newOrder(id))
		require.NoError(t, err)
		first := e.waitForStage(t, id, order.StagePostClosure)
		waitQuiet(t, e, id)
		require.NoError(t, e.temporal.SignalWorkflow(context.Background(), order.WorkflowID(id), "", workflows.SignalUnlinkCompleted, ops()))
		final := finish(t, e, id, run.GetRunID(), order.StagePermanentlyClosed)
		require.Equal(t, first.ClosedAt, final.ClosedAt, "the duplicate changed nothing")
		return run.GetRunID()
	},
	// The races: both requests reach the order in one workflow task, in the
	// order sent, while its acceptance is held (acceptanceGate). The first
	// decides.
	"race_unlink_update_and_cancel": func(t *testing.T, e *env, id string) string {
		run, unlinked, cancelled := whileAccepting(t, e, id,
			func() error { return confirmed(e.orders.ConfirmUnlink(context.Background(), id, ops())) },
			func() error {
				_, err := e.orders.Cancel(context.Background(), id, order.Request{RequestedBy: "jane.doe@example.com", Reason: "race"})
				return err
			})
		require.NoError(t, unlinked, "the unlink came first")
		require.ErrorIs(t, cancelled, starter.ErrRejected, "the cancel is refused: the account is already closed")
		finish(t, e, id, run, order.StagePermanentlyClosed)
		return run
	},
	"race_unlink_signal_and_cancel": func(t *testing.T, e *env, id string) string {
		run, signalled, cancelled := whileAccepting(t, e, id,
			func() error {
				return e.temporal.SignalWorkflow(context.Background(), order.WorkflowID(id), "", workflows.SignalUnlinkCompleted, ops())
			},
			func() error {
				_, err := e.orders.Cancel(context.Background(), id, order.Request{RequestedBy: "jane.doe@example.com", Reason: "race"})
				return err
			})
		require.NoError(t, signalled)
		require.ErrorIs(t, cancelled, starter.ErrRejected, "the signal recorded first is decided first")
		finish(t, e, id, run, order.StagePermanentlyClosed)
		return run
	},
	// The deadline passes while the workers are down and a reopen arrives:
	// the deadline was fixed at the unlink, so the reopen is refused.
	"reopen_at_the_deadline": func(t *testing.T, e *env, id string) string {
		e = ownQueue(t, e, id)
		run := start(t, e, id)
		s, err := e.orders.ConfirmUnlink(context.Background(), id, ops())
		require.NoError(t, err)
		waitQuiet(t, e, id)
		e.worker.Stop()
		time.Sleep(time.Until(s.ReopenDeadline.Add(500 * time.Millisecond)))
		reopened := make(chan error, 1)
		go func() {
			_, err := e.orders.Reopen(context.Background(), id, order.Request{RequestedBy: "jane.doe@example.com", Reason: "just in time?"})
			reopened <- err
		}()
		time.Sleep(300 * time.Millisecond) // the update reaches the server
		e.worker = e.newWorker(t)
		require.ErrorIs(t, <-reopened, starter.ErrClosedForGood)
		finish(t, e, id, run, order.StagePermanentlyClosed)
		return run
	},
	// The account is held by another order: refused at the call, on its own page.
	"refused_account_in_termination": func(t *testing.T, e *env, id string) string {
		holder := id + "-HOLDER"
		_, err := e.orders.Start(context.Background(), forAccount(holder, "SUB-H", ordertest.Account(holder)))
		require.NoError(t, err)
		run, err := e.orders.Start(context.Background(), forAccount(id, "SUB-H", ordertest.Account(holder)))
		require.ErrorIs(t, err, starter.ErrAccountInTermination)
		requireFailure(t, e.temporal.GetWorkflow(context.Background(), run.WorkflowID, run.RunID).Get(context.Background(), nil),
			workflows.ErrTypeAccountInTermination, "by order "+holder)
		return run.RunID
	},
	// A client that is not ours starts an order for an account closed for good.
	"refused_raw_start_account_closed_for_good": func(t *testing.T, e *env, id string) string {
		holder := id + "-HOLDER"
		closedForGood(t, e, holder)
		run, err := e.temporal.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{ID: order.WorkflowID(id), TaskQueue: e.queue},
			workflows.WorkflowType, forAccount(id, "SUB-R", ordertest.Account(holder)))
		require.NoError(t, err)
		requireFailure(t, run.Get(context.Background(), nil), workflows.ErrTypeAccountClosedForGood, "closed for good on")
		return run.GetRunID()
	},
	// The failing store refuses this order's final write (see failingStore).
	"write_falls_back_to_regular_activity": closedForGood,
	"already_processed": func(t *testing.T, e *env, id string) string {
		first := start(t, e, id)
		require.NoError(t, e.temporal.TerminateWorkflow(context.Background(), order.WorkflowID(id), first, "operator"))
		// A client that is not ours starts it again, allowing a duplicate.
		run, err := e.temporal.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{ID: order.WorkflowID(id), TaskQueue: e.queue,
			WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE}, workflows.WorkflowType, newOrder(id))
		require.NoError(t, err)
		requireFailure(t, run.Get(context.Background(), nil), workflows.ErrTypeOrderAlreadyProcessed, "already processed")
		return run.GetRunID()
	},
}

// TestRecordedHistoriesMatchTheWorkflow runs every branch of an order's life on
// a real server and checks it against its committed history, so the replay
// test replays what the code really does. A branch without a history fails,
// unless TERMINATION_WRITE_HISTORIES=1, which writes the missing ones and
// the release's workflow fingerprint.
func TestRecordedHistoriesMatchTheWorkflow(t *testing.T) {
	fallbackID := "ORD-HIST-write_falls_back_to_regular_activity"
	e := newEnvWithStore(t, historyWindow, func(s *store.Store) activities.StatusStore {
		return acceptanceGate.wrap(&failingStore{Store: s, orderID: fallbackID, left: 6})
	}, func(o *worker.Options) { o.Policy.Notify = historyNotify })
	// As the CLI and the API start orders: UnlinkDueBy set with the start.
	e.orders = starter.New(e.temporal, taskQueue, starter.WithUnlinkSLA(historyNotify.UnlinkSLA))
	for name, drive := range branches {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			id := "ORD-HIST-" + name
			run := drive(t, e, id)
			compareOrWrite(t, history(t, e.temporal, order.WorkflowID(id), run), name+".json")
		})
	}
}

// compareOrWrite checks a history against the committed one of the release
// being recorded: the same events, in the same order. When there is none, it
// writes it if asked to (with the release's fingerprint), else fails.
func compareOrWrite(t *testing.T, got *historypb.History, name string) {
	t.Helper()
	compareOrWriteAs(t, got, name, eventTypes)
}

// compareOrWriteAs is compareOrWrite comparing what types makes of each history.
func compareOrWriteAs(t *testing.T, got *historypb.History, name string, types func(*historypb.History) []string) {
	t.Helper()
	dir := filepath.Join(historyDir, historyRelease)
	file := filepath.Join(dir, name)
	if _, err := os.Stat(file); errors.Is(err, os.ErrNotExist) {
		require.Equal(t, "1", os.Getenv("TERMINATION_WRITE_HISTORIES"),
			"no committed history %s: record it with TERMINATION_WRITE_HISTORIES=1 go test ./starter -run 'TestRecord'", file)
		require.NoError(t, histories.WriteFingerprint(dir, filepath.Join("..", "workflows")),
			"release %s's histories were recorded from other workflow code; a changed workflow records its paths under a new release (docs/versioning.md)", historyRelease)
		body, err := protojson.MarshalOptions{Indent: "  "}.Marshal(got)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(file, body, 0o644))
		return
	}
	committed, err := client.HistoryFromJSON(mustOpen(t, file), client.HistoryJSONOptions{})
	require.NoError(t, err)
	require.Equal(t, types(committed), types(got),
		"the workflow no longer produces the committed history %s: a change to an order's steps follows docs/versioning.md", file)
}

// ownQueue gives a branch a worker and a task queue of its own, which it can
// stop and start without holding up the others.
func ownQueue(t *testing.T, e *env, id string) *env {
	t.Helper()
	own := *e
	own.queue = "hist-" + id
	own.orders = starter.New(e.temporal, own.queue, starter.WithUnlinkSLA(historyNotify.UnlinkSLA))
	own.newWorker = func(t testing.TB) interface{ Stop() } { return e.onQueue(t, own.queue) }
	own.worker = own.newWorker(t)
	return &own
}

// gatedStore holds the account claim of chosen orders, which their first
// workflow task makes in a local activity, so that requests sent meanwhile
// reach the order together in its next task, in the order sent.
type gatedStore struct {
	activities.StatusStore
	mu    sync.Mutex
	gates map[string]*gate
}

type gate struct{ reached, release chan struct{} }

// acceptanceGate is the history worker's store gate.
var acceptanceGate = &gatedStore{gates: map[string]*gate{}}

func (g *gatedStore) wrap(s activities.StatusStore) *gatedStore {
	g.StatusStore = s
	return g
}

// hold makes the next claim of orderID wait until release is called.
func (g *gatedStore) hold(orderID string) *gate {
	g.mu.Lock()
	defer g.mu.Unlock()
	gt := &gate{reached: make(chan struct{}), release: make(chan struct{})}
	g.gates[orderID] = gt
	return gt
}

func (g *gatedStore) Claim(ctx context.Context, c order.Claim) error {
	g.mu.Lock()
	gt := g.gates[c.OrderID]
	delete(g.gates, c.OrderID)
	g.mu.Unlock()
	if gt != nil {
		close(gt.reached)
		select {
		case <-gt.release:
		case <-ctx.Done():
		}
	}
	return g.StatusStore.Claim(ctx, c)
}

// whileAccepting starts the order and, while its acceptance is held, sends
// first, then second; then lets the acceptance go. Both reach the order in
// the workflow task after its acceptance, in that order. It returns the run
// and what each request was answered.
func whileAccepting(t *testing.T, e *env, id string, first, second func() error) (string, error, error) {
	t.Helper()
	gt := acceptanceGate.hold(id)
	started := make(chan starter.Run, 1)
	go func() {
		run, err := e.orders.Start(context.Background(), newOrder(id))
		assert.NoError(t, err)
		started <- run
	}()
	select {
	case <-gt.reached:
	case <-time.After(30 * time.Second):
		t.Fatal("the order's acceptance never claimed its account")
	}
	answers := [2]chan error{make(chan error, 1), make(chan error, 1)}
	for i, send := range []func() error{first, second} {
		go func() { answers[i] <- send() }()
		time.Sleep(300 * time.Millisecond) // it reaches the server before the next
	}
	close(gt.release) // within the local activity's 2 s
	run := <-started
	return run.RunID, <-answers[0], <-answers[1]
}

// requireFailure checks that a run failed with the application error type
// and a message containing text.
func requireFailure(t *testing.T, err error, errType, text string) {
	t.Helper()
	var appErr *temporal.ApplicationError
	require.ErrorAs(t, err, &appErr)
	require.Equal(t, errType, appErr.Type())
	require.ErrorContains(t, err, text)
}

func stages(s order.Status) []order.Stage {
	out := make([]order.Stage, len(s.Timeline))
	for i, e := range s.Timeline {
		out[i] = e.Stage
	}
	return out
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
	e.waitForStage(t, o.OrderID, order.StageAwaitingUnlink)
	waitQuiet(t, e, o.OrderID)
	_, err = e.orders.Cancel(context.Background(), o.OrderID, order.Request{RequestedBy: "jane.doe@example.com", Reason: "recorded"})
	require.NoError(t, err)
	var final order.Status
	require.NoError(t, run.Get(context.Background(), &final))
	require.Equal(t, []order.Stage{order.StageAwaitingUnlink, order.StageCancelled}, stages(final), "accepted, then cancelled")
	compareOrWrite(t, history(t, e.temporal, run.GetID(), run.GetRunID()), "accepted_under_looser_rules.json")
}

// looserAcceptance is the acceptance step under rules that allowed any number
// of items: it decides on the order with its items cut to one, then restores them.
type looserAcceptance struct{ real *activities.Activities }

func (l looserAcceptance) AcceptOrder(ctx context.Context, in activities.AcceptInput) (activities.Acceptance, error) {
	full := order.DecodeJSON(in.Input)
	cut := full
	cut.Items = full.Items[:1]
	body, err := json.Marshal(cut)
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
	w := sdkworker.New(c, queue, sdkworker.Options{})
	workflows.Register(w)
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

// finish waits for the order's run to end in stage, with that status as its
// result, and returns it.
func finish(t *testing.T, e *env, id, run string, stage order.Stage) order.Status {
	t.Helper()
	var result order.Status
	require.NoError(t, e.temporal.GetWorkflow(context.Background(), order.WorkflowID(id), run).Get(context.Background(), &result))
	require.Equal(t, stage, result.Stage, "the run's result")
	require.Equal(t, stage, e.waitForStage(t, id, stage).Stage)
	return result
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
	return markersFirst(out)
}

// markersFirst puts the local activities' markers of each workflow task's
// completion first among its events, the rest in their order. Where two
// local activities run side by side in one task (a status write and a
// signal's decision), which finishes first, and so where its marker lands
// among the task's commands, is timing; replay reads markers before the
// task's commands, whatever their place.
func markersFirst(types []string) []string {
	out := make([]string, 0, len(types))
	var markers, rest []string
	inTask := false
	flush := func() {
		out = append(append(out, markers...), rest...)
		markers, rest = markers[:0], rest[:0]
	}
	for _, name := range types {
		switch {
		case name == "WorkflowTaskCompleted":
			flush()
			out = append(out, name)
			inTask = true
		case name == "WorkflowTaskScheduled":
			flush()
			out = append(out, name)
			inTask = false
		case inTask && name == "MarkerRecorded":
			markers = append(markers, name)
		case inTask:
			rest = append(rest, name)
		default:
			out = append(out, name)
		}
	}
	flush()
	return out
}

// commandEventTypes is eventTypes without the workflow task events: where a
// branch's activities and notifications run side by side, which of them one
// workflow task takes in depends on timing, while the commands do not.
func commandEventTypes(h *historypb.History) []string {
	var out []string
	for _, name := range eventTypes(h) {
		if !strings.HasPrefix(name, "WorkflowTask") {
			out = append(out, name)
		}
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

// Two local activities of one task finishing in either order make the same
// history to compare; any other change of order still shows.
func TestMarkersFirstIgnoresOnlyWhereATasksMarkersLand(t *testing.T) {
	task := func(events ...string) []string {
		return append([]string{"WorkflowExecutionStarted", "WorkflowTaskScheduled", "WorkflowTaskStarted", "WorkflowTaskCompleted"},
			append(events, "WorkflowTaskScheduled")...)
	}
	written := task("MarkerRecorded", "UpsertWorkflowSearchAttributes", "TimerStarted", "MarkerRecorded", "TimerCanceled")
	decided := task("MarkerRecorded", "UpsertWorkflowSearchAttributes", "TimerStarted", "TimerCanceled", "MarkerRecorded")
	require.Equal(t, markersFirst(written), markersFirst(decided))
	reordered := task("MarkerRecorded", "TimerStarted", "UpsertWorkflowSearchAttributes", "MarkerRecorded", "TimerCanceled")
	require.NotEqual(t, markersFirst(written), markersFirst(reordered))
	first := append(task("MarkerRecorded", "UpsertWorkflowSearchAttributes"), "WorkflowTaskStarted", "WorkflowTaskCompleted", "TimerStarted")
	second := append(task("UpsertWorkflowSearchAttributes"), "WorkflowTaskStarted", "WorkflowTaskCompleted", "MarkerRecorded", "TimerStarted")
	require.NotEqual(t, markersFirst(first), markersFirst(second), "a marker moved to another task")
}
