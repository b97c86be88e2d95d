package activities_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"

	"github.com/cloudmarket/termination-orders/activities"
	"github.com/cloudmarket/termination-orders/order"
	"github.com/cloudmarket/termination-orders/store"
)

var clock = time.Date(2026, 11, 26, 14, 0, 0, 0, time.UTC)

func acceptEnv(st activities.StatusStore, policy time.Duration) *testsuite.TestActivityEnvironment {
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	activities.Register(env, &activities.Activities{Store: st, Policy: activities.Policy{ReopenWindow: policy}, Now: func() time.Time { return clock }})
	return env
}

const validInput = `{"orderId":"ORD-A","subscriptionId":"SUB-1","accountId":"123456789012","terminationType":"CloseAccount",
	"items":[{"itemId":"ITM-1","quantity":0}],"requestedBy":"jane"`

func accept(t *testing.T, env *testsuite.TestActivityEnvironment, in activities.AcceptInput) activities.Acceptance {
	t.Helper()
	v, err := env.ExecuteActivity(activities.AcceptOrderName, in)
	require.NoError(t, err)
	var acc activities.Acceptance
	require.NoError(t, v.Get(&acc))
	return acc
}

func TestAcceptOrderDecides(t *testing.T) {
	st := newStore(t)
	env := acceptEnv(st, 10*24*time.Hour)

	acc := accept(t, env, activities.AcceptInput{Input: []byte(validInput + `}`), WorkflowID: "termination-ORD-A", RunKey: "r1"})
	require.True(t, acc.Accepted())
	require.Equal(t, "ORD-A", acc.Owner)
	require.Equal(t, 10*24*time.Hour, acc.ReopenWindow, "the worker's policy")
	require.Equal(t, clock, acc.At)

	acc = accept(t, env, activities.AcceptInput{Input: []byte(validInput + `,"reopenWindowSeconds":60}`), WorkflowID: "termination-ORD-A", RunKey: "r1"})
	require.Equal(t, time.Minute, acc.ReopenWindow, "the order's own window wins")

	acc = accept(t, env, activities.AcceptInput{Input: []byte(validInput + `,"reopenWindowSeconds":18446744075}`), WorkflowID: "termination-ORD-A", RunKey: "r1"})
	require.False(t, acc.Accepted())
	require.ErrorContains(t, acc.Invalid(), "reopenWindowSeconds: must be between 1 and 31536000")
	require.Zero(t, acc.ReopenWindow)

	acc = accept(t, env, activities.AcceptInput{Input: []byte(`{"orderId":`), WorkflowID: "termination-ORD-A", RunKey: "r1"})
	require.ErrorContains(t, acc.Invalid(), "(input): must be a JSON object")
	require.Equal(t, "ORD-A", acc.Owner, "the Failed message goes to the order the workflow ID names")

	acc = accept(t, env, activities.AcceptInput{InputProblem: `must be a JSON object, got a payload encoded as "binary/plain"`, WorkflowID: "termination-ORD-A", RunKey: "r1"})
	require.ErrorContains(t, acc.Invalid(), `(input): must be a JSON object, got a payload encoded as "binary/plain"`)

	acc = accept(t, env, activities.AcceptInput{Input: []byte(validInput + `}`), WorkflowID: "termination-ORD-X", RunKey: "r1"})
	require.ErrorContains(t, acc.Invalid(), "orderId: must match the workflow ID")
	require.Equal(t, "ORD-X", acc.Owner, "never the order the input names")

	acc = accept(t, env, activities.AcceptInput{Input: []byte(validInput + `}`), WorkflowID: "not-an-order", RunKey: "r1"})
	require.Empty(t, acc.Owner)
}

func TestAcceptOrderRefusesAnOrderThatAlreadyLived(t *testing.T) {
	st := newStore(t)
	_, err := st.Record(context.Background(), store.Message{OrderID: "ORD-A", RunID: "r0", Seq: 1, Stage: order.StageCancelled,
		OrderStatus: order.OrderStatusFailed, Text: "cancelled", OccurredAt: clock.Add(-time.Hour)})
	require.NoError(t, err)
	acc := accept(t, acceptEnv(st, 0), activities.AcceptInput{Input: []byte(validInput + `}`), WorkflowID: "termination-ORD-A", RunKey: "r1"})
	require.False(t, acc.Accepted())
	require.NotNil(t, acc.PriorLife)
	require.Equal(t, order.StageCancelled, acc.PriorLife.Stage)
	require.Empty(t, acc.Owner, "nothing may be written to the order's page")
	require.Contains(t, acc.PriorLife.Error(), "already processed: it reached Cancelled")

	// The same life asking again (a reset, a retry) is not a prior life.
	acc = accept(t, acceptEnv(st, 0), activities.AcceptInput{Input: []byte(validInput + `}`), WorkflowID: "termination-ORD-A", RunKey: "r0"})
	require.True(t, acc.Accepted())
}

func TestAcceptOrderRetriesAStoreOutage(t *testing.T) {
	_, err := acceptEnv(brokenStore{}, 0).ExecuteActivity(activities.AcceptOrderName,
		activities.AcceptInput{Input: []byte(validInput + `}`), WorkflowID: "termination-ORD-A", RunKey: "r1"})
	require.ErrorContains(t, err, "check whether order ORD-A already lived")
}

