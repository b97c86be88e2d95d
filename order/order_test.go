package order_test

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cloudmarket/termination-orders/order"
)

var now = time.Date(2026, 11, 26, 14, 0, 0, 0, time.UTC)

func valid() order.Order {
	return order.Order{
		OrderID: "ORD-1", SubscriptionID: "SUB-1", AccountID: "123456789012",
		TerminationType: order.TerminationTypeCloseAccount,
		Items:           []order.Item{{ItemID: "ITM-1"}},
		RequestedBy:     "jane", SubmittedAt: "2026-11-26T13:00:00Z",
	}
}

func TestValidOrder(t *testing.T) {
	if err := valid().Validate(now); err != nil {
		t.Fatal(err)
	}
}

func TestValidationNamesFieldAndRule(t *testing.T) {
	tests := []struct {
		name   string
		change func(*order.Order)
		want   string
	}{
		{"missing orderId", func(o *order.Order) { o.OrderID = "" }, "orderId: is required"},
		{"orderId with space", func(o *order.Order) { o.OrderID = "ORD 1" }, "orderId: may contain only letters"},
		{"orderId too long", func(o *order.Order) { o.OrderID = strings.Repeat("x", 101) }, "orderId: must be at most 100 characters"},
		{"missing subscriptionId", func(o *order.Order) { o.SubscriptionID = "" }, "subscriptionId: is required"},
		{"account ID letters", func(o *order.Order) { o.AccountID = "12345678901a" }, "accountId: must be a 12-digit AWS account ID"},
		{"account ID 13 digits", func(o *order.Order) { o.AccountID = "1234567890123" }, "accountId: must be a 12-digit"},
		{"termination type", func(o *order.Order) { o.TerminationType = "closeaccount" }, `terminationType: must be "CloseAccount", got "closeaccount"`},
		{"no items", func(o *order.Order) { o.Items = []order.Item{} }, "items: must list at least one item"},
		{"quantity", func(o *order.Order) { o.Items[0].Quantity = 1 }, "items[0].quantity: must be 0"},
		{"negative quantity", func(o *order.Order) { o.Items[0].Quantity = -1 }, "items[0].quantity: must be 0"},
		{"missing itemId", func(o *order.Order) { o.Items = append(o.Items, order.Item{}) }, "items[1].itemId: is required"},
		{"duplicate item", func(o *order.Order) { o.Items = append(o.Items, order.Item{ItemID: "ITM-1"}) }, `items[1].itemId: duplicates item "ITM-1"`},
		{"blank requestedBy", func(o *order.Order) { o.RequestedBy = "  " }, "requestedBy: is required"},
		{"submittedAt format", func(o *order.Order) { o.SubmittedAt = "2026-11-26 13:00" }, "submittedAt: must be an RFC 3339 time"},
		{"submittedAt in future", func(o *order.Order) { o.SubmittedAt = "2026-11-26T15:00:00Z" }, "submittedAt: must not be in the future"},
		{"window too short", func(o *order.Order) { o.ReopenWindowSeconds = -5 }, "reopenWindowSeconds: must be between 1 and 31536000"},
		{"window too long", func(o *order.Order) { o.ReopenWindowSeconds = 400 * 86400 }, "reopenWindowSeconds"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := valid()
			tc.change(&o)
			err := o.Validate(now)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate = %v; want %q", err, tc.want)
			}
			var fe *order.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v has no FieldError", err)
			}
		})
	}
}

func TestEveryBrokenRuleIsReported(t *testing.T) {
	err := order.Order{}.Validate(now)
	var verr *order.ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("Validate = %v", err)
	}
	var fields []string
	for _, f := range verr.Fields {
		fields = append(fields, f.Field)
	}
	want := "orderId subscriptionId accountId terminationType items requestedBy"
	if strings.Join(fields, " ") != want {
		t.Fatalf("fields = %v; want %s", fields, want)
	}
}

