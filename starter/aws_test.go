package starter_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/temporal"
	"go.temporal.io/server/temporaltest"

	"github.com/cloudmarket/termination-orders/activities"
	"github.com/cloudmarket/termination-orders/awsorg"
	"github.com/cloudmarket/termination-orders/awsorg/emulator"
	"github.com/cloudmarket/termination-orders/internal/netfault"
	"github.com/cloudmarket/termination-orders/internal/ordertest"
	"github.com/cloudmarket/termination-orders/order"
	"github.com/cloudmarket/termination-orders/starter"
	"github.com/cloudmarket/termination-orders/worker"
	"github.com/cloudmarket/termination-orders/workflows"
)

// These tests run orders in AWS Organizations' verify and close modes on a
// real server, with the real SDK client talking to the emulator over HTTP.

const closeQueue = taskQueue + "-aws-close"

// awsPolicy is an AWS policy whose waits fit in a test.
func awsPolicy(mode activities.AWSMode) activities.AWSPolicy {
	return activities.AWSPolicy{
		Mode: mode, CheckInterval: 200 * time.Millisecond, MaxCheckInterval: time.Second,
		QuotaWait: 2 * time.Second, CloseTaskQueue: closeQueue,
	}
}

type awsEnv struct {
	*env
	em  *emulator.Emulator
	org *awsorg.Client
	url string
}

// newAWSEnv is an env whose worker runs in mode against an emulated
// organization, with the given reopen window.
func newAWSEnv(t testing.TB, mode activities.AWSMode, window time.Duration, wrap func(awsorg.Organizations) awsorg.Organizations) *awsEnv {
	t.Helper()
	return newAWSEnvWith(t, awsPolicy(mode), window, emulator.Config{ClosureDelay: 500 * time.Millisecond}, wrap)
}

// newAWSEnvWith is newAWSEnv with the worker's AWS policy and the emulator's
// configuration.
func newAWSEnvWith(t testing.TB, policy activities.AWSPolicy, window time.Duration, cfg emulator.Config, wrap func(awsorg.Organizations) awsorg.Organizations) *awsEnv {
	t.Helper()
	em := emulator.New(cfg)
	srv := httptest.NewServer(em)
	t.Cleanup(srv.Close)
	org, err := awsorg.New(context.Background(), awsorg.Settings{Endpoint: srv.URL}, awsorg.WithCredentials(emulator.StaticCredentials()))
	require.NoError(t, err)
	var port awsorg.Organizations = org
	if wrap != nil {
		port = wrap(org)
	}
	e := newEnvOn(t, newTestServer(t, oneCloseAtATime(policy.CloseTaskQueue)), worker.Options{
		Policy: activities.Policy{ReopenWindow: window, AWS: policy},
		AWS:    port, CloseRate: 1,
	}, nil)
	return &awsEnv{env: e, em: em, org: org, url: srv.URL}
}

// oneCloseAtATime is the server configuration the close mode asks for
// (docs/aws.md): the close task queue in one partition, so that its rate
// limit holds for the queue as a whole, with a burst of one at a rate of
// one a second or less. Like every test server, it refreshes the search
// attributes on each read.
func oneCloseAtATime(queue string) temporaltest.TestServerOption {
	onQueue := dynamicconfig.Constraints{TaskQueueName: queue}
	return temporaltest.WithBaseServerOptions(temporal.WithDynamicConfigClient(dynamicconfig.StaticClient{
		dynamicconfig.ForceSearchAttributesCacheRefreshOnRead.Key(): []dynamicconfig.ConstrainedValue{{Value: true}},
		dynamicconfig.MatchingNumTaskqueueReadPartitions.Key():      []dynamicconfig.ConstrainedValue{{Constraints: onQueue, Value: 1}},
		dynamicconfig.MatchingNumTaskqueueWritePartitions.Key():     []dynamicconfig.ConstrainedValue{{Constraints: onQueue, Value: 1}},
	}))
}

