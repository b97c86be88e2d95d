package logging_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/testsuite"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/cloudmarket/termination-orders/activities"
	"github.com/cloudmarket/termination-orders/logging"
	"github.com/cloudmarket/termination-orders/order"
	"github.com/cloudmarket/termination-orders/store"
	"github.com/cloudmarket/termination-orders/workflows"
)

func TestNewHonoursLevelAndFormat(t *testing.T) {
	for _, format := range []string{"json", "console"} {
		z, err := logging.New(logging.Options{Level: "warn", Format: format})
		require.NoError(t, err)
		require.False(t, z.Core().Enabled(zapcore.InfoLevel))
		require.True(t, z.Core().Enabled(zapcore.WarnLevel))
	}
	_, err := logging.New(logging.Options{Level: "loud", Format: "json"})
	require.Error(t, err)
}

// The workflow's and activities' own lines reach zap as structured fields
// naming the order. (The SDK's test environment does not add WorkflowID to
// workflow lines as a real worker does; worker/worker_test.go checks both on a
// real server.)
func TestWorkflowLinesCarryOrderAndWorkflowIDs(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	var suite testsuite.WorkflowTestSuite
	suite.SetLogger(logging.ForTemporal(zap.New(core)))
	env := suite.NewTestWorkflowEnvironment()
	env.SetStartTime(time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)) // see workflows tests: local activity deadlines
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: "termination-ORD-LOG"})
	st, err := store.Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "s.db"))
	require.NoError(t, err)
	defer st.Close()
	workflows.Register(env)
	activities.Register(env, &activities.Activities{Store: st})
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(workflows.SignalUnlinkCompleted, order.UnlinkCompleted{CompletedBy: "ops", Reference: "OPS-1"})
	}, time.Hour)
	env.ExecuteWorkflow(workflows.WorkflowType, order.Order{
		OrderID: "ORD-LOG", SubscriptionID: "SUB-1", AccountID: "123456789012", TerminationType: order.TerminationTypeCloseAccount,
		Items: []order.Item{{ItemID: "I"}}, RequestedBy: "jane", ReopenWindowSeconds: 60,
	})
	require.NoError(t, env.GetWorkflowError())

	ours := map[string]bool{"Account unlinked and closed": false, "Status message stored": false, "Termination order finished": false}
	for _, e := range logs.All() {
		if _, wanted := ours[e.Message]; !wanted {
			continue
		}
		ours[e.Message] = true
		fields := e.ContextMap()
		require.Equal(t, "ORD-LOG", fields["OrderID"], "line %q lacks OrderID: %v", e.Message, fields)
	}
	for msg, seen := range ours {
		require.True(t, seen, "no %q line logged", msg)
	}
}

func TestSDKLinesGetTheOrderID(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	sdk := logging.ForTemporal(zap.New(core))
	sdk.Debug("NewTimer", "WorkflowID", "termination-ORD-9", "TimerID", "10")
	sdk.Info("Status message stored", "WorkflowID", "termination-ORD-9", "OrderID", "ORD-9")
	other := logging.ForTemporal(zap.New(core))
	other.Info("Started Worker", "TaskQueue", "termination-orders")
	other.Info("Unrelated workflow", "WorkflowID", "payments-1")

	entries := logs.All()
	require.Len(t, entries, 4)
	require.Equal(t, "ORD-9", entries[0].ContextMap()["OrderID"], "derived from the workflow ID")
	orderFields := 0
	for _, f := range entries[1].Context {
		if f.Key == "OrderID" {
			orderFields++
		}
	}
	require.Equal(t, 1, orderFields, "no duplicate OrderID when the line has one")
	require.NotContains(t, entries[2].ContextMap(), "OrderID")
	require.NotContains(t, entries[3].ContextMap(), "OrderID")
}
