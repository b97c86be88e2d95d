package activities_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/cloudmarket/termination-orders/activities"
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
	return activities.StatusChange{OrderID: "ORD-1", Entry: order.TimelineEntry{
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
	require.NotEmpty(t, latest.RunID, "the workflow run is part of the idempotency key")
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

func TestStoreOutageIsRetryable(t *testing.T) {
	env := newActivityEnv(brokenStore{})
	_, err := env.ExecuteActivity(activities.RecordStatusName, change(1, order.StageAwaitingUnlink))
	require.Error(t, err)
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		require.False(t, appErr.NonRetryable(), "a store outage must be retried")
	}
}
