package workflows_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/cloudmarket/termination-orders/activities"
	"github.com/cloudmarket/termination-orders/order"
	"github.com/cloudmarket/termination-orders/store"
	"github.com/cloudmarket/termination-orders/workflows"
)

// startTime lies in the future on purpose: the test environment gives a local
// activity a real-clock deadline computed from its mocked clock.
var startTime = time.Date(2099, 11, 26, 9, 0, 0, 0, time.UTC)

const day = 24 * time.Hour

func validOrder() workflows.Order {
	return workflows.Order{
		OrderID:         "ORD-4821-3307",
		SubscriptionID:  "SUB-1190-2291",
		AccountID:       "123456789012",
		TerminationType: order.TerminationTypeCloseAccount,
		Items:           []order.Item{{ItemID: "ITM-1", Quantity: 0}},
		RequestedBy:     "jane.doe@example.com",
		SubmittedAt:     "2099-11-26T08:55:00Z",
	}
}

func unlink() workflows.UnlinkCompleted {
	return workflows.UnlinkCompleted{CompletedBy: "ops.sam@example.com", Reference: "OPS-7781"}
}

// harness runs the workflow in the SDK's time-skipping test environment with the
// real activities writing to a real SQLite status store.
type harness struct {
	t       *testing.T
	env     *testsuite.TestWorkflowEnvironment
	store   *store.Store
	mu      sync.Mutex
	upserts []temporal.SearchAttributes
}

func newHarness(t *testing.T, statusStore activities.StatusStore) *harness {
	return newHarnessWithPolicy(t, statusStore, 0)
}

// newHarnessWithPolicy runs a worker whose configured reopen window is policy.
func newHarnessWithPolicy(t *testing.T, statusStore activities.StatusStore, policy time.Duration) *harness {
	return newHarnessWith(t, func(h *harness) *activities.Activities {
		if statusStore == nil {
			statusStore = h.store
		}
		return &activities.Activities{
			Store:  statusStore,
			Policy: activities.Policy{ReopenWindow: policy},
			Now:    h.env.Now, // the rules' clock is the test's
		}
	}, policy)
}

// newHarnessWith runs the activities that acts makes for the harness (its
// store and clock ready) under a worker whose reopen window is policy.
func newHarnessWith(t *testing.T, acts func(*harness) *activities.Activities, policy time.Duration) *harness {
	t.Helper()
	var suite testsuite.WorkflowTestSuite
	h := &harness{t: t, env: suite.NewTestWorkflowEnvironment()}
	s, err := store.Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "status.db"))
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	h.store = s
	h.env.SetStartTime(startTime)
	h.env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: order.WorkflowID(validOrder().OrderID)})
	workflows.Register(h.env)
	activities.Register(h.env, acts(h))
	h.env.OnUpsertTypedSearchAttributes(mock.Anything).Run(func(args mock.Arguments) {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.upserts = append(h.upserts, args.Get(0).(temporal.SearchAttributes))
	}).Return(nil)
	return h
}

func (h *harness) at(d time.Duration, fn func()) { h.env.RegisterDelayedCallback(fn, d) }

func (h *harness) query() workflows.Status {
	h.t.Helper()
	v, err := h.env.QueryWorkflow(workflows.QueryStatus)
	require.NoError(h.t, err)
	var s workflows.Status
	require.NoError(h.t, v.Get(&s))
	return s
}

// updateOutcome records what happened to one update.
type updateOutcome struct {
	accepted bool
	rejected error
	result   workflows.Status
	err      error
}

func (h *harness) update(name string, arg any) *updateOutcome {
	out := &updateOutcome{}
	h.env.UpdateWorkflow(name, "", &testsuite.TestUpdateCallback{
		OnAccept: func() { out.accepted = true },
		OnReject: func(err error) { out.rejected = err },
		OnComplete: func(v any, err error) {
			out.err = err
			if s, ok := v.(workflows.Status); ok {
				out.result = s
			}
		},
	}, arg)
	return out
}

