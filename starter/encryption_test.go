package starter_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/server/temporaltest"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/cloudmarket/termination-orders/activities"
	"github.com/cloudmarket/termination-orders/app"
	"github.com/cloudmarket/termination-orders/codec"
	"github.com/cloudmarket/termination-orders/config"
	"github.com/cloudmarket/termination-orders/internal/ordertest"
	"github.com/cloudmarket/termination-orders/logging"
	"github.com/cloudmarket/termination-orders/order"
	"github.com/cloudmarket/termination-orders/starter"
	"github.com/cloudmarket/termination-orders/store"
	"github.com/cloudmarket/termination-orders/worker"
	"github.com/cloudmarket/termination-orders/workflows"
)

// encryptedEnv is a real Temporal server whose clients and workers are made
// as every process makes them: by config's one function, with the codec of
// a key ring given per connection.
type encryptedEnv struct {
	ts     *temporaltest.TestServer
	store  *store.Store
	window time.Duration
	notify activities.NotifyPolicy
	// unlinkSLA is what the starter sets UnlinkDueBy from.
	unlinkSLA time.Duration
}

func newEncryptedEnv(t *testing.T, window time.Duration) *encryptedEnv {
	t.Helper()
	ts := temporaltest.NewServer(temporaltest.WithT(t))
	ctx := context.Background()
	require.NoError(t, worker.RegisterSearchAttributes(ctx, ts.GetDefaultClient(), ts.GetDefaultNamespace()))
	st, err := store.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "status.db"))
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	return &encryptedEnv{ts: ts, store: st, window: window}
}

func (e *encryptedEnv) temporal() config.Temporal {
	return config.LocalTemporal(e.ts.GetFrontendHostPort(), e.ts.GetDefaultNamespace(), taskQueue)
}

// connect is a caller's connection (terminationctl, the API) with the ring.
func (e *encryptedEnv) connect(t *testing.T, ring *codec.KeyRing) (client.Client, *starter.Client) {
	t.Helper()
	opts, err := app.ClientOptions(e.temporal(), codec.New(ring), logging.ForTemporal(zaptest.NewLogger(t)))
	require.NoError(t, err)
	c, err := client.Dial(opts)
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c, starter.New(c, taskQueue, starter.WithUnlinkSLA(e.unlinkSLA))
}

// startWorker runs a worker process's worker with the ring; stop ends it as
// a process ends, forgetting every cached order.
func (e *encryptedEnv) startWorker(t *testing.T, ring *codec.KeyRing, logger *zap.Logger) (stop func()) {
	t.Helper()
	opts, err := app.WorkerClientOptions(e.temporal(), codec.New(ring), logging.ForTemporal(logger))
	require.NoError(t, err)
	c, err := client.Dial(opts)
	require.NoError(t, err)
	w := worker.New(c, e.store, worker.Options{TaskQueue: taskQueue, Policy: activities.Policy{ReopenWindow: e.window, Notify: e.notify}, StopTimeout: 5 * time.Second})
	require.NoError(t, w.Start())
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			w.Stop()
			c.Close()
			sdkworker.PurgeStickyWorkflowCache()
		}
	}
	t.Cleanup(stop)
	return stop
}

func keyRing(t *testing.T, active string, keys ...codec.Key) *codec.KeyRing {
	t.Helper()
	r, err := codec.NewKeyRing(active, keys...)
	require.NoError(t, err)
	return r
}

func newTestKey(t *testing.T, id string) codec.Key {
	t.Helper()
	k, err := codec.NewKey(id)
	require.NoError(t, err)
	return k
}

func waitForStage(t testing.TB, orders *starter.Client, id string, stage order.Stage) order.Status {
	t.Helper()
	var s order.Status
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		var err error
		s, err = orders.Status(context.Background(), id)
		require.NoError(c, err)
		require.Equal(c, stage, s.Stage)
	}, 60*time.Second, 100*time.Millisecond)
	return s
}

// rawHistory is the history as the server's own API returns it: nothing
// decoded.
func rawHistory(t *testing.T, c client.Client, namespace, workflowID string) *historypb.History {
	t.Helper()
	h := &historypb.History{}
	var token []byte
	for {
		resp, err := c.WorkflowService().GetWorkflowExecutionHistory(context.Background(), &workflowservice.GetWorkflowExecutionHistoryRequest{
			Namespace: namespace, Execution: &commonpb.WorkflowExecution{WorkflowId: workflowID}, NextPageToken: token,
		})
		require.NoError(t, err)
		h.Events = append(h.Events, resp.GetHistory().GetEvents()...)
		if token = resp.GetNextPageToken(); len(token) == 0 {
			return h
		}
	}
}

