package devserver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.uber.org/zap"

	"github.com/cloudmarket/termination-orders/activities"
	"github.com/cloudmarket/termination-orders/app"
	"github.com/cloudmarket/termination-orders/codec"
	"github.com/cloudmarket/termination-orders/config"
	"github.com/cloudmarket/termination-orders/devserver"
	"github.com/cloudmarket/termination-orders/internal/ordertest"
	"github.com/cloudmarket/termination-orders/internal/ports"
	"github.com/cloudmarket/termination-orders/logging"
	"github.com/cloudmarket/termination-orders/order"
	"github.com/cloudmarket/termination-orders/starter"
	"github.com/cloudmarket/termination-orders/store"
	"github.com/cloudmarket/termination-orders/worker"
	"github.com/cloudmarket/termination-orders/workflows"
)

// system is one life of the dev system on a data directory: server, UI, worker.
type system struct {
	server *devserver.Server
	client client.Client
	// workerClient is the worker's own connection (it decodes for workflows).
	workerClient client.Client
	worker       interface{ Stop() }
	store        *store.Store
	orders       *starter.Client
}

// startSystem starts the dev system; with a codec (not nil), every
// connection encrypts with it, as the dev command's do with a key.
func startSystem(t *testing.T, opts devserver.Options, window time.Duration, cd ...*codec.Codec) *system {
	t.Helper()
	ctx := context.Background()
	srv, err := devserver.Start(ctx, opts)
	require.NoError(t, err)
	tc := config.LocalTemporal(srv.Address(), opts.Namespace, workflows.DefaultTaskQueue)
	var payloads *codec.Codec
	if len(cd) > 0 {
		payloads = cd[0]
	}
	copts, err := app.ClientOptions(tc, payloads, logging.ForTemporal(zap.NewNop()))
	require.NoError(t, err)
	c, err := client.Dial(copts)
	require.NoError(t, err)
	wopts, err := app.WorkerClientOptions(tc, payloads, logging.ForTemporal(zap.NewNop()))
	require.NoError(t, err)
	wc, err := client.Dial(wopts)
	require.NoError(t, err)
	require.NoError(t, worker.CheckSearchAttributes(ctx, c, opts.Namespace), "created with the namespace")
	st, err := store.Open(ctx, "sqlite:"+filepath.Join(opts.DataDir, "status.db"))
	require.NoError(t, err)
	w := worker.New(wc, st, worker.Options{TaskQueue: workflows.DefaultTaskQueue, Policy: activities.Policy{ReopenWindow: window}, StopTimeout: 5 * time.Second})
	require.NoError(t, w.Start())
	return &system{server: srv, client: c, workerClient: wc, worker: w, store: st, orders: starter.New(c, workflows.DefaultTaskQueue)}
}

func (s *system) stop() {
	s.worker.Stop()
	s.workerClient.Close()
	s.client.Close()
	s.store.Close()
	s.server.Stop()
}

