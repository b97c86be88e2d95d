package soak

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/cloudmarket/termination-orders/order"
	"github.com/cloudmarket/termination-orders/store"
)

// The workers send every notification (the marketplace's status events and
// Operations' work items) as signed webhooks to a receiver of the soak's own
// that fails and is slow: it refuses the first delivery of every fourth
// event with 503, and holds the first delivery of every fifth past the
// workers' notify.request_timeout after storing it, so that an event it has
// is sent again. (Only first deliveries: a fault on every attempt would hold
// an order back for the backoff of many retries, past the drain.) It keeps
// each event once by its webhook-id, as a marketplace would, and the check
// then asks for each event the orders' stored messages call for, exactly
// once.

// webhookSecret signs the soak's webhooks; it protects nothing.
var webhookSecret = "whsec_" + base64.StdEncoding.EncodeToString([]byte("termination-soak-webhook-secret!!"))

// notifyTimeout is the workers' notify.request_timeout; the receiver holds
// the deliveries it is slow with longer than that.
const notifyTimeout = time.Second

// notifyEnv are the workers' notification settings.
func notifyEnv(url string) []string {
	return []string{
		"TERMINATION_NOTIFY_MARKETPLACE_WEBHOOK_URLS=" + url,
		"TERMINATION_NOTIFY_MARKETPLACE_WEBHOOK_SECRET=" + webhookSecret,
		"TERMINATION_NOTIFY_OPERATIONS_WEBHOOK_URLS=" + url,
		"TERMINATION_NOTIFY_OPERATIONS_WEBHOOK_SECRET=" + webhookSecret,
		"TERMINATION_NOTIFY_REQUEST_TIMEOUT=" + notifyTimeout.String(),
		"TERMINATION_NOTIFY_UNLINK_SLA=0",
		"TERMINATION_NOTIFY_LAST_WARNING=0",
	}
}

// Notifications is what the receiver saw.
type Notifications struct {
	Requests int `json:"requests"`
	// Refused and Held are the requests it failed (503) and was slow with.
	Refused int `json:"refused"`
	Held    int `json:"held"`
	// Events are the distinct webhook-ids it stored; Redelivered the
	// deliveries of an event it already had (dropped, as at least once
	// delivery expects).
	Events      int `json:"events"`
	Redelivered int `json:"redelivered"`
	// The targets: each must be 0. Missing: an event a stored message or
	// the order's stage calls for never arrived; Unexpected: an event no
	// message or stage calls for; Conflicting: one webhook-id with two
	// bodies; Invalid: a bad signature or body.
	Missing     int `json:"missing"`
	Unexpected  int `json:"unexpected"`
	Conflicting int `json:"conflicting"`
	Invalid     int `json:"invalid"`
}

type receivedEvent struct {
	orderID    string
	body       []byte
	deliveries int
	conflict   bool
}

type receiver struct {
	srv      *http.Server
	url      string
	verifier *standardwebhooks.Webhook

	mu     sync.Mutex
	counts Notifications
	events map[string]*receivedEvent // by webhook-id
	// arrival numbers each webhook-id in the order its first delivery came;
	// attempts counts its deliveries, refused ones included.
	arrival, attempts map[string]int
}

func startReceiver() (*receiver, error) {
	wh, err := standardwebhooks.NewWebhook(webhookSecret)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &receiver{verifier: wh, events: map[string]*receivedEvent{}, arrival: map[string]int{}, attempts: map[string]int{},
		url: "http://" + ln.Addr().String() + "/events"}
	r.srv = &http.Server{Handler: r, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = r.srv.Serve(ln) }()
	return r, nil
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	raw, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	var body struct {
		OrderID string `json:"orderId"`
	}
	valid := err == nil && r.verifier.Verify(raw, req.Header) == nil && json.Unmarshal(raw, &body) == nil
	id := req.Header.Get("webhook-id")
	r.mu.Lock()
	r.counts.Requests++
	if !valid {
		r.counts.Invalid++
		r.mu.Unlock()
		http.Error(w, "bad signature or body", http.StatusBadRequest)
		return
	}
	if _, ok := r.arrival[id]; !ok {
		r.arrival[id] = len(r.arrival) + 1
	}
	r.attempts[id]++
	n, first := r.arrival[id], r.attempts[id] == 1
	if first && n%4 == 0 {
		r.counts.Refused++
		r.mu.Unlock()
		http.Error(w, "receiver failing", http.StatusServiceUnavailable)
		return
	}
	e, seen := r.events[id]
	if !seen {
		e = &receivedEvent{orderID: body.OrderID, body: raw}
		r.events[id] = e
	} else if !bytes.Equal(e.body, raw) {
		e.conflict = true
	}
	e.deliveries++
	hold := first && n%5 == 0
	if hold {
		r.counts.Held++
	}
	r.mu.Unlock()
	if hold {
		time.Sleep(notifyTimeout + 500*time.Millisecond)
	} else {
		time.Sleep(20 * time.Millisecond)
	}
	w.WriteHeader(http.StatusNoContent)
}

func (r *receiver) close() { _ = r.srv.Close() }

// checkNotifications checks that the order's events arrived, each once: a
// status event per stored message, the unlink work item once it awaited the
// unlink, and the reopen or cancel work item when it ended so.
func (r *receiver) checkNotifications(res *Result, id string, final order.Stage, msgs []store.Message) {
	want := map[string]bool{}
	for _, m := range msgs {
		life := id + "/" + m.RunID + "/"
		want[life+"status/"+strconv.Itoa(m.Seq)] = true
		if m.Stage == order.StageAwaitingUnlink {
			want[life+"unlink-requested"] = true
		}
		switch {
		case m.Stage == order.StageReopened && final == order.StageReopened:
			want[life+"reopen-requested"] = true
		case m.Stage == order.StageCancelled && final == order.StageCancelled:
			want[life+"unlink-cancelled"] = true
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for eid := range want {
		if _, ok := r.events[eid]; !ok {
			res.Notifications.Missing++
			res.finding("notification missing: order %s: event %s never arrived", id, eid)
		}
	}
	for eid, e := range r.events {
		if e.orderID != id {
			continue
		}
		if !want[eid] {
			res.Notifications.Unexpected++
			res.finding("notification unexpected: order %s: event %s, which no stored message calls for", id, eid)
		}
		if e.conflict {
			res.Notifications.Conflicting++
			res.finding("notification conflicting: order %s: event %s arrived with two bodies", id, eid)
		}
	}
}

// totals adds what the receiver counted to res.
func (r *receiver) totals(res *Result) {
	r.mu.Lock()
	defer r.mu.Unlock()
	res.Notifications.Requests, res.Notifications.Refused, res.Notifications.Held = r.counts.Requests, r.counts.Refused, r.counts.Held
	res.Notifications.Invalid = r.counts.Invalid
	res.Notifications.Events = len(r.events)
	for _, e := range r.events {
		res.Notifications.Redelivered += e.deliveries - 1
	}
}
