// Package devserver runs a complete Temporal service inside the dev command:
// the server on an SQLite file (so orders and their timers survive a restart)
// and the Temporal Web UI pointed at it. It is for one machine; production
// runs against a real Temporal cluster or Temporal Cloud (the worker binary
// never links this package).
package devserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	uiserver "github.com/temporalio/ui-server/v2/server"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	"github.com/temporalio/ui-server/v2/server/server_options"
	enumspb "go.temporal.io/api/enums/v1"
	namespacepb "go.temporal.io/api/namespace/v1"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/server/common/authorization"
	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	serverlog "go.temporal.io/server/common/log"
	"go.temporal.io/server/common/membership/static"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	"go.temporal.io/server/common/primitives"
	"go.temporal.io/server/schema/sqlite"
	"go.temporal.io/server/temporal"
	"go.uber.org/zap"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/cloudmarket/termination-orders/internal/ports"
	"github.com/cloudmarket/termination-orders/logging"
	"github.com/cloudmarket/termination-orders/workflows"
)

// DatabaseFile is the name of Temporal's SQLite database in the data directory.
const DatabaseFile = "temporal.db"

// Retention is how long the dev namespace keeps a finished order, so that its
// status stays readable and its order ID cannot be started again meanwhile.
const Retention = 30 * 24 * time.Hour

// Options say where the server keeps its state and listens.
type Options struct {
	DataDir   string
	IP        string
	Port      int // gRPC frontend
	UIPort    int // Web UI; 0 runs no UI
	Namespace string
	Logger    *zap.Logger
	// Persistence, when set, keeps the server's state in these SQL databases
	// instead of the SQLite file in DataDir (which then holds only the lock).
	Persistence *Persistence
	// CodecEndpoint, when set, is where the Web UI decodes payloads
	// (POST <endpoint>/decode), so that encrypted ones read in clear.
	CodecEndpoint string
	// OnePartition are task queues the server keeps in one partition each,
	// so that a rate limit on one holds for the queue as a whole (the AWS
	// close task queue).
	OnePartition []string
}

// Persistence is a server's state in SQL databases other than the SQLite
// file, such as PostgreSQL as production runs it. Both schemas must be set up
// and the plugin registered (imported) by the caller.
type Persistence struct {
	Main, Visibility *config.SQL
	// HistoryShards is the history shard count of new databases; 0 keeps
	// the SQLite server's one.
	HistoryShards int
}

// Server is a running Temporal server, and its Web UI.
type Server struct {
	lock     *os.File
	temporal temporal.Server
	logLevel zap.AtomicLevel
	ui       *uiserver.Server
	address  string
	uiURL    string
}