// member adds the order's account to the organization, ACTIVE.
func (e *awsEnv) member(t testing.TB, id string) string {
	t.Helper()
	acct := ordertest.Account(id)
	require.NoError(t, e.em.AddAccount(emulator.Account{ID: acct}))
	return acct
}

func (e *awsEnv) closeCalls(acct string) emulator.CallLog {
	return e.em.Calls().Of(emulator.OpCloseAccount, acct)
}

func lastAWS(s order.Status) order.AWSCheck {
	if len(s.AWS) == 0 {
		return order.AWSCheck{}
	}
	return s.AWS[len(s.AWS)-1]
}

func unlinkWithID(id string) order.UnlinkCompleted {
	u := ops()
	u.RequestID = id
	return u
}

func eventCount(t *testing.T, c client.Client, id string) int {
	t.Helper()
	return len(history(t, c, order.WorkflowID(id), "").GetEvents())
}

// Verify: an unlink report is refused while AWS reports the account ACTIVE,
// naming AWS's state, and nothing changes; once AWS agrees, the unlink is
// taken; at the deadline AWS is asked again before "closed for good".
func TestVerifyModeTakesTheUnlinkOnlyWhenAWSAgrees(t *testing.T) {
	e := newAWSEnv(t, activities.AWSVerify, 2*time.Second, nil)
	ctx := context.Background()
	const id = "ORD-AWS-VERIFY"
	acct := e.member(t, id)
	run := start(t, e.env, id)

	_, err := e.orders.ConfirmUnlink(ctx, id, unlinkWithID("U-1"))
	require.ErrorIs(t, err, starter.ErrAWSAccountActive)
	require.ErrorIs(t, err, starter.ErrRejected)
	require.ErrorContains(t, err, "AWS reports account "+acct+" ACTIVE")
	s, err := e.orders.Status(ctx, id)
	require.NoError(t, err)
	require.Equal(t, order.StageAwaitingUnlink, s.Stage, "nothing changed")
	require.Len(t, s.Timeline, 1)
	require.Equal(t, "ACTIVE", lastAWS(s).State, "AWS's answer is on record")
	require.Contains(t, currentDetails(t, e.env, id), "DescribeAccount")

	require.NoError(t, e.em.SetState(acct, awsorg.StateSuspended))
	post, err := e.orders.ConfirmUnlink(ctx, id, unlinkWithID("U-2"))
	require.NoError(t, err)
	require.Equal(t, order.StagePostClosure, post.Stage)
	require.NotNil(t, post.Timeline[1].AWS, "the unlink rests on AWS's answer")
	require.Equal(t, "SUSPENDED", post.Timeline[1].AWS.State)

	final := finish(t, e.env, id, run, order.StagePermanentlyClosed)
	require.Equal(t, "SUSPENDED", final.Timeline[len(final.Timeline)-1].AWS.State, "closed for good because AWS does not report it ACTIVE")
	require.Len(t, e.em.Calls().Of(emulator.OpDescribeAccount, acct).Succeeded(), 3, "the refused unlink, the taken one, the deadline")
	require.Empty(t, e.closeCalls(acct), "verify never closes")
	t.Logf("verify mode, happy path with one refused unlink: %d events", eventCount(t, e.temporal, id))
}

