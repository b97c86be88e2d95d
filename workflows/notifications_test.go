package workflows_test

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	sdkpb "go.temporal.io/api/sdk/v1"
	"go.temporal.io/sdk/temporal"
	"go.uber.org/zap"

	"github.com/cloudmarket/termination-orders/activities"
	"github.com/cloudmarket/termination-orders/notify"
	"github.com/cloudmarket/termination-orders/order"
	"github.com/cloudmarket/termination-orders/workflows"
)

// testSecret is a Standard Webhooks signing secret (32 bytes).
var testSecret = "whsec_" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))

// received is one request a receiver got, at the test clock's time.
type received struct {
	ID   string
	At   time.Time
	Body map[string]any
}

// receiver is a real HTTP endpoint that records what it gets; status, if
// set, decides each answer.
type receiver struct {
	mu     sync.Mutex
	got    []received
	status func(n int) int
	now    func() time.Time
	srv    *httptest.Server
}

func newReceiver(t *testing.T, now func() time.Time) *receiver {
	r := &receiver{now: now}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		var body map[string]any
		_ = json.Unmarshal(b, &body)
		r.mu.Lock()
		r.got = append(r.got, received{ID: req.Header.Get("webhook-id"), At: r.now(), Body: body})
		n := len(r.got)
		status := http.StatusOK
		if r.status != nil {
			status = r.status(n)
		}
		r.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) all() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

// kinds lists the "type" of each request, in order received.
func (r *receiver) kinds() []string {
	var out []string
	for _, g := range r.all() {
		out = append(out, g.Body["type"].(string))
	}
	return out
}

// notifyHarness runs orders with notifications to real receivers:
// marketplace and Operations webhooks, and an escalation chat.
type notifyHarness struct {
	*harness
	marketplace, operations, escalation *receiver
}

var notifyPolicy = activities.NotifyPolicy{
	UnlinkSLA: 5 * day, ReminderInterval: day, MaxReminders: 5, LastWarning: 7 * day, GiveUpAfter: 3 * day,
}

func newNotifyHarness(t *testing.T, policy activities.NotifyPolicy) *notifyHarness {
	t.Helper()
	nh := &notifyHarness{}
	nh.harness = newHarnessWith(t, func(h *harness) *activities.Activities {
		nh.marketplace, nh.operations, nh.escalation = newReceiver(t, h.env.Now), newReceiver(t, h.env.Now), newReceiver(t, h.env.Now)
		n, err := notify.New(notify.Config{
			Marketplace: notify.Targets{WebhookURLs: []string{nh.marketplace.srv.URL}, WebhookSecret: testSecret},
			Operations:  notify.Targets{WebhookURLs: []string{nh.operations.srv.URL}, WebhookSecret: testSecret},
			Escalation:  notify.Targets{WebhookURLs: []string{nh.escalation.srv.URL}, WebhookSecret: testSecret},
		}, zap.NewNop())
		require.NoError(t, err)
		return &activities.Activities{
			Store:    h.store,
			Policy:   activities.Policy{Notify: policy},
			Now:      h.env.Now,
			Notifier: n,
			Links:    activities.Links{WebUIURL: "http://localhost:8233", Namespace: "default"},
		}
	}, 0)
	return nh
}

func TestWholeLifeNotifiesEveryone(t *testing.T) {
	h := newNotifyHarness(t, notifyPolicy)
	h.at(day, func() { h.update(workflows.UpdateConfirmUnlink, unlink()) })
	final, err := h.run(validOrder())
	require.NoError(t, err)

	closedAt := startTime.Add(day)
	deadline := closedAt.Add(90 * day)
	require.Equal(t, []order.Stage{order.StageAwaitingUnlink, order.StagePostClosure, order.StagePostClosure, order.StagePermanentlyClosed},
		stages(h.storedTimeline("ORD-4821-3307")))

	// The last warning: exactly seven days before the deadline, with the date.
	warning := final.Timeline[2]
	require.Equal(t, deadline.Add(-7*day), warning.Time.UTC())
	require.Contains(t, warning.Message, "will be closed permanently on 25 February 2100, 09:00:00 UTC")
	require.Contains(t, warning.Message, "reopen it before then")

	// The marketplace gets every status message once, in order, with its sequence.
	events := h.marketplace.all()
	require.Len(t, events, 4)
	for i, e := range events {
		require.Equal(t, order.NoticeStatus, e.Body["type"])
		require.Equal(t, "ORD-4821-3307", e.Body["orderId"])
		require.EqualValues(t, i+1, e.Body["sequence"])
		require.Equal(t, final.Timeline[i].Message, e.Body["message"])
		require.Equal(t, string(final.Timeline[i].Stage), e.Body["stage"])
		require.Equal(t, e.Body["id"], e.ID, "the webhook-id is the event ID")
	}
	require.Equal(t, deadline.Add(-7*day), events[2].At.UTC(), "the warning is pushed when it is written")

	// Operations get one work item, with the commands that confirm the unlink.
	items := h.operations.all()
	require.Len(t, items, 1)
	item := items[0].Body
	require.Equal(t, order.NoticeUnlinkRequested, item["type"])
	require.Equal(t, "123456789012", item["accountId"])
	require.Equal(t, "SUB-1190-2291", item["subscriptionId"])
	require.Equal(t, "jane.doe@example.com", item["requestedBy"])
	require.Equal(t, startTime.Add(5*day).Format(time.RFC3339), item["unlinkDueBy"])
	commands := item["confirmWith"].(map[string]any)
	require.Contains(t, commands["terminationctl"], "terminationctl unlink ORD-4821-3307")
	require.Contains(t, commands["temporal"], "--workflow-id termination-ORD-4821-3307 --name unlink-completed")
	require.Contains(t, item["orderUrl"], "http://localhost:8233/namespaces/default/workflows/termination-ORD-4821-3307/")

	require.Empty(t, h.escalation.all(), "unlinked within the SLA: no escalation")
}

