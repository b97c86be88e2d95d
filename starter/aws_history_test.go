package starter_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cloudmarket/termination-orders/activities"
	"github.com/cloudmarket/termination-orders/awsorg"
	"github.com/cloudmarket/termination-orders/awsorg/emulator"
	"github.com/cloudmarket/termination-orders/order"
	"github.com/cloudmarket/termination-orders/starter"
	"github.com/cloudmarket/termination-orders/workflows"
)

// The AWS Organizations paths' histories, recorded like the others (see
// TestRecordedHistoriesMatchTheWorkflow). The emulator closes nothing by
// itself: each branch sets the account's state once the order has seen the
// state before, and the order asks AWS again only after its check interval,
// so every run makes the same calls.

// awsBranch drives one AWS path of an order's life and returns its run ID.
type awsBranch func(t *testing.T, e *awsEnv, id string) (runID string)

// historyAWSPolicy asks AWS again every two seconds, so that a branch sets
// the account's state well between two checks.
func historyAWSPolicy(mode activities.AWSMode) activities.AWSPolicy {
	return activities.AWSPolicy{Mode: mode, CheckInterval: 2 * time.Second, MaxCheckInterval: 2 * time.Second,
		QuotaWait: 2 * time.Second, CloseTaskQueue: closeQueue}
}

// awaitAWS waits until the order's n-th AWS answer is in and says state.
func awaitAWS(t *testing.T, e *awsEnv, id string, n int, state string) {
	t.Helper()
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		s, err := e.orders.Status(context.Background(), id)
		require.NoError(c, err)
		require.Len(c, s.AWS, n)
		require.Equal(c, state, lastAWS(s).State)
	}, 30*time.Second, 20*time.Millisecond)
}

func setState(t *testing.T, e *awsEnv, acct string, s awsorg.State) {
	t.Helper()
	require.NoError(t, e.em.SetState(acct, s))
}

var verifyBranches = map[string]awsBranch{
	"aws_verify_unlink_refused_then_closed_for_good": func(t *testing.T, e *awsEnv, id string) string {
		acct := e.member(t, id)
		run := start(t, e.env, id)
		_, err := e.orders.ConfirmUnlink(context.Background(), id, unlinkWithID("U-1"))
		require.ErrorIs(t, err, starter.ErrAWSAccountActive)
		setState(t, e, acct, awsorg.StateSuspended)
		require.NoError(t, confirmed(e.orders.ConfirmUnlink(context.Background(), id, unlinkWithID("U-2"))))
		finish(t, e.env, id, run, order.StagePermanentlyClosed)
		return run
	},
	"aws_verify_signal_waits_then_closed_for_good": func(t *testing.T, e *awsEnv, id string) string {
		acct := e.member(t, id)
		run := start(t, e.env, id)
		require.NoError(t, e.temporal.SignalWorkflow(context.Background(), order.WorkflowID(id), "", workflows.SignalUnlinkCompleted, ops()))
		awaitAWS(t, e, id, 1, "ACTIVE")
		setState(t, e, acct, awsorg.StateSuspended)
		finish(t, e.env, id, run, order.StagePermanentlyClosed)
		return run
	},
	"aws_verify_active_at_the_deadline": func(t *testing.T, e *awsEnv, id string) string {
		acct := e.member(t, id)
		run := start(t, e.env, id)
		setState(t, e, acct, awsorg.StateSuspended)
		require.NoError(t, confirmed(e.orders.ConfirmUnlink(context.Background(), id, ops())))
		setState(t, e, acct, awsorg.StateActive)
		final := finish(t, e.env, id, run, order.StageReopened)
		require.Equal(t, "ACTIVE", lastAWS(final).State)
		return run
	},
	"aws_verify_reopen_followed_until_active": func(t *testing.T, e *awsEnv, id string) string {
		acct := e.member(t, id)
		run := start(t, e.env, id)
		setState(t, e, acct, awsorg.StateSuspended)
		require.NoError(t, confirmed(e.orders.ConfirmUnlink(context.Background(), id, ops())))
		waitQuiet(t, e.env, id)
		_, err := e.orders.Reopen(context.Background(), id, order.Request{RequestedBy: "jane.doe@example.com", Reason: "Need it back"})
		require.NoError(t, err)
		awaitAWS(t, e, id, 2, "SUSPENDED")
		setState(t, e, acct, awsorg.StateActive)
		finish(t, e.env, id, run, order.StageReopened)
		return run
	},
}

var closeBranches = map[string]awsBranch{
	"aws_close_closed_for_good": func(t *testing.T, e *awsEnv, id string) string {
		acct := e.member(t, id)
		run := start(t, e.env, id)
		require.NoError(t, confirmed(e.orders.ConfirmUnlink(context.Background(), id, ops())))
		awaitAWS(t, e, id, 2, "PENDING_CLOSURE") // CloseAccount, then the first check
		setState(t, e, acct, awsorg.StateSuspended)
		finish(t, e.env, id, run, order.StagePermanentlyClosed)
		return run
	},
	"aws_close_quota_then_closed_for_good": func(t *testing.T, e *awsEnv, id string) string {
		acct := e.member(t, id)
		run := start(t, e.env, id)
		e.em.SetQuotaExceeded(true)
		require.NoError(t, confirmed(e.orders.ConfirmUnlink(context.Background(), id, ops())))
		awaitAWS(t, e, id, 1, "ACTIVE") // refused for the quota
		e.em.SetQuotaExceeded(false)
		awaitAWS(t, e, id, 3, "PENDING_CLOSURE")
		setState(t, e, acct, awsorg.StateSuspended)
		finish(t, e.env, id, run, order.StagePermanentlyClosed)
		return run
	},
	"aws_close_management_account": func(t *testing.T, e *awsEnv, id string) string {
		mgmt := e.em.ManagementAccountID()
		o := newOrder(id)
		o.AccountID = mgmt
		run, err := e.orders.Start(context.Background(), o)
		require.NoError(t, err)
		e.waitForStage(t, id, order.StageAwaitingUnlink)
		require.NoError(t, confirmed(e.orders.ConfirmUnlink(context.Background(), id, ops())))
		awaitAWS(t, e, id, 2, "ACTIVE") // the management account, then the first check
		setState(t, e, mgmt, awsorg.StateSuspended)
		finish(t, e.env, id, run.RunID, order.StagePermanentlyClosed)
		return run.RunID
	},
}

// TestRecordAWSHistories runs every AWS path on a real server with the
// emulator and checks it against its committed history; with
// TERMINATION_WRITE_HISTORIES=1 it writes the missing ones.
func TestRecordAWSHistories(t *testing.T) {
	for mode, branches := range map[activities.AWSMode]map[string]awsBranch{activities.AWSVerify: verifyBranches, activities.AWSClose: closeBranches} {
		t.Run(string(mode), func(t *testing.T) {
			e := newAWSEnvWith(t, historyAWSPolicy(mode), historyWindow, emulatorHoldingClosures(), nil)
			for name, drive := range branches {
				t.Run(name, func(t *testing.T) {
					id := "ORD-HIST-" + name
					run := drive(t, e, id)
					compareOrWriteAs(t, history(t, e.temporal, order.WorkflowID(id), run), name+".json", commandEventTypes)
				})
			}
		})
	}
}

// emulatorHoldingClosures keeps a closed account PENDING_CLOSURE until the
// branch moves it on.
func emulatorHoldingClosures() emulator.Config {
	return emulator.Config{ClosureDelay: 24 * time.Hour}
}