// With a key, Temporal's own database (the SQLite file the dev server
// writes, its visibility tables included) holds no e-mail address, reason or
// status message of the orders. The same orders without a key leave them
// there: the search is not blind.
func TestEncryptedOrdersLeaveNothingPersonalInTemporalsDatabase(t *testing.T) {
	personal := []string{"jane.doe@example.com", "ops.sam@example.com", "Needs it for the audit", "Keeping the account", "has been submitted"}
	key, err := codec.NewKey("db-test")
	require.NoError(t, err)
	ring, err := codec.NewKeyRing("db-test", key)
	require.NoError(t, err)
	for name, cd := range map[string]*codec.Codec{"encrypted": codec.New(ring), "in clear": nil} {
		t.Run(name, func(t *testing.T) {
			opts := devserver.Options{DataDir: t.TempDir(), IP: "127.0.0.1", Port: ports.FreeForTest(t), Namespace: "default", Logger: zap.NewNop()}
			sys := startSystem(t, opts, time.Hour, cd)
			ctx := context.Background()
			newOrder := func(id string) order.Order {
				return order.Order{OrderID: id, SubscriptionID: "SUB-" + id, AccountID: ordertest.Account(id),
					TerminationType: order.TerminationTypeCloseAccount, Items: []order.Item{{ItemID: "ITM-1"}}, RequestedBy: "jane.doe@example.com"}
			}
			_, err := sys.orders.Start(ctx, newOrder("ORD-DB-1"))
			require.NoError(t, err)
			waitForStage(t, sys.orders, "ORD-DB-1", order.StageAwaitingUnlink)
			require.NoError(t, confirmed(sys.orders.ConfirmUnlink(ctx, "ORD-DB-1", order.UnlinkCompleted{CompletedBy: "ops.sam@example.com", Reference: "OPS-1"})))
			_, err = sys.orders.Reopen(ctx, "ORD-DB-1", order.Request{RequestedBy: "jane.doe@example.com", Reason: "Needs it for the audit"})
			require.NoError(t, err)
			_, err = sys.orders.Start(ctx, newOrder("ORD-DB-2"))
			require.NoError(t, err)
			waitForStage(t, sys.orders, "ORD-DB-2", order.StageAwaitingUnlink)
			_, err = sys.orders.Cancel(ctx, "ORD-DB-2", order.Request{RequestedBy: "jane.doe@example.com", Reason: "Keeping the account"})
			require.NoError(t, err)
			sys.stop()

			files, err := filepath.Glob(filepath.Join(opts.DataDir, devserver.DatabaseFile+"*"))
			require.NoError(t, err)
			require.NotEmpty(t, files)
			found := map[string]bool{}
			for _, f := range files {
				b, err := os.ReadFile(f)
				require.NoError(t, err)
				for _, p := range personal {
					if bytes.Contains(b, []byte(p)) {
						found[p] = true
					}
				}
			}
			if cd != nil {
				assert.Empty(t, found, "personal data in Temporal's database (%v)", files)
			} else {
				assert.Len(t, found, len(personal), "in clear, every one of them is in the database: %v", found)
			}
		})
	}
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
	opts := devserver.Options{DataDir: t.TempDir(), IP: "127.0.0.1", Port: ports.FreeForTest(t), UIPort: ports.FreeForTest(t),
		Namespace: "default", Logger: zap.NewNop()}
	const window = 4 * time.Second
	ctx := context.Background()

	first := startSystem(t, opts, window)
	require.FileExists(t, filepath.Join(opts.DataDir, devserver.FormatFile), "a new data directory is marked with this build's format")
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
	_, err = devserver.Start(ctx, devserver.Options{DataDir: opts.DataDir, IP: "127.0.0.1", Port: ports.FreeForTest(t), Namespace: "default", Logger: zap.NewNop()})
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
	reopened, err := second.orders.Reopen(ctx, "ORD-DEV-2", order.Request{RequestedBy: "jane", Reason: "after the restart"})
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
		UIPort: ports.FreeForTest(t), Namespace: "default", Logger: zap.NewNop()})
	require.Error(t, err)
	require.Contains(t, err.Error(), "is not available")
	require.Contains(t, err.Error(), "--port")
}

func TestDevNamespaceKeepsFinishedOrdersForThirtyDays(t *testing.T) {
	opts := devserver.Options{DataDir: t.TempDir(), IP: "127.0.0.1", Port: ports.FreeForTest(t), Namespace: "default", Logger: zap.NewNop()}
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

// A data directory a build before 1.0 wrote (a Temporal database and no
// format file) is refused at start, saying what to do, and left as it was:
// its orders would otherwise fail their workflow tasks one by one.
func TestDataDirectoryOfAPre10BuildIsRefused(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, devserver.DatabaseFile)
	require.NoError(t, os.WriteFile(db, []byte("orders of an older build"), 0o600))

	_, err := devserver.Start(context.Background(), devserver.Options{DataDir: dir, IP: "127.0.0.1", Port: ports.FreeForTest(t), Namespace: "default", Logger: zap.NewNop()})
	require.ErrorIs(t, err, devserver.ErrDataFormat)
	require.ErrorContains(t, err, "holds orders of a build before 1.0")
	require.ErrorContains(t, err, "--data-dir")
	require.ErrorContains(t, err, "mv "+dir+" "+dir+".pre-1.0")

	body, err := os.ReadFile(db)
	require.NoError(t, err)
	require.Equal(t, "orders of an older build", string(body), "nothing changed")
	require.NoFileExists(t, filepath.Join(dir, devserver.FormatFile))

	// A directory of an unknown format is refused too.
	require.NoError(t, os.WriteFile(filepath.Join(dir, devserver.FormatFile), []byte("termination-orders 9\n"), 0o600))
	_, err = devserver.Start(context.Background(), devserver.Options{DataDir: dir, IP: "127.0.0.1", Port: ports.FreeForTest(t), Namespace: "default", Logger: zap.NewNop()})
	require.ErrorIs(t, err, devserver.ErrDataFormat)
	require.ErrorContains(t, err, `says "termination-orders 9"`)
}
