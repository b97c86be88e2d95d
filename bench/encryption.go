package bench

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/cloudmarket/termination-orders/codec"
	"github.com/cloudmarket/termination-orders/config"
	"github.com/cloudmarket/termination-orders/starter"
	"github.com/cloudmarket/termination-orders/store"
)

// EncryptionCost is the product's saturated run with payload encryption off
// and then on: the same orders, concurrency and window, one after the other
// on the same server.
type EncryptionCost struct {
	Off EncryptionRun `json:"off"`
	On  EncryptionRun `json:"on"`
	// Ratio is the throughput with encryption on over the throughput with it off.
	Ratio float64 `json:"throughputRatioOnOff"`
}

// EncryptionRun is one of the two runs of EncryptionCost.
type EncryptionRun struct {
	Throughput   float64     `json:"ordersPerSecond"`
	Bound        string      `json:"bound"` // BoundWindow or BoundServer
	Start        Percentiles `json:"startCallMillis"`
	UnlinkStored Percentiles `json:"unlinkSignalToMessageStoredMillis"`
	// InputEncoding and ResultEncoding are the metadata encoding of one
	// order's start input (written by the starter's client) and of its
	// result (written by the worker) in the history the server stored:
	// codec.MetadataEncoding when encryption is on.
	InputEncoding  string `json:"startInputEncoding"`
	ResultEncoding string `json:"resultEncoding"`
	// StatusEvents and WorkItems are the webhooks the run's receiver got.
	StatusEvents int `json:"statusEvents"`
	WorkItems    int `json:"workItems"`
}

// encryptedRig runs the product a second time with encryption on: a second
// worker process holding a fresh key, on a task queue of its own, with a
// webhook receiver of its own, and a starter whose client encrypts under the
// same key. The key is never printed.
type encryptedRig struct {
	c      client.Client
	bench  *bench
	worker *workerProcess
	recv   *receiver
	once   sync.Once
}

func startEncryptedRig(ctx context.Context, cancel context.CancelCauseFunc, bin string, opts Options, address, dsn string, st *store.Store, seq *atomic.Int64) (_ *encryptedRig, err error) {
	key, err := codec.NewKey("bench")
	if err != nil {
		return nil, err
	}
	ring, err := codec.NewKeyRing(key.ID, key)
	if err != nil {
		return nil, err
	}
	temporal := config.LocalTemporal(address, namespace, encryptedQueue)
	rig := &encryptedRig{}
	defer func() {
		if err != nil {
			rig.close()
		}
	}()
	if rig.recv, err = startReceiver(); err != nil {
		return nil, err
	}
	if rig.worker, err = startWorkerProcess(ctx, cancel, bin, opts, workerSetup{temporal: temporal, dsn: dsn, receiverURL: rig.recv.url, key: &key}); err != nil {
		return nil, err
	}
	if rig.c, err = dial(ctx, temporal, codec.New(ring)); err != nil {
		return nil, err
	}
	if err := waitForPollers(ctx, rig.c, temporal.TaskQueue); err != nil {
		return nil, err
	}
	rig.bench = &bench{c: rig.c, st: st, orders: starter.New(rig.c, temporal.TaskQueue, starter.WithUnlinkSLA(defaultUnlinkSLA)), opts: opts, seq: seq}
	return rig, nil
}

// measure drives the orders through the encrypting worker, checks that its
// receiver got every notification and that the server stored ciphertext.
func (rig *encryptedRig) measure(ctx context.Context, cap float64) (EncryptionRun, error) {
	run, err := rig.bench.productRun(ctx, "BENCHENC")
	if err != nil {
		return EncryptionRun{}, err
	}
	byType, _, _ := rig.recv.counts()
	if err := checkNotifications(byType, rig.bench.opts.Orders, rig.bench.messagesPerOrder()); err != nil {
		return EncryptionRun{}, err
	}
	return rig.bench.encryptionRun(ctx, run, cap, byType, true)
}

// close stops the worker process (without failing the benchmark), the
// receiver and the client; it may be called more than once.
func (rig *encryptedRig) close() {
	rig.once.Do(func() {
		if rig.worker != nil {
			rig.worker.stop()
		}
		if rig.recv != nil {
			rig.recv.close()
		}
		if rig.c != nil {
			rig.c.Close()
		}
	})
}

