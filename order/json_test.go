package order_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/cloudmarket/termination-orders/order"
)

const validOrderJSON = `{"orderId":"ORD-1","subscriptionId":"SUB-1","accountId":"123456789012","terminationType":"CloseAccount",` +
	`"items":[{"itemId":"ITM-1","quantity":0}],"requestedBy":"jane"`

// fieldRules returns the broken rules of a validation error by field.
func fieldRules(t *testing.T, err error) map[string]string {
	t.Helper()
	var v *order.ValidationError
	if !errors.As(err, &v) {
		t.Fatalf("want a ValidationError, got %v", err)
	}
	rules := map[string]string{}
	for _, f := range v.Fields {
		rules[f.Field] += f.Rule
	}
	return rules
}

func TestCheckJSONFindsDuplicateKeysInAnyCaseAndDepth(t *testing.T) {
	tests := []struct {
		name, json, field, rule string
	}{
		{"exact", `{"requestedBy":"a","requestedBy":"b"}`, "requestedBy", "appears more than once"},
		{"case", `{"requestedBy":"a","RequestedBy":"b"}`, "RequestedBy", `as "requestedBy" and "RequestedBy"`},
		{"kelvin sign folds to k", `{"k":"a","` + "\u212a" + `":"b"}`, "\u212a", "appears more than once"},
		{"escaped", `{"reason":"a","re\u0061son":"b"}`, "reason", "appears more than once"},
		{"nested", `{"items":[{"itemId":"A"},{"itemId":"B","ITEMID":"C"}]}`, "items[1].ITEMID", "appears more than once"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			problems := order.CheckJSON([]byte(tc.json))
			if len(problems) != 1 || problems[0].Field != tc.field || !strings.Contains(problems[0].Rule, tc.rule) {
				t.Fatalf("want one problem %s: ...%s..., got %v", tc.field, tc.rule, problems)
			}
		})
	}
	// A key sent three times is one problem.
	if p := order.CheckJSON([]byte(`{"a":1,"a":2,"A":3}`)); len(p) != 1 {
		t.Fatalf("want one problem, got %v", p)
	}
	// The same key in two objects is no duplicate.
	if p := order.CheckJSON([]byte(`{"items":[{"itemId":"A"},{"itemId":"B"}],"x":{"itemId":"C"}}`)); len(p) != 0 {
		t.Fatalf("want none, got %v", p)
	}
}

func TestCheckJSONFindsTextThatIsNotUTF8(t *testing.T) {
	tests := []struct {
		name, json, field string
	}{
		{"bad byte", "{\"requestedBy\":\"ja\xffne\"}", "requestedBy"},
		{"overlong encoding", "{\"reason\":\"\xc0\xaf\"}", "reason"},
		{"lone high surrogate", `{"requestedBy":"ja\ud800ne"}`, "requestedBy"},
		{"lone low surrogate", `{"requestedBy":"\udc00"}`, "requestedBy"},
		{"high surrogate then another escape", `{"requestedBy":"\ud800\u0041"}`, "requestedBy"},
		{"in an array", "{\"items\":[{\"itemId\":\"A\"},{\"itemId\":\"\xfe\"}]}", "items[1].itemId"},
		{"in a key", "{\"reason\xff\":\"x\"}", "reason\ufffd"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			problems := order.CheckJSON([]byte(tc.json))
			if len(problems) != 1 || problems[0].Field != tc.field || !strings.Contains(problems[0].Rule, "not valid UTF-8") && !strings.Contains(problems[0].Rule, "valid UTF-8 text") {
				t.Fatalf("want one UTF-8 problem at %s, got %v", tc.field, problems)
			}
		})
	}
	for _, ok := range []string{
		`{"requestedBy":"Jos\u00e9 \ud83d\ude00"}`,     // a surrogate pair is one character
		"{\"requestedBy\":\"José \U0001F600 \ufffd\"}", // U+FFFD sent as such is text
		`{"reason":"a \\ud800 b"}`,                     // an escaped backslash, no escape
	} {
		if p := order.CheckJSON([]byte(ok)); len(p) != 0 {
			t.Fatalf("%s: want no problem, got %v", ok, p)
		}
	}
}

