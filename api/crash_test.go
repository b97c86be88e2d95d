package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.uber.org/zap"

	"github.com/cloudmarket/termination-orders/api"
	"github.com/cloudmarket/termination-orders/order"
	"github.com/cloudmarket/termination-orders/starter"
	"github.com/cloudmarket/termination-orders/store"
)

// The environment of an API child process: where it finds Temporal and the
// status store, the key entries it accepts, and the directory where it
// writes its address.
const (
	childTemporal  = "API_TEST_CHILD_TEMPORAL"
	childNamespace = "API_TEST_CHILD_NAMESPACE"
	childStore     = "API_TEST_CHILD_STORE"
	childKeys      = "API_TEST_CHILD_KEYS"
	childDir       = "API_TEST_CHILD_DIR"
)

// crashTimeout is api.request_timeout of the crashed and the restarted
// API: as long as in production, so that a retry that waited for the
// crashed request would make its client give up.
const crashTimeout = time.Minute

// An API process is killed while it answers a start, then while it answers
// an unlink, each with an Idempotency-Key. The retry with the key, sent to
// another API process, answers with the request's true outcome at once (its
// client gives up after half the request timeout), and the order shows each
// request applied once.
func TestRetryAfterTheAPIProcessWasKilledMidRequest(t *testing.T) {
	if os.Getenv(childTemporal) != "" {
		serveAsChild(t)
		return
	}
	e := newEnv(t, time.Hour, func(c *api.Config) { c.RequestTimeout, c.WriteTimeout = crashTimeout, 2*crashTimeout })
	backend, opsToken := e.tokens[api.RoleBackend], e.tokens[api.RoleOperations]
	retry := &http.Client{Timeout: crashTimeout / 2}
	o := newOrder("ORD-CRASH-1")

	// The start: no worker, so the order's acceptance waits; the process
	// is killed once the run exists.
	e.worker.Stop()
	child := e.startChild(t)
	posted := child.post(t, "/v1/orders", backend, o, "start-ORD-CRASH-1")
	e.awaitClaim(t, "key:test-backend", "start-ORD-CRASH-1")
	var run string
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		d, err := e.temporal.GetDefaultClient().DescribeWorkflowExecution(context.Background(), order.WorkflowID(o.OrderID), "")
		require.NoError(c, err)
		run = d.GetWorkflowExecutionInfo().GetExecution().GetRunId()
	}, 30*time.Second, 20*time.Millisecond)
	child.kill(t)
	<-posted
	e.restartWorker(t)

	r := e.send(t, retry, http.MethodPost, "/v1/orders", backend, o, "start-ORD-CRASH-1")
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	var started api.StartedOrder
	r.json(t, &started)
	require.Equal(t, run, started.RunID, "the run the killed process started")
	e.waitForStage(t, o.OrderID, order.StageAwaitingUnlink)

	// The unlink: killed while Temporal has no worker to decide it.
	e.worker.Stop()
	child = e.startChild(t)
	posted = child.post(t, "/v1/orders/ORD-CRASH-1/unlink", opsToken, ops(), "OPS-CRASH-1")
	e.awaitClaim(t, "key:test-operations", "OPS-CRASH-1")
	child.kill(t)
	<-posted
	e.restartWorker(t)

	r = e.send(t, retry, http.MethodPost, "/v1/orders/ORD-CRASH-1/unlink", opsToken, ops(), "OPS-CRASH-1")
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	var st order.Status
	r.json(t, &st)
	require.Equal(t, order.StagePostClosure, st.Stage)
	again := e.send(t, retry, http.MethodPost, "/v1/orders/ORD-CRASH-1/unlink", opsToken, ops(), "OPS-CRASH-1")
	require.Equal(t, http.StatusOK, again.status, "%s", again.body)
	require.JSONEq(t, string(r.body), string(again.body), "the recorded answer")
	final := e.waitForStage(t, o.OrderID, order.StagePostClosure)
	require.Len(t, final.Timeline, 2, "one start, one unlink")
	require.Equal(t, "OPS-CRASH-1", final.Timeline[1].RequestID)
}

func (e *env) restartWorker(t *testing.T) {
	t.Helper()
	e.worker = e.newWorker(t)
	require.NoError(t, e.worker.Start())
}

