package app_test

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/server/temporaltest"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/cloudmarket/termination-orders/app"
	"github.com/cloudmarket/termination-orders/config"
	"github.com/cloudmarket/termination-orders/internal/ports"
	"github.com/cloudmarket/termination-orders/order"
	"github.com/cloudmarket/termination-orders/starter"
	"github.com/cloudmarket/termination-orders/store"
	"github.com/cloudmarket/termination-orders/worker"
)

// loadConfig is a worker's App, as the command loads it from these flags.
func loadConfig(t *testing.T, args ...string) app.App {
	t.Helper()
	t.Setenv("TEMPORAL_CONFIG_FILE", filepath.Join(t.TempDir(), "none.toml"))
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	app.RegisterFlags(fs, config.Worker)
	// No metrics endpoint unless a test asks: packages test in parallel.
	require.NoError(t, fs.Parse(append([]string{"--metrics-address="}, args...)))
	a, err := app.Load(fs, config.Worker)
	require.NoError(t, err)
	return a
}

func TestRunRefusesNamespaceWithoutSearchAttributes(t *testing.T) {
	ts := temporaltest.NewServer(temporaltest.WithT(t))
	cfg := loadConfig(t, "--temporal-address", ts.GetFrontendHostPort(), "--temporal-namespace", ts.GetDefaultNamespace(),
		"--store-dsn", "sqlite:"+filepath.Join(t.TempDir(), "status.db"))
	err := cfg.RunWorker(context.Background(), zap.NewNop())
	require.Error(t, err)
	require.Contains(t, err.Error(), "lacks search attributes TerminationStage (Keyword), AwsAccountId (Keyword), SubscriptionId (Keyword), ReopenDeadline (Datetime)")
	require.Contains(t, err.Error(), "temporal operator search-attribute create --namespace "+ts.GetDefaultNamespace()+" --name TerminationStage --type Keyword")
}

// Stopping the worker (what SIGINT/SIGTERM do in the command) lets a status
// write already running finish and store its message.
func TestStopLetsRunningWritesFinish(t *testing.T) {
	ts := temporaltest.NewServer(temporaltest.WithT(t))
	c := ts.GetDefaultClient()
	ctx := context.Background()
	require.NoError(t, worker.RegisterSearchAttributes(ctx, c, ts.GetDefaultNamespace()))
	dbPath := filepath.Join(t.TempDir(), "status.db")
	cfg := loadConfig(t, "--temporal-address", ts.GetFrontendHostPort(), "--temporal-namespace", ts.GetDefaultNamespace(),
		"--task-queue", "stop-test", "--store-dsn", "sqlite:"+dbPath, "--stop-timeout", "20s")
	st, err := store.Open(ctx, cfg.Config.StoreDSN)
	require.NoError(t, err)
	defer st.Close()

	core, logs := observer.New(zapcore.InfoLevel)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- cfg.RunWorker(runCtx, zap.New(core)) }()

	// A start answers once the order is accepted, which takes a write: the
	// order is submitted before SQLite's write lock is held.
	orders := starter.New(c, "stop-test")
	_, err = orders.Start(ctx, order.Order{OrderID: "ORD-STOP", SubscriptionID: "SUB-1", AccountID: "123456789012",
		TerminationType: order.TerminationTypeCloseAccount, Items: []order.Item{{ItemID: "I"}}, RequestedBy: "jane"})
	require.NoError(t, err)
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		latest, err := st.Latest(ctx, "ORD-STOP")
		require.NoError(ct, err)
		require.Equal(ct, order.StageAwaitingUnlink, latest.Stage)
	}, 30*time.Second, 50*time.Millisecond)

	// Hold the lock, so that the unlink's message write waits on it.
	locker, err := sql.Open("sqlite", "file:"+dbPath+"?_pragma=busy_timeout(10000)")
	require.NoError(t, err)
	defer locker.Close()
	lockConn, err := locker.Conn(ctx)
	require.NoError(t, err)
	_, err = lockConn.ExecContext(ctx, "BEGIN IMMEDIATE")
	require.NoError(t, err)
	// The update answers once the unlink is decided; its message is written behind the answer.
	unlinkCtx, cancelUnlink := context.WithTimeout(ctx, 10*time.Second)
	defer cancelUnlink()
	require.NoError(t, confirmed(orders.ConfirmUnlink(unlinkCtx, "ORD-STOP", order.UnlinkCompleted{CompletedBy: "ops", Reference: "OPS-1"})))
	time.Sleep(500 * time.Millisecond) // the worker is inside the write, blocked on the lock

	stop() // SIGTERM
	select {
	case err := <-done:
		t.Fatalf("Run returned (%v) while a write was still running", err)
	case <-time.After(time.Second):
	}
	_, err = lockConn.ExecContext(ctx, "COMMIT")
	require.NoError(t, err)
	require.NoError(t, <-done)

	require.Equal(t, 1, logs.FilterMessage("Worker stopped").Len())
	latest, err := st.Latest(ctx, "ORD-STOP")
	require.NoError(t, err)
	require.Equal(t, order.StagePostClosure, latest.Stage, "the write running at shutdown finished and stored its message")
}