func (h *harness) run(o any) (workflows.Status, error) {
	h.env.ExecuteWorkflow(workflows.WorkflowType, o)
	require.True(h.t, h.env.IsWorkflowCompleted())
	if err := h.env.GetWorkflowError(); err != nil {
		return workflows.Status{}, err
	}
	var s workflows.Status
	require.NoError(h.t, h.env.GetWorkflowResult(&s))
	return s, nil
}

// storedStages is the order's timeline as the order page reads it.
func (h *harness) storedTimeline(orderID string) []store.Message {
	h.t.Helper()
	msgs, err := h.store.Timeline(context.Background(), orderID)
	require.NoError(h.t, err)
	return msgs
}

func stages(msgs []store.Message) []order.Stage {
	var out []order.Stage
	for _, m := range msgs {
		out = append(out, m.Stage)
	}
	return out
}

func TestFullLifeTakesTheWholeNinetyDays(t *testing.T) {
	h := newHarness(t, nil)
	var awaiting, postClosure workflows.Status
	h.at(time.Hour, func() { awaiting = h.query() })
	h.at(day, func() { h.env.SignalWorkflow(workflows.SignalUnlinkCompleted, unlink()) })
	h.at(day+time.Minute, func() { postClosure = h.query() })

	final, err := h.run(validOrder())
	require.NoError(t, err)

	closedAt := startTime.Add(day)
	deadline := closedAt.Add(90 * day)
	// The timer is durable and exact: the order ends at the deadline, not before.
	require.Equal(t, deadline, h.env.Now().UTC())

	require.Equal(t, order.StageAwaitingUnlink, awaiting.Stage)
	require.Equal(t, order.OrderStatusProcessing, awaiting.OrderStatus)
	require.Contains(t, awaiting.StatusMessage, "Operations team will contact you")
	require.True(t, awaiting.ClosedAt.IsZero())

	require.Equal(t, order.StagePostClosure, postClosure.Stage)
	require.Equal(t, order.OrderStatusCompleted, postClosure.OrderStatus)
	require.Equal(t, closedAt, postClosure.ClosedAt.UTC())
	require.Equal(t, deadline, postClosure.ReopenDeadline.UTC())
	require.Contains(t, postClosure.StatusMessage, "you can still reopen it until 25 February 2100, 09:00:00 UTC")

	require.Equal(t, order.StagePermanentlyClosed, final.Stage)
	require.Equal(t, order.OrderStatusCompleted, final.OrderStatus)
	require.Contains(t, final.StatusMessage, "closed permanently and can no longer be reopened")
	require.Len(t, final.Timeline, 3)

	// The order page shows the same messages, in order, each once.
	stored := h.storedTimeline("ORD-4821-3307")
	require.Equal(t, []order.Stage{order.StageAwaitingUnlink, order.StagePostClosure, order.StagePermanentlyClosed}, stages(stored))
	for i, m := range stored {
		require.Equal(t, final.Timeline[i].Message, m.Text)
		require.Equal(t, final.Timeline[i].Time.UTC(), m.OccurredAt)
		require.Equal(t, i+1, m.Seq)
	}
	latest, err := h.store.Latest(context.Background(), "ORD-4821-3307")
	require.NoError(t, err)
	require.Equal(t, final.StatusMessage, latest.Text)
}

func TestSearchAttributesAtEveryStage(t *testing.T) {
	h := newHarness(t, nil)
	h.at(day, func() { h.env.SignalWorkflow(workflows.SignalUnlinkCompleted, unlink()) })
	_, err := h.run(validOrder())
	require.NoError(t, err)

	deadline := startTime.Add(91 * day)
	require.Len(t, h.upserts, 3, "one upsert per stage change")
	want := []order.Stage{order.StageAwaitingUnlink, order.StagePostClosure, order.StagePermanentlyClosed}
	// Each upsert sends what changed; the Web UI sees them merged.
	merged := map[string]any{}
	for i, sa := range h.upserts {
		for _, key := range []temporal.SearchAttributeKeyKeyword{workflows.StageKey, workflows.AccountIDKey, workflows.SubscriptionIDKey} {
			if v, ok := sa.GetKeyword(key); ok {
				merged[key.GetName()] = v
			}
		}
		if v, ok := sa.GetTime(workflows.ReopenDeadlineKey); ok {
			merged[workflows.ReopenDeadlineKey.GetName()] = v
		}
		require.Equal(t, string(want[i]), merged["TerminationStage"])
		require.Equal(t, "123456789012", merged["AwsAccountId"])
		require.Equal(t, "SUB-1190-2291", merged["SubscriptionId"])
		if want[i] == order.StageAwaitingUnlink {
			require.NotContains(t, merged, "ReopenDeadline", "no deadline before the unlink")
		} else {
			require.Equal(t, deadline, merged["ReopenDeadline"].(time.Time).UTC())
		}
	}
}