// Start starts the server and the UI, creating the database, the namespace and
// the contract's search attributes on first use, and returns once the frontend
// answers.
func Start(ctx context.Context, opts Options) (*Server, error) {
	if err := os.MkdirAll(opts.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("dev server data directory: %w", err)
	}
	lock, err := lockDataDir(opts.DataDir)
	if err != nil {
		return nil, err
	}
	started := false
	defer func() {
		if !started {
			lock.Close()
		}
	}()
	if opts.Persistence == nil {
		if err := checkDataFormat(opts.DataDir); err != nil {
			return nil, err
		}
	}
	if err := checkFree(net.JoinHostPort(opts.IP, strconv.Itoa(opts.Port)), "Temporal gRPC", "--port"); err != nil {
		return nil, err
	}
	// Clients dial a listening address; "all interfaces" is not one.
	dialIP := opts.IP
	if ip := net.ParseIP(opts.IP); ip != nil && ip.IsUnspecified() {
		dialIP = "127.0.0.1"
	}
	address := net.JoinHostPort(dialIP, strconv.Itoa(opts.Port))
	var uiAddress string
	if opts.UIPort != 0 {
		uiAddress = net.JoinHostPort(opts.IP, strconv.Itoa(opts.UIPort))
		if err := checkFree(uiAddress, "Web UI", "--ui-port"); err != nil {
			return nil, err
		}
	}

	cfg, sqlConfig, err := serverConfig(opts)
	if err != nil {
		return nil, err
	}
	dbPath := filepath.Join(opts.DataDir, DatabaseFile)
	if _, err := os.Stat(dbPath); opts.Persistence == nil && errors.Is(err, os.ErrNotExist) {
		if err := sqlite.SetupSchema(sqlConfig); err != nil {
			return nil, fmt.Errorf("create Temporal database %s: %w", dbPath, err)
		}
	}
	searchAttributes := make(map[string]enumspb.IndexedValueType, len(workflows.SearchAttributes))
	for _, key := range workflows.SearchAttributes {
		searchAttributes[key.GetName()] = key.GetValueType()
	}
	ns, err := sqlite.NewNamespaceConfig(cfg.ClusterMetadata.CurrentClusterName, opts.Namespace, false, searchAttributes)
	if err != nil {
		return nil, fmt.Errorf("namespace %s: %w", opts.Namespace, err)
	}
	ns.Detail.Config.Retention = durationpb.New(Retention)
	if err := sqlite.CreateNamespaces(sqlConfig, ns); err != nil {
		return nil, fmt.Errorf("namespace %s: %w", opts.Namespace, err)
	}

	// While its services find each other the server logs errors that mean only
	// "not ready yet"; it stays quiet until it serves, then says what is wrong.
	// Its stack traces are of its own internals: the message and fields are
	// what a person running the dev system can act on.
	level := zap.NewAtomicLevelAt(zap.FatalLevel)
	logger := serverlog.NewZapLogger(opts.Logger.Named("temporal-server").WithOptions(
		zap.IncreaseLevel(level), zap.AddStacktrace(zap.DPanicLevel)))
	authorizer, err := authorization.GetAuthorizerFromConfig(&cfg.Global.Authorization)
	if err != nil {
		return nil, err
	}
	claimMapper, err := authorization.GetClaimMapperFromConfig(&cfg.Global.Authorization, logger)
	if err != nil {
		return nil, err
	}
	// Static membership: the services find each other at the ports of this
	// run, not at those a previous run left in the database (which made a
	// restart wait for ringpop to give up on them).
	hosts := map[primitives.ServiceName]static.Hosts{}
	for name, svc := range cfg.Services {
		hosts[primitives.ServiceName(name)] = static.SingleLocalHost(net.JoinHostPort(opts.IP, strconv.Itoa(svc.RPC.GRPCPort)))
	}
	srv, err := temporal.NewServer(
		temporal.WithStaticHosts(hosts),
		temporal.WithConfig(cfg),
		temporal.ForServices(temporal.DefaultServices),
		temporal.WithLogger(logger),
		temporal.WithAuthorizer(authorizer),
		temporal.WithClaimMapper(func(*config.Config) authorization.ClaimMapper { return claimMapper }),
		temporal.WithDynamicConfigClient(dynamicConfig(opts.OnePartition)),
	)
	if err != nil {
		return nil, fmt.Errorf("create Temporal server: %w", err)
	}
	if err := srv.Start(); err != nil {
		return nil, fmt.Errorf("start Temporal server: %w", err)
	}
	s := &Server{lock: lock, temporal: srv, address: address, logLevel: level}
	started = true
	if err := s.waitUntilServing(ctx, opts.Namespace); err != nil {
		s.Stop()
		return nil, err
	}
	s.logLevel.SetLevel(zap.WarnLevel)

	if uiAddress != "" {
		s.ui = uiserver.NewServer(server_options.WithConfigProvider(&uiconfig.Config{
			TemporalGRPCAddress: address,
			Host:                opts.IP,
			Port:                opts.UIPort,
			EnableUI:            true,
			DefaultNamespace:    opts.Namespace,
			HideLogs:            true,
			DisableNewsFetch:    true, // no network beyond this machine
			CORS:                uiconfig.CORS{CookieInsecure: true},
			Codec: uiconfig.Codec{
				Endpoint:            opts.CodecEndpoint,
				DefaultErrorMessage: "The codec endpoint of the dev command's HTTP API did not decode this: is the API up, and does it hold the key the payload names?",
			},
		}))
		go func() { _ = s.ui.Start() }()
		s.uiURL = "http://" + uiAddress
		if err := waitForHTTP(ctx, s.uiURL+"/healthz"); err != nil {
			s.Stop()
			return nil, fmt.Errorf("start Web UI: %w", err)
		}
	}
	return s, nil
}

// Address is the host:port of the gRPC frontend.
func (s *Server) Address() string { return s.address }

// UIURL is the Web UI's address, empty when it does not run.
func (s *Server) UIURL() string { return s.uiURL }

// Stop stops the UI and the server. Running timers stay in the database and
// fire when the server runs again.
func (s *Server) Stop() {
	// Services shutting down one by one complain of each other; that is not news.
	s.logLevel.SetLevel(zap.FatalLevel)
	if s.ui != nil {
		s.ui.Stop()
	}
	_ = s.temporal.Stop()
	_ = s.lock.Close() // releases the data directory
}

// lockDataDir makes sure one server at a time uses a data directory: two on
// one SQLite file would corrupt each other's view of the orders.
func lockDataDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "temporal.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock data directory %s: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("data directory %s is in use by another dev server; stop it or choose another with --data-dir", dir)
	}
	return f, nil
}

// frontendService gives the frontend its HTTP API port as well.
func frontendService(s config.Service, httpPort int) config.Service {
	s.RPC.HTTPPort = httpPort
	return s
}

