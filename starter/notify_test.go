package starter_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdkpb "go.temporal.io/api/sdk/v1"
	"go.temporal.io/sdk/converter"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/cloudmarket/termination-orders/activities"
	"github.com/cloudmarket/termination-orders/internal/ordertest"
	"github.com/cloudmarket/termination-orders/internal/smtptest"
	"github.com/cloudmarket/termination-orders/notify"
	"github.com/cloudmarket/termination-orders/order"
	"github.com/cloudmarket/termination-orders/starter"
	"github.com/cloudmarket/termination-orders/worker"
	"github.com/cloudmarket/termination-orders/workflows"
)

// These tests run orders on a real server with the real worker, whose
// notifications go to real receivers started here: signed webhooks for the
// marketplace and the escalation, a chat webhook and SMTP (STARTTLS and AUTH)
// for Operations.

// hookSecret is the Standard Webhooks signing secret (32 bytes).
var hookSecret = "whsec_" + base64.StdEncoding.EncodeToString([]byte("termination-orders-integration!!"))

const opsMailbox = "ops@cloudmarket.example"

// shortPolicy makes a whole life fit in seconds.
var shortPolicy = activities.NotifyPolicy{
	UnlinkSLA: 2 * time.Second, ReminderInterval: time.Second, MaxReminders: 2,
	LastWarning: time.Second, GiveUpAfter: time.Minute,
}

const shortWindow = 3 * time.Second

// statusEvent is the body of an order.status event.
type statusEvent struct {
	Type        string      `json:"type"`
	ID          string      `json:"id"`
	OrderID     string      `json:"orderId"`
	Stage       order.Stage `json:"stage"`
	OrderStatus string      `json:"orderStatus"`
	Message     string      `json:"message"`
	Sequence    int         `json:"sequence"`
	Time        time.Time   `json:"time"`
	// Reminder is set on escalations.
	Reminder     int  `json:"reminder"`
	LastReminder bool `json:"lastReminder"`
}

// hookRequest is one request a webhook receiver answered.
type hookRequest struct {
	ID     string
	At     time.Time
	Status int
}

// hookReceiver is a Standard Webhooks receiver. It checks every request's
// signature twice (with the Standard Webhooks library and with an HMAC of
// its own), answers as answer says, and stores what it accepted once per
// webhook-id, as a real receiver would.
type hookReceiver struct {
	t        *testing.T
	srv      *httptest.Server
	verifier *standardwebhooks.Webhook
	key      []byte
	// answer decides the n-th answer (from 1): status and Retry-After
	// seconds (0 for none). nil accepts everything.
	answer func(n int) (status, retryAfter int)

	mu       sync.Mutex
	requests []hookRequest
	bad      []string // requests whose signature failed a check
	stored   map[string]statusEvent
}

func newHookReceiver(t *testing.T, answer func(n int) (int, int)) *hookReceiver {
	t.Helper()
	verifier, err := standardwebhooks.NewWebhook(hookSecret)
	require.NoError(t, err)
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(hookSecret, "whsec_"))
	require.NoError(t, err)
	r := &hookReceiver{t: t, verifier: verifier, key: key, answer: answer, stored: map[string]statusEvent{}}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *hookReceiver) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	id := req.Header.Get(standardwebhooks.HeaderWebhookID)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.bad = append(r.bad, id+": "+err.Error())
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if err := r.verifier.Verify(body, req.Header); err != nil {
		r.bad = append(r.bad, id+": standard webhooks: "+err.Error())
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if !r.hmacValid(id, req.Header, body) {
		r.bad = append(r.bad, id+": HMAC")
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	status, retryAfter := http.StatusOK, 0
	if r.answer != nil {
		status, retryAfter = r.answer(len(r.requests) + 1)
	}
	r.requests = append(r.requests, hookRequest{ID: id, At: time.Now(), Status: status})
	if status >= 200 && status < 300 {
		var e statusEvent
		if err := json.Unmarshal(body, &e); err != nil {
			r.bad = append(r.bad, id+": body: "+err.Error())
		}
		if _, dup := r.stored[id]; !dup {
			r.stored[id] = e
		}
	}
	if retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(retryAfter))
	}
	w.WriteHeader(status)
	if status >= 400 {
		_, _ = io.WriteString(w, "event refused by the test receiver")
	}
}

