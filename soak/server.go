package soak

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.uber.org/zap"

	"github.com/cloudmarket/termination-orders/devserver"
	"github.com/cloudmarket/termination-orders/logging"
)

// Server kinds: where the Temporal server under test persists.
const (
	ServerSQLite   = "sqlite"
	ServerPostgres = "postgres"
)

// serveEnv carries a serverSpec to the soak's own executable, run again as
// the Temporal server process (so that it can be SIGKILLed like a real one).
const serveEnv = "TERMINATION_SOAK_SERVE"

type serverSpec struct {
	DataDir   string `json:"dataDir"`
	Port      int    `json:"port"`
	Namespace string `json:"namespace"`
	// Postgres, when set, holds Temporal's two databases; otherwise SQLite in DataDir.
	Postgres *devserver.Postgres `json:"postgres,omitempty"`
}

// ServeIfAsked runs the Temporal server when the process was started as the
// soak's server process, until SIGTERM (or SIGKILL), and reports that it was,
// with the server's failure if any; it returns false at once otherwise. The
// soak command calls it first thing, and ends when it was asked.
func ServeIfAsked() (asked bool, err error) {
	raw, ok := os.LookupEnv(serveEnv)
	if !ok {
		return false, nil
	}
	if err := serve(raw); err != nil {
		return true, fmt.Errorf("soak temporal server: %w", err)
	}
	return true, nil
}

func serve(raw string) error {
	var spec serverSpec
	if err := json.Unmarshal([]byte(raw), &spec); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger, err := zap.NewDevelopment(zap.IncreaseLevel(zap.WarnLevel))
	if err != nil {
		return err
	}
	opts := devserver.Options{DataDir: spec.DataDir, IP: "127.0.0.1", Port: spec.Port, Namespace: spec.Namespace, Logger: logger}
	if p := spec.Postgres; p != nil {
		opts.Persistence = p.Persistence()
	}
	srv, err := devserver.Start(ctx, opts)
	if err != nil {
		return err
	}
	<-ctx.Done()
	srv.Stop()
	return nil
}

// temporalProcess is the Temporal server, run as its own process on a fixed
// port and data, so that it can be killed and started again.
type temporalProcess struct {
	self    string // the executable that serves when serveEnv is set
	spec    serverSpec
	address string
	log     *os.File
	cmd     *exec.Cmd
	exited  chan struct{}
}

func newTemporalProcess(self, dir string, spec serverSpec) (*temporalProcess, error) {
	log, err := os.OpenFile(filepath.Join(dir, "temporal-server.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	return &temporalProcess{self: self, spec: spec, address: net.JoinHostPort("127.0.0.1", strconv.Itoa(spec.Port)), log: log}, nil
}

// start starts the server process and waits until workers can poll.
func (t *temporalProcess) start(ctx context.Context) error {
	raw, err := json.Marshal(t.spec)
	if err != nil {
		return err
	}
	cmd := exec.Command(t.self)
	cmd.Env = append(os.Environ(), serveEnv+"="+string(raw))
	cmd.Stdout, cmd.Stderr = t.log, t.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start the Temporal server process: %w", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.cmd, t.exited = cmd, exited
	return t.waitServing(ctx)
}

func (t *temporalProcess) waitServing(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	c, err := client.NewLazyClient(client.Options{HostPort: t.address, Namespace: t.spec.Namespace, Logger: logging.ForTemporal(zap.NewNop())})
	if err != nil {
		return err
	}
	defer c.Close()
	for {
		callCtx, callCancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := c.WorkflowService().DescribeTaskQueue(callCtx, &workflowservice.DescribeTaskQueueRequest{
			Namespace: t.spec.Namespace,
			TaskQueue: &taskqueuepb.TaskQueue{Name: "soak-readiness", Kind: enumspb.TASK_QUEUE_KIND_NORMAL},
		})
		callCancel()
		if err == nil {
			return nil
		}
		select {
		case <-t.exited:
			return fmt.Errorf("the Temporal server process exited before serving (see %s)", t.log.Name())
		case <-ctx.Done():
			return fmt.Errorf("the Temporal server at %s did not serve: %w", t.address, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// kill SIGKILLs the server and waits until it is gone.
func (t *temporalProcess) kill() {
	if t.cmd == nil {
		return
	}
	_ = t.cmd.Process.Kill()
	<-t.exited
	t.cmd = nil
}

// stop ends the server cleanly (SIGTERM), or kills it if it takes too long.
func (t *temporalProcess) stop() {
	if t.cmd == nil {
		return
	}
	_ = t.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-t.exited:
	case <-time.After(20 * time.Second):
	}
	t.kill()
	t.log.Close()
}
