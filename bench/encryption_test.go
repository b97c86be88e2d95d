package bench

import (
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/converter"

	"github.com/cloudmarket/termination-orders/codec"
	"github.com/cloudmarket/termination-orders/order"
)

// history is a completed workflow's first and last events, their payloads
// written by dc.
func history(t *testing.T, dc converter.DataConverter) []*historypb.HistoryEvent {
	t.Helper()
	input, err := dc.ToPayloads(order.Order{OrderID: "ORD-1", RequestedBy: "jane.doe@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	result, err := dc.ToPayloads(order.Status{Stage: order.StagePermanentlyClosed})
	if err != nil {
		t.Fatal(err)
	}
	return []*historypb.HistoryEvent{
		{EventId: 1, EventType: enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED, Attributes: &historypb.HistoryEvent_WorkflowExecutionStartedEventAttributes{
			WorkflowExecutionStartedEventAttributes: &historypb.WorkflowExecutionStartedEventAttributes{Input: input},
		}},
		{EventId: 2, EventType: enumspb.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED},
		{EventId: 3, EventType: enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED, Attributes: &historypb.HistoryEvent_WorkflowExecutionCompletedEventAttributes{
			WorkflowExecutionCompletedEventAttributes: &historypb.WorkflowExecutionCompletedEventAttributes{Result: result},
		}},
	}
}

func TestStoredHistoryTellsEncryptedFromClear(t *testing.T) {
	key, err := codec.NewKey("bench")
	if err != nil {
		t.Fatal(err)
	}
	on, err := codec.NewKeyRing(key.ID, key)
	if err != nil {
		t.Fatal(err)
	}
	off, err := codec.NewKeyRing("", key) // keys that only decrypt: payloads in clear
	if err != nil {
		t.Fatal(err)
	}

	input, result := historyEncodings(history(t, codec.DataConverter(codec.New(on))))
	if input != codec.MetadataEncoding || result != codec.MetadataEncoding {
		t.Errorf("encrypted history: input %q, result %q", input, result)
	}
	if err := checkEncodings(input, result, true); err != nil {
		t.Errorf("encrypted history refused with encryption on: %v", err)
	}
	if err := checkEncodings(input, result, false); err == nil {
		t.Error("encrypted history accepted with encryption off")
	}

	input, result = historyEncodings(history(t, codec.DataConverter(codec.New(off))))
	if input != "json/plain" || result != "json/plain" {
		t.Errorf("plain history: input %q, result %q", input, result)
	}
	if err := checkEncodings(input, result, false); err != nil {
		t.Errorf("plain history refused with encryption off: %v", err)
	}
	if err := checkEncodings(input, result, true); err == nil || !strings.Contains(err.Error(), "json/plain") {
		t.Errorf("plain history with encryption on: %v, want an error naming json/plain", err)
	}

	// The worker writing in clear what the client encrypted is caught too.
	if err := checkEncodings(codec.MetadataEncoding, "json/plain", true); err == nil || !strings.Contains(err.Error(), "result") {
		t.Errorf("clear result with encryption on: %v, want an error naming the result", err)
	}
	// So is a history still running (no result) or without input.
	if err := checkEncodings(codec.MetadataEncoding, "", true); err == nil {
		t.Error("a history without a result accepted")
	}
	if err := checkEncodings("", "json/plain", false); err == nil {
		t.Error("a history without an input accepted")
	}
}

func TestPayloadsOfMixedEncodingsNameEach(t *testing.T) {
	ps := &commonpb.Payloads{Payloads: []*commonpb.Payload{
		{Metadata: map[string][]byte{converter.MetadataEncoding: []byte("json/plain")}},
		{Metadata: map[string][]byte{converter.MetadataEncoding: []byte(codec.MetadataEncoding)}},
		{Metadata: map[string][]byte{converter.MetadataEncoding: []byte("json/plain")}},
	}}
	got := payloadsEncoding(ps)
	if got != "json/plain+binary/encrypted" {
		t.Errorf("payloadsEncoding = %q", got)
	}
	if checkEncodings(got, got, true) == nil || checkEncodings(got, got, false) == nil {
		t.Error("half-encrypted payloads pass as encrypted or as clear")
	}
	if got := payloadsEncoding(nil); got != "" {
		t.Errorf("payloadsEncoding(nil) = %q", got)
	}
}

func TestEachRunsNotificationsAreCounted(t *testing.T) {
	if err := checkNotifications(map[string]int{"order.status": 400, "operations.unlink_requested": 100}, 100, 4); err != nil {
		t.Error(err)
	}
	for _, byType := range []map[string]int{
		{"order.status": 399, "operations.unlink_requested": 100},
		{"order.status": 400, "operations.unlink_requested": 99},
		{"order.status": 800, "operations.unlink_requested": 200}, // both runs' webhooks in one receiver
		{},
	} {
		if err := checkNotifications(byType, 100, 4); err == nil {
			t.Errorf("checkNotifications(%v) passed", byType)
		}
	}
}

func TestTableHasTheEncryptionSection(t *testing.T) {
	r := &Results{Orders: 1000, Concurrency: 200, WindowSec: 2, CacheSize: 1000}
	var out strings.Builder
	if err := Print(&out, r); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "Encryption") {
		t.Errorf("an Encryption section without the encrypted run:\n%s", out.String())
	}

	r.Encryption = &EncryptionCost{
		Off: EncryptionRun{Throughput: 12, Bound: BoundServer, Start: Percentiles{P50: 40, P99: 1700}, UnlinkStored: Percentiles{P50: 88, P99: 280},
			InputEncoding: "json/plain", ResultEncoding: "json/plain", StatusEvents: 4000, WorkItems: 1000},
		On: EncryptionRun{Throughput: 11.4, Bound: BoundServer, Start: Percentiles{P50: 42, P99: 1870}, UnlinkStored: Percentiles{P50: 88, P99: 308},
			InputEncoding: codec.MetadataEncoding, ResultEncoding: codec.MetadataEncoding, StatusEvents: 4000, WorkItems: 1000},
		Ratio: 0.95,
	}
	out.Reset()
	if err := Print(&out, r); err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(out.String(), "\n") {
		lines = append(lines, strings.Join(strings.Fields(l), " "))
	}
	table := strings.Join(lines, "\n")
	for _, want := range []string{
		"\nEncryption (product run, payloads in clear vs AES-256-GCM) off on on/off\n",
		"\ncompleted orders/s 12.00 11.40 0.95\n",
		"\nbound by server server compares the server's capacity\n",
		"\nstart call p50 (ms) 40.0 42.0 1.05\n",
		"\nstart call p99 (ms) 1700.0 1870.0 1.10\n",
		"\nunlink confirmed -> status message stored p50 (ms) 88.0 88.0 1.00\n",
		"\nunlink confirmed -> status message stored p99 (ms) 280.0 308.0 1.10\n",
		"\nstored start input, result (one order's history) json/plain, json/plain binary/encrypted, binary/encrypted\n",
		"\nwebhooks received: status events, work items 4000, 1000 4000, 1000\n",
	} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
}