// hmacValid checks the signature as the specification describes it, without
// the library: base64(HMAC-SHA256(key, id "." timestamp "." body)) under "v1,".
func (r *hookReceiver) hmacValid(id string, h http.Header, body []byte) bool {
	ts := h.Get(standardwebhooks.HeaderWebhookTimestamp)
	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || time.Since(time.Unix(secs, 0)).Abs() > 5*time.Minute {
		return false
	}
	mac := hmac.New(sha256.New, r.key)
	mac.Write([]byte(id + "." + ts + "."))
	mac.Write(body)
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	for _, sig := range strings.Fields(h.Get(standardwebhooks.HeaderWebhookSignature)) {
		if hmac.Equal([]byte(sig), []byte(want)) {
			return true
		}
	}
	return false
}

// events returns the stored events of an order, by webhook-id.
func (r *hookReceiver) events(orderID string) map[string]statusEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]statusEvent{}
	for id, e := range r.stored {
		if e.OrderID == orderID {
			out[id] = e
		}
	}
	return out
}

func (r *hookReceiver) allRequests() []hookRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.requests)
}

func (r *hookReceiver) badRequests() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.bad)
}

// chatReceiver is a Slack or Teams incoming webhook: {"text": ...}.
type chatReceiver struct {
	srv   *httptest.Server
	mu    sync.Mutex
	texts []string
	bad   []string
}

func newChatReceiver(t *testing.T) *chatReceiver {
	c := &chatReceiver{}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var msg struct {
			Text string `json:"text"`
		}
		dec := json.NewDecoder(req.Body)
		dec.DisallowUnknownFields()
		err := dec.Decode(&msg)
		c.mu.Lock()
		defer c.mu.Unlock()
		if err != nil || msg.Text == "" || req.Header.Get("Content-Type") != "application/json" {
			c.bad = append(c.bad, req.Header.Get("Content-Type"))
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		c.texts = append(c.texts, msg.Text)
	}))
	t.Cleanup(c.srv.Close)
	return c
}

// about returns the messages that name the order.
func (c *chatReceiver) about(orderID string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, s := range c.texts {
		if strings.Contains(s, "termination order "+orderID+")") {
			out = append(out, s)
		}
	}
	return out
}

// notifyEnv is env with every audience notified.
type notifyEnv struct {
	*env
	marketplace, escalation *hookReceiver
	opsChat                 *chatReceiver
	mail                    *smtptest.Server
}

func newNotifyEnv(t *testing.T, policy activities.NotifyPolicy, marketplace func(n int) (int, int)) *notifyEnv {
	t.Helper()
	n := &notifyEnv{
		marketplace: newHookReceiver(t, marketplace),
		escalation:  newHookReceiver(t, nil),
		opsChat:     newChatReceiver(t),
		mail:        smtptest.NewServer(t, smtptest.Options{}),
	}
	notifier, err := notify.New(notify.Config{
		Marketplace: notify.Targets{WebhookURLs: []string{n.marketplace.srv.URL}, WebhookSecret: hookSecret},
		Escalation:  notify.Targets{WebhookURLs: []string{n.escalation.srv.URL}, WebhookSecret: hookSecret},
		Operations:  notify.Targets{ChatURLs: []string{n.opsChat.srv.URL}, EmailTo: []string{"Operations Duty <" + opsMailbox + ">"}},
		SMTP: notify.SMTP{
			Address: n.mail.Addr(), Username: smtptest.User, Password: smtptest.Password,
			From: "Termination Orders <orders@cloudmarket.example>", StartTLS: true, RootCAs: n.mail.RootCAs(),
		},
		RequestTimeout: 5 * time.Second,
	}, nil)
	require.NoError(t, err)
	n.env = newEnvWithOptions(t, worker.Options{
		Policy: activities.Policy{ReopenWindow: shortWindow, Notify: policy}, Notifier: notifier,
		Links: activities.Links{WebUIURL: "http://localhost:8233", Namespace: "default"},
	}, nil)
	t.Cleanup(func() {
		assert.Empty(t, n.marketplace.badRequests(), "every marketplace request is signed")
		assert.Empty(t, n.escalation.badRequests(), "every escalation request is signed")
		n.opsChat.mu.Lock()
		defer n.opsChat.mu.Unlock()
		assert.Empty(t, n.opsChat.bad, "every chat message is a {\"text\": ...} JSON body")
	})
	return n
}

