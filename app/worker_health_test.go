package app_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/server/temporaltest"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/cloudmarket/termination-orders/health"
	"github.com/cloudmarket/termination-orders/internal/netfault"
	"github.com/cloudmarket/termination-orders/internal/pgtest"
	"github.com/cloudmarket/termination-orders/internal/ports"
	"github.com/cloudmarket/termination-orders/order"
	"github.com/cloudmarket/termination-orders/starter"
	"github.com/cloudmarket/termination-orders/worker"
)

func readyz(t require.TestingT, addr string) (int, health.Report) {
	resp, err := http.Get("http://" + addr + "/readyz")
	require.NoError(t, err)
	defer resp.Body.Close()
	var report health.Report
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&report))
	return resp.StatusCode, report
}

// A status store that accepts the connection and never answers fails the
// start within store.connect_timeout, with a line saying what the worker
// waits for first, and an error naming the store (no password) and the timeout.
func TestSilentStoreFailsTheStart(t *testing.T) {
	silent, err := netfault.Silent()
	require.NoError(t, err)
	defer silent.Close()
	cfg := loadConfig(t, "--store-dsn", "postgres://termination:s3cret@"+silent.Addr()+"/termination_status?sslmode=disable",
		"--store-connect-timeout", "1s")
	core, logs := observer.New(zapcore.InfoLevel)
	done := make(chan error, 1)
	go func() { done <- cfg.RunWorker(context.Background(), zap.New(core)) }()
	var runErr error
	select {
	case runErr = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Run still waiting for the store 30s after its 1s connect timeout")
	}
	require.Error(t, runErr)
	require.Contains(t, runErr.Error(), "status store postgres://termination:xxxxx@"+silent.Addr()+"/termination_status?sslmode=disable did not answer within 1s")
	require.Contains(t, runErr.Error(), "store.connect_timeout is 1s")
	require.NotContains(t, runErr.Error(), "s3cret")

	opening := logs.FilterMessage("Opening the status store").All()
	require.Len(t, opening, 1)
	require.Equal(t, "postgres://termination:xxxxx@"+silent.Addr()+"/termination_status?sslmode=disable", opening[0].ContextMap()["store"])
	require.Equal(t, time.Second, opening[0].ContextMap()["connectTimeout"])
	for _, e := range logs.All() {
		for _, v := range e.ContextMap() {
			if s, ok := v.(string); ok {
				require.NotContains(t, s, "s3cret", "line %q", e.Message)
			}
		}
	}
}

// /readyz is 200 once the worker polls and its PostgreSQL store answers, 503
// naming the store while the network path to the store is silent, and 200
// again once it is back; /healthz is 200 throughout. The pool limit reaches
// database/sql, and the health check mode reads the same answer.
func TestReadinessFollowsTheStore(t *testing.T) {
	ts := temporaltest.NewServer(temporaltest.WithT(t))
	ctx := context.Background()
	require.NoError(t, worker.RegisterSearchAttributes(ctx, ts.GetDefaultClient(), ts.GetDefaultNamespace()))
	dsn := pgtest.NewDatabase(t)
	u, err := url.Parse(dsn)
	require.NoError(t, err)
	proxy, err := netfault.Listen(u.Host)
	require.NoError(t, err)
	defer proxy.Close()
	u.Host = proxy.Addr()
	addr, err := ports.FreeAddress("127.0.0.1")
	require.NoError(t, err)
	cfg := loadConfig(t, "--temporal-address", ts.GetFrontendHostPort(), "--temporal-namespace", ts.GetDefaultNamespace(),
		"--task-queue", "ready-test", "--store-dsn", u.String(), "--metrics-address", addr, "--store-max-open-conns", "3", "--store-max-idle-conns", "2")

	core, logs := observer.New(zapcore.InfoLevel)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- cfg.RunWorker(runCtx, zap.New(core)) }()
	defer func() { stop(); require.NoError(t, <-done) }()

	require.EventuallyWithT(t, func(c *assert.CollectT) {
		code, report := readyz(c, addr)
		require.Equal(c, http.StatusOK, code, "%+v", report)
		require.True(c, report.Ready)
		require.Equal(c, "polling task queue ready-test", report.Checks["worker"].Detail)
		require.Regexp(c, regexp.MustCompile(`^postgres status store answered in \d+`), report.Checks["store"].Detail)
	}, 30*time.Second, 100*time.Millisecond)
	line, err := cfg.CheckWorkerReady(ctx)
	require.NoError(t, err)
	require.Regexp(t, `^ready: store ok \(postgres status store answered in [^)]+\); worker ok \(polling task queue ready-test\)$`, line)

	opened := logs.FilterMessage("Status store open").All()
	require.Len(t, opened, 1)
	require.EqualValues(t, 3, opened[0].ContextMap()["maxOpenConns"], "the sql.DB's own limit")

	require.NoError(t, proxy.Set(netfault.BlackHole))
	code, report := readyz(t, addr)
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.False(t, report.Ready)
	require.True(t, report.Checks["worker"].Ready, "the worker still polls")
	require.False(t, report.Checks["store"].Ready)
	require.Equal(t, "postgres status store did not answer within 2s", report.Checks["store"].Detail)
	_, err = cfg.CheckWorkerReady(ctx)
	require.EqualError(t, err, "not ready: store NOT READY (postgres status store did not answer within 2s); worker ok (polling task queue ready-test)")

	resp, err := http.Get("http://" + addr + "/healthz")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "alive while not ready")

	require.NoError(t, proxy.Set(netfault.Forward))
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		code, report := readyz(c, addr)
		require.Equal(c, http.StatusOK, code, "%+v", report)
	}, 30*time.Second, 200*time.Millisecond)

	// And the store works for orders again.
	orders := starter.New(ts.GetDefaultClient(), "ready-test")
	_, err = orders.Start(ctx, order.Order{OrderID: "ORD-READY", SubscriptionID: "SUB-1", AccountID: "123456789012",
		TerminationType: order.TerminationTypeCloseAccount, Items: []order.Item{{ItemID: "I"}}, RequestedBy: "jane"})
	require.NoError(t, err)
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		st, err := orders.Status(ctx, "ORD-READY")
		require.NoError(c, err)
		require.Equal(c, order.StageAwaitingUnlink, st.Stage)
	}, 30*time.Second, 100*time.Millisecond)
}