// Verify: a raw signal cannot be refused, so the order waits, asks AWS again
// on its backoff and takes the unlink once AWS agrees, closing the account
// no earlier than AWS did.
func TestVerifyModeRawSignalWaitsForAWS(t *testing.T) {
	e := newAWSEnv(t, activities.AWSVerify, time.Hour, nil)
	ctx := context.Background()
	const id = "ORD-AWS-SIGNAL"
	acct := e.member(t, id)
	start(t, e.env, id)
	require.NoError(t, e.temporal.SignalWorkflow(ctx, order.WorkflowID(id), "", workflows.SignalUnlinkCompleted, ops()))
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		require.GreaterOrEqual(c, len(e.em.Calls().Of(emulator.OpDescribeAccount, acct)), 3, "asked again")
	}, 30*time.Second, 50*time.Millisecond)
	s, err := e.orders.Status(ctx, id)
	require.NoError(t, err)
	require.Equal(t, order.StageAwaitingUnlink, s.Stage, "AWS disagrees: the order waits")
	require.Contains(t, currentDetails(t, e.env, id), "ACTIVE")

	agreed := time.Now()
	require.NoError(t, e.em.SetState(acct, awsorg.StateSuspended))
	post := e.waitForStage(t, id, order.StagePostClosure)
	require.False(t, post.ClosedAt.Before(agreed.Add(-time.Second)), "closed when AWS agreed, not when reported: %s vs %s", post.ClosedAt, agreed)
	require.Equal(t, "SUSPENDED", post.Timeline[1].AWS.State)
}

// Close: Operations' confirmation means "ready to close"; the order closes
// the account with AWS, once, follows it to SUSPENDED and starts the window
// then; it cannot be cancelled meanwhile.
func TestCloseModeClosesTheAccountWithAWS(t *testing.T) {
	e := newAWSEnv(t, activities.AWSClose, 2*time.Second, nil)
	ctx := context.Background()
	const id = "ORD-AWS-CLOSE"
	acct := e.member(t, id)
	run := start(t, e.env, id)
	closing, err := e.orders.ConfirmUnlink(ctx, id, unlinkWithID("U-1"))
	require.NoError(t, err)
	require.Equal(t, order.StageClosing, closing.Stage)
	_, err = e.orders.Cancel(ctx, id, order.Request{RequestedBy: "jane", Reason: "too late"})
	require.ErrorIs(t, err, starter.ErrRejected, "a closing account cannot be cancelled")
	again, err := e.orders.ConfirmUnlink(ctx, id, unlinkWithID("U-1"))
	require.NoError(t, err, "a retry with the request ID gets the original answer")
	require.Equal(t, order.StageClosing, again.Timeline[1].Stage)

	post := e.waitForStage(t, id, order.StagePostClosure)
	a, ok := e.em.Account(acct)
	require.True(t, ok)
	require.Equal(t, awsorg.StateSuspended, a.State, "AWS reports SUSPENDED before the window starts")
	require.Equal(t, "SUSPENDED", post.Timeline[2].AWS.State)
	require.True(t, post.ClosedAt.Equal(post.Timeline[2].AWS.At), "the window starts when AWS reported the account suspended")
	require.Equal(t, post.ClosedAt.Add(2*time.Second), post.ReopenDeadline)

	final := finish(t, e.env, id, run, order.StagePermanentlyClosed)
	require.Equal(t, []order.Stage{order.StageAwaitingUnlink, order.StageClosing, order.StagePostClosure, order.StagePermanentlyClosed},
		stages(final))
	require.Len(t, e.closeCalls(acct), 1, "CloseAccount once")
	t.Logf("close mode, happy path: %d events", eventCount(t, e.temporal, id))
}