// finished waits for the order's workflow to complete and returns its result.
func (n *notifyEnv) finished(t *testing.T, run starter.Run) order.Status {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var s order.Status
	require.NoError(t, n.temporal.GetWorkflow(ctx, run.WorkflowID, run.RunID).Get(ctx, &s))
	return s
}

// unlinkedLife starts an order, confirms its unlink at once and returns its
// final status once it has closed for good.
func (n *notifyEnv) unlinkedLife(t *testing.T, orderID string) (starter.Run, order.Status) {
	t.Helper()
	ctx := context.Background()
	run, err := n.orders.Start(ctx, newOrder(orderID))
	require.NoError(t, err)
	require.NoError(t, confirmed(n.orders.ConfirmUnlink(ctx, run.OrderID, ops())))
	final := n.finished(t, run)
	require.Equal(t, order.StagePermanentlyClosed, final.Stage)
	return run, final
}

// requireStatusEvents checks that the marketplace stored exactly the order's
// status messages, each once, under their event IDs.
func requireStatusEvents(t *testing.T, r *hookReceiver, run starter.Run, final order.Status) {
	t.Helper()
	require.Len(t, final.Timeline, 4)
	want := []order.Stage{order.StageAwaitingUnlink, order.StagePostClosure, order.StagePostClosure, order.StagePermanentlyClosed}
	got := r.events(run.OrderID)
	require.Len(t, got, len(want), "one stored event per status message")
	for i, stage := range want {
		id := run.OrderID + "/" + run.RunID + "/status/" + strconv.Itoa(i+1)
		e, ok := got[id]
		require.True(t, ok, "event %s stored; got %v", id, slices.Collect(mapKeys(got)))
		assert.Equal(t, order.NoticeStatus, e.Type)
		assert.Equal(t, id, e.ID, "the body's id is the webhook-id")
		assert.Equal(t, i+1, e.Sequence)
		assert.Equal(t, stage, e.Stage)
		assert.Equal(t, final.Timeline[i].Stage, e.Stage)
		assert.Equal(t, string(stage.OrderStatus()), e.OrderStatus)
		assert.Equal(t, final.Timeline[i].Message, e.Message)
		assert.True(t, final.Timeline[i].Time.Equal(e.Time), "time of %d: %v vs %v", i+1, final.Timeline[i].Time, e.Time)
	}
	assert.Contains(t, got[run.OrderID+"/"+run.RunID+"/status/3"].Message, "reopen it before then", "the third is the last warning")
}

