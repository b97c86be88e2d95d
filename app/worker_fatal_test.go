package app_test

import (
	"context"
	"strings"
	"testing"
	"time"
	_ "unsafe" // go:linkname, for the SDK's test hook below

	"github.com/stretchr/testify/require"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/temporal"
	"go.temporal.io/server/temporaltest"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/cloudmarket/termination-orders/worker"
)

// setRetryLongPollGracePeriod is the SDK's own test hook (internal, "for test
// use only"): how long pollers retry an error the SDK deems fatal before they
// give up. Its default, two minutes, would make this test wait that long.
//
//go:linkname setRetryLongPollGracePeriod go.temporal.io/sdk/internal.SetRetryLongPollGracePeriod
func setRetryLongPollGracePeriod(period time.Duration)

// When the SDK stops polling on a fatal error (here: the namespace is
// deleted under the running worker, so every poll answers NamespaceNotFound),
// Run returns an error saying so, instead of waiting for a signal that may
// never come while the process polls nothing.
func TestRunEndsOnAFatalPollError(t *testing.T) {
	setRetryLongPollGracePeriod(time.Second)
	t.Cleanup(func() { setRetryLongPollGracePeriod(2 * time.Minute) })
	ts := temporaltest.NewServer(temporaltest.WithT(t), temporaltest.WithBaseServerOptions(
		temporal.WithDynamicConfigClient(dynamicconfig.StaticClient{
			dynamicconfig.ForceSearchAttributesCacheRefreshOnRead.Key(): []dynamicconfig.ConstrainedValue{{Value: true}},
			// Empty polls come back quickly, so the pollers see the deletion soon.
			dynamicconfig.MatchingLongPollExpirationInterval.Key(): []dynamicconfig.ConstrainedValue{{Value: 2 * time.Second}},
			dynamicconfig.NamespaceCacheRefreshInterval.Key():      []dynamicconfig.ConstrainedValue{{Value: time.Second}},
		})))
	c := ts.GetDefaultClient()
	ctx := context.Background()
	ns := ts.GetDefaultNamespace()
	require.NoError(t, worker.RegisterSearchAttributes(ctx, c, ns))
	cfg := loadConfig(t, "--temporal-address", ts.GetFrontendHostPort(), "--temporal-namespace", ns,
		"--task-queue", "fatal-test", "--store-dsn", "sqlite:"+t.TempDir()+"/status.db")

	core, logs := observer.New(zapcore.InfoLevel)
	done := make(chan error, 1)
	go func() { done <- cfg.RunWorker(ctx, zap.New(core)) }() // never cancelled: only the fatal error ends it
	require.Eventually(t, func() bool { return logs.FilterMessage("Worker started").Len() == 1 }, 30*time.Second, 50*time.Millisecond)

	_, err := c.OperatorService().DeleteNamespace(ctx, &operatorservice.DeleteNamespaceRequest{Namespace: ns})
	require.NoError(t, err)

	var runErr error
	select {
	case runErr = <-done:
	case <-time.After(3 * time.Minute):
		t.Fatal("Run still waiting 3 minutes after its namespace was deleted")
	}
	require.Error(t, runErr)
	require.Contains(t, runErr.Error(), "worker stopped polling task queue fatal-test in namespace "+ns+" on a fatal error")
	require.True(t, strings.Contains(runErr.Error(), "not found"), "the SDK's cause is kept: %v", runErr)
	fatal := logs.FilterMessage("Worker stopped polling on a fatal error; exiting so that it can be restarted").All()
	require.Len(t, fatal, 1)
	require.Equal(t, zapcore.ErrorLevel, fatal[0].Level)
}