// Every line about an order, from the workflow, its activities and the SDK,
// names the order and its workflow as structured fields.
func TestOrderLinesNameOrderAndWorkflow(t *testing.T) {
	ts := temporaltest.NewServer(temporaltest.WithT(t))
	c := ts.GetDefaultClient()
	ctx := context.Background()
	require.NoError(t, worker.RegisterSearchAttributes(ctx, c, ts.GetDefaultNamespace()))
	cfg := loadConfig(t, "--temporal-address", ts.GetFrontendHostPort(), "--temporal-namespace", ts.GetDefaultNamespace(),
		"--task-queue", "log-test", "--store-dsn", "sqlite:"+filepath.Join(t.TempDir(), "status.db"), "--reopen-window", "1s")
	core, logs := observer.New(zapcore.DebugLevel)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- cfg.RunWorker(runCtx, zap.New(core)) }()
	defer func() { stop(); <-done }()

	orders := starter.New(c, "log-test")
	run, err := orders.Start(ctx, order.Order{OrderID: "ORD-LOGS", SubscriptionID: "SUB-1", AccountID: "123456789012",
		TerminationType: order.TerminationTypeCloseAccount, Items: []order.Item{{ItemID: "I"}}, RequestedBy: "jane.doe@example.com"})
	require.NoError(t, err)
	require.NoError(t, confirmed(orders.ConfirmUnlink(ctx, "ORD-LOGS", order.UnlinkCompleted{CompletedBy: "ops.sam@example.com", Reference: "OPS-1"})))
	require.NoError(t, c.GetWorkflow(ctx, run.WorkflowID, run.RunID).Get(ctx, nil))

	// Who did what is logged by request ID and reference, never by address.
	for _, e := range logs.All() {
		require.NotContains(t, e.Message, "@example.com")
		for k, v := range e.ContextMap() {
			require.NotContains(t, fmt.Sprint(v), "@example.com", "line %q field %s", e.Message, k)
		}
	}

	seen := map[string]int{}
	for _, e := range logs.All() {
		fields := e.ContextMap()
		if fields["OrderID"] == nil && fields["WorkflowID"] == nil {
			continue // worker-wide lines: started, stopping
		}
		seen[e.Message]++
		require.Equal(t, "ORD-LOGS", fields["OrderID"], "line %q: %v", e.Message, fields)
		require.Equal(t, run.WorkflowID, fields["WorkflowID"], "line %q: %v", e.Message, fields)
	}
	require.Equal(t, 3, seen["Status message stored"], "lines: %v", seen)
	require.Equal(t, 1, seen["Account unlinked and closed"])
	require.Equal(t, 1, seen["Termination order finished"])
}

// The worker exports the SDK's metrics and the product's for Prometheus.
func TestMetricsForPrometheus(t *testing.T) {
	ts := temporaltest.NewServer(temporaltest.WithT(t))
	c := ts.GetDefaultClient()
	ctx := context.Background()
	require.NoError(t, worker.RegisterSearchAttributes(ctx, c, ts.GetDefaultNamespace()))
	addr, err := ports.FreeAddress("127.0.0.1")
	require.NoError(t, err)
	cfg := loadConfig(t, "--temporal-address", ts.GetFrontendHostPort(), "--temporal-namespace", ts.GetDefaultNamespace(),
		"--task-queue", "metrics-test", "--store-dsn", "sqlite:"+filepath.Join(t.TempDir(), "status.db"),
		"--reopen-window", "1s", "--metrics-address", addr)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- cfg.RunWorker(runCtx, zap.NewNop()) }()
	defer func() { stop(); require.NoError(t, <-done) }()

	orders := starter.New(c, "metrics-test")
	run, err := orders.Start(ctx, order.Order{OrderID: "ORD-METRICS", SubscriptionID: "SUB-1", AccountID: "123456789012",
		TerminationType: order.TerminationTypeCloseAccount, Items: []order.Item{{ItemID: "I"}}, RequestedBy: "jane"})
	require.NoError(t, err)
	require.NoError(t, confirmed(orders.ConfirmUnlink(ctx, "ORD-METRICS", order.UnlinkCompleted{CompletedBy: "ops", Reference: "OPS-1"})))
	require.NoError(t, c.GetWorkflow(ctx, run.WorkflowID, run.RunID).Get(ctx, nil))

	var body string
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		resp, err := http.Get("http://" + addr + "/metrics")
		require.NoError(ct, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		require.Regexp(ct, `termination_order_reopen_window_outcome_total\{[^}]*outcome="closed_for_good"[^}]*\} 1\n`, productLines(body))
		// The SDK records the workflow's completion once its last task is
		// done, which may be after the order's last metric.
		require.Contains(ct, body, "temporal_workflow_completed")
	}, 20*time.Second, 200*time.Millisecond)
	product := productLines(body)
	for _, stage := range []string{"AwaitingUnlink", "PostClosure", "PermanentlyClosed"} {
		require.Regexp(t, `termination_order_stage_entered_total\{[^}]*stage="`+stage+`"[^}]*\} 1\n`, product)
	}
	require.NotContains(t, product, `stage="Reopened"`)
	require.Regexp(t, `termination_order_unlink_wait_seconds_count\{[^}]*\} 1\n`, product, "one unlink wait observed")
	require.Regexp(t, `termination_order_unlink_wait_seconds_bucket\{[^}]*le="60"\} 1\n`, product, "in seconds, in its own buckets")
	require.True(t, strings.Contains(body, "temporal_workflow_completed"), "the SDK's own metrics")
	require.True(t, strings.Contains(body, "temporal_request"), "the SDK's client metrics")
	require.True(t, strings.Contains(body, `temporal_request_latency_seconds_bucket{`) && strings.Contains(body, `le="0.005"`), "latencies in sub-second buckets")
}

func productLines(body string) string {
	var out []string
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, "termination_") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n") + "\n"
}

// confirmed is the error of a ConfirmUnlink whose status the test does not need.
func confirmed(_ order.Status, err error) error { return err }
