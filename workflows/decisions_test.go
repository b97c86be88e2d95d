package workflows_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/cloudmarket/termination-orders/activities"
	"github.com/cloudmarket/termination-orders/order"
	"github.com/cloudmarket/termination-orders/store"
	"github.com/cloudmarket/termination-orders/workflows"
)

// The tests of version 2's decisions: the edges where a caller could be told
// something false about an account.

func cancelRequest(id string) workflows.CancelRequest {
	return workflows.CancelRequest{RequestedBy: "jane.doe@example.com", Reason: "Keeping the account", RequestID: id}
}

func refusalType(t *testing.T, err error) string {
	t.Helper()
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(err, &appErr), "want an application error, got %v", err)
	return appErr.Type()
}

// An unlink signal and a cancel that reach the order in the same workflow
// task are decided in the order the server recorded them: the signal first.
// The cancel's caller is told it was refused, and why.
func TestUnlinkSignalThenCancelAtTheSameMoment(t *testing.T) {
	h := newHarness(t, nil)
	var cancel *updateOutcome
	h.at(time.Hour, func() {
		h.env.SignalWorkflow(workflows.SignalUnlinkCompleted, unlink())
		cancel = h.update(workflows.UpdateCancel, cancelRequest("C-1"))
	})
	final, err := h.run(validOrder())
	require.NoError(t, err)
	require.Equal(t, order.StagePermanentlyClosed, final.Stage, "Operations closed the account: it must not end Cancelled")
	refused := cancel.rejected
	if refused == nil {
		refused = cancel.err // accepted while the signal was pending, refused once decided
	}
	require.Error(t, refused, "the cancel's caller must not be told it succeeded")
	require.Equal(t, string(order.RefusedByStage), refusalType(t, refused))
	require.ErrorContains(t, refused, "already unlinked and closed")
	require.Equal(t, []order.Stage{order.StageAwaitingUnlink, order.StagePostClosure, order.StagePermanentlyClosed},
		stages(h.storedTimeline("ORD-4821-3307")))
}

// The other order: a cancel recorded before the signal wins, and the signal
// changes nothing.
func TestCancelThenUnlinkSignalAtTheSameMoment(t *testing.T) {
	h := newHarness(t, nil)
	var cancel *updateOutcome
	h.at(time.Hour, func() {
		cancel = h.update(workflows.UpdateCancel, cancelRequest("C-1"))
		h.env.SignalWorkflow(workflows.SignalUnlinkCompleted, unlink())
	})
	final, err := h.run(validOrder())
	require.NoError(t, err)
	require.NoError(t, cancel.rejected)
	require.NoError(t, cancel.err)
	require.Equal(t, order.StageCancelled, cancel.result.Stage)
	require.Equal(t, order.StageCancelled, final.Stage)
	require.True(t, final.ClosedAt.IsZero())
}

// Operations' confirmation as an update answers with the deadline; a retry
// with the same request ID gets the original answer, another report is told
// the account was already unlinked.
func TestConfirmUnlinkUpdateAnswers(t *testing.T) {
	h := newHarness(t, nil)
	report := unlink()
	report.RequestID = "U-1"
	report.CompletedAt = startTime.Add(30 * time.Minute).Format(time.RFC3339)
	var first, retry, other, cancel *updateOutcome
	h.at(time.Hour, func() { first = h.update(workflows.UpdateConfirmUnlink, report) })
	h.at(2*time.Hour, func() { retry = h.update(workflows.UpdateConfirmUnlink, report) })
	h.at(3*time.Hour, func() {
		again := unlink()
		again.RequestID = "U-2"
		other = h.update(workflows.UpdateConfirmUnlink, again)
		cancel = h.update(workflows.UpdateCancel, cancelRequest("U-1"))
	})
	final, err := h.run(validOrder())
	require.NoError(t, err)

	require.NoError(t, first.err)
	closedAt := startTime.Add(30 * time.Minute)
	require.Equal(t, closedAt, first.result.ClosedAt.UTC(), "the report's own close time, not when it was handled")
	require.Equal(t, closedAt.Add(90*day), first.result.ReopenDeadline.UTC())
	require.NoError(t, retry.rejected)
	require.NoError(t, retry.err)
	require.Equal(t, first.result.ReopenDeadline, retry.result.ReopenDeadline)
	require.Equal(t, string(order.RefusedAlreadyUnlinked), refusalType(t, other.rejected))
	require.Equal(t, string(order.RefusedRequestIDReused), refusalType(t, cancel.rejected))
	require.Equal(t, closedAt.Add(90*day), h.env.Now().UTC())
	require.Equal(t, "U-1", final.Timeline[1].RequestID)
}

