package soak

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
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
	"go.temporal.io/server/common/config"
	serverlog "go.temporal.io/server/common/log"
	"go.temporal.io/server/common/metrics"
	"go.temporal.io/server/common/persistence"
	tsql "go.temporal.io/server/common/persistence/sql"
	"go.temporal.io/server/common/persistence/sql/sqlplugin"
	"go.temporal.io/server/common/persistence/sql/sqlplugin/postgresql"
	"go.temporal.io/server/common/resolver"
	schemas "go.temporal.io/server/schema"
	pgschema "go.temporal.io/server/schema/postgresql/v12"
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
	Postgres *postgresSpec `json:"postgres,omitempty"`
}

type postgresSpec struct {
	Addr       string `json:"addr"` // host:port
	User       string `json:"user"`
	Password   string `json:"password,omitempty"`
	Main       string `json:"main"`
	Visibility string `json:"visibility"`
}

func (p *postgresSpec) sql(database string) *config.SQL {
	return &config.SQL{
		PluginName: postgresql.PluginName, DatabaseName: database, ConnectAddr: p.Addr, ConnectProtocol: "tcp",
		// Each of the server's stores opens its own pool: keep them small, the
		// PostgreSQL server (100 connections) is shared with the tests.
		User: p.User, Password: p.Password, MaxConns: 5, MaxIdleConns: 2,
	}
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
		opts.Persistence = &devserver.Persistence{Main: p.sql(p.Main), Visibility: p.sql(p.Visibility)}
	}
	srv, err := devserver.Start(ctx, opts)
	if err != nil {
		return err
	}
	<-ctx.Done()
	srv.Stop()
	return nil
}

// setupPostgres creates Temporal's main and visibility databases on the
// PostgreSQL server of admin (a pgx DSN) under fresh names, with the schema
// at the version this server release expects, as temporal-sql-tool's
// setup-schema does from the same embedded schema files.
func setupPostgres(ctx context.Context, admin *sql.DB, addr, user, password, prefix string) (*postgresSpec, error) {
	spec := &postgresSpec{Addr: addr, User: user, Password: password, Main: prefix + "_temporal", Visibility: prefix + "_visibility"}
	for _, db := range []struct {
		name, file, version string
		kind                sqlplugin.DbKind
	}{
		{spec.Main, "postgresql/v12/temporal/schema.sql", pgschema.Version, sqlplugin.DbKindMain},
		{spec.Visibility, "postgresql/v12/visibility/schema.sql", pgschema.VisibilityVersion, sqlplugin.DbKindVisibility},
	} {
		if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+db.name); err != nil {
			return nil, fmt.Errorf("create database %s: %w", db.name, err)
		}
		if err := setupSchema(spec.sql(db.name), db.kind, db.file, db.version); err != nil {
			return nil, fmt.Errorf("set up the Temporal schema in %s: %w", db.name, err)
		}
	}
	return spec, nil
}

func setupSchema(cfg *config.SQL, kind sqlplugin.DbKind, file, version string) error {
	db, err := tsql.NewSQLAdminDB(kind, cfg, resolver.NewNoopResolver(), serverlog.NewNoopLogger(), metrics.NoopMetricsHandler)
	if err != nil {
		return err
	}
	defer db.Close()
	body, err := fsRead(file)
	if err != nil {
		return err
	}
	stmts, err := persistence.LoadAndSplitQueryFromReaders([]io.Reader{bytes.NewReader(body)})
	if err != nil {
		return err
	}
	for _, stmt := range stmts {
		if err := db.Exec(stmt); err != nil {
			return fmt.Errorf("%q: %w", stmt, err)
		}
	}
	if err := db.CreateSchemaVersionTables(); err != nil {
		return err
	}
	return db.UpdateSchemaVersion(cfg.DatabaseName, version, version)
}

func fsRead(name string) ([]byte, error) {
	f, err := schemas.Assets().Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
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
