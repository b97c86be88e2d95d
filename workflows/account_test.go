package workflows_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/cloudmarket/termination-orders/order"
	"github.com/cloudmarket/termination-orders/workflows"
)

// An order whose AWS account another order holds is refused at its
// acceptance: its run fails with the refusal, whose details name the holder;
// its own page says so; the holder's page and claim are untouched.
func TestOrderForAHeldAccountIsRefused(t *testing.T) {
	h := newHarness(t, nil)
	holder := order.Claim{AccountID: validOrder().AccountID, OrderID: "ORD-HOLDER", SubscriptionID: "SUB-OTHER", RunKey: "run-holder", ClaimedAt: startTime}
	require.NoError(t, h.store.Claim(context.Background(), holder))

	var acceptance *updateOutcome
	h.at(0, func() { acceptance = h.update(workflows.UpdateAcceptance, nil) })
	_, err := h.run(validOrder())
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(err, &appErr), "%v", err)
	require.Equal(t, workflows.ErrTypeAccountInTermination, appErr.Type())
	require.Contains(t, appErr.Message(), "already in termination by order ORD-HOLDER (subscription SUB-OTHER, stage AwaitingUnlink)")
	var named order.Claim
	require.NoError(t, appErr.Details(&named))
	require.Equal(t, "ORD-HOLDER", named.OrderID)
	require.Equal(t, order.StageAwaitingUnlink, named.Stage)

	require.True(t, acceptance.accepted)
	require.Error(t, acceptance.err, "the acceptance update answers with the refusal")
	require.ErrorAs(t, acceptance.err, &appErr)
	require.Equal(t, workflows.ErrTypeAccountInTermination, appErr.Type())

	stored := h.storedTimeline(validOrder().OrderID)
	require.Equal(t, []order.Stage{order.StageFailed}, stages(stored), "its own page says why")
	require.Contains(t, stored[0].Text, "was refused: AWS account 123456789012 is already in termination by order ORD-HOLDER")
	require.Contains(t, stored[0].Text, "Nothing was changed on your AWS account")
	require.Empty(t, h.storedTimeline("ORD-HOLDER"), "nothing on the holder's page")

	acct, err := h.store.Account(context.Background(), validOrder().AccountID)
	require.NoError(t, err)
	require.Equal(t, order.AccountInTermination, acct.State)
	require.Equal(t, "ORD-HOLDER", acct.Holder.OrderID)
	require.Len(t, acct.Orders, 1, "the refused order holds no claim")
}

// An accepted order holds its account until its final stage: a cancel frees
// it, and the acceptance update answers with the accepted status.
func TestAcceptedOrderHoldsItsAccountUntilCancelled(t *testing.T) {
	h := newHarness(t, nil)
	var acceptance, cancel *updateOutcome
	h.at(0, func() { acceptance = h.update(workflows.UpdateAcceptance, nil) })
	h.at(day, func() {
		acct, err := h.store.Account(context.Background(), validOrder().AccountID)
		require.NoError(t, err)
		require.Equal(t, order.AccountInTermination, acct.State, "held while awaiting the unlink")
		require.Equal(t, validOrder().OrderID, acct.Holder.OrderID)
		cancel = h.update(workflows.UpdateCancel, order.Request{RequestedBy: "jane.doe@example.com", Reason: "keeping it"})
	})
	final, err := h.run(validOrder())
	require.NoError(t, err)
	require.Equal(t, order.StageCancelled, final.Stage)
	require.NoError(t, acceptance.err)
	require.Equal(t, order.StageAwaitingUnlink, acceptance.result.Stage, "the acceptance answers with the accepted order")
	require.NoError(t, cancel.err)

	acct, err := h.store.Account(context.Background(), validOrder().AccountID)
	require.NoError(t, err)
	require.Equal(t, order.AccountFree, acct.State, "the cancel freed the account")
	require.Equal(t, order.StageCancelled, acct.Orders[0].Stage)
}

// An order closed for good closes its account for good: every later order
// for it is refused, naming the date.
func TestAccountClosedForGoodRefusesLaterOrders(t *testing.T) {
	h := newHarness(t, nil)
	h.at(day, func() { h.env.SignalWorkflow(workflows.SignalUnlinkCompleted, unlink()) })
	final, err := h.run(validOrder())
	require.NoError(t, err)
	require.Equal(t, order.StagePermanentlyClosed, final.Stage)

	later := order.Claim{AccountID: validOrder().AccountID, OrderID: "ORD-LATER", SubscriptionID: "SUB-1190-2291", RunKey: "run-later", ClaimedAt: final.ReopenDeadline}
	err = h.store.Claim(context.Background(), later)
	var refused *order.AccountRefusal
	require.ErrorAs(t, err, &refused)
	require.Equal(t, order.RefusedAccountClosedForGood, refused.Kind)
	require.Contains(t, refused.Reason, "closed for good on "+order.FormatTime(final.ReopenDeadline)+" by order ORD-4821-3307")
}

// The write of the final message frees the account in the same transaction;
// a worker lost after it committed (the write reports a failure) retries it,
// and the account is freed exactly once.
func TestReleaseSurvivesALostWrite(t *testing.T) {
	flaky := &flakyStore{failed: map[int]bool{}}
	h := newHarness(t, flaky)
	flaky.real = h.store
	h.at(day, func() {
		h.update(workflows.UpdateCancel, order.Request{RequestedBy: "jane.doe@example.com", Reason: "keeping it"})
	})
	final, err := h.run(validOrder())
	require.NoError(t, err)
	require.Equal(t, order.StageCancelled, final.Stage)
	require.Equal(t, 4, flaky.attempts, "each write failed once after it committed, and was retried")

	acct, err := h.store.Account(context.Background(), validOrder().AccountID)
	require.NoError(t, err)
	require.Equal(t, order.AccountFree, acct.State)
	require.Len(t, acct.Orders, 1)
	require.Equal(t, order.StageCancelled, acct.Orders[0].Stage)
	require.Equal(t, final.Timeline[1].Time, acct.Orders[0].EndedAt.UTC(), "ended when the order was cancelled")
}