func mapKeys[K comparable, V any](m map[K]V) func(func(K) bool) {
	return func(yield func(K) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func TestNotificationsOfAWholeLife(t *testing.T) {
	n := newNotifyEnv(t, shortPolicy, nil)
	ctx := context.Background()
	// The order that is unlinked gets an SLA long enough that the unlink is
	// surely within it on a busy machine; the late one gets the policy's.
	const lifeSLA = 15 * time.Second
	orders := starter.New(n.temporal, taskQueue, starter.WithUnlinkSLA(lifeSLA))
	late := starter.New(n.temporal, taskQueue, starter.WithUnlinkSLA(shortPolicy.UnlinkSLA))

	before := time.Now()
	run, err := orders.Start(ctx, newOrder("ORD-NOTIFY-LIFE"))
	require.NoError(t, err)
	after := time.Now()
	_, err = late.Start(ctx, newOrder("ORD-NOTIFY-LATE"))
	require.NoError(t, err)

	// UnlinkDueBy is set with the start, by the starter.
	desc, err := n.temporal.DescribeWorkflowExecution(ctx, run.WorkflowID, run.RunID)
	require.NoError(t, err)
	p, ok := desc.GetWorkflowExecutionInfo().GetSearchAttributes().GetIndexedFields()[workflows.UnlinkDueByKey.GetName()]
	require.True(t, ok, "UnlinkDueBy is set at start")
	var dueBy time.Time
	require.NoError(t, converter.GetDefaultDataConverter().FromPayload(p, &dueBy))
	require.False(t, dueBy.Before(before.Add(lifeSLA).Truncate(time.Millisecond)), "due %v, started after %v", dueBy, before)
	require.False(t, dueBy.After(after.Add(lifeSLA)), "due %v, started before %v", dueBy, after)

	require.NoError(t, confirmed(orders.ConfirmUnlink(ctx, run.OrderID, ops())))
	final := n.finished(t, run)
	require.Equal(t, order.StagePermanentlyClosed, final.Stage)
	requireStatusEvents(t, n.marketplace, run, final)

	// Operations: one work item by chat and one e-mail, to the right mailbox.
	subject := "Unlink AWS account " + ordertest.Account("ORD-NOTIFY-LIFE") + " (termination order ORD-NOTIFY-LIFE)"
	chats := n.opsChat.about(run.OrderID)
	require.Len(t, chats, 1, "one work item by chat")
	assert.True(t, strings.HasPrefix(chats[0], subject+"\n\n"), "%q", chats[0])
	assert.Contains(t, chats[0], "terminationctl unlink ORD-NOTIFY-LIFE")
	var mails []smtptest.Message
	for _, m := range n.mail.Messages() {
		s, err := m.Subject()
		require.NoError(t, err)
		if strings.Contains(s, "ORD-NOTIFY-LIFE") {
			assert.Equal(t, subject, s)
			mails = append(mails, m)
		}
	}
	require.Len(t, mails, 1, "one e-mail")
	assert.Equal(t, []string{opsMailbox}, mails[0].To)
	assert.Equal(t, "orders@cloudmarket.example", mails[0].From)
	assert.True(t, mails[0].TLS, "submitted after STARTTLS")
	pm, err := mails[0].Parse()
	require.NoError(t, err)
	assert.Equal(t, "\"Operations Duty\" <"+opsMailbox+">", pm.Header.Get("To"))
	assert.Positive(t, n.mail.AuthAttempts())

	assert.Empty(t, n.escalation.events(run.OrderID), "unlinked within its SLA: nothing to escalation")

	// The overdue listing: the late order, whose SLA passed without an unlink,
	// and not the unlinked one, once its SLA has passed too.
	time.Sleep(time.Until(dueBy.Add(time.Second)))
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		page, err := orders.List(ctx, starter.ListRequest{Overdue: true})
		require.NoError(c, err)
		var ids []string
		for _, s := range page.Orders {
			ids = append(ids, s.OrderID)
		}
		require.Equal(c, []string{"ORD-NOTIFY-LATE"}, ids)
	}, 30*time.Second, 200*time.Millisecond)
	require.Eventually(t, func() bool { return len(n.escalation.events("ORD-NOTIFY-LATE")) > 0 },
		30*time.Second, 100*time.Millisecond, "the late order is escalated")
}