func TestNoUpsertForAttributesSetAtStart(t *testing.T) {
	h := newHarness(t, nil)
	require.NoError(t, h.env.SetTypedSearchAttributesOnStart(temporal.NewSearchAttributes(
		workflows.StageKey.ValueSet(string(order.StageAwaitingUnlink)),
		workflows.AccountIDKey.ValueSet("123456789012"),
		workflows.SubscriptionIDKey.ValueSet("SUB-1190-2291"),
	)))
	h.at(day, func() { h.env.SignalWorkflow(workflows.SignalUnlinkCompleted, unlink()) })
	_, err := h.run(validOrder())
	require.NoError(t, err)
	require.Len(t, h.upserts, 2, "the starter set the first stage's attributes: only the later stages upsert")
	stage, _ := h.upserts[0].GetKeyword(workflows.StageKey)
	require.Equal(t, string(order.StagePostClosure), stage)
	_, resent := h.upserts[0].GetKeyword(workflows.AccountIDKey)
	require.False(t, resent, "unchanged attributes are not sent again")
}

func TestReopenOnDay89IsAccepted(t *testing.T) {
	h := newHarness(t, nil)
	var reopen *updateOutcome
	h.at(time.Hour, func() { h.env.SignalWorkflow(workflows.SignalUnlinkCompleted, unlink()) })
	h.at(time.Hour+89*day, func() {
		reopen = h.update(workflows.UpdateReopen, workflows.ReopenRequest{RequestedBy: "jane.doe@example.com", Reason: "Still need the account"})
	})

	final, err := h.run(validOrder())
	require.NoError(t, err)

	require.True(t, reopen.accepted)
	require.NoError(t, reopen.rejected)
	require.NoError(t, reopen.err)
	require.Equal(t, order.StageReopened, reopen.result.Stage)
	require.Equal(t, order.StageReopened, final.Stage)
	require.Equal(t, order.OrderStatusCompleted, final.OrderStatus)
	require.Contains(t, final.StatusMessage, "was reopened on 23 February 2100, 10:00:00 UTC at the request of jane.doe@example.com")
	// The workflow ends with the reopen, not at the deadline.
	require.Equal(t, startTime.Add(time.Hour+89*day), h.env.Now().UTC())
	require.Equal(t, []order.Stage{order.StageAwaitingUnlink, order.StagePostClosure, order.StageReopened},
		stages(h.storedTimeline("ORD-4821-3307")))
	stage, _ := h.upserts[len(h.upserts)-1].GetKeyword(workflows.StageKey)
	require.Equal(t, string(order.StageReopened), stage)
}