func serverConfig(opts Options) (*config.Config, *config.SQL, error) {
	sqlConfig := &config.SQL{
		PluginName:   sqliteplugin.PluginName,
		DatabaseName: filepath.Join(opts.DataDir, DatabaseFile),
		ConnectAttributes: map[string]string{
			"mode":         "rwc",
			"journal_mode": "wal", // the plugin's own name for it
			"synchronous":  "2",   // FULL: an acknowledged order survives a crash
		},
		// MaxConns unset: the plugin keeps one connection, which every
		// service shares. With four (and a busy timeout), the server's
		// transactions, each a read before its writes, collided ("database
		// is locked", "shard status unknown"): docs/performance.md.
	}
	free := make([]int, 8) // every port but the frontend's gRPC
	for i := range free {
		p, err := ports.Free(opts.IP)
		if err != nil {
			return nil, nil, err
		}
		free[i] = p
	}
	service := func(grpcPort, membershipPort int) config.Service {
		return config.Service{RPC: config.RPC{GRPCPort: grpcPort, MembershipPort: membershipPort, BindOnIP: opts.IP}}
	}
	frontend := net.JoinHostPort(opts.IP, strconv.Itoa(opts.Port))
	cfg := &config.Config{
		Global: config.Global{
			Membership: config.Membership{MaxJoinDuration: 30 * time.Second, BroadcastAddress: opts.IP},
		},
		Persistence: config.Persistence{
			DefaultStore:     sqliteplugin.PluginName,
			VisibilityStore:  sqliteplugin.PluginName,
			NumHistoryShards: historyShards,
			DataStores:       map[string]config.DataStore{sqliteplugin.PluginName: {SQL: sqlConfig}},
		},
		ClusterMetadata: &cluster.Config{
			EnableGlobalNamespace:    false,
			FailoverVersionIncrement: 10,
			MasterClusterName:        "active",
			CurrentClusterName:       "active",
			ClusterInformation: map[string]cluster.ClusterInformation{
				"active": {Enabled: true, InitialFailoverVersion: 1, RPCAddress: frontend},
			},
		},
		DCRedirectionPolicy: config.DCRedirectionPolicy{Policy: "noop"},
		Services: map[string]config.Service{
			"frontend": frontendService(service(opts.Port, free[0]), free[7]),
			"history":  service(free[1], free[2]),
			"matching": service(free[3], free[4]),
			"worker":   service(free[5], free[6]),
		},
		Archival: config.Archival{
			History:    config.HistoryArchival{State: "disabled"},
			Visibility: config.VisibilityArchival{State: "disabled"},
		},
		NamespaceDefaults: config.NamespaceDefaults{Archival: config.ArchivalNamespaceDefaults{
			History:    config.HistoryArchivalNamespaceDefaults{State: "disabled"},
			Visibility: config.VisibilityArchivalNamespaceDefaults{State: "disabled"},
		}},
		// The server's own internal client (its worker service) dials this.
		PublicClient: config.PublicClient{HostPort: frontend},
	}
	if p := opts.Persistence; p != nil {
		// The namespace is then created through the main store's own plugin.
		cfg.Persistence.DefaultStore, cfg.Persistence.VisibilityStore = "main", "visibility"
		cfg.Persistence.DataStores = map[string]config.DataStore{"main": {SQL: p.Main}, "visibility": {SQL: p.Visibility}}
		if p.HistoryShards > 0 {
			cfg.Persistence.NumHistoryShards = int32(p.HistoryShards)
		}
		return cfg, p.Main, nil
	}
	return cfg, sqlConfig, nil
}

// waitUntilServing waits until the server can serve workers in the namespace.
func (s *Server) waitUntilServing(ctx context.Context, namespace string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	c, err := client.NewLazyClient(client.Options{HostPort: s.address, Namespace: namespace, Logger: logging.ForTemporal(zap.NewNop())})
	if err != nil {
		return err
	}
	defer c.Close()
	// A task queue call goes through frontend and matching, so its success
	// means the services have found each other and workers can poll.
	for {
		_, err := c.WorkflowService().DescribeTaskQueue(ctx, &workflowservice.DescribeTaskQueueRequest{
			Namespace: namespace,
			TaskQueue: &taskqueuepb.TaskQueue{Name: "termination-dev-readiness", Kind: enumspb.TASK_QUEUE_KIND_NORMAL},
		})
		if err == nil {
			if err := ensureRetention(ctx, c, namespace); err != nil {
				return err
			}
			return ensureSearchAttributes(ctx, c, namespace)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the Temporal server at %s did not become ready: %w", s.address, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// ensureRetention raises the retention of a namespace made by an older version.
func ensureRetention(ctx context.Context, c client.Client, namespace string) error {
	desc, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: namespace})
	if err != nil {
		return err
	}
	if desc.GetConfig().GetWorkflowExecutionRetentionTtl().AsDuration() >= Retention {
		return nil
	}
	_, err = c.WorkflowService().UpdateNamespace(ctx, &workflowservice.UpdateNamespaceRequest{
		Namespace: namespace,
		Config:    &namespacepb.NamespaceConfig{WorkflowExecutionRetentionTtl: durationpb.New(Retention)},
	})
	return err
}

func waitForHTTP(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s did not answer: %w", url, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func checkFree(address, what, flag string) error {
	l, err := net.Listen("tcp", address)
	if err != nil {
		return fmt.Errorf("%s address %s is not available (is another Temporal server or dev command running?); choose another with %s: %w", what, address, flag, err)
	}
	return l.Close()
}