// encryptionRun is a product run's figures for EncryptionCost, once its first
// order's history shows payloads encrypted or in clear as the run meant.
func (b *bench) encryptionRun(ctx context.Context, run saturatedRun, cap float64, byType map[string]int, encrypted bool) (EncryptionRun, error) {
	events, err := rawHistory(ctx, b.c, run.first)
	if err != nil {
		return EncryptionRun{}, err
	}
	input, result := historyEncodings(events)
	if err := checkEncodings(input, result, encrypted); err != nil {
		return EncryptionRun{}, fmt.Errorf("order %s: %w", run.first.OrderID, err)
	}
	return EncryptionRun{
		Throughput: run.throughput, Bound: Bound(run.throughput, cap),
		Start: run.start, UnlinkStored: run.unlink,
		InputEncoding: input, ResultEncoding: result,
		StatusEvents: byType["order.status"], WorkItems: byType["operations.unlink_requested"],
	}, nil
}

// rawHistory is a run's history as the server stores it: through the
// workflow service, so that no data converter decodes a payload.
func rawHistory(ctx context.Context, c client.Client, run starter.Run) ([]*historypb.HistoryEvent, error) {
	var events []*historypb.HistoryEvent
	var token []byte
	for {
		resp, err := c.WorkflowService().GetWorkflowExecutionHistory(ctx, &workflowservice.GetWorkflowExecutionHistoryRequest{
			Namespace:     namespace,
			Execution:     &commonpb.WorkflowExecution{WorkflowId: run.WorkflowID, RunId: run.RunID},
			NextPageToken: token,
		})
		if err != nil {
			return nil, fmt.Errorf("history of %s: %w", run.WorkflowID, err)
		}
		events = append(events, resp.GetHistory().GetEvents()...)
		if token = resp.GetNextPageToken(); len(token) == 0 {
			return events, nil
		}
	}
}

// historyEncodings are the metadata encodings of a completed workflow's start
// input and of its result (see payloadsEncoding); empty where the history
// has no such event.
func historyEncodings(events []*historypb.HistoryEvent) (input, result string) {
	for _, e := range events {
		switch e.GetEventType() {
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
			input = payloadsEncoding(e.GetWorkflowExecutionStartedEventAttributes().GetInput())
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
			result = payloadsEncoding(e.GetWorkflowExecutionCompletedEventAttributes().GetResult())
		}
	}
	return input, result
}

// payloadsEncoding is the encoding the payloads' metadata names, or the
// distinct ones joined with "+" if they differ; empty for no payload.
func payloadsEncoding(ps *commonpb.Payloads) string {
	var encodings []string
	for _, p := range ps.GetPayloads() {
		if enc := string(p.GetMetadata()[converter.MetadataEncoding]); !slices.Contains(encodings, enc) {
			encodings = append(encodings, enc)
		}
	}
	return strings.Join(encodings, "+")
}

// checkEncodings fails unless both encodings are codec.MetadataEncoding
// (encrypted) or neither contains it (in clear).
func checkEncodings(input, result string, encrypted bool) error {
	for _, p := range []struct{ what, encoding string }{{"start input", input}, {"result", result}} {
		switch {
		case p.encoding == "":
			return fmt.Errorf("the history has no %s payload", p.what)
		case encrypted && p.encoding != codec.MetadataEncoding:
			return fmt.Errorf("encryption is on, but the history's %s is %s, not %s", p.what, p.encoding, codec.MetadataEncoding)
		case !encrypted && strings.Contains(p.encoding, codec.MetadataEncoding):
			return fmt.Errorf("encryption is off, but the history's %s is %s", p.what, p.encoding)
		}
	}
	return nil
}

// checkNotifications fails unless a run's receiver got every order's status
// messages and its work item, each once.
func checkNotifications(byType map[string]int, orders, messagesPerOrder int) error {
	if want := orders * messagesPerOrder; byType["order.status"] != want || byType["operations.unlink_requested"] != orders {
		return fmt.Errorf("notifications: the receiver got %v, want %d status events and %d work items", byType, want, orders)
	}
	return nil
}