func TestReopenRejectedOutsideThePostClosurePeriod(t *testing.T) {
	h := newHarness(t, nil)
	req := workflows.ReopenRequest{RequestedBy: "jane.doe@example.com", Reason: "Changed my mind"}
	var early, invalid, atDeadline *updateOutcome
	var before workflows.Status
	h.at(time.Hour, func() {
		before = h.query()
		early = h.update(workflows.UpdateReopen, req)
	})
	h.at(2*time.Hour, func() { invalid = h.update(workflows.UpdateReopen, workflows.ReopenRequest{}) })
	h.at(day, func() { h.env.SignalWorkflow(workflows.SignalUnlinkCompleted, unlink()) })
	// At the deadline the reopen window is over, whichever of the timer and
	// the request the workflow sees first.
	h.at(91*day, func() { atDeadline = h.update(workflows.UpdateReopen, req) })

	final, err := h.run(validOrder())
	require.NoError(t, err)

	require.False(t, early.accepted)
	require.ErrorContains(t, early.rejected, "has not been closed yet")
	require.False(t, invalid.accepted)
	require.ErrorContains(t, invalid.rejected, "requestedBy: is required")
	require.ErrorContains(t, invalid.rejected, "reason: is required")
	require.NotNil(t, atDeadline)
	require.False(t, atDeadline.accepted)
	require.Error(t, atDeadline.rejected)
	require.Regexp(t, "closed for good|post-closure period .* ended", atDeadline.rejected.Error())

	// A rejection leaves nothing behind: no timeline entry, no message stored.
	require.Equal(t, order.StagePermanentlyClosed, final.Stage)
	require.Len(t, final.Timeline, 3)
	require.Equal(t, before.Timeline, final.Timeline[:1])
	require.Len(t, h.storedTimeline("ORD-4821-3307"), 3)
}

func TestUnlinkSignalSentEarlyAndTwice(t *testing.T) {
	h := newHarness(t, nil)
	completedAt := startTime.Add(-2 * time.Minute) // within clock skew of the order's start
	first := unlink()
	first.CompletedAt = completedAt.Format(time.RFC3339)
	// Delivered with the start, before the workflow reaches its wait.
	h.at(0, func() { h.env.SignalWorkflow(workflows.SignalUnlinkCompleted, first) })
	second := workflows.UnlinkCompleted{CompletedBy: "ops.kim@example.com", Reference: "OPS-9999"}
	h.at(3*day, func() { h.env.SignalWorkflow(workflows.SignalUnlinkCompleted, second) })
	var afterDuplicate workflows.Status
	h.at(3*day+time.Minute, func() { afterDuplicate = h.query() })

	final, err := h.run(validOrder())
	require.NoError(t, err)

	deadline := completedAt.Add(90 * day)
	// The reported close time decides the deadline; the duplicate changed nothing.
	require.Equal(t, completedAt, afterDuplicate.ClosedAt.UTC())
	require.Equal(t, deadline, afterDuplicate.ReopenDeadline.UTC())
	require.Len(t, afterDuplicate.Timeline, 2)
	require.Equal(t, deadline, h.env.Now().UTC())
	require.Equal(t, order.StagePermanentlyClosed, final.Stage)
	require.Equal(t, []order.Stage{order.StageAwaitingUnlink, order.StagePostClosure, order.StagePermanentlyClosed},
		stages(h.storedTimeline("ORD-4821-3307")))
}

func TestInvalidUnlinkSignalIsIgnored(t *testing.T) {
	h := newHarness(t, nil)
	var afterInvalid workflows.Status
	h.at(time.Hour, func() {
		h.env.SignalWorkflow(workflows.SignalUnlinkCompleted, workflows.UnlinkCompleted{CompletedBy: "ops", CompletedAt: "yesterday"})
	})
	h.at(2*time.Hour, func() { afterInvalid = h.query() })
	h.at(day, func() { h.env.SignalWorkflow(workflows.SignalUnlinkCompleted, unlink()) })

	final, err := h.run(validOrder())
	require.NoError(t, err)
	require.Equal(t, order.StageAwaitingUnlink, afterInvalid.Stage)
	require.Equal(t, startTime.Add(day), final.ClosedAt.UTC())
}