// The concurrency limits from the settings are the running worker's: the
// SDK reports its free slots per worker type on /metrics.
func TestConcurrencyLimitsReachTheSDK(t *testing.T) {
	ts := temporaltest.NewServer(temporaltest.WithT(t))
	c := ts.GetDefaultClient()
	ctx := context.Background()
	require.NoError(t, worker.RegisterSearchAttributes(ctx, c, ts.GetDefaultNamespace()))
	addr, err := ports.FreeAddress("127.0.0.1")
	require.NoError(t, err)
	cfg := loadConfig(t, "--temporal-address", ts.GetFrontendHostPort(), "--temporal-namespace", ts.GetDefaultNamespace(),
		"--task-queue", "limits-test", "--store-dsn", "sqlite:"+t.TempDir()+"/status.db", "--metrics-address", addr,
		"--max-concurrent-activities", "7", "--max-concurrent-local-activities", "3")
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- cfg.RunWorker(runCtx, zap.NewNop()) }()
	defer func() { stop(); require.NoError(t, <-done) }()

	// A status write makes the local activity worker report its slots.
	orders := starter.New(c, "limits-test")
	_, err = orders.Start(ctx, order.Order{OrderID: "ORD-LIMITS", SubscriptionID: "SUB-1", AccountID: "123456789012",
		TerminationType: order.TerminationTypeCloseAccount, Items: []order.Item{{ItemID: "I"}}, RequestedBy: "jane"})
	require.NoError(t, err)
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		body := scrape(ct, addr)
		require.Regexp(ct, `temporal_worker_task_slots_available\{[^}]*worker_type="ActivityWorker"[^}]*\} 7\n`, body)
		require.Regexp(ct, `temporal_worker_task_slots_available\{[^}]*worker_type="LocalActivityWorker"[^}]*\} 3\n`, body)
	}, 30*time.Second, 200*time.Millisecond)
}

func TestOptionsFromConfig(t *testing.T) {
	cfg := loadConfig(t, "--max-concurrent-activities", "11", "--max-concurrent-local-activities", "12", "--stop-timeout", "9s")
	opts := cfg.WorkerOptions().SDKOptions()
	require.Equal(t, 11, opts.MaxConcurrentActivityExecutionSize)
	require.Equal(t, 12, opts.MaxConcurrentLocalActivityExecutionSize)
	require.Equal(t, 9*time.Second, opts.WorkerStopTimeout)
	defaults := loadConfig(t).WorkerOptions().SDKOptions()
	require.Equal(t, 50, defaults.MaxConcurrentActivityExecutionSize, "not the SDK's 1,000")
	require.Equal(t, 50, defaults.MaxConcurrentLocalActivityExecutionSize, "not the SDK's 1,000")
	// Pollers scale on the server's feedback, up to the settings, not the SDK's fixed two.
	autoscaled := func(most int) sdkworker.PollerBehavior {
		return sdkworker.NewPollerBehaviorAutoscaling(sdkworker.PollerBehaviorAutoscalingOptions{
			InitialNumberOfPollers: 2, MinimumNumberOfPollers: 1, MaximumNumberOfPollers: most})
	}
	require.Equal(t, autoscaled(16), defaults.WorkflowTaskPollerBehavior)
	require.Equal(t, autoscaled(8), defaults.ActivityTaskPollerBehavior)
	require.Zero(t, defaults.MaxConcurrentWorkflowTaskPollers)
	set := loadConfig(t, "--workflow-task-pollers", "5", "--activity-task-pollers", "3").WorkerOptions().SDKOptions()
	require.Equal(t, autoscaled(5), set.WorkflowTaskPollerBehavior)
	require.Equal(t, autoscaled(3), set.ActivityTaskPollerBehavior)
}

func scrape(t require.TestingT, addr string) string {
	resp, err := http.Get("http://" + addr + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}