func TestSubmittedAtWithinClockSkew(t *testing.T) {
	o := valid()
	o.SubmittedAt = now.Add(order.ClockSkew - time.Second).Format(time.RFC3339)
	if err := o.Validate(now); err != nil {
		t.Fatalf("a timestamp inside the clock skew was rejected: %v", err)
	}
}

func TestDecodingKeepsTypeErrorsAsFieldErrors(t *testing.T) {
	var o order.Order
	err := json.Unmarshal([]byte(`{"orderId":"ORD-1","subscriptionId":"SUB-1","accountId":123456789012,"terminationType":"CloseAccount",
		"items":[{"itemId":"ITM-1","quantity":0}],"requestedBy":"jane"}`), &o)
	if err != nil {
		t.Fatalf("decode failed instead of recording the problem: %v", err)
	}
	if o.OrderID != "ORD-1" || o.RequestedBy != "jane" {
		t.Errorf("other fields not decoded: %+v", o)
	}
	if err := o.Validate(now); err == nil || !strings.Contains(err.Error(), "accountId: must be a JSON string") {
		t.Fatalf("Validate = %v; want the accountId type named", err)
	}
	var whole order.Order
	if err := json.Unmarshal([]byte(`"ORD-1"`), &whole); err != nil {
		t.Fatal(err)
	}
	if err := whole.Validate(now); err == nil || !strings.Contains(err.Error(), "(order): must be a JSON object") {
		t.Fatalf("Validate = %v; want the input itself named", err)
	}
	if err := json.Unmarshal([]byte(`not json`), &o); err == nil {
		t.Fatal("syntax errors must still fail decoding")
	}
}

func TestParseJSONIsStrictAboutKeys(t *testing.T) {
	_, err := order.ParseJSON([]byte(`{"orderId":"ORD-1","AccountId":"123456789012","qty":1}`))
	if err == nil || !strings.Contains(err.Error(), "AccountId: is not a field") || !strings.Contains(err.Error(), "qty: is not a field") {
		t.Fatalf("ParseJSON = %v", err)
	}
	b, _ := json.Marshal(valid())
	o, err := order.ParseJSON(b)
	if err != nil || o.Validate(now) != nil {
		t.Fatalf("round trip: %v", err)
	}
}

func TestReopenWindowAndWorkflowID(t *testing.T) {
	o := valid()
	if o.ReopenWindow(0) != 90*24*time.Hour {
		t.Errorf("default window = %v", o.ReopenWindow(0))
	}
	if o.ReopenWindow(time.Hour) != time.Hour {
		t.Errorf("the worker's policy should apply: %v", o.ReopenWindow(time.Hour))
	}
	o.ReopenWindowSeconds = 120
	if o.ReopenWindow(time.Hour) != 2*time.Minute {
		t.Errorf("the order's own window should win: %v", o.ReopenWindow(time.Hour))
	}
	if order.WorkflowID("ORD-1") != "termination-ORD-1" {
		t.Error("workflow ID must be termination-<orderId>")
	}
}

// A workflow ID gives back its order ID; OwnerOf only a valid one.
func TestParseWorkflowIDAndOwnerOf(t *testing.T) {
	for id, want := range map[string]struct {
		parsed string
		ok     bool
		owner  string
	}{
		order.WorkflowID("ORD-1"): {"ORD-1", true, "ORD-1"},
		"termination-ORD 1":       {"ORD 1", true, ""},
		"temporal-sys-scheduler":  {"", false, ""},
		"":                        {"", false, ""},
	} {
		parsed, ok := order.ParseWorkflowID(id)
		if parsed != want.parsed || ok != want.ok {
			t.Errorf("ParseWorkflowID(%q) = %q, %v; want %q, %v", id, parsed, ok, want.parsed, want.ok)
		}
		if got := order.OwnerOf(id); got != want.owner {
			t.Errorf("OwnerOf(%q) = %q; want %q", id, got, want.owner)
		}
	}
}