func TestCancelBeforeUnlink(t *testing.T) {
	h := newHarness(t, nil)
	var cancel *updateOutcome
	h.at(2*time.Hour, func() {
		cancel = h.update(workflows.UpdateCancel, workflows.CancelRequest{RequestedBy: "jane.doe@example.com", Reason: "Keeping the account"})
	})

	final, err := h.run(validOrder())
	require.NoError(t, err)
	require.True(t, cancel.accepted)
	require.NoError(t, cancel.err)
	require.Equal(t, order.StageCancelled, cancel.result.Stage)
	require.Equal(t, order.StageCancelled, final.Stage)
	require.Equal(t, order.OrderStatusFailed, final.OrderStatus)
	require.Contains(t, final.StatusMessage, "was cancelled on 26 November 2099, 11:00:00 UTC at the request of jane.doe@example.com (Keeping the account)")
	require.Equal(t, startTime.Add(2*time.Hour), h.env.Now().UTC())
	require.Equal(t, []order.Stage{order.StageAwaitingUnlink, order.StageCancelled}, stages(h.storedTimeline("ORD-4821-3307")))
	stage, _ := h.upserts[len(h.upserts)-1].GetKeyword(workflows.StageKey)
	require.Equal(t, string(order.StageCancelled), stage)
}

func TestCancelAfterUnlinkIsRejected(t *testing.T) {
	h := newHarness(t, nil)
	var cancel *updateOutcome
	h.at(time.Hour, func() { h.env.SignalWorkflow(workflows.SignalUnlinkCompleted, unlink()) })
	h.at(2*time.Hour, func() {
		cancel = h.update(workflows.UpdateCancel, workflows.CancelRequest{RequestedBy: "jane.doe@example.com", Reason: "Too late?"})
	})

	final, err := h.run(validOrder())
	require.NoError(t, err)
	require.False(t, cancel.accepted)
	require.ErrorContains(t, cancel.rejected, "already unlinked and closed on 26 November 2099, 10:00:00 UTC")
	require.ErrorContains(t, cancel.rejected, "reopen the account before 24 February 2100, 10:00:00 UTC")
	require.Equal(t, order.StagePermanentlyClosed, final.Stage)
}

func TestInvalidInputFailsTheOrder(t *testing.T) {
	tests := []struct {
		name  string
		input any
		field string
	}{
		{"account ID too short", func() workflows.Order { o := validOrder(); o.AccountID = "12345"; return o }(), "accountId: must be a 12-digit AWS account ID"},
		{"other termination type", func() workflows.Order { o := validOrder(); o.TerminationType = "Downsize"; return o }(), `terminationType: must be "CloseAccount"`},
		{"quantity not zero", func() workflows.Order { o := validOrder(); o.Items[0].Quantity = 2; return o }(), "items[0].quantity: must be 0"},
		{"no items", func() workflows.Order { o := validOrder(); o.Items = nil; return o }(), "items: must list at least one item"},
		{"bad submittedAt", func() workflows.Order { o := validOrder(); o.SubmittedAt = "26/11/2026"; return o }(), "submittedAt: must be an RFC 3339 time"},
		{"account ID as a number", json.RawMessage(`{"orderId":"ORD-4821-3307","subscriptionId":"SUB-1","accountId":123456789012,
			"terminationType":"CloseAccount","items":[{"itemId":"ITM-1","quantity":0}],"requestedBy":"jane"}`), "accountId: must be a JSON string"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, nil)
			_, err := h.run(tc.input)
			var appErr *temporal.ApplicationError
			require.True(t, errors.As(err, &appErr), "want an application error, got %v", err)
			require.Equal(t, workflows.ErrTypeInvalidOrder, appErr.Type())
			require.True(t, appErr.NonRetryable())
			require.Contains(t, appErr.Error(), tc.field)

			status := h.query()
			require.Equal(t, order.StageFailed, status.Stage)
			require.Equal(t, order.OrderStatusFailed, status.OrderStatus)
			require.Contains(t, status.StatusMessage, "could not be processed")
			require.Contains(t, status.StatusMessage, tc.field)
			stored := h.storedTimeline("ORD-4821-3307")
			require.Len(t, stored, 1)
			require.Equal(t, status.StatusMessage, stored[0].Text)
			stage, _ := h.upserts[0].GetKeyword(workflows.StageKey)
			require.Equal(t, string(order.StageFailed), stage)
		})
	}
}