// Defect: "reopenWindowSeconds": 18446744075 wrapped into a 1.29 s window and
// closed the account for good three seconds after the unlink.
func TestOutOfRangeReopenWindowFailsTheOrder(t *testing.T) {
	h := newHarness(t, nil)
	input := `{"orderId":"ORD-4821-3307","subscriptionId":"SUB-1","accountId":"123456789012","terminationType":"CloseAccount",
		"items":[{"itemId":"ITM-1","quantity":0}],"requestedBy":"jane","reopenWindowSeconds":18446744075}`
	_, err := h.run(rawPayload(input))
	require.Equal(t, workflows.ErrTypeInvalidOrder, refusalType(t, err))
	require.ErrorContains(t, err, "reopenWindowSeconds: must be between 1 and 31536000 seconds when set, got 18446744075")
	require.Equal(t, order.StageFailed, h.query().Stage)
}

// Malformed JSON from a client that is not ours is a Failed order with a
// message naming the problem, on the page of the order its workflow ID names.
func TestMalformedInputFailsTheOrder(t *testing.T) {
	for name, input := range map[string]string{
		"truncated": `{"orderId":"ORD-4821-3307","items":[`,
		"not JSON":  `orderId=ORD-4821-3307`,
		"array":     `[1,2,3]`,
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, nil)
			_, err := h.run(rawPayload(input))
			require.Equal(t, workflows.ErrTypeInvalidOrder, refusalType(t, err))
			status := h.query()
			require.Equal(t, order.StageFailed, status.Stage)
			require.Contains(t, status.StatusMessage, "must be a JSON object")
			stored := h.storedTimeline("ORD-4821-3307")
			require.Len(t, stored, 1)
			require.Equal(t, order.StageFailed, stored[0].Stage)
		})
	}
}

// Defect: a start under workflow ID termination-X with orderId Y wrote
// "Failed" onto Y's page while Y was running.
func TestStartUnderAnotherWorkflowIDNeverWritesToThatOrder(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	_, err := h.store.Record(ctx, store.Message{OrderID: "ORD-Y", RunID: "run-of-y", Seq: 1, Stage: order.StageAwaitingUnlink,
		OrderStatus: order.OrderStatusProcessing, Text: "Y's own message", OccurredAt: startTime.Add(-time.Hour)})
	require.NoError(t, err)
	h.env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: order.WorkflowID("ORD-X")})
	o := validOrder()
	o.OrderID = "ORD-Y"
	_, err = h.run(o)
	require.ErrorContains(t, err, "orderId: must match the workflow ID")
	y := h.storedTimeline("ORD-Y")
	require.Len(t, y, 1, "nothing written for the start landed on Y's page")
	require.Equal(t, "Y's own message", y[0].Text)
}

// A workflow ID that names no order writes nowhere.
func TestStartUnderAForeignWorkflowIDWritesNothing(t *testing.T) {
	h := newHarness(t, nil)
	h.env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: "something-else"})
	_, err := h.run(validOrder())
	require.ErrorContains(t, err, "must match the workflow ID")
	require.Empty(t, h.storedTimeline("ORD-4821-3307"))
}

// Defect: an order terminated in its window, or a start redelivered after
// Temporal's retention, started a second termination of a closed account.
// The store remembers the order: the new run changes nothing.
func TestOrderThatAlreadyLivedIsRefused(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	_, err := h.store.Record(ctx, store.Message{OrderID: "ORD-4821-3307", RunID: "an-earlier-run", Seq: 2, Stage: order.StagePermanentlyClosed,
		OrderStatus: order.OrderStatusCompleted, Text: "closed for good", OccurredAt: startTime.Add(-24 * time.Hour)})
	require.NoError(t, err)
	_, err = h.run(validOrder())
	require.Equal(t, workflows.ErrTypeOrderAlreadyProcessed, refusalType(t, err))
	require.ErrorContains(t, err, "already processed: it reached PermanentlyClosed on 25 November 2099, 09:00:00 UTC")
	require.Len(t, h.storedTimeline("ORD-4821-3307"), 1, "the order's page is untouched")
	require.Equal(t, order.StageFailed, h.query().Stage)
}