func TestOverdueUnlinkIsEscalatedThenRemindedUntilTheUnlink(t *testing.T) {
	h := newNotifyHarness(t, notifyPolicy)
	var details string
	h.at(7*day+12*time.Hour, func() {
		h.update(workflows.UpdateConfirmUnlink, unlink())
	})
	h.at(7*day+11*time.Hour, func() {
		v, err := h.env.QueryWorkflow("__temporal_workflow_metadata")
		require.NoError(t, err)
		var md sdkpb.WorkflowMetadata
		require.NoError(t, v.Get(&md))
		details = md.GetCurrentDetails()
	})
	_, err := h.run(validOrder())
	require.NoError(t, err)

	got := h.escalation.all()
	require.Len(t, got, 3, "the escalation at the SLA and the reminders of days 6 and 7; none after the unlink")
	for i, g := range got {
		require.Equal(t, startTime.Add(5*day+time.Duration(i)*day), g.At.UTC(), "escalation %d", i)
		require.Equal(t, order.NoticeUnlinkOverdue, g.Body["type"])
		require.EqualValues(t, i, g.Body["reminder"])
		require.Equal(t, false, g.Body["lastReminder"])
		require.Equal(t, startTime.Add(5*day).Format(time.RFC3339), g.Body["overdueSince"])
	}
	require.Contains(t, details, "overdue since 1 December 2099, 09:00:00 UTC")
	require.Contains(t, details, "2 of 5 reminders sent")
	require.Equal(t, []string{order.NoticeUnlinkRequested}, h.operations.kinds())
}

func TestRemindersStopAtTheMaximumAndACancelEndsThem(t *testing.T) {
	h := newNotifyHarness(t, notifyPolicy)
	h.at(20*day, func() {
		h.update(workflows.UpdateCancel, workflows.CancelRequest{RequestedBy: "jane.doe@example.com", Reason: "keeping it"})
	})
	final, err := h.run(validOrder())
	require.NoError(t, err)
	require.Equal(t, order.StageCancelled, final.Stage)

	got := h.escalation.all()
	require.Len(t, got, 6, "one escalation and at most five reminders")
	require.Equal(t, startTime.Add(10*day), got[5].At.UTC())
	require.Equal(t, true, got[5].Body["lastReminder"])
	require.Equal(t, []string{order.NoticeUnlinkRequested, order.NoticeUnlinkCancelled}, h.operations.kinds())
	require.Equal(t, "keeping it", h.operations.all()[1].Body["reason"])
}

func TestReopenedOrderGetsNoWarningAndOperationsReopenWithAWS(t *testing.T) {
	h := newNotifyHarness(t, notifyPolicy)
	h.at(day, func() { h.update(workflows.UpdateConfirmUnlink, unlink()) })
	h.at(50*day, func() {
		h.update(workflows.UpdateReopen, workflows.ReopenRequest{RequestedBy: "jane.doe@example.com", Reason: "Still need it"})
	})
	final, err := h.run(validOrder())
	require.NoError(t, err)
	require.Equal(t, order.StageReopened, final.Stage)
	require.Equal(t, startTime.Add(50*day), h.env.Now().UTC(), "the warning timer was cancelled with the window")
	require.Len(t, final.Timeline, 3, "no warning")

	require.Equal(t, []string{order.NoticeStatus, order.NoticeStatus, order.NoticeStatus}, h.marketplace.kinds())
	require.Equal(t, []string{order.NoticeUnlinkRequested, order.NoticeReopenRequested}, h.operations.kinds())
	reopen := h.operations.all()[1].Body
	require.Equal(t, startTime.Add(day+90*day).Format(time.RFC3339), reopen["awsDeadline"], "AWS's own 90 days from the closure")
	require.Equal(t, "Still need it", reopen["reason"])
}

