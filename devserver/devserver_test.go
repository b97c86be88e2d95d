package devserver_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.uber.org/zap"

	"github.com/cloudmarket/termination-orders/devserver"
	"github.com/cloudmarket/termination-orders/order"
	"github.com/cloudmarket/termination-orders/starter"
	"github.com/cloudmarket/termination-orders/store"
	"github.com/cloudmarket/termination-orders/worker"
	"github.com/cloudmarket/termination-orders/workflows"
)

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// system is one life of the dev system on a data directory: server, UI, worker.
type system struct {
	server *devserver.Server
	client client.Client
	worker interface{ Stop() }
	store  *store.Store
	orders *starter.Client
}

func startSystem(t *testing.T, opts devserver.Options, window time.Duration) *system {
	t.Helper()
	ctx := context.Background()
	srv, err := devserver.Start(ctx, opts)
	require.NoError(t, err)
	c, err := client.Dial(client.Options{HostPort: srv.Address(), Namespace: opts.Namespace})
	require.NoError(t, err)
	require.NoError(t, worker.CheckSearchAttributes(ctx, c, opts.Namespace), "created with the namespace")
	st, err := store.Open(ctx, "sqlite:"+filepath.Join(opts.DataDir, "status.db"))
	require.NoError(t, err)
	w := worker.New(c, st, worker.Options{TaskQueue: workflows.DefaultTaskQueue, Policy: workflows.Policy{ReopenWindow: window}, StopTimeout: 5 * time.Second})
	require.NoError(t, w.Start())
	return &system{server: srv, client: c, worker: w, store: st, orders: starter.New(c, workflows.DefaultTaskQueue)}
}

func (s *system) stop() {
	s.worker.Stop()
	s.client.Close()
	s.store.Close()
	s.server.Stop()
}

func waitForStage(t *testing.T, orders *starter.Client, id string, stage order.Stage) order.Status {
	t.Helper()
	var s order.Status
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		var err error
		s, err = orders.Status(context.Background(), id)
		require.NoError(c, err)
		require.Equal(c, stage, s.Stage)
	}, time.Minute, 100*time.Millisecond)
	return s
}

// The dev server stopped while an order waits in its reopen window, and started
// again on the same SQLite file after the deadline: the order still closes for
// good, at its deadline and not before, each message stored once.
func TestOrderSurvivesDevServerRestart(t *testing.T) {
	opts := devserver.Options{DataDir: t.TempDir(), IP: "127.0.0.1", Port: freePort(t), UIPort: freePort(t),
		Namespace: "default", Logger: zap.NewNop()}
	const window = 4 * time.Second
	ctx := context.Background()

	first := startSystem(t, opts, window)
	_, err := first.orders.Start(ctx, order.Order{OrderID: "ORD-DEV-1", SubscriptionID: "SUB-1", AccountID: "123456789012",
		TerminationType: order.TerminationTypeCloseAccount, Items: []order.Item{{ItemID: "ITM-1"}}, RequestedBy: "jane"})
	require.NoError(t, err)
	require.NoError(t, confirmed(first.orders.ConfirmUnlink(ctx, "ORD-DEV-1", order.UnlinkCompleted{CompletedBy: "ops", Reference: "OPS-1"})))
	post := waitForStage(t, first.orders, "ORD-DEV-1", order.StagePostClosure)
	// A second order whose window is still open across the restart.
	pending := order.Order{OrderID: "ORD-DEV-2", SubscriptionID: "SUB-2", AccountID: "123456789013", ReopenWindowSeconds: 3600,
		TerminationType: order.TerminationTypeCloseAccount, Items: []order.Item{{ItemID: "ITM-1"}}, RequestedBy: "jane"}
	_, err = first.orders.Start(ctx, pending)
	require.NoError(t, err)
	require.NoError(t, confirmed(first.orders.ConfirmUnlink(ctx, "ORD-DEV-2", order.UnlinkCompleted{CompletedBy: "ops", Reference: "OPS-2"})))
	pendingPost := waitForStage(t, first.orders, "ORD-DEV-2", order.StagePostClosure)

	// One server at a time on a data directory.
	_, err = devserver.Start(ctx, devserver.Options{DataDir: opts.DataDir, IP: "127.0.0.1", Port: freePort(t), Namespace: "default", Logger: zap.NewNop()})
	require.ErrorContains(t, err, "is in use by another dev server")

	// The Web UI is served and reads this server: its API lists the order by stage.
	uiLists(t, first.server.UIURL(), "TerminationStage = 'PostClosure'", "termination-ORD-DEV-1")

	first.stop()
	time.Sleep(time.Until(post.ReopenDeadline) + time.Second) // the deadline passes while everything is down

	restarted := time.Now()
	second := startSystem(t, opts, window)
	t.Logf("restart on the same data took %v", time.Since(restarted))
	defer second.stop()
	final := waitForStage(t, second.orders, "ORD-DEV-1", order.StagePermanentlyClosed)
	require.Equal(t, post.ReopenDeadline, final.ReopenDeadline, "the restart did not move the deadline")
	require.Len(t, final.Timeline, 3)
	require.False(t, final.Timeline[2].Time.Before(post.ReopenDeadline), "closed for good at %v, before the deadline %v", final.Timeline[2].Time, post.ReopenDeadline)

	msgs, err := second.store.Timeline(ctx, "ORD-DEV-1")
	require.NoError(t, err)
	require.Len(t, msgs, 3, "each message once across the restart")

	// The order still in its window kept its deadline and can be reopened.
	reopened, err := second.orders.Reopen(ctx, "ORD-DEV-2", order.ReopenRequest{RequestedBy: "jane", Reason: "after the restart"})
	require.NoError(t, err)
	require.Equal(t, order.StageReopened, reopened.Stage)
	require.Equal(t, pendingPost.ReopenDeadline, reopened.ReopenDeadline)
	for i, m := range msgs {
		require.Equal(t, i+1, m.Seq)
		require.Equal(t, final.Timeline[i].Message, m.Text)
	}
}