// payloadsOf walks a message and returns every payload in it with the path
// of fields that leads to it.
func payloadsOf(m proto.Message) map[string][]*commonpb.Payload {
	out := map[string][]*commonpb.Payload{}
	var walk func(path string, m protoreflect.Message)
	walk = func(path string, m protoreflect.Message) {
		if p, ok := m.Interface().(*commonpb.Payload); ok {
			out[path] = append(out[path], p)
			return
		}
		m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
			name := path + "." + string(fd.Name())
			switch {
			case fd.IsList() && fd.Message() != nil:
				for i := range v.List().Len() {
					walk(name, v.List().Get(i).Message())
				}
			case fd.IsMap() && fd.MapValue().Message() != nil:
				v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
					walk(name, mv.Message())
					return true
				})
			case fd.Message() != nil && !fd.IsMap():
				walk(name, v.Message())
			}
			return true
		})
	}
	walk("", m.ProtoReflect())
	return out
}

// TestEncryptedHistoryHoldsNothingPersonal drives orders down every path a
// customer or Operations can take, with encryption on, then reads their
// histories and descriptions from the server's own API: no e-mail address,
// reason or status message is in them, every payload but the search
// attributes is encrypted, and the callers still read everything.
func TestEncryptedHistoryHoldsNothingPersonal(t *testing.T) {
	e := newEncryptedEnv(t, 2*time.Second)
	ring := keyRing(t, "k1", newTestKey(t, "k1"))
	e.startWorker(t, ring, zaptest.NewLogger(t))
	c, orders := e.connect(t, ring)
	ctx := context.Background()

	personal := []string{
		"jane.doe@example.com", "ops.sam@example.com", "OPS-7781",
		"Still need the account for the audit", "Changed my mind about closing",
		"has been submitted", "was unlinked and closed", // status messages
	}
	unlink := order.UnlinkCompleted{CompletedBy: "ops.sam@example.com", Reference: "OPS-7781"}

	_, err := orders.Start(ctx, newOrder("ENC-REOPENED"))
	require.NoError(t, err)
	waitForStage(t, orders, "ENC-REOPENED", order.StageAwaitingUnlink)
	_, err = orders.ConfirmUnlink(ctx, "ENC-REOPENED", unlink)
	require.NoError(t, err)
	reopened, err := orders.Reopen(ctx, "ENC-REOPENED", order.Request{RequestedBy: "jane.doe@example.com", Reason: "Still need the account for the audit"})
	require.NoError(t, err)

	_, err = orders.Start(ctx, newOrder("ENC-CANCELLED"))
	require.NoError(t, err)
	waitForStage(t, orders, "ENC-CANCELLED", order.StageAwaitingUnlink)
	_, err = orders.Cancel(ctx, "ENC-CANCELLED", order.Request{RequestedBy: "jane.doe@example.com", Reason: "Changed my mind about closing"})
	require.NoError(t, err)

	_, err = orders.Start(ctx, newOrder("ENC-CLOSED"))
	require.NoError(t, err)
	waitForStage(t, orders, "ENC-CLOSED", order.StageAwaitingUnlink)
	// Unlinked by a signal, as Operations send it with the temporal CLI.
	require.NoError(t, c.SignalWorkflow(ctx, order.WorkflowID("ENC-CLOSED"), "", workflows.SignalUnlinkCompleted, unlink))
	waitForStage(t, orders, "ENC-CLOSED", order.StagePermanentlyClosed)

	// A raw start from a client that is not ours, with input that breaks
	// the contract: the order fails, and its failure's message is encrypted.
	bad := newOrder("ENC-INVALID")
	bad.AccountID = "jane.doe@example.com"
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: order.WorkflowID(bad.OrderID), TaskQueue: taskQueue}, workflows.WorkflowType, bad)
	require.NoError(t, err)
	err = run.Get(ctx, nil)
	var appErr *temporal.ApplicationError
	require.ErrorAs(t, err, &appErr, "the caller with the key reads the failure")
	assert.Equal(t, workflows.ErrTypeInvalidOrder, appErr.Type())
	assert.Contains(t, appErr.Error(), "accountId")

	// An authorised reader (a caller with the key) reads everything.
	assert.Contains(t, reopened.StatusMessage, "jane.doe@example.com")
	assert.Contains(t, reopened.StatusMessage, "Still need the account for the audit")
	cancelled := waitForStage(t, orders, "ENC-CANCELLED", order.StageCancelled)
	assert.Contains(t, cancelled.StatusMessage, "Changed my mind about closing")

	raw := e.ts.GetDefaultClient() // no codec: what anyone with access to the server sees
	for _, id := range []string{"ENC-REOPENED", "ENC-CANCELLED", "ENC-CLOSED", "ENC-INVALID"} {
		t.Run(id, func(t *testing.T) {
			h := rawHistory(t, raw, e.ts.GetDefaultNamespace(), order.WorkflowID(id))
			desc, err := raw.WorkflowService().DescribeWorkflowExecution(ctx, &workflowservice.DescribeWorkflowExecutionRequest{
				Namespace: e.ts.GetDefaultNamespace(), Execution: &commonpb.WorkflowExecution{WorkflowId: order.WorkflowID(id)},
			})
			require.NoError(t, err)
			for _, m := range []proto.Message{h, desc} {
				wire, err := proto.Marshal(m)
				require.NoError(t, err)
				text := protojson.Format(m)
				for _, secret := range personal {
					assert.NotContains(t, string(wire), secret, "in the raw %T", m)
					assert.NotContains(t, text, secret, "in the raw %T as JSON", m)
				}
				for path, ps := range payloadsOf(m) {
					for _, p := range ps {
						encoding := string(p.GetMetadata()[converter.MetadataEncoding])
						if strings.Contains(path, "search_attributes") || strings.HasPrefix(path, ".workflow_execution_info.search_attributes") {
							continue // in clear by design: stage, account, subscription, deadlines
						}
						assert.Equal(t, codec.MetadataEncoding, encoding, "payload at %s of the raw %T", path, m)
						assert.Equal(t, "k1", string(p.GetMetadata()[codec.MetadataKeyID]), "payload at %s", path)
					}
				}
			}
			// The Web UI's summary and details are payloads like the others.
			started := h.GetEvents()[0].GetUserMetadata()
			if id != "ENC-INVALID" {
				require.NotNil(t, started.GetSummary())
				assert.Equal(t, codec.MetadataEncoding, string(started.GetSummary().GetMetadata()[converter.MetadataEncoding]))
				assert.Equal(t, codec.MetadataEncoding, string(started.GetDetails().GetMetadata()[converter.MetadataEncoding]))
			}
			// Failures carry "Encoded failure"; their text is in an encrypted payload.
			for _, ev := range h.GetEvents() {
				if f := ev.GetWorkflowExecutionFailedEventAttributes().GetFailure(); f != nil {
					assert.Equal(t, "Encoded failure", f.GetMessage())
					assert.Equal(t, codec.MetadataEncoding, string(f.GetEncodedAttributes().GetMetadata()[converter.MetadataEncoding]))
				}
			}
		})
	}

	// The account is in clear where it is meant to be: the search attributes.
	h := rawHistory(t, raw, e.ts.GetDefaultNamespace(), order.WorkflowID("ENC-CLOSED"))
	wire, err := proto.Marshal(h.GetEvents()[0].GetWorkflowExecutionStartedEventAttributes().GetSearchAttributes())
	require.NoError(t, err)
	assert.Contains(t, string(wire), ordertest.Account("ENC-CLOSED"))
}