// Only a life that failed on invalid input may be followed by another.
func TestOrderMayFollowAFailedLife(t *testing.T) {
	h := newHarness(t, nil)
	_, err := h.store.Record(context.Background(), store.Message{OrderID: "ORD-4821-3307", RunID: "an-earlier-run", Seq: 1, Stage: order.StageFailed,
		OrderStatus: order.OrderStatusFailed, Text: "could not be processed", OccurredAt: startTime.Add(-time.Hour)})
	require.NoError(t, err)
	h.at(time.Hour, func() { h.update(workflows.UpdateCancel, cancelRequest("C-1")) })
	final, err := h.run(validOrder())
	require.NoError(t, err)
	require.Equal(t, order.StageCancelled, final.Stage)
}

// switchableStore is a status store that can be down.
type switchableStore struct {
	real *store.Store
	mu   sync.Mutex
	down bool
}

func (s *switchableStore) setDown(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
}

func (s *switchableStore) isDown() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.down
}

func (s *switchableStore) Record(ctx context.Context, m store.Message) (bool, error) {
	if s.isDown() {
		return false, errors.New("connection refused")
	}
	return s.real.Record(ctx, m)
}

func (s *switchableStore) PriorLife(ctx context.Context, orderID, runKey string) (store.Message, bool, error) {
	if s.isDown() {
		return store.Message{}, false, errors.New("connection refused")
	}
	return s.real.PriorLife(ctx, orderID, runKey)
}

func (s *switchableStore) Message(ctx context.Context, orderID, runKey string, seq int) (store.Message, error) {
	if s.isDown() {
		return store.Message{}, errors.New("connection refused")
	}
	return s.real.Message(ctx, orderID, runKey, seq)
}

func (s *switchableStore) Claim(ctx context.Context, c order.Claim) error {
	if s.isDown() {
		return errors.New("connection refused")
	}
	return s.real.Claim(ctx, c)
}

func (s *switchableStore) ReleaseAbandoned(ctx context.Context, c order.Claim, at time.Time) (bool, error) {
	if s.isDown() {
		return false, errors.New("connection refused")
	}
	return s.real.ReleaseAbandoned(ctx, c, at)
}

// Defect: while a status write retried, updates waited for it and timed out
// although they were applied. An update answers once the decision is made;
// the message is stored when the store is back.
func TestUpdateAnswersWhileTheStoreIsDown(t *testing.T) {
	sw := &switchableStore{}
	h := newHarness(t, sw)
	sw.real = h.store
	var cancel *updateOutcome
	var storedWhenAnswered int
	h.at(time.Hour, func() {
		sw.setDown(true)
		cancel = &updateOutcome{}
		h.env.UpdateWorkflow(workflows.UpdateCancel, "", &updateCallbacks{out: cancel, onComplete: func() {
			storedWhenAnswered = len(h.storedTimeline("ORD-4821-3307"))
		}}, cancelRequest("C-1"))
	})
	// Back before the test environment's ten attempts of the regular activity run out.
	h.at(time.Hour+40*time.Second, func() { sw.setDown(false) })
	final, err := h.run(validOrder())
	require.NoError(t, err)
	require.NoError(t, cancel.err)
	require.Equal(t, order.StageCancelled, cancel.result.Stage)
	require.Equal(t, 1, storedWhenAnswered, "answered before its message could be stored")
	require.Equal(t, order.StageCancelled, final.Stage)
	require.Equal(t, []order.Stage{order.StageAwaitingUnlink, order.StageCancelled}, stages(h.storedTimeline("ORD-4821-3307")))
}

// While the acceptance step waits for the store, the order answers queries
// and requests at once, with the reason, and is accepted when the store is back.
func TestAcceptanceWaitsForTheStoreAndSaysSo(t *testing.T) {
	sw := &switchableStore{down: true}
	h := newHarness(t, sw)
	sw.real = h.store
	var queryErr error
	var early *updateOutcome
	// Once the local acceptance has given up (3 s) and a regular activity retries it.
	h.at(10*time.Second, func() {
		_, queryErr = h.env.QueryWorkflow(workflows.QueryStatus)
		early = h.update(workflows.UpdateCancel, cancelRequest("C-1"))
	})
	h.at(40*time.Second, func() { sw.setDown(false) })
	var later *updateOutcome
	h.at(2*time.Hour, func() { later = h.update(workflows.UpdateCancel, cancelRequest("C-2")) })
	final, err := h.run(validOrder())
	require.NoError(t, err)
	require.ErrorContains(t, queryErr, "still being accepted")
	require.Equal(t, string(order.RefusedNotAcceptedYet), refusalType(t, early.rejected))
	require.NoError(t, later.err)
	require.Equal(t, order.StageCancelled, final.Stage)
	require.Equal(t, "C-2", final.Timeline[1].RequestID)
}