func TestDecideUnlinkSignal(t *testing.T) {
	env := acceptEnv(newStore(t), 0)
	decide := func(payload string) activities.UnlinkDecision {
		t.Helper()
		var p []byte
		if payload != "" {
			p = []byte(payload)
		}
		v, err := env.ExecuteActivity(activities.DecideUnlinkSignalName, activities.UnlinkSignal{
			Payload: p, SignalName: "unlink-completed", Ordinal: 1, PlacedAt: clock.Add(-time.Hour)})
		require.NoError(t, err)
		var d activities.UnlinkDecision
		require.NoError(t, v.Get(&d))
		return d
	}
	d := decide(`{"completedBy":"ops","reference":"OPS-1","completedAt":"2026-11-26T13:30:00Z"}`)
	require.Empty(t, d.Problem)
	require.Equal(t, clock.Add(-30*time.Minute), d.ClosedAt)

	d = decide(`{"completedBy":"ops","reference":"OPS-1"}`)
	require.Empty(t, d.Problem)
	require.Equal(t, clock, d.ClosedAt, "no history reader: the time of the decision")

	require.Contains(t, decide(`{"completedBy":"ops","reference":"OPS-1","completedAt":"2026-11-20T00:00:00Z"}`).Problem, "must not be before the order was placed")
	require.Contains(t, decide(`{"completedBy":5}`).Problem, "not an unlink-completed report")
	require.Contains(t, decide("").Problem, "carries no unlink-completed report")
}

// Where AWS closes the account, the window is AWS's 90 days at most, and the
// order carries its AWS policy with the defaults filled in.
func TestAcceptOrderUnderAnAWSMode(t *testing.T) {
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	activities.Register(env, &activities.Activities{Store: newStore(t), Now: func() time.Time { return clock },
		Policy: activities.Policy{ReopenWindow: 90 * 24 * time.Hour, AWS: activities.AWSPolicy{Mode: activities.AWSVerify}}})

	acc := accept(t, env, activities.AcceptInput{Input: []byte(validInput + `}`), WorkflowID: "termination-ORD-A", RunKey: "r1"})
	require.True(t, acc.Accepted())
	require.Equal(t, activities.AWSVerify, acc.AWS.Mode)
	require.Equal(t, activities.DefaultAWSCheckInterval, acc.AWS.CheckInterval)
	require.Equal(t, activities.DefaultAWSMaxCheckInterval, acc.AWS.MaxCheckInterval)

	acc = accept(t, env, activities.AcceptInput{Input: []byte(`{"orderId":"ORD-B","subscriptionId":"SUB-2","accountId":"123456789013","terminationType":"CloseAccount",
	"items":[{"itemId":"ITM-1","quantity":0}],"requestedBy":"jane","reopenWindowSeconds":7776001}`), WorkflowID: "termination-ORD-B", RunKey: "r2"})
	require.False(t, acc.Accepted())
	require.ErrorContains(t, acc.Invalid(), "reopenWindowSeconds: must be at most 7776000 (90 days) where AWS Organizations closes the account")
}

// A raw start from a client that is not ours (temporal workflow start
// --input) is decided here: what plain JSON decoding would hide fails the
// order with the field named, and no AWS account is claimed.
func TestAcceptOrderRefusesDuplicateKeysBadTextAndAZeroWindow(t *testing.T) {
	st := newStore(t)
	env := acceptEnv(st, 0)
	for input, want := range map[string]string{
		validInput + `,"reopenWindowSeconds":0}`:                 "reopenWindowSeconds: must be between 1 and 31536000 seconds when set, got 0",
		validInput + `,"accountId":"210987654321"}`:              "accountId: appears more than once in one object",
		validInput + `,"RequestedBy":"mallory"}`:                 `RequestedBy: appears more than once in one object (as "requestedBy" and "RequestedBy"`,
		strings.Replace(validInput, "jane", "ja\xffne", 1) + `}`: "requestedBy: must be valid UTF-8 text",
	} {
		acc := accept(t, env, activities.AcceptInput{Input: []byte(input), WorkflowID: "termination-ORD-A", RunKey: "r1"})
		require.False(t, acc.Accepted(), input)
		require.ErrorContains(t, acc.Invalid(), want)
	}
	// Nothing was claimed: the account is free for a valid order.
	acc := accept(t, env, activities.AcceptInput{Input: []byte(validInput + `}`), WorkflowID: "termination-ORD-A", RunKey: "r2"})
	require.True(t, acc.Accepted())
}

// A raw unlink-completed signal with a key sent twice or text that is not
// UTF-8 is ignored with the field named, like any invalid signal.
func TestDecideUnlinkSignalRefusesDuplicateKeysAndBadText(t *testing.T) {
	env := acceptEnv(newStore(t), 0)
	for payload, want := range map[string]string{
		`{"completedBy":"ops","reference":"OPS-1","reference":"OPS-2"}`:                                                       "reference: appears more than once",
		`{"completedBy":"ops","reference":"OPS-1","CompletedAt":"2026-11-26T13:30:00Z","completedAt":"2026-11-26T13:00:00Z"}`: "completedAt: appears more than once",
		"{\"completedBy\":\"o\xffps\",\"reference\":\"OPS-1\"}":                                                               "completedBy: must be valid UTF-8 text",
	} {
		v, err := env.ExecuteActivity(activities.DecideUnlinkSignalName, activities.UnlinkSignal{
			Payload: []byte(payload), SignalName: "unlink-completed", Ordinal: 1, PlacedAt: clock.Add(-time.Hour)})
		require.NoError(t, err)
		var d activities.UnlinkDecision
		require.NoError(t, v.Get(&d))
		require.Contains(t, d.Problem, want, payload)
	}
}