// TestKeyRotationWhileOrdersRun rotates from key k1 to k2 while orders wait
// for their unlink: an order started under k1 finishes under k2; then k1 is
// removed while an order still needs it, and the worker refuses to decide
// that order (its workflow task fails, naming the key) instead of failing
// it, until k1 is back.
func TestKeyRotationWhileOrdersRun(t *testing.T) {
	e := newEncryptedEnv(t, 2*time.Second)
	k1, k2 := newTestKey(t, "k1"), newTestKey(t, "k2")
	ctx := context.Background()

	// Before: k1 only.
	before := keyRing(t, "k1", k1)
	stop := e.startWorker(t, before, zaptest.NewLogger(t))
	_, orders := e.connect(t, before)
	for _, id := range []string{"ROT-1", "ROT-2"} {
		_, err := orders.Start(ctx, newOrder(id))
		require.NoError(t, err)
		waitForStage(t, orders, id, order.StageAwaitingUnlink)
	}
	stop()

	// Rotated: k2 is added and made active; k1 stays to decrypt.
	rotated := keyRing(t, "k2", k1, k2)
	stop = e.startWorker(t, rotated, zaptest.NewLogger(t))
	c, orders := e.connect(t, rotated)
	_, err := orders.ConfirmUnlink(ctx, "ROT-1", ops())
	require.NoError(t, err)
	final := waitForStage(t, orders, "ROT-1", order.StagePermanentlyClosed)
	assert.Contains(t, final.Timeline[0].Message, "has been submitted")
	keys := map[string]bool{}
	for _, ps := range payloadsOf(rawHistory(t, c, e.ts.GetDefaultNamespace(), order.WorkflowID("ROT-1"))) {
		for _, p := range ps {
			if id := string(p.GetMetadata()[codec.MetadataKeyID]); id != "" {
				keys[id] = true
			}
		}
	}
	assert.Equal(t, map[string]bool{"k1": true, "k2": true}, keys, "the order's history holds payloads of both keys")
	stop()

	// k1 removed too early: ROT-2's input is still under k1.
	logs, observed := observer.New(zapcore.WarnLevel)
	withoutK1 := keyRing(t, "k2", k2)
	stop = e.startWorker(t, withoutK1, zap.New(zapcore.NewTee(zaptest.NewLogger(t).Core(), logs)))
	unlink := ops()
	unlink.RequestID = "rotation-unlink-rot-2"
	short, cancel := context.WithTimeout(ctx, 5*time.Second)
	_, err = orders.ConfirmUnlink(short, "ROT-2", unlink)
	cancel()
	require.Error(t, err, "no worker can decide the unlink without k1")
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		found := slices.ContainsFunc(observed.All(), func(entry observer.LoggedEntry) bool {
			fields := entry.ContextMap()
			text := fmt.Sprint(fields["Error"])
			return fields["WorkflowID"] == order.WorkflowID("ROT-2") &&
				strings.Contains(text, `unknown encryption key "k1"`) && strings.Contains(text, "(k2)")
		})
		assert.True(c, found, "the worker logs the missing key by its ID")
	}, 30*time.Second, 100*time.Millisecond)
	desc, err := c.DescribeWorkflowExecution(ctx, order.WorkflowID("ROT-2"), "")
	require.NoError(t, err)
	assert.Equal(t, enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, desc.GetWorkflowExecutionInfo().GetStatus(), "the order is not failed for a missing key")
	stop()

	// A caller without the key is told which key it lacks.
	_, plain := e.connect(t, keyRing(t, ""))
	_, err = plain.Status(ctx, "ROT-1")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `unknown encryption key "k2"`)
	var decrypt *codec.DecryptError
	assert.True(t, errors.As(err, &decrypt) || strings.Contains(err.Error(), "k2"))

	// k1 back: the order goes on as if nothing happened.
	e.startWorker(t, rotated, zaptest.NewLogger(t))
	_, err = orders.ConfirmUnlink(ctx, "ROT-2", unlink)
	require.NoError(t, err)
	final = waitForStage(t, orders, "ROT-2", order.StagePermanentlyClosed)
	assert.Len(t, final.Timeline, 3, "submitted, closed, closed for good: nothing failed, nothing twice")
}