// awaitClaim waits until the key is recorded: its request is being answered.
func (e *env) awaitClaim(t *testing.T, caller, key string) {
	t.Helper()
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		_, err := e.store.LookupIdempotencyKey(context.Background(), caller, key)
		require.NoError(c, err)
	}, 30*time.Second, 10*time.Millisecond)
}

// send is call with a client of the test's choosing.
func (e *env) send(t *testing.T, c *http.Client, method, path, token string, body any, key string) reply {
	t.Helper()
	raw, err := json.Marshal(body)
	require.NoError(t, err)
	req, err := http.NewRequest(method, e.url+path, strings.NewReader(string(raw)))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Idempotency-Key", key)
	sent := time.Now()
	resp, err := c.Do(req)
	require.NoError(t, err, "the retry got no answer before its client gave up")
	defer resp.Body.Close()
	t.Logf("retry %s %s answered %d after %s", method, path, resp.StatusCode, time.Since(sent).Round(time.Millisecond))
	got, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return reply{status: resp.StatusCode, header: resp.Header, body: got}
}

// apiChild is an API process of its own, on the env's Temporal and store.
type apiChild struct {
	cmd  *exec.Cmd
	url  string
	done chan struct{}
}

func (e *env) startChild(t *testing.T) *apiChild {
	t.Helper()
	dir := t.TempDir()
	var entries []string
	for _, k := range e.cfg.Keys {
		entries = append(entries, k.Entry())
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestRetryAfterTheAPIProcessWasKilledMidRequest$", "-test.count=1")
	cmd.Env = append(os.Environ(), childTemporal+"="+e.temporal.GetFrontendHostPort(), childNamespace+"="+e.temporal.GetDefaultNamespace(),
		childStore+"="+e.dsn, childKeys+"="+strings.Join(entries, ","), childDir+"="+dir)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	require.NoError(t, cmd.Start())
	c := &apiChild{cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(c.done) }()
	t.Cleanup(func() { c.kill(t) })
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		addr, err := os.ReadFile(filepath.Join(dir, "addr"))
		require.NoError(ct, err)
		require.NotEmpty(ct, addr)
		c.url = "http://" + string(addr)
	}, time.Minute, 10*time.Millisecond, "the API process did not start")
	return c
}

// post sends a request to the child, which it never answers: the child is
// killed first. The channel is closed once the request has failed.
func (c *apiChild) post(t *testing.T, path, token string, body any, key string) <-chan struct{} {
	t.Helper()
	raw, err := json.Marshal(body)
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPost, c.url+path, strings.NewReader(string(raw)))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Idempotency-Key", key)
	failed := make(chan struct{})
	go func() {
		defer close(failed)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			t.Errorf("the API process answered %d before it was killed: %s", resp.StatusCode, body)
		}
	}()
	return failed
}

func (c *apiChild) kill(t *testing.T) {
	if err := c.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Error(err)
	}
	<-c.done
}

// serveAsChild is the API process: it serves until it is killed.
func serveAsChild(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, os.Getenv(childStore))
	require.NoError(t, err)
	c, err := client.NewLazyClient(client.Options{HostPort: os.Getenv(childTemporal), Namespace: os.Getenv(childNamespace)})
	require.NoError(t, err)
	cfg := api.Config{
		MaxBodyBytes: 64 << 10, IdempotencyKeyTTL: time.Hour, RequestTimeout: crashTimeout,
		ReadTimeout: 10 * time.Second, WriteTimeout: 2 * crashTimeout, IdleTimeout: time.Minute, ShutdownTimeout: time.Second,
	}
	for _, entry := range strings.Split(os.Getenv(childKeys), ",") {
		k, err := api.ParseKey(entry)
		require.NoError(t, err)
		cfg.Keys = append(cfg.Keys, k)
	}
	srv, err := api.New(ctx, api.Options{Orders: starter.New(c, taskQueue), Store: st, Config: cfg, Logger: zap.NewExample()})
	require.NoError(t, err)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	dir := os.Getenv(childDir)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "addr.tmp"), []byte(l.Addr().String()), 0o600))
	require.NoError(t, os.Rename(filepath.Join(dir, "addr.tmp"), filepath.Join(dir, "addr")))
	require.NoError(t, srv.Serve(ctx, l))
}