func TestUnlinkCompleted(t *testing.T) {
	u := order.UnlinkCompleted{CompletedBy: "ops", Reference: "OPS-1"}
	if err := u.Validate(now); err != nil {
		t.Fatal(err)
	}
	if got := u.ClosedAt(now); !got.Equal(now) {
		t.Errorf("ClosedAt without completedAt = %v; want the handling time", got)
	}
	u.CompletedAt = "2026-11-25T09:30:00+01:00"
	if got := u.ClosedAt(now); !got.Equal(time.Date(2026, 11, 25, 8, 30, 0, 0, time.UTC)) || got.Location() != time.UTC {
		t.Errorf("ClosedAt = %v; want the stated time in UTC", got)
	}
	bad := order.UnlinkCompleted{CompletedAt: "tomorrow"}
	err := bad.Validate(now)
	for _, want := range []string{"completedBy: is required", "reference: is required", "completedAt: must be an RFC 3339 time"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate = %v; want %q", err, want)
		}
	}
}

func TestStageMapping(t *testing.T) {
	want := map[order.Stage]order.OrderStatus{
		order.StageAwaitingUnlink: order.OrderStatusProcessing, order.StageClosing: order.OrderStatusProcessing,
		order.StagePostClosure: order.OrderStatusCompleted, order.StageReopened: order.OrderStatusCompleted, order.StagePermanentlyClosed: order.OrderStatusCompleted,
		order.StageCancelled: order.OrderStatusFailed, order.StageFailed: order.OrderStatusFailed,
	}
	for _, s := range order.Stages {
		if s.OrderStatus() != want[s] {
			t.Errorf("%s.OrderStatus() = %s; want %s", s, s.OrderStatus(), want[s])
		}
		if !s.Valid() {
			t.Errorf("%s not valid", s)
		}
	}
	if order.Stage("Closed").Valid() {
		t.Error("unknown stage accepted")
	}
	for s, final := range map[order.Stage]bool{order.StageAwaitingUnlink: false, order.StageClosing: false, order.StagePostClosure: false, order.StageReopened: true,
		order.StagePermanentlyClosed: true, order.StageCancelled: true, order.StageFailed: true} {
		if s.Final() != final {
			t.Errorf("%s.Final() = %v", s, s.Final())
		}
	}
}

// closedStatus is an order whose account was closed at now with a 90-day window.
func closedStatus() order.Status {
	s := order.NewStatus(valid())
	s.Enter(order.StageAwaitingUnlink, now.Add(-time.Hour), "submitted")
	s.ClosedAt = now
	s.ReopenDeadline = now.Add(order.DefaultReopenWindow)
	s.Enter(order.StagePostClosure, now, order.PostClosureMessage(s))
	return s
}

func TestEnterRecordsTimeline(t *testing.T) {
	s := closedStatus()
	if s.Stage != order.StagePostClosure || s.OrderStatus != order.OrderStatusCompleted || len(s.Timeline) != 2 {
		t.Fatalf("status = %+v", s)
	}
	if s.Timeline[1].Seq != 2 || !s.Timeline[1].Time.Equal(now) || s.StatusMessage != s.Timeline[1].Message {
		t.Errorf("timeline = %+v", s.Timeline)
	}
	if !s.EnteredAt().Equal(now) {
		t.Errorf("EnteredAt = %v", s.EnteredAt())
	}
}

