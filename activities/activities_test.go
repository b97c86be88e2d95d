package activities_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/cloudmarket/termination-orders/activities"
	"github.com/cloudmarket/termination-orders/notify"
	"github.com/cloudmarket/termination-orders/order"
	"github.com/cloudmarket/termination-orders/store"
)

func newStore(t *testing.T) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "status.db"))
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

func change(seq int, stage order.Stage) activities.StatusChange {
	return activities.StatusChange{OrderID: "ORD-1", RunKey: "run-1", Entry: order.TimelineEntry{
		Seq: seq, Time: time.Date(2026, 11, 26, 14, 0, seq, 0, time.UTC), Stage: stage, Message: "message " + string(stage),
	}}
}

func newActivityEnv(st activities.StatusStore) *testsuite.TestActivityEnvironment {
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	activities.Register(env, &activities.Activities{Store: st})
	return env
}

func TestRecordStatusStoresTheMessage(t *testing.T) {
	st := newStore(t)
	env := newActivityEnv(st)
	_, err := env.ExecuteActivity(activities.RecordStatusName, change(1, order.StageAwaitingUnlink))
	require.NoError(t, err)
	_, err = env.ExecuteActivity(activities.RecordStatusName, change(2, order.StagePostClosure))
	require.NoError(t, err)

	latest, err := st.Latest(context.Background(), "ORD-1")
	require.NoError(t, err)
	require.Equal(t, "message PostClosure", latest.Text)
	require.Equal(t, order.OrderStatusCompleted, latest.OrderStatus, "the order status is derived from the stage")
	require.Equal(t, "run-1", latest.RunID, "the order's life is part of the idempotency key")
}

func TestRetriedRecordStatusStoresOnce(t *testing.T) {
	st := newStore(t)
	env := newActivityEnv(st)
	// The same attempt delivered twice: the first write landed, its reply was lost.
	for range 3 {
		_, err := env.ExecuteActivity(activities.RecordStatusName, change(1, order.StageAwaitingUnlink))
		require.NoError(t, err)
	}
	msgs, err := st.Timeline(context.Background(), "ORD-1")
	require.NoError(t, err)
	require.Len(t, msgs, 1)
}

// A step decided again later (its first workflow task never completed) gets
// the message the store kept, so the order can show that one time.
func TestRecordStatusAgainReturnsTheStoredMessage(t *testing.T) {
	st := newStore(t)
	env := newActivityEnv(st)
	first := change(1, order.StageAwaitingUnlink)
	_, err := env.ExecuteActivity(activities.RecordStatusName, first)
	require.NoError(t, err)

	same, err := env.ExecuteActivity(activities.RecordStatusName, first)
	require.NoError(t, err)
	var rec activities.Recorded
	require.NoError(t, same.Get(&rec))
	require.Nil(t, rec.Stored, "a retry of the same decision changes nothing")

	later := first
	later.Entry.Time = first.Entry.Time.Add(10 * time.Second)
	again, err := env.ExecuteActivity(activities.RecordStatusName, later)
	require.NoError(t, err)
	require.NoError(t, again.Get(&rec))
	require.NotNil(t, rec.Stored)
	require.True(t, rec.Stored.Time.Equal(first.Entry.Time), "the first write's time, got %s", rec.Stored.Time)
	require.Equal(t, first.Entry.Message, rec.Stored.Message)
	require.Equal(t, 1, rec.Stored.Seq)

	msgs, err := st.Timeline(context.Background(), "ORD-1")
	require.NoError(t, err)
	require.Len(t, msgs, 1)
	require.True(t, msgs[0].OccurredAt.Equal(first.Entry.Time), "the store keeps its first write")
}

func TestInvalidMessageIsNotRetried(t *testing.T) {
	env := newActivityEnv(newStore(t))
	bad := change(0, order.Stage("Closed"))
	_, err := env.ExecuteActivity(activities.RecordStatusName, bad)
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(err, &appErr), "got %v", err)
	require.Equal(t, activities.ErrTypeInvalidStatusMessage, appErr.Type())
	require.True(t, appErr.NonRetryable())
	require.Contains(t, appErr.Error(), "invalid status message")
	require.Contains(t, appErr.Error(), "Seq must be at least 1")
	require.Contains(t, appErr.Error(), `Stage "Closed" is not a known stage`)
}

type brokenStore struct{}

func (brokenStore) Record(context.Context, store.Message) (bool, error) {
	return false, errors.New("dial tcp 10.0.0.5:5432: connection refused")
}

func (brokenStore) PriorLife(context.Context, string, string) (store.Message, bool, error) {
	return store.Message{}, false, errors.New("dial tcp 10.0.0.5:5432: connection refused")
}

func (brokenStore) Message(context.Context, string, string, int) (store.Message, error) {
	return store.Message{}, errors.New("dial tcp 10.0.0.5:5432: connection refused")
}