func TestNoWarningWhenTheWindowIsShorterThanItsLead(t *testing.T) {
	h := newNotifyHarness(t, notifyPolicy)
	h.at(day, func() { h.update(workflows.UpdateConfirmUnlink, unlink()) })
	o := validOrder()
	o.ReopenWindowSeconds = int64(5 * day / time.Second)
	final, err := h.run(o)
	require.NoError(t, err)
	require.Equal(t, order.StagePermanentlyClosed, final.Stage)
	require.Len(t, final.Timeline, 3)
}

func TestRefusingTargetIsNotRetriedAndTheOrderStillCloses(t *testing.T) {
	h := newNotifyHarness(t, notifyPolicy)
	h.marketplace.status = func(int) int { return http.StatusGone }
	h.at(day, func() { h.update(workflows.UpdateConfirmUnlink, unlink()) })
	final, err := h.run(validOrder())
	require.NoError(t, err)
	require.Equal(t, order.StagePermanentlyClosed, final.Stage)
	require.Equal(t, startTime.Add(91*day), h.env.Now().UTC(), "closed at its deadline, not later")
	require.Len(t, h.marketplace.all(), 4, "each event tried once: a 410 is final")
	require.Len(t, h.storedTimeline("ORD-4821-3307"), 4, "the order page has every message")
}

func TestUnlinkDueByIsSetAtStartOrUpserted(t *testing.T) {
	h := newNotifyHarness(t, notifyPolicy)
	h.at(day, func() { h.update(workflows.UpdateConfirmUnlink, unlink()) })
	_, err := h.run(validOrder())
	require.NoError(t, err)
	due, ok := h.upserts[0].GetTime(workflows.UnlinkDueByKey)
	require.True(t, ok, "a start without the attribute gets it from the policy")
	require.Equal(t, startTime.Add(5*day), due.UTC())

	h = newNotifyHarness(t, notifyPolicy)
	set := startTime.Add(5*day - time.Millisecond)
	require.NoError(t, h.env.SetTypedSearchAttributesOnStart(temporal.NewSearchAttributes(
		workflows.StageKey.ValueSet(string(order.StageAwaitingUnlink)),
		workflows.AccountIDKey.ValueSet("123456789012"),
		workflows.SubscriptionIDKey.ValueSet("SUB-1190-2291"),
		workflows.UnlinkDueByKey.ValueSet(set),
	)))
	h.at(6*day, func() { h.update(workflows.UpdateConfirmUnlink, unlink()) })
	_, err = h.run(validOrder())
	require.NoError(t, err)
	for _, u := range h.upserts {
		_, resent := u.GetTime(workflows.UnlinkDueByKey)
		require.False(t, resent, "set by the starter: no upsert")
	}
	got := h.escalation.all()
	require.Len(t, got, 2)
	require.Equal(t, set, got[0].At.UTC(), "the escalation follows the starter's deadline")
}

func TestLateUnlinkWarnsAtOnce(t *testing.T) {
	h := newNotifyHarness(t, notifyPolicy)
	h.at(day, func() {
		u := unlink()
		// Reported a day late: the warning's time (deadline minus 7 days) is
		// then hours ago, so the customer is warned at once.
		u.CompletedAt = startTime.Add(time.Hour).Format(time.RFC3339)
		h.update(workflows.UpdateConfirmUnlink, u)
	})
	o := validOrder()
	o.ReopenWindowSeconds = int64((7*day + 12*time.Hour) / time.Second)
	final, err := h.run(o)
	require.NoError(t, err)
	require.Len(t, final.Timeline, 4)
	require.Equal(t, startTime.Add(day), final.Timeline[2].Time.UTC(), "warned with the unlink, not skipped")
	require.Contains(t, final.Timeline[2].Message, "Last reminder")
	require.Equal(t, startTime.Add(time.Hour+7*day+12*time.Hour), final.Timeline[3].Time.UTC())
}

func TestDeadlinePassedBeforeTheFirstTaskEscalatesAtOnce(t *testing.T) {
	h := newNotifyHarness(t, notifyPolicy)
	due := startTime.Add(-30 * time.Second)
	require.NoError(t, h.env.SetTypedSearchAttributesOnStart(temporal.NewSearchAttributes(
		workflows.StageKey.ValueSet(string(order.StageAwaitingUnlink)),
		workflows.UnlinkDueByKey.ValueSet(due),
	)))
	h.at(time.Hour, func() { h.update(workflows.UpdateConfirmUnlink, unlink()) })
	_, err := h.run(validOrder())
	require.NoError(t, err)
	got := h.escalation.all()
	require.Len(t, got, 1)
	require.Equal(t, startTime, got[0].At.UTC(), "escalated with the acceptance, not a timer later")
	require.Equal(t, due.Format(time.RFC3339), got[0].Body["overdueSince"])
}
