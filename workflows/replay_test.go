package workflows_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/cloudmarket/termination-orders/codec"
	"github.com/cloudmarket/termination-orders/internal/histories"
	"github.com/cloudmarket/termination-orders/order"
	"github.com/cloudmarket/termination-orders/workflows"
)

// The committed histories were recorded from a real server, one directory
// per release (starter/history_test.go). Replaying every release's proves
// that today's workflow code still makes the same decisions for orders
// already running: a change that breaks this needs a patch
// (docs/versioning.md), never rewritten histories.
func TestReplayCommittedHistories(t *testing.T) {
	files, err := filepath.Glob("testdata/replay/*/*.json")
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(files), 15, "every path of an order's life, for every release")
	require.NotEmpty(t, slices.DeleteFunc(slices.Clone(files), func(f string) bool { return !strings.Contains(f, "encrypted_") }),
		"histories recorded with encryption on")
	for _, file := range files {
		t.Run(filepath.ToSlash(file), func(t *testing.T) {
			// Every history replays with the test keys: the plain ones
			// pass through the codec, as orders started before encryption
			// was turned on do.
			replayer, err := worker.NewWorkflowReplayerWithOptions(worker.WorkflowReplayerOptions{DataConverter: testConverter(t)})
			require.NoError(t, err)
			workflows.Register(replayer)
			require.NoError(t, replay(t, replayer, file))
		})
	}
}

// The workflow code must be the code the newest release's histories were
// recorded from: a change to it records its paths under a new release
// (docs/versioning.md), so every path a running order can take is replayed.
func TestWorkflowChangeHasItsHistories(t *testing.T) {
	releases, err := histories.Releases("testdata/replay")
	require.NoError(t, err)
	require.NotEmpty(t, releases)
	newest := releases[len(releases)-1]
	recorded, err := histories.ReadFingerprint(filepath.Join("testdata/replay", newest))
	require.NoError(t, err)
	current, err := histories.Fingerprint(".")
	require.NoError(t, err)
	require.Equal(t, recorded, current,
		"the workflow code changed since release %s's histories were recorded. Follow docs/versioning.md: patch the change, "+
			"set historyRelease in starter/history_test.go to a new release and record its histories with "+
			"TERMINATION_WRITE_HISTORIES=1 go test ./starter -run TestRecord", newest)
}

// An encrypted history without its key does not replay, and says which key
// is missing.
func TestEncryptedHistoryNeedsItsKey(t *testing.T) {
	for name, keys := range map[string][]codec.Key{"no keys": nil, "another key": {mustNewKey(t, "test-2026-c")}} {
		t.Run(name, func(t *testing.T) {
			ring, err := codec.NewKeyRing("", keys...)
			require.NoError(t, err)
			replayer, err := worker.NewWorkflowReplayerWithOptions(worker.WorkflowReplayerOptions{DataConverter: codec.WorkerDataConverter(codec.New(ring))})
			require.NoError(t, err)
			workflows.Register(replayer)
			err = replayHistory(t, replayer, "testdata/replay/1.0/encrypted_warned_then_closed_for_good.json", "ORD-HIST-encrypted_warned_then_closed_for_good")
			require.Error(t, err)
			require.Contains(t, err.Error(), `unknown encryption key "test-2026-a"`)
		})
	}
}

// testConverter is the workers' data converter with the committed test keys
// (testdata/replay/test-keys), which encrypted the encrypted_* histories.
func testConverter(t *testing.T) converter.DataConverter {
	t.Helper()
	b, err := os.ReadFile("testdata/replay/test-keys")
	require.NoError(t, err)
	keys, err := codec.ParseKeyFile(string(b))
	require.NoError(t, err)
	ring, err := codec.NewKeyRing("", keys...)
	require.NoError(t, err)
	return codec.WorkerDataConverter(codec.New(ring))
}

func mustNewKey(t *testing.T, id string) codec.Key {
	t.Helper()
	k, err := codec.NewKey(id)
	require.NoError(t, err)
	return k
}

// An unversioned change to the order's steps must fail the replay: this is
// what keeps 90-day-old orders safe from a careless deploy.
func TestReplayCatchesAnUnversionedChange(t *testing.T) {
	changed := func(ctx workflow.Context, o converter.RawValue) (workflows.Status, error) {
		// A new first step that the recorded orders never took.
		if err := workflow.Sleep(ctx, time.Minute); err != nil {
			return workflows.Status{}, err
		}
		return workflows.TerminationOrder(ctx, o)
	}
	replayer := worker.NewWorkflowReplayer()
	replayer.RegisterWorkflowWithOptions(changed, workflow.RegisterOptions{Name: workflows.WorkflowType})
	err := replay(t, replayer, "testdata/replay/1.0/permanently_closed.json")
	require.Error(t, err)
	require.Contains(t, err.Error(), "nondeterministic")
}

// replay replays a history under its order's real workflow ID, as a worker
// would (the replayer's default ID is not an order's).
func replay(t *testing.T, replayer worker.WorkflowReplayer, file string) error {
	t.Helper()
	return replayHistory(t, replayer, file, startedOrder(t, readHistory(t, file)).OrderID)
}

func replayHistory(t *testing.T, replayer worker.WorkflowReplayer, file, orderID string) error {
	t.Helper()
	return replayer.ReplayWorkflowHistoryWithOptions(nil, readHistory(t, file), worker.ReplayWorkflowHistoryOptions{
		OriginalExecution: workflow.Execution{ID: order.WorkflowID(orderID), RunID: "replay"},
	})
}

func readHistory(t *testing.T, file string) *historypb.History {
	t.Helper()
	f, err := os.Open(file)
	require.NoError(t, err)
	defer f.Close()
	history, err := client.HistoryFromJSON(f, client.HistoryJSONOptions{})
	require.NoError(t, err)
	return history
}

func startedOrder(t *testing.T, h *historypb.History) workflows.Order {
	t.Helper()
	input := h.GetEvents()[0].GetWorkflowExecutionStartedEventAttributes().GetInput()
	var o workflows.Order
	require.NoError(t, testConverter(t).FromPayloads(input, &o))
	return o
}

// Defect: the workflow re-ran the domain's validation on replay, so a stricter
// rule deployed under a running order took another branch and wedged it.
// accepted_under_looser_rules.json holds an order accepted when 150 items
// were allowed; today's rules refuse it, and it still replays, because its
// acceptance was recorded in history when it was made.
func TestStricterRuleLeavesAcceptedOrdersReplaying(t *testing.T) {
	const file = "testdata/replay/1.0/accepted_under_looser_rules.json"
	f, err := os.Open(file)
	require.NoError(t, err)
	defer f.Close()
	history, err := client.HistoryFromJSON(f, client.HistoryJSONOptions{})
	require.NoError(t, err)
	o := startedOrder(t, history)
	require.ErrorContains(t, o.Validate(time.Now()), "items: must list at most 100 items", "today's rule is stricter than the one the order was accepted under")

	replayer := worker.NewWorkflowReplayer()
	workflows.Register(replayer)
	require.NoError(t, replay(t, replayer, file))
}