func (brokenStore) Claim(context.Context, order.Claim) error {
	return errors.New("dial tcp 10.0.0.5:5432: connection refused")
}

func (brokenStore) ReleaseAbandoned(context.Context, order.Claim, time.Time) (bool, error) {
	return false, errors.New("dial tcp 10.0.0.5:5432: connection refused")
}

func TestStoreOutageIsRetryable(t *testing.T) {
	env := newActivityEnv(brokenStore{})
	_, err := env.ExecuteActivity(activities.RecordStatusName, change(1, order.StageAwaitingUnlink))
	require.Error(t, err)
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		require.False(t, appErr.NonRetryable(), "a store outage must be retried")
	}
}

// busyTarget answers its first send as a receiver that is busy for a while
// ("503, Retry-After: 30"), then accepts.
type busyTarget struct {
	mu    sync.Mutex
	sends int
}

func (b *busyTarget) Name() string { return "marketplace.webhook[0]" }

func (b *busyTarget) Send(context.Context, notify.Notice) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sends++
	if b.sends == 1 {
		return &notify.DeliveryError{Target: b.Name(), StatusCode: 503, RetryAfter: 30 * time.Second, Err: errors.New("HTTP 503")}
	}
	return nil
}

func (b *busyTarget) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sends
}

type oneTarget struct{ t notify.Target }

func (o oneTarget) Targets(a notify.Audience) []notify.Target {
	if a == notify.Marketplace {
		return []notify.Target{o.t}
	}
	return nil
}

func (o oneTarget) Target(a notify.Audience, name string) (notify.Target, bool) {
	return o.t, a == notify.Marketplace && name == o.t.Name()
}

// The Retry-After a target gave the first attempt holds for the Deliver
// activity the workflow starts at once: it waits without sending.
func TestDeliverWaitsForTheRetryAfterOfTheFirstAttempt(t *testing.T) {
	now := time.Date(2026, 11, 26, 14, 0, 0, 0, time.UTC)
	target := &busyTarget{}
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	activities.Register(env, &activities.Activities{Notifier: oneTarget{target}, Now: func() time.Time { return now }})

	entry := order.TimelineEntry{Seq: 1, Time: now, Stage: order.StageAwaitingUnlink, Message: "submitted"}
	v, err := env.ExecuteActivity(activities.NotifyName, activities.NotifyInput{
		Subject:       activities.Subject{Order: order.Order{OrderID: "ORD-1"}, RunKey: "run"},
		Announcements: []activities.Announcement{{Kind: order.NoticeStatus, Entry: &entry}},
	})
	require.NoError(t, err)
	var sent activities.Sent
	require.NoError(t, v.Get(&sent))
	require.Len(t, sent.Undelivered, 1)
	d := sent.Undelivered[0]
	require.Equal(t, now.Add(30*time.Second), d.NotBefore)

	now = now.Add(time.Second)
	_, err = env.ExecuteActivity(activities.DeliverName, d)
	var appErr *temporal.ApplicationError
	require.ErrorAs(t, err, &appErr)
	require.Equal(t, activities.ErrTypeDeliveryFailed, appErr.Type())
	require.False(t, appErr.NonRetryable())
	require.Equal(t, 29*time.Second, appErr.NextRetryDelay())
	require.Equal(t, 1, target.count(), "nothing sent before the time the target asked for")

	now = now.Add(29 * time.Second)
	_, err = env.ExecuteActivity(activities.DeliverName, d)
	require.NoError(t, err)
	require.Equal(t, 2, target.count())
}

// priorities records the priority changes asked for, failing if told to.
type priorities struct {
	mu   sync.Mutex
	set  []string
	fail error
}

func (p *priorities) SetPriority(_ context.Context, _, workflowID, _ string, key int) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.set = append(p.set, fmt.Sprintf("%s=%d", workflowID, key))
	return p.fail
}

// The message that the order rests in its reopen window lowers its task
// priority; no other message does, and a priority Temporal refuses costs the
// message nothing: the priority only orders the server's queues.
func TestPostClosureMessageLowersTheOrdersPriority(t *testing.T) {
	for _, fail := range []error{nil, errors.New("frontend unavailable")} {
		st := newStore(t)
		p := &priorities{fail: fail}
		var suite testsuite.WorkflowTestSuite
		env := suite.NewTestActivityEnvironment()
		activities.Register(env, &activities.Activities{Store: st, Priorities: p})
		for seq, stage := range []order.Stage{order.StageAwaitingUnlink, order.StagePostClosure} {
			_, err := env.ExecuteActivity(activities.RecordStatusName, change(seq+1, stage))
			require.NoError(t, err, "failing: %v", fail)
		}
		require.Len(t, p.set, 1, "only the PostClosure message")
		require.Contains(t, p.set[0], fmt.Sprintf("=%d", activities.PriorityResting))
		msgs, err := st.Timeline(context.Background(), "ORD-1")
		require.NoError(t, err)
		require.Len(t, msgs, 2)
	}
}