func TestNotificationsRetriedWhenTheReceiverAsksToWait(t *testing.T) {
	n := newNotifyEnv(t, shortPolicy, func(n int) (int, int) {
		if n <= 5 {
			return http.StatusServiceUnavailable, 1
		}
		return http.StatusOK, 0
	})
	run, final := n.unlinkedLife(t, "ORD-NOTIFY-503")

	// Every event arrives, and is stored once.
	requireStatusEvents(t, n.marketplace, run, final)
	reqs := n.marketplace.allRequests()
	var unavailable int
	for _, r := range reqs {
		if r.Status == http.StatusServiceUnavailable {
			unavailable++
		}
	}
	require.Equal(t, 5, unavailable)
	require.Greater(t, len(reqs), 5)

	// The receiver's Retry-After is honoured: an event refused with
	// "Retry-After: 1" is not sent again before a second has passed.
	for i, r := range reqs {
		if r.Status != http.StatusServiceUnavailable {
			continue
		}
		for _, next := range reqs[i+1:] {
			if next.ID == r.ID {
				assert.GreaterOrEqual(t, next.At.Sub(r.At), 900*time.Millisecond,
					"event %s retried %v after a 503 with Retry-After: 1", r.ID, next.At.Sub(r.At))
				break
			}
		}
	}

	// The order closed at its deadline, not held back by the receiver.
	last := final.Timeline[len(final.Timeline)-1]
	require.Equal(t, order.StagePermanentlyClosed, last.Stage)
	require.False(t, last.Time.Before(final.ReopenDeadline), "closed %v, deadline %v", last.Time, final.ReopenDeadline)
	require.Less(t, last.Time.Sub(final.ReopenDeadline), 2*time.Second, "closed %v, deadline %v", last.Time, final.ReopenDeadline)
}

func TestNotificationsRefusedAreNotRetried(t *testing.T) {
	n := newNotifyEnv(t, shortPolicy, func(int) (int, int) { return http.StatusBadRequest, 0 })
	run, final := n.unlinkedLife(t, "ORD-NOTIFY-400")
	require.Len(t, final.Timeline, 4)

	// Each event was tried once: a 400 is final.
	var ids []string
	for _, r := range n.marketplace.allRequests() {
		require.Equal(t, http.StatusBadRequest, r.Status)
		ids = append(ids, r.ID)
	}
	want := make([]string, 4)
	for i := range want {
		want[i] = run.OrderID + "/" + run.RunID + "/status/" + strconv.Itoa(i+1)
	}
	require.ElementsMatch(t, want, ids, "each event exactly once")
	require.Empty(t, n.marketplace.events(run.OrderID))

	// The Web UI's details name what was given up, and why.
	v, err := n.temporal.QueryWorkflow(context.Background(), run.WorkflowID, run.RunID, "__temporal_workflow_metadata")
	require.NoError(t, err)
	var meta sdkpb.WorkflowMetadata
	require.NoError(t, v.Get(&meta))
	details := meta.GetCurrentDetails()
	assert.Contains(t, details, "Notifications given up (4)")
	assert.Contains(t, details, "order.status to marketplace.webhook[0] (refused)")
	assert.Contains(t, details, "HTTP 400: event refused by the test receiver")
}

func TestNotificationsEscalatedTwiceThenUnlinked(t *testing.T) {
	// Reminders far enough apart that the unlink surely lands between the
	// first and the second on a busy machine.
	policy := shortPolicy
	policy.ReminderInterval, policy.MaxReminders = 6*time.Second, 5
	n := newNotifyEnv(t, policy, nil)
	ctx := context.Background()
	run, err := n.orders.Start(ctx, newOrder("ORD-NOTIFY-LATE"))
	require.NoError(t, err)

	reminders := func() []int {
		var out []int
		for _, e := range n.escalation.events(run.OrderID) {
			out = append(out, e.Reminder)
		}
		slices.Sort(out)
		return out
	}
	require.Eventually(t, func() bool { return len(reminders()) >= 2 }, time.Minute, 50*time.Millisecond)
	require.NoError(t, confirmed(n.orders.ConfirmUnlink(ctx, run.OrderID, ops())))
	require.Equal(t, []int{0, 1}, reminders(), "the escalation and reminder 1, before the unlink")

	final := n.finished(t, run)
	require.Equal(t, order.StagePermanentlyClosed, final.Stage)
	time.Sleep(2 * policy.ReminderInterval)
	require.Equal(t, []int{0, 1}, reminders(), "nothing after the unlink")
	for id, e := range n.escalation.events(run.OrderID) {
		assert.Equal(t, order.NoticeUnlinkOverdue, e.Type, id)
		assert.False(t, e.LastReminder, id)
	}
	assert.Len(t, n.opsChat.about(run.OrderID), 1, "Operations' work item; escalations have targets of their own")
}