// uiLists asks the Web UI's own API, as the browser does, for the workflows
// matching a visibility query, until want shows up.
func uiLists(t *testing.T, uiURL, query, want string) {
	t.Helper()
	resp, err := http.Get(uiURL + "/")
	require.NoError(t, err)
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, strings.ToLower(string(page)), "<html")

	api := uiURL + "/api/v1/namespaces/default/workflows?query=" + url.QueryEscape(query)
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		resp, err := http.Get(api)
		require.NoError(c, err)
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		require.Equal(c, http.StatusOK, resp.StatusCode, string(body))
		var list struct {
			Executions []struct {
				Execution struct {
					WorkflowID string `json:"workflowId"`
				} `json:"execution"`
			} `json:"executions"`
		}
		require.NoError(c, json.Unmarshal(body, &list))
		var ids []string
		for _, e := range list.Executions {
			ids = append(ids, e.Execution.WorkflowID)
		}
		require.Contains(c, ids, want)
	}, 30*time.Second, 200*time.Millisecond)
}

func TestStartRefusesABusyPort(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	busy := l.Addr().(*net.TCPAddr).Port
	_, err = devserver.Start(context.Background(), devserver.Options{DataDir: t.TempDir(), IP: "127.0.0.1", Port: busy,
		UIPort: freePort(t), Namespace: "default", Logger: zap.NewNop()})
	require.Error(t, err)
	require.Contains(t, err.Error(), "is not available")
	require.Contains(t, err.Error(), "--port")
}

func TestDevNamespaceKeepsFinishedOrdersForThirtyDays(t *testing.T) {
	opts := devserver.Options{DataDir: t.TempDir(), IP: "127.0.0.1", Port: freePort(t), Namespace: "default", Logger: zap.NewNop()}
	srv, err := devserver.Start(context.Background(), opts)
	require.NoError(t, err)
	defer srv.Stop()
	c, err := client.Dial(client.Options{HostPort: srv.Address(), Namespace: "default"})
	require.NoError(t, err)
	defer c.Close()
	desc, err := c.WorkflowService().DescribeNamespace(context.Background(), &workflowservice.DescribeNamespaceRequest{Namespace: "default"})
	require.NoError(t, err)
	require.Equal(t, devserver.Retention, desc.GetConfig().GetWorkflowExecutionRetentionTtl().AsDuration())
}

// confirmed is the error of a ConfirmUnlink whose status the test does not need.
func confirmed(_ order.Status, err error) error { return err }