// Close: each of AWS's answers gets its right handling.
func TestCloseModeHandlesAWSAnswers(t *testing.T) {
	e := newAWSEnv(t, activities.AWSClose, time.Hour, nil)
	ctx := context.Background()
	closeOrder := func(t *testing.T, id string) {
		t.Helper()
		start(t, e.env, id)
		_, err := e.orders.ConfirmUnlink(ctx, id, ops())
		require.NoError(t, err)
	}

	t.Run("quota exceeded, then restored", func(t *testing.T) {
		const id = "ORD-AWS-QUOTA"
		acct := e.member(t, id)
		e.em.SetQuotaExceeded(true)
		closeOrder(t, id)
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			s, err := e.orders.Status(ctx, id)
			require.NoError(c, err)
			require.Equal(c, activities.CloseQuotaExceeded, lastAWS(s).Outcome)
		}, 30*time.Second, 50*time.Millisecond)
		e.em.SetQuotaExceeded(false)
		e.waitForStage(t, id, order.StagePostClosure)
		require.Len(t, e.closeCalls(acct).Succeeded(), 1, "no closure lost or repeated")
	})
	t.Run("rate limited", func(t *testing.T) {
		const id = "ORD-AWS-THROTTLED"
		acct := e.member(t, id)
		e.em.FailNextFor(emulator.OpCloseAccount, acct, emulator.FaultTooManyRequests, 2)
		closeOrder(t, id)
		e.waitForStage(t, id, order.StagePostClosure)
		require.Len(t, e.closeCalls(acct), 3, "two refused, then backed off and taken")
		require.Len(t, e.closeCalls(acct).Succeeded(), 1)
	})
	t.Run("already closed", func(t *testing.T) {
		const id = "ORD-AWS-ALREADY"
		acct := e.member(t, id)
		closeOrder(t, id)
		post := e.waitForStage(t, id, order.StagePostClosure)
		require.NotEmpty(t, post.AWS)
		// Another order closed it before; this one finds it closed.
		const other = "ORD-AWS-ALREADY-2"
		acct2 := e.member(t, other)
		require.NoError(t, e.em.SetState(acct2, awsorg.StateSuspended))
		closeOrder(t, other)
		post2 := e.waitForStage(t, other, order.StagePostClosure)
		require.Empty(t, e.closeCalls(acct2), "nothing asked of an account AWS reports closed")
		require.Equal(t, activities.CloseAlreadyClosed, post2.AWS[0].Outcome)
		require.Len(t, e.closeCalls(acct), 1)
	})
	t.Run("management account", func(t *testing.T) {
		const id = "ORD-AWS-MGMT"
		mgmt := e.em.ManagementAccountID()
		o := newOrder(id)
		o.AccountID = mgmt
		_, err := e.orders.Start(ctx, o)
		require.NoError(t, err)
		e.waitForStage(t, id, order.StageAwaitingUnlink)
		_, err = e.orders.ConfirmUnlink(ctx, id, ops())
		require.NoError(t, err)
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			s, err := e.orders.Status(ctx, id)
			require.NoError(c, err)
			require.NotEmpty(c, s.AWS)
			require.Equal(c, activities.CloseManagementAccount, s.AWS[0].Outcome)
		}, 30*time.Second, 50*time.Millisecond)
		require.Empty(t, e.closeCalls(mgmt), "the API cannot close the management account: Operations do")
		s, err := e.orders.Status(ctx, id)
		require.NoError(t, err)
		require.Equal(t, order.StageClosing, s.Stage, "the order waits for AWS")
		require.NoError(t, e.em.SetState(mgmt, awsorg.StateSuspended))
		e.waitForStage(t, id, order.StagePostClosure)
	})
}

// cutAfterClose cuts its worker off from Temporal right after AWS took a
// CloseAccount: the closure happened, its activity never completed.
type cutAfterClose struct {
	awsorg.Organizations
	proxy *netfault.Proxy
	once  sync.Once
	cut   chan struct{}
}

func (c *cutAfterClose) CloseAccount(ctx context.Context, accountID string) error {
	err := c.Organizations.CloseAccount(ctx, accountID)
	c.once.Do(func() {
		if c.proxy.Set(netfault.BlackHole) == nil {
			close(c.cut)
		}
	})
	return err
}