// TestRecordEncryptedHistories records orders whose payloads are encrypted
// with the committed test keys (testdata/replay/test-keys), for
// workflows/replay_test.go: one life under one key, compared exactly like
// the plain histories, and one started under key a and finished under key b.
func TestRecordEncryptedHistories(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(historyDir, "test-keys"))
	require.NoError(t, err)
	keys, err := codec.ParseKeyFile(string(b))
	require.NoError(t, err)
	e := newEncryptedEnv(t, historyWindow)
	e.notify, e.unlinkSLA = historyNotify, historyNotify.UnlinkSLA
	a := keyRing(t, "test-2026-a", keys...)
	stop := e.startWorker(t, a, zaptest.NewLogger(t))
	c, orders := e.connect(t, a)
	hist := &env{temporal: c, store: e.store, orders: orders, queue: taskQueue, namespace: e.ts.GetDefaultNamespace()}

	id := "ORD-HIST-encrypted_warned_then_closed_for_good"
	run := closedForGood(t, hist, id)
	compareOrWrite(t, history(t, c, order.WorkflowID(id), run), "encrypted_warned_then_closed_for_good.json")

	id = "ORD-HIST-encrypted_rotated_then_reopened"
	run = start(t, hist, id)
	stop()
	rotated := keyRing(t, "test-2026-b", keys...)
	e.startWorker(t, rotated, zaptest.NewLogger(t))
	c, hist.orders = e.connect(t, rotated)
	hist.temporal = c
	// The first task after the restart may wait for the old worker's sticky
	// queue to time out; a query, which leaves no history, takes that wait.
	waitForStage(t, hist.orders, id, order.StageAwaitingUnlink)
	require.NoError(t, confirmed(hist.orders.ConfirmUnlink(context.Background(), id, ops())))
	waitQuiet(t, hist, id)
	_, err = hist.orders.Reopen(context.Background(), id, order.Request{RequestedBy: "jane.doe@example.com", Reason: "Rotated and reopened"})
	require.NoError(t, err)
	finish(t, hist, id, run, order.StageReopened)
	h := history(t, c, order.WorkflowID(id), run)
	used := map[string]bool{}
	for _, ps := range payloadsOf(h) {
		for _, p := range ps {
			if k := string(p.GetMetadata()[codec.MetadataKeyID]); k != "" {
				used[k] = true
			}
		}
	}
	require.Equal(t, map[string]bool{"test-2026-a": true, "test-2026-b": true}, used)
	compareOrWrite(t, h, "encrypted_rotated_then_reopened.json")
}