// updateCallbacks records an update's outcome and calls onComplete when it is answered.
type updateCallbacks struct {
	out        *updateOutcome
	onComplete func()
}

func (u *updateCallbacks) Accept()          { u.out.accepted = true }
func (u *updateCallbacks) Reject(err error) { u.out.rejected = err }
func (u *updateCallbacks) Complete(v any, err error) {
	u.out.err = err
	if s, ok := v.(workflows.Status); ok {
		u.out.result = s
	}
	u.onComplete()
}

func rawPayload(data string) converter.RawValue {
	return converter.NewRawValue(&commonpb.Payload{
		Metadata: map[string][]byte{converter.MetadataEncoding: []byte(converter.MetadataEncodingJSON)},
		Data:     []byte(data),
	})
}

// Defect found by the soak: a request held while the order waited for its
// acceptance was refused by its handler, and that refusal became the final
// answer for its update ID, so every retry got it again. It now waits, and is
// applied once the order is accepted.
func TestRequestSentWithTheStartWaitsForTheAcceptance(t *testing.T) {
	sw := &switchableStore{down: true}
	h := newHarness(t, sw)
	sw.real = h.store
	var cancel *updateOutcome
	h.at(0, func() { cancel = h.update(workflows.UpdateCancel, cancelRequest("C-1")) })
	h.at(40*time.Second, func() { sw.setDown(false) })
	final, err := h.run(validOrder())
	require.NoError(t, err)
	require.True(t, cancel.accepted)
	require.NoError(t, cancel.err, "held until the order was accepted, then applied")
	require.Equal(t, order.StageCancelled, cancel.result.Stage)
	require.Equal(t, order.StageCancelled, final.Stage)
}

// Defect found by the soak: the message of a decision made by an update was
// written by a local activity inside the workflow task that made it, so a task
// lost to a crash left on the order's page a message whose decision history
// never kept. Such a message is now written by a regular activity, which the
// server schedules only with the decision; the acceptance's and the timer's
// messages, decided on events already in history, stay local.
func TestMessagesOfUpdatesAreWrittenAfterTheDecisionIsKept(t *testing.T) {
	h := newHarness(t, nil)
	var mu sync.Mutex
	regular := map[order.Stage]int{}
	h.env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, args converter.EncodedValues) {
		if info.ActivityType.Name != activities.RecordStatusName {
			return
		}
		var c activities.StatusChange
		require.NoError(t, args.Get(&c))
		mu.Lock()
		defer mu.Unlock()
		regular[c.Entry.Stage]++
	})
	h.at(time.Hour, func() {
		report := unlink()
		report.CompletedAt = startTime.Add(time.Hour).Format(time.RFC3339)
		h.update(workflows.UpdateConfirmUnlink, report)
	})
	h.at(2*time.Hour, func() {
		h.update(workflows.UpdateReopen, workflows.ReopenRequest{RequestedBy: "jane", Reason: "still needed"})
	})
	final, err := h.run(validOrder())
	require.NoError(t, err)
	require.Equal(t, order.StageReopened, final.Stage)
	require.Equal(t, map[order.Stage]int{order.StagePostClosure: 1, order.StageReopened: 1}, regular,
		"the update-made messages went through regular activities, the accepted order's through a local one")
	require.Equal(t, []order.Stage{order.StageAwaitingUnlink, order.StagePostClosure, order.StageReopened}, stages(h.storedTimeline("ORD-4821-3307")))
}

// Defect found by the soak: a reopen left the reopen-window timer running
// (the SDK's await does not cancel it), and when it fired while the order
// completed, the server failed that workflow task. A reopen now cancels it.
func TestReopenCancelsTheReopenWindowTimer(t *testing.T) {
	h := newHarness(t, nil)
	var cancelled []string
	h.env.SetOnTimerCanceledListener(func(timerID string) { cancelled = append(cancelled, timerID) })
	h.at(time.Hour, func() { h.env.SignalWorkflow(workflows.SignalUnlinkCompleted, unlink()) })
	h.at(2*time.Hour, func() {
		h.update(workflows.UpdateReopen, workflows.ReopenRequest{RequestedBy: "jane", Reason: "still needed"})
	})
	final, err := h.run(validOrder())
	require.NoError(t, err)
	require.Equal(t, order.StageReopened, final.Stage)
	require.Len(t, cancelled, 1, "the window's timer is cancelled with the reopen")
}