func TestCheckJSONLeavesMalformedJSONToTheDecoder(t *testing.T) {
	for _, bad := range []string{``, `{`, `{"a":1,"a":2`, `{"a" 1}`, `[1,2`, `"x`, `{"a":1}x`, `{"a":"\u12"}`} {
		if p := order.CheckJSON([]byte(bad)); len(p) != 0 {
			t.Fatalf("%q: want nothing, got %v", bad, p)
		}
	}
}

// A raw start from any client (temporal workflow start --input) is decoded
// by DecodeJSON: each of these must fail the order with the field named.
func TestDecodeJSONRefusesWhatPlainDecodingHides(t *testing.T) {
	tests := []struct {
		name, json, field, rule string
	}{
		{"explicit zero window", validOrderJSON + `,"reopenWindowSeconds":0}`, "reopenWindowSeconds", "must be between 1 and 31536000 seconds when set, got 0"},
		{"explicit zero window in another case", validOrderJSON + `,"ReopenWindowSeconds":0}`, "reopenWindowSeconds", "got 0"},
		{"duplicate key", validOrderJSON + `,"requestedBy":"mallory"}`, "requestedBy", "appears more than once"},
		{"duplicate key in another case", validOrderJSON + `,"AccountId":"210987654321"}`, "AccountId", "appears more than once"},
		{"invalid UTF-8", strings.Replace(validOrderJSON, "jane", "ja\xffne", 1) + "}", "requestedBy", "must be valid UTF-8 text"},
		{"lone surrogate", strings.Replace(validOrderJSON, "jane", `ja\udfffne`, 1) + "}", "requestedBy", "must be valid UTF-8 text"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rules := fieldRules(t, order.DecodeJSON([]byte(tc.json)).Validate(now))
			if !strings.Contains(rules[tc.field], tc.rule) {
				t.Fatalf("want %s: ...%s..., got %v", tc.field, tc.rule, rules)
			}
		})
	}
	// No window, or null, is the default window; a set one is taken.
	for _, ok := range []string{validOrderJSON + `}`, validOrderJSON + `,"reopenWindowSeconds":null}`, validOrderJSON + `,"reopenWindowSeconds":1}`} {
		if err := order.DecodeJSON([]byte(ok)).Validate(now); err != nil {
			t.Fatalf("%s: %v", ok, err)
		}
	}
}

func TestParseJSONRefusesDuplicateKeys(t *testing.T) {
	_, err := order.ParseJSON([]byte(validOrderJSON + `,"orderId":"ORD-2"}`))
	if rules := fieldRules(t, err); !strings.Contains(rules["orderId"], "appears more than once") {
		t.Fatalf("got %v", rules)
	}
}

// Raw updates and signals from any client are decoded into these types by
// the data converter: Validate (the update validators' check) must refuse
// what the JSON hid, while decoding itself still succeeds.
func TestDecodedRequestsAndReportsKeepJSONProblemsForValidate(t *testing.T) {
	var r order.Request
	if err := json.Unmarshal([]byte(`{"requestedBy":"jane","reason":"x","Reason":"y"}`), &r); err != nil {
		t.Fatal(err)
	}
	if rules := fieldRules(t, r.Validate("reopen")); !strings.Contains(rules["Reason"], "appears more than once") {
		t.Fatalf("got %v", rules)
	}
	if err := json.Unmarshal([]byte("{\"requestedBy\":\"ja\xffne\",\"reason\":\"x\"}"), &r); err != nil {
		t.Fatal(err)
	}
	if rules := fieldRules(t, r.Validate("cancel")); rules["requestedBy"] != "must be valid UTF-8 text" {
		t.Fatalf("got %v", rules)
	}
	var u order.UnlinkCompleted
	if err := json.Unmarshal([]byte(`{"completedBy":"ops","reference":"T-1","completedBy":"other"}`), &u); err != nil {
		t.Fatal(err)
	}
	if rules := fieldRules(t, u.Validate(now)); !strings.Contains(rules["completedBy"], "appears more than once") {
		t.Fatalf("got %v", rules)
	}
	// Clean JSON decodes to a valid value, as before.
	if err := json.Unmarshal([]byte(`{"completedBy":"ops","reference":"T-1"}`), &u); err != nil || u.Validate(now) != nil {
		t.Fatalf("decode %v, validate %v", err, u.Validate(now))
	}
}