// A worker dies between CloseAccount and the first state check: the
// closure's activity is retried on another worker, which finds the account
// closing and does not ask again; the window starts once.
func TestCloseModeWorkerKilledAfterCloseAccount(t *testing.T) {
	e := newAWSEnv(t, activities.AWSClose, time.Hour, nil)
	ctx := context.Background()
	const id = "ORD-AWS-KILLED"
	acct := e.member(t, id)

	// The order's worker reaches Temporal through a proxy its AWS client cuts.
	proxy, viaProxy := dialThroughProxy(t, e.frontend, e.namespace)
	dying := &cutAfterClose{Organizations: e.org, proxy: proxy, cut: make(chan struct{})}
	e.worker.Stop()
	first := worker.New(viaProxy, e.store, worker.Options{
		TaskQueue: taskQueue, StopTimeout: time.Second, CloseRate: 5, AWS: dying,
		Policy: activities.Policy{ReopenWindow: time.Hour, AWS: awsPolicy(activities.AWSClose)},
	})
	require.NoError(t, first.Start())
	t.Cleanup(first.Stop)

	start(t, e.env, id)
	_, err := e.orders.ConfirmUnlink(ctx, id, ops())
	require.NoError(t, err)
	select {
	case <-dying.cut:
	case <-time.After(30 * time.Second):
		t.Fatal("the account was never closed")
	}
	e.newWorker(t) // takes over once the dead worker's activity times out
	post := e.waitForStage(t, id, order.StagePostClosure)
	require.Len(t, e.closeCalls(acct), 1, "the account is closed once")
	n := 0
	for _, entry := range post.Timeline {
		if entry.Stage == order.StagePostClosure {
			n++
		}
	}
	require.Equal(t, 1, n, "the window starts once")
	require.Equal(t, activities.CloseAlreadyClosed, post.AWS[len(post.AWS)-2].Outcome, "the retry found the account closing")
}

// At the deadline an account AWS reports ACTIVE (reopened through AWS
// Support) is not called closed for good: the order records it, ends as
// reopened and frees the account.
func TestDeadlineWithTheAccountReopenedOutsideTheProduct(t *testing.T) {
	e := newAWSEnv(t, activities.AWSVerify, 3*time.Second, nil)
	ctx := context.Background()
	const id = "ORD-AWS-OUTSIDE"
	acct := e.member(t, id)
	run := start(t, e.env, id)
	require.NoError(t, e.em.SetState(acct, awsorg.StateSuspended))
	_, err := e.orders.ConfirmUnlink(ctx, id, ops())
	require.NoError(t, err)
	require.NoError(t, e.em.SetState(acct, awsorg.StateActive))

	final := finish(t, e.env, id, run, order.StageReopened)
	last := final.Timeline[len(final.Timeline)-1]
	require.Equal(t, "ACTIVE", last.AWS.State)
	require.Contains(t, last.Message, "reopened outside this order")
	a, err := e.store.Account(ctx, acct)
	require.NoError(t, err)
	require.Equal(t, order.AccountFree, a.State, "no closure claimed: the account is free")
}

// After a customer's reopen the order follows AWS until it reports the
// account ACTIVE again.
func TestReopenFollowsAWSUntilActive(t *testing.T) {
	e := newAWSEnv(t, activities.AWSVerify, time.Hour, nil)
	ctx := context.Background()
	const id = "ORD-AWS-REOPEN"
	acct := e.member(t, id)
	run := start(t, e.env, id)
	require.NoError(t, e.em.SetState(acct, awsorg.StateSuspended))
	_, err := e.orders.ConfirmUnlink(ctx, id, ops())
	require.NoError(t, err)
	_, err = e.orders.Reopen(ctx, id, order.Request{RequestedBy: "jane", Reason: "Need it back"})
	require.NoError(t, err)
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		require.GreaterOrEqual(c, len(e.em.Calls().Of(emulator.OpDescribeAccount, acct)), 3)
	}, 30*time.Second, 50*time.Millisecond)
	d, err := e.temporal.DescribeWorkflowExecution(ctx, order.WorkflowID(id), run)
	require.NoError(t, err)
	require.Nil(t, d.GetWorkflowExecutionInfo().GetCloseTime(), "the order waits for AWS to reopen the account")
	require.NoError(t, e.em.SetState(acct, awsorg.StateActive))
	final := finish(t, e.env, id, run, order.StageReopened)
	require.Equal(t, "ACTIVE", lastAWS(final).State)
}