func TestPerOrderReopenWindow(t *testing.T) {
	h := newHarness(t, nil)
	o := validOrder()
	o.ReopenWindowSeconds = 30
	h.at(time.Minute, func() { h.env.SignalWorkflow(workflows.SignalUnlinkCompleted, unlink()) })
	final, err := h.run(o)
	require.NoError(t, err)
	require.Equal(t, startTime.Add(time.Minute+30*time.Second), final.ReopenDeadline.UTC())
	require.Equal(t, final.ReopenDeadline.UTC(), h.env.Now().UTC())
	require.Equal(t, order.StagePermanentlyClosed, final.Stage)
}

// flakyStore stores the message and then reports a failure, once per message:
// the write landed but the activity timed out, so it is retried.
type flakyStore struct {
	real     *store.Store
	mu       sync.Mutex
	failed   map[int]bool
	attempts int
}

func (f *flakyStore) Record(ctx context.Context, m store.Message) (bool, error) {
	inserted, err := f.real.Record(ctx, m)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.attempts++
	if err == nil && !f.failed[m.Seq] {
		f.failed[m.Seq] = true
		return false, errors.New("context deadline exceeded after commit")
	}
	return inserted, err
}

func (f *flakyStore) PriorLife(ctx context.Context, orderID, runKey string) (store.Message, bool, error) {
	return f.real.PriorLife(ctx, orderID, runKey)
}

func (f *flakyStore) Message(ctx context.Context, orderID, runKey string, seq int) (store.Message, error) {
	return f.real.Message(ctx, orderID, runKey, seq)
}

func (f *flakyStore) Claim(ctx context.Context, c order.Claim) error { return f.real.Claim(ctx, c) }

func (f *flakyStore) ReleaseAbandoned(ctx context.Context, c order.Claim, at time.Time) (bool, error) {
	return f.real.ReleaseAbandoned(ctx, c, at)
}

func TestRetriedStatusWriteStoresOnce(t *testing.T) {
	flaky := &flakyStore{failed: map[int]bool{}}
	h := newHarness(t, flaky)
	flaky.real = h.store
	h.at(day, func() { h.env.SignalWorkflow(workflows.SignalUnlinkCompleted, unlink()) })
	final, err := h.run(validOrder())
	require.NoError(t, err)
	require.Equal(t, order.StagePermanentlyClosed, final.Stage)
	require.Equal(t, 6, flaky.attempts, "each of the three writes failed once and was retried")
	stored := h.storedTimeline("ORD-4821-3307")
	require.Equal(t, []order.Stage{order.StageAwaitingUnlink, order.StagePostClosure, order.StagePermanentlyClosed}, stages(stored))
	for _, m := range stored {
		require.False(t, strings.Contains(m.Text, "\x00"))
	}
}

// downStore fails every write until it has failed `outage` times: a store outage
// that outlasts the local activity's minute of retries.
type downStore struct {
	real     *store.Store
	mu       sync.Mutex
	outage   int
	failures int
}

func (d *downStore) Record(ctx context.Context, m store.Message) (bool, error) {
	d.mu.Lock()
	if d.failures < d.outage {
		d.failures++
		d.mu.Unlock()
		return false, errors.New("connection refused")
	}
	d.mu.Unlock()
	return d.real.Record(ctx, m)
}

func (d *downStore) PriorLife(ctx context.Context, orderID, runKey string) (store.Message, bool, error) {
	return d.real.PriorLife(ctx, orderID, runKey)
}

func (d *downStore) Message(ctx context.Context, orderID, runKey string, seq int) (store.Message, error) {
	return d.real.Message(ctx, orderID, runKey, seq)
}

func (d *downStore) Claim(ctx context.Context, c order.Claim) error { return d.real.Claim(ctx, c) }

func (d *downStore) ReleaseAbandoned(ctx context.Context, c order.Claim, at time.Time) (bool, error) {
	return d.real.ReleaseAbandoned(ctx, c, at)
}