func TestCheckReopen(t *testing.T) {
	s := closedStatus()
	deadline := s.ReopenDeadline
	if err := s.CheckReopen(deadline.Add(-time.Second)); err != nil {
		t.Errorf("reopen one second before the deadline: %v", err)
	}
	if err := s.CheckReopen(deadline); err == nil || !strings.Contains(err.Error(), "ended on 24 February 2027, 14:00:00 UTC: the account is closed for good") {
		t.Errorf("reopen at the deadline: %v", err)
	}
	s.Enter(order.StagePermanentlyClosed, deadline, "closed")
	if err := s.CheckReopen(deadline.Add(time.Hour)); err == nil || !strings.Contains(err.Error(), "closed for good since 24 February 2027, 14:00:00 UTC") {
		t.Errorf("reopen after permanent closure: %v", err)
	}

	awaiting := order.NewStatus(valid())
	awaiting.Enter(order.StageAwaitingUnlink, now, "submitted")
	if err := awaiting.CheckReopen(now); err == nil || !strings.Contains(err.Error(), "cancel the order instead") {
		t.Errorf("reopen before unlink: %v", err)
	}
	reopened := closedStatus()
	reopened.Enter(order.StageReopened, now.Add(time.Hour), "reopened")
	if err := reopened.CheckReopen(now.Add(2 * time.Hour)); err == nil || !strings.Contains(err.Error(), "already reopened") {
		t.Errorf("second reopen: %v", err)
	}
}

func TestCheckCancel(t *testing.T) {
	awaiting := order.NewStatus(valid())
	awaiting.Enter(order.StageAwaitingUnlink, now, "submitted")
	if err := awaiting.CheckCancel(); err != nil {
		t.Errorf("cancel while awaiting unlink: %v", err)
	}
	if err := closedStatus().CheckCancel(); err == nil || !strings.Contains(err.Error(), "reopen the account before 24 February 2027, 14:00:00 UTC instead") {
		t.Errorf("cancel after unlink: %v", err)
	}
	awaiting.Enter(order.StageCancelled, now, "cancelled")
	if err := awaiting.CheckCancel(); err == nil || !strings.Contains(err.Error(), "already cancelled") {
		t.Errorf("second cancel: %v", err)
	}
}

func TestMessagesTellTheCustomerWhatHappensNext(t *testing.T) {
	s := closedStatus()
	checks := map[string][]string{
		order.SubmittedMessage(valid()):   {"ORD-1", "123456789012", "Operations team will contact you", "You can cancel"},
		order.PostClosureMessage(s):       {"closed on 26 November 2026, 14:00:00 UTC", "reopen it until 24 February 2027, 14:00:00 UTC", "closed permanently"},
		order.PermanentlyClosedMessage(s): {"ended on 24 February 2027, 14:00:00 UTC", "can no longer be reopened"},
		order.ReopenedMessage(s, now, order.Request{RequestedBy: "jane", Reason: "need it"}): {"reopened on 26 November 2026", "jane (need it)", "new termination order"},
		order.CancelledMessage(s, now, order.Request{RequestedBy: "jane", Reason: "oops"}):   {"cancelled on 26 November 2026", "was not closed"},
		order.FailedMessage(errors.New("accountId: must be 12 digits")):                      {"could not be processed: accountId: must be 12 digits", "place it again"},
	}
	for msg, wants := range checks {
		for _, w := range wants {
			if !strings.Contains(msg, w) {
				t.Errorf("message %q lacks %q", msg, w)
			}
		}
	}
}

// Numbers are range-checked before any arithmetic: a huge window must not wrap.
func TestReopenWindowIsCheckedBeforeItIsMultiplied(t *testing.T) {
	for _, seconds := range []int64{18446744075, 9223372036854775807, -9223372036854775808, 9223372037, order.MaxReopenWindowSeconds + 1, -1} {
		o := valid()
		o.ReopenWindowSeconds = seconds
		if err := o.Validate(now); err == nil || !strings.Contains(err.Error(), "reopenWindowSeconds: must be between 1 and 31536000") {
			t.Errorf("window %d: Validate = %v", seconds, err)
		}
		if w := o.ReopenWindow(time.Hour); w != time.Hour {
			t.Errorf("window %d: an out-of-range override was used: %s", seconds, w)
		}
	}
}

