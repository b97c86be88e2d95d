package order_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/cloudmarket/termination-orders/order"
)

// The decoders and validators take input from any client. Whatever the bytes,
// they must not panic, and an order they accept must be safe to act on: its
// reopen window within bounds (no arithmetic wraps), every text bounded, and
// it must read back the same after a round trip. The seed corpus under
// testdata/fuzz runs with every `go test`; `go test -fuzz FuzzDecodeJSON
// ./order` explores further.

func FuzzDecodeJSON(f *testing.F) {
	for _, seed := range []string{
		`{"orderId":"ORD-1","subscriptionId":"SUB-1","accountId":"123456789012","terminationType":"CloseAccount","items":[{"itemId":"ITM-1","quantity":0}],"requestedBy":"jane"}`,
		`{"orderId":"ORD-1","subscriptionId":"SUB-1","accountId":"123456789012","terminationType":"CloseAccount","items":[{"itemId":"ITM-1","quantity":0}],"requestedBy":"jane","reopenWindowSeconds":18446744075}`,
		`{"reopenWindowSeconds":9223372036854775807}`,
		`{"reopenWindowSeconds":-9223372036854775808}`,
		`{"reopenWindowSeconds":1e30}`,
		`{"reopenWindowSeconds":1.5}`,
		`{"items":[{"quantity":18446744073709551616}]}`,
		`{"submittedAt":"0001-01-01T00:00:00Z"}`,
		`{"accountId":123456789012}`,
		`[1,2]`, `null`, `"x"`, `{`, ``,
	} {
		f.Add([]byte(seed))
	}
	now := time.Date(2026, 11, 26, 14, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, b []byte) {
		o := order.DecodeJSON(b)
		if o.Validate(now) != nil {
			return
		}
		checkAccepted(t, o, now)
	})
}

func FuzzParseJSON(f *testing.F) {
	for _, seed := range []string{
		`{"orderId":"ORD-1","subscriptionId":"SUB-1","accountId":"123456789012","terminationType":"CloseAccount","items":[{"itemId":"ITM-1","quantity":0}],"requestedBy":"jane","reopenWindowSeconds":3600}`,
		`{"orderid":"ORD-1"}`, `{"extra":1}`, `{}`, `not json`,
	} {
		f.Add([]byte(seed))
	}
	now := time.Date(2026, 11, 26, 14, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, b []byte) {
		o, err := order.ParseJSON(b)
		if err != nil || o.Validate(now) != nil {
			return
		}
		checkAccepted(t, o, now)
	})
}

func FuzzUnlinkCompleted(f *testing.F) {
	for _, seed := range []string{
		`{"completedBy":"ops","reference":"OPS-1"}`,
		`{"completedBy":"ops","reference":"OPS-1","completedAt":"2026-11-26T13:00:00Z","requestId":"R-1"}`,
		`{"completedBy":"ops","reference":"OPS-1","completedAt":"0001-01-01T00:00:00Z"}`,
		`{"completedBy":"ops","reference":"OPS-1","completedAt":"9999-12-31T23:59:59Z"}`,
		`{"completedBy":"\u0000","reference":"x"}`,
	} {
		f.Add([]byte(seed))
	}
	now := time.Date(2026, 11, 26, 14, 0, 0, 0, time.UTC)
	placed := order.Status{Timeline: []order.TimelineEntry{{Time: now.Add(-time.Hour)}}}
	f.Fuzz(func(t *testing.T, b []byte) {
		var u order.UnlinkCompleted
		if json.Unmarshal(b, &u) != nil || u.ValidateFor(placed, now) != nil {
			return
		}
		closed := u.ClosedAt(now)
		if closed.After(now.Add(order.ClockSkew)) || closed.Before(now.Add(-time.Hour-order.ClockSkew)) {
			t.Fatalf("accepted close time %s outside the order's life", closed)
		}
		for _, s := range []string{u.CompletedBy, u.Reference, u.RequestID} {
			if len(s) > 500 {
				t.Fatalf("accepted a text of %d bytes", len(s))
			}
		}
	})
}

func checkAccepted(t *testing.T, o order.Order, now time.Time) {
	t.Helper()
	if w := o.ReopenWindow(time.Hour); w < order.MinReopenWindow || w > order.MaxReopenWindow {
		t.Fatalf("accepted order has reopen window %s", w)
	}
	if len(o.Items) == 0 || len(o.Items) > order.MaxItems {
		t.Fatalf("accepted order has %d items", len(o.Items))
	}
	for _, s := range []string{o.OrderID, o.SubscriptionID, o.AccountID, o.RequestedBy} {
		if len(s) > 500 || strings.ContainsRune(s, 0) {
			t.Fatalf("accepted unbounded or control text %q", s)
		}
	}
	if o.SubmittedAt != "" {
		at, err := time.Parse(time.RFC3339, o.SubmittedAt)
		if err != nil || at.Before(order.EarliestTime) || at.After(now.Add(order.ClockSkew)) {
			t.Fatalf("accepted submittedAt %q", o.SubmittedAt)
		}
	}
	b, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	again := order.DecodeJSON(b)
	if err := again.Validate(now); err != nil {
		t.Fatalf("accepted order no longer valid after a round trip: %v", err)
	}
	if again.ReopenWindow(time.Hour) != o.ReopenWindow(time.Hour) || again.OrderID != o.OrderID || len(again.Items) != len(o.Items) {
		t.Fatalf("round trip changed the order: %+v vs %+v", o, again)
	}
}