// 30 orders closing at once in close mode, on two workers: AWS sees one
// CloseAccount at a time, spaced by the close rate.
func TestThirtyClosuresOneAtATimeAcrossTwoWorkers(t *testing.T) {
	// At one a second or less the server lets one task through at a time
	// (its burst is the rate rounded up); AWS's own default is 0.5.
	const rate = 1.0
	e := newAWSEnv(t, activities.AWSClose, time.Hour, nil)
	// AWS's quota (10% of the members, at least 10) would hold most back.
	e.em.SetCloseQuota(emulator.Quota{Percent: 100, Min: 100, Max: 1000, Window: 30 * 24 * time.Hour})
	e.worker.Stop()
	for range 2 {
		w := worker.New(e.temporal, e.store, worker.Options{
			TaskQueue: taskQueue, StopTimeout: time.Second, CloseRate: rate, AWS: e.org,
			Policy: activities.Policy{ReopenWindow: time.Hour, AWS: awsPolicy(activities.AWSClose)},
		})
		require.NoError(t, w.Start())
		t.Cleanup(w.Stop)
	}
	ctx := context.Background()
	ids := make([]string, 30)
	for i := range ids {
		ids[i] = fmt.Sprintf("ORD-AWS-HERD-%02d", i)
		e.member(t, ids[i])
		_, err := e.orders.Start(ctx, newOrder(ids[i]))
		require.NoError(t, err)
	}
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Go(func() {
			e.waitForStage(t, id, order.StageAwaitingUnlink)
			_, err := e.orders.ConfirmUnlink(ctx, id, ops())
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	for _, id := range ids {
		e.waitForStage(t, id, order.StagePostClosure)
	}
	calls := e.em.Calls().Of(emulator.OpCloseAccount, "")
	require.Len(t, calls.Succeeded(), 30)
	if a, b, overlap := calls.Overlapping(); overlap {
		t.Fatalf("two CloseAccount calls at once: %+v and %+v", a, b)
	}
	first, last := calls[0].Start, calls[0].Start
	for _, c := range calls {
		first, last = minTime(first, c.Start), maxTime(last, c.Start)
		t.Logf("CloseAccount %s at +%s", c.AccountID, c.Start.Sub(calls[0].Start))
	}
	// The server may let a second task through as the queue loads (seen: two
	// calls 21 ms apart, never overlapping, then one a second); a gap of
	// slack for that and for the rate limiter's jitter.
	require.GreaterOrEqual(t, last.Sub(first), time.Duration(float64(len(calls)-3)/rate*float64(time.Second)),
		"the server paced the closures at %v a second (shortest gap %s)", rate, calls.MinGap())
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// An order accepted while the worker's mode was off keeps taking Operations'
// word after the worker moves to verify: its mode was fixed at acceptance.
func TestOrderAcceptedInOffModeKeepsItsMode(t *testing.T) {
	e := newAWSEnv(t, activities.AWSOff, time.Hour, nil)
	ctx := context.Background()
	const id = "ORD-AWS-OFF"
	acct := e.member(t, id)
	start(t, e.env, id)
	e.worker.Stop()
	w := worker.New(e.temporal, e.store, worker.Options{
		TaskQueue: taskQueue, StopTimeout: time.Second, AWS: e.org,
		Policy: activities.Policy{ReopenWindow: time.Hour, AWS: awsPolicy(activities.AWSVerify)},
	})
	require.NoError(t, w.Start())
	t.Cleanup(w.Stop)
	post, err := e.orders.ConfirmUnlink(ctx, id, ops())
	require.NoError(t, err, "an order accepted in off mode is not refused for an ACTIVE account")
	require.Equal(t, order.StagePostClosure, post.Stage)
	require.Empty(t, e.em.Calls().Of(emulator.OpDescribeAccount, acct), "AWS was never asked")
}