// Version 1's rules are frozen: orders accepted under them replay with them.
func TestVersion1RulesAreFrozen(t *testing.T) {
	o := valid()
	o.ReopenWindowSeconds = 18446744075 // wrapped into ~1.3 s under version 1
	if err := o.ValidateV1(now); err != nil {
		t.Fatalf("ValidateV1 = %v; version 1 accepted this order and must keep doing so", err)
	}
	o = valid()
	for i := range 150 {
		o.Items = append(o.Items, order.Item{ItemID: "X" + strconv.Itoa(i)})
	}
	if err := o.ValidateV1(now); err != nil {
		t.Fatalf("ValidateV1 = %v; version 1 had no bound on items", err)
	}
	if err := o.Validate(now); err == nil || !strings.Contains(err.Error(), "items: must list at most 100 items, got 151") {
		t.Fatalf("Validate = %v", err)
	}
}

func TestBoundsOnSizeAndTime(t *testing.T) {
	o := valid()
	o.SubmittedAt = "0001-01-01T00:00:00Z"
	if err := o.Validate(now); err == nil || !strings.Contains(err.Error(), "submittedAt: must not be before 2000-01-01T00:00:00Z") {
		t.Fatalf("Validate = %v", err)
	}
	huge := `{"orderId":"ORD-1","items":[` + strings.Repeat(`{"itemId":"ITM-1","quantity":0},`, 3000) + `{"itemId":"last","quantity":0}]}`
	err := order.DecodeJSON([]byte(huge)).Validate(now)
	if err == nil || !strings.Contains(err.Error(), "(input): must be at most 65536 bytes of JSON") {
		t.Fatalf("Validate = %v", err)
	}
	for _, bad := range []string{`{"orderId":`, `[1]`, `"order"`} {
		err := order.DecodeJSON([]byte(bad)).Validate(now)
		if err == nil || !strings.Contains(err.Error(), "must be a JSON object") {
			t.Errorf("%s: Validate = %v", bad, err)
		}
	}
	u := order.UnlinkCompleted{CompletedBy: "ops", Reference: "OPS-1", RequestID: "not ok!"}
	if err := u.Validate(now); err == nil || !strings.Contains(err.Error(), "requestId: may contain only letters") {
		t.Fatalf("Validate = %v", err)
	}
}

// A reopen or cancel request names who asks and why; the error names what
// was asked and every broken field.
func TestRequestValidate(t *testing.T) {
	if err := (order.Request{RequestedBy: "jane", Reason: "need it", RequestID: "req-1"}).Validate("reopen"); err != nil {
		t.Fatalf("valid request: %v", err)
	}
	err := order.Request{RequestedBy: " ", RequestID: "not a key!"}.Validate("cancel")
	if err == nil {
		t.Fatal("an empty request passed")
	}
	for _, want := range []string{"invalid cancel request: ", "requestedBy: is required", "reason: is required", "requestId: may contain only"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestRestampTakesTheStoredTimeAndText(t *testing.T) {
	s := order.NewStatus(order.Order{OrderID: "ORD-1"})
	at := time.Date(2026, 11, 26, 14, 0, 0, 0, time.UTC)
	s.Enter(order.StageAwaitingUnlink, at, "submitted")
	s.Enter(order.StagePostClosure, at.Add(time.Hour), "closed")
	s.Restamp(order.TimelineEntry{Seq: 2, Time: at.Add(50 * time.Minute), Message: "closed (first write)"})
	if got := s.Timeline[1]; !got.Time.Equal(at.Add(50*time.Minute)) || got.Message != "closed (first write)" || got.Stage != order.StagePostClosure {
		t.Fatalf("entry 2 = %+v", got)
	}
	if s.StatusMessage != "closed (first write)" {
		t.Fatalf("the latest message is the stored one, got %q", s.StatusMessage)
	}
	s.Restamp(order.TimelineEntry{Seq: 1, Time: at.Add(-time.Second), Message: "submitted (first write)"})
	if s.StatusMessage != "closed (first write)" || s.Timeline[0].Message != "submitted (first write)" {
		t.Fatalf("an earlier entry leaves the latest message: %+v", s)
	}
	s.Restamp(order.TimelineEntry{Seq: 9, Message: "none"})
	if len(s.Timeline) != 2 {
		t.Fatal("an unknown sequence number changes nothing")
	}
}