func TestStoreOutageFallsBackToRegularActivity(t *testing.T) {
	down := &downStore{outage: 12}
	h := newHarness(t, down)
	down.real = h.store
	var activityAttempts int
	h.env.SetOnActivityStartedListener(func(*activity.Info, context.Context, converter.EncodedValues) { activityAttempts++ })
	h.at(day, func() { h.env.SignalWorkflow(workflows.SignalUnlinkCompleted, unlink()) })

	final, err := h.run(validOrder())
	require.NoError(t, err)
	require.Equal(t, order.StagePermanentlyClosed, final.Stage)
	require.Equal(t, 12, down.failures)
	require.Positive(t, activityAttempts, "the write outlived the local activity and went to a regular activity")
	require.Equal(t, []order.Stage{order.StageAwaitingUnlink, order.StagePostClosure, order.StagePermanentlyClosed},
		stages(h.storedTimeline("ORD-4821-3307")))
}

func TestCancelSentWithTheStart(t *testing.T) {
	h := newHarness(t, nil)
	var cancel *updateOutcome
	h.at(0, func() {
		cancel = h.update(workflows.UpdateCancel, workflows.CancelRequest{RequestedBy: "backend", Reason: "Placed by mistake"})
	})
	final, err := h.run(validOrder())
	require.NoError(t, err)
	require.True(t, cancel.accepted, "rejected: %v", cancel.rejected)
	require.Equal(t, order.StageCancelled, final.Stage)
	require.Equal(t, []order.Stage{order.StageAwaitingUnlink, order.StageCancelled}, stages(h.storedTimeline("ORD-4821-3307")))
}

func TestWorkerPolicyDecidesTheWindow(t *testing.T) {
	h := newHarnessWithPolicy(t, nil, 10*day)
	// Reported with the start, before the order is accepted: it waits for the policy.
	h.at(0, func() { h.env.SignalWorkflow(workflows.SignalUnlinkCompleted, unlink()) })
	final, err := h.run(validOrder())
	require.NoError(t, err)
	require.Equal(t, startTime, final.ClosedAt.UTC())
	require.Equal(t, startTime.Add(10*day), final.ReopenDeadline.UTC())
	require.Equal(t, startTime.Add(10*day), h.env.Now().UTC())

	// An order's own window wins over the worker's.
	h = newHarnessWithPolicy(t, nil, 10*day)
	o := validOrder()
	o.ReopenWindowSeconds = 3600
	h.at(time.Minute, func() { h.env.SignalWorkflow(workflows.SignalUnlinkCompleted, unlink()) })
	final, err = h.run(o)
	require.NoError(t, err)
	require.Equal(t, startTime.Add(time.Minute+time.Hour), final.ReopenDeadline.UTC())
}

// Operations' report is acted on at once, even while the status store is down:
// a cancel that comes after it is refused.
func TestUnlinkIsNotHeldUpByAStoreOutage(t *testing.T) {
	down := &downStore{outage: 5}
	h := newHarness(t, down)
	down.real = h.store
	var cancel *updateOutcome
	var afterUnlink workflows.Status
	h.at(time.Second, func() { h.env.SignalWorkflow(workflows.SignalUnlinkCompleted, unlink()) })
	h.at(3*time.Second, func() {
		afterUnlink = h.query()
		cancel = h.update(workflows.UpdateCancel, workflows.CancelRequest{RequestedBy: "jane", Reason: "changed my mind"})
	})
	final, err := h.run(validOrder())
	require.NoError(t, err)
	require.Equal(t, order.StagePostClosure, afterUnlink.Stage)
	require.False(t, cancel.accepted)
	require.ErrorContains(t, cancel.rejected, "already unlinked and closed")
	require.Equal(t, order.StagePermanentlyClosed, final.Stage)
}

func TestUnlinkBeforeTheOrderIsIgnored(t *testing.T) {
	h := newHarness(t, nil)
	typo := unlink()
	typo.CompletedAt = "2097-11-26T09:00:00Z" // two years before the order
	var afterTypo workflows.Status
	h.at(time.Hour, func() { h.env.SignalWorkflow(workflows.SignalUnlinkCompleted, typo) })
	h.at(2*time.Hour, func() { afterTypo = h.query() })
	h.at(day, func() { h.env.SignalWorkflow(workflows.SignalUnlinkCompleted, unlink()) })
	final, err := h.run(validOrder())
	require.NoError(t, err)
	require.Equal(t, order.StageAwaitingUnlink, afterTypo.Stage, "a close time before the order was placed is refused")
	require.Equal(t, startTime.Add(day), final.ClosedAt.UTC())
	require.Equal(t, startTime.Add(91*day), final.ReopenDeadline.UTC())
}

func TestOrderMustRunUnderItsOwnWorkflowID(t *testing.T) {
	h := newHarness(t, nil)
	h.env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: "something-else"})
	_, err := h.run(validOrder())
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(err, &appErr), "got %v", err)
	require.Equal(t, workflows.ErrTypeInvalidOrder, appErr.Type())
	require.Contains(t, appErr.Error(), `orderId: must match the workflow ID: order "ORD-4821-3307" runs as "termination-ORD-4821-3307"`)
}

// Input that failed validation is never indexed: a huge or odd value must not
// make the server refuse the upsert and terminate the workflow.
func TestFailedOrderIndexesOnlyItsStage(t *testing.T) {
	h := newHarness(t, nil)
	o := validOrder()
	o.SubscriptionID = strings.Repeat("S", 5000)
	_, err := h.run(o)
	require.ErrorContains(t, err, "subscriptionId: must be at most 100 characters")
	require.Len(t, h.upserts, 1)
	stage, _ := h.upserts[0].GetKeyword(workflows.StageKey)
	require.Equal(t, string(order.StageFailed), stage)
	require.Equal(t, 1, h.upserts[0].Size(), "only the stage is indexed")
	require.Less(t, len(h.query().StatusMessage), 1000)
}

// The Web UI's "Request Cancellation" before the unlink cancels the order.
func TestTemporalCancelBeforeUnlinkCancelsTheOrder(t *testing.T) {
	h := newHarness(t, nil)
	h.at(time.Hour, func() { h.env.CancelWorkflow() })
	h.env.ExecuteWorkflow(workflows.WorkflowType, validOrder())
	require.True(t, h.env.IsWorkflowCompleted())
	require.True(t, temporal.IsCanceledError(h.env.GetWorkflowError()), "got %v", h.env.GetWorkflowError())
	status := h.query()
	require.Equal(t, order.StageCancelled, status.Stage)
	require.Contains(t, status.StatusMessage, "at the request of Operations (cancel request in Temporal)")
	require.Equal(t, []order.Stage{order.StageAwaitingUnlink, order.StageCancelled}, stages(h.storedTimeline("ORD-4821-3307")))
}

// After the unlink the account is closed: a Temporal cancel request must not
// abandon its reopen window, nor stop a reopen.
func TestTemporalCancelAfterUnlinkIsIgnored(t *testing.T) {
	h := newHarness(t, nil)
	var reopen *updateOutcome
	h.at(time.Hour, func() { h.env.SignalWorkflow(workflows.SignalUnlinkCompleted, unlink()) })
	h.at(2*time.Hour, func() { h.env.CancelWorkflow() })
	h.at(10*day, func() {
		reopen = h.update(workflows.UpdateReopen, workflows.ReopenRequest{RequestedBy: "jane", Reason: "still needed"})
	})
	final, err := h.run(validOrder())
	require.NoError(t, err)
	require.True(t, reopen.accepted, "rejected: %v", reopen.rejected)
	require.Equal(t, order.StageReopened, final.Stage)
	require.Equal(t, []order.Stage{order.StageAwaitingUnlink, order.StagePostClosure, order.StageReopened},
		stages(h.storedTimeline("ORD-4821-3307")))

	h = newHarness(t, nil)
	h.at(time.Hour, func() { h.env.SignalWorkflow(workflows.SignalUnlinkCompleted, unlink()) })
	h.at(2*time.Hour, func() { h.env.CancelWorkflow() })
	final, err = h.run(validOrder())
	require.NoError(t, err)
	require.Equal(t, order.StagePermanentlyClosed, final.Stage)
	require.Equal(t, startTime.Add(time.Hour+90*day), h.env.Now().UTC(), "closed for good at the deadline")
}
