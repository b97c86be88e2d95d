// Package config loads the settings of every command: built-in defaults, then a
// YAML file, then TERMINATION_* environment variables, then flags, each
// overriding the one before. The Temporal connection also honours Temporal's
// own environment configuration (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE,
// TEMPORAL_API_KEY, TEMPORAL_TLS_*, TEMPORAL_PROFILE and its TOML file), which
// the project's own settings override when they are set.
//
// It is the only package that knows viper, and it only reads settings: it
// imports nothing of the project. Package app turns a Config into the clients,
// stores and notifiers the commands run, and checks what the project's own
// packages rule on (the store's DSN, the reopen window's bounds, the key ring,
// the API's roles), naming the key with KeyError.
package config

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"
	"go.temporal.io/sdk/contrib/envconfig"
)

// EnvPrefix prefixes the environment variable of every key:
// store.dsn is TERMINATION_STORE_DSN.
const EnvPrefix = "TERMINATION"

// Config is every setting, typed and validated.
type Config struct {
	// Command is the command these settings were loaded for: only its
	// settings are read and checked.
	Command  Command
	Temporal Temporal
	// ReopenWindow is the post-closure period of the orders a worker accepts
	// (an order may set its own).
	ReopenWindow time.Duration
	// StoreDSN names the status store: sqlite:<path> or postgres://...
	StoreDSN string
	Log      Log
	// StopTimeout is how long a stopping worker waits for running activities.
	StopTimeout time.Duration
	// MetricsAddress is where the worker serves Prometheus metrics; empty for none.
	MetricsAddress string
	// PprofAddress is where the worker serves Go's profiles (net/http/pprof);
	// empty, the default, for none.
	PprofAddress string
	// WorkflowCacheSize bounds how many orders a worker keeps in memory
	// between their workflow tasks.
	WorkflowCacheSize int
	// MaxConcurrentActivities and MaxConcurrentLocalActivities bound how many
	// activities and local activities (the status writes) a worker runs at once.
	MaxConcurrentActivities      int
	MaxConcurrentLocalActivities int
	// WorkflowTaskPollers and ActivityTaskPollers are the most polls a worker
	// keeps open on its task queue for each kind of task; the SDK scales
	// between one and that on the server's feedback.
	WorkflowTaskPollers, ActivityTaskPollers int
	// Store is how the worker opens the status store and bounds its connections.
	Store Store
	// Deployment is the worker's Worker Deployment and build.
	Deployment WorkerDeployment
	// Dev is the embedded server of the dev command; other commands ignore it.
	Dev DevServer
	// Notify is who is told what about orders, and when.
	Notify Notify
	// API is the HTTP API of termination-api and the dev command.
	API APIServer
	// Codec is the payload encryption of every connection to Temporal, and
	// who may call the codec endpoints from a browser.
	Codec Codec
	// AWS is how orders use AWS Organizations.
	AWS AWSOrganizations
}

// DevServer is where the dev command's embedded Temporal server keeps its state and listens.
type DevServer struct {
	DataDir string
	IP      string
	Port    int // Temporal gRPC frontend
	UIPort  int // Temporal Web UI
	// AWSEmulator starts an AWS Organizations emulator of a seeded
	// organization, which aws.organizations.endpoint then names.
	AWSEmulator bool
	// AWSEmulatorClosureDelay is how long the emulator's closed accounts
	// stay PENDING_CLOSURE.
	AWSEmulatorClosureDelay time.Duration
}

// Store bounds opening the status store and its connections to PostgreSQL.
type Store struct {
	// ConnectTimeout bounds opening the store: connecting and migrating.
	ConnectTimeout  time.Duration
	MaxOpenConns    int
	MaxIdleConns    int
	ConnMaxLifetime time.Duration
}

// Temporal is the connection to the Temporal service.
type Temporal struct {
	Address   string
	Namespace string
	TaskQueue string
	// profile carries what Temporal's environment configuration adds: TLS,
	// API key, gRPC metadata. It holds secrets and is never logged.
	profile envconfig.ClientConfigProfile
}

// Secret is a setting that must never be shown: printed, it is redacted.
// Reading it takes a conversion, string(s), where it is used.
type Secret string

// String hides the secret, so that a setting printed by mistake shows nothing.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}

// GoString is String, for %#v.
func (s Secret) GoString() string { return s.String() }

// Log is the logger's settings.
type Log struct {
	Level  string // debug, info, warn or error
	Format string // json or console
}

// Command is a command whose settings are loaded; each has the flags of the
// settings it uses, and only those are validated.
type Command int

// Uses reports whether the command reads the setting: store.dsn.
func (c Command) Uses(name string) bool {
	for _, k := range keys {
		if k.name == name {
			return k.cmds&c != 0
		}
	}
	return false
}

// The commands.
const (
	CLI    Command = 1 << iota // terminationctl
	Worker                     // termination-worker
	Dev                        // termination-dev: a worker and an embedded Temporal server
	API                        // termination-api, with CLI: the HTTP API
)

const allCommands = CLI | Worker | Dev

// A key is one setting: its name in the YAML file, its flag, its default and
// the commands that use it.
type key struct {
	name  string
	flag  string
	def   string
	usage string
	cmds  Command
}

// keys are every setting: these, then those of config/notify.go,
// config/deployment.go, config/api.go, config/codec.go and config/aws.go.
var keys = slices.Concat(coreKeys, deploymentKeys, notifyKeys, apiKeys, codecKeys, awsKeys)

var coreKeys = []key{
	{"temporal.address", "temporal-address", "", "Temporal frontend host:port (default: TEMPORAL_ADDRESS, else localhost:7233)", CLI | Worker},
	{"temporal.namespace", "temporal-namespace", "", "Temporal namespace (default: TEMPORAL_NAMESPACE, else default)", allCommands},
	{"temporal.task_queue", "task-queue", "", "task queue of the termination order workflows", allCommands},
	{"temporal.api_key", "temporal-api-key", "", "Temporal Cloud API key (prefer the environment variable; default: TEMPORAL_API_KEY)", CLI | Worker},
	{"temporal.tls.cert_file", "temporal-tls-cert", "", "client certificate for mTLS (PEM file)", CLI | Worker},
	{"temporal.tls.key_file", "temporal-tls-key", "", "client private key for mTLS (PEM file)", CLI | Worker},
	{"temporal.tls.ca_file", "temporal-tls-ca", "", "CA certificate(s) to trust for the server (PEM file; default: the system's)", CLI | Worker},
	{"temporal.tls.server_name", "temporal-tls-server-name", "", "server name to verify, if not the address's host", CLI | Worker},
	{"order.reopen_window", "reopen-window", "90d", "post-closure period of the orders the worker accepts, e.g. 90d, 2160h, 2m", Worker | Dev},
	{"store.dsn", "store-dsn", DefaultStoreDSN, "status store: sqlite:<path> or postgres://user@host:port/db", allCommands},
	{"store.connect_timeout", "store-connect-timeout", "10s", "how long to wait for the status store to connect (and migrate) before giving up", allCommands},
	{"store.max_open_conns", "store-max-open-conns", "10", "most connections to PostgreSQL at once (SQLite always uses one)", Worker | Dev},
	{"store.max_idle_conns", "store-max-idle-conns", "5", "connections to PostgreSQL kept open while idle; at most store.max_open_conns", Worker | Dev},
	{"store.conn_max_lifetime", "store-conn-max-lifetime", "30m", "how long a connection to PostgreSQL is reused before it is replaced", Worker | Dev},
	{"log.level", "log-level", "info", "log level: debug, info, warn or error", allCommands},
	{"log.format", "log-format", "json", "log format: json or console", allCommands},
	{"worker.stop_timeout", "stop-timeout", "30s", "how long a stopping worker lets running activities finish", Worker | Dev},
	{"worker.workflow_cache_size", "workflow-cache-size", "1000", "orders a worker keeps in memory between their workflow tasks; an order idle for 90 days gains nothing from it", Worker | Dev},
	{"worker.max_concurrent_activities", "max-concurrent-activities", "50", "activities a worker runs at once", Worker | Dev},
	{"worker.max_concurrent_local_activities", "max-concurrent-local-activities", "50", "local activities (status writes) a worker runs at once", Worker | Dev},
	{"worker.workflow_task_pollers", "workflow-task-pollers", "16", "most workflow task polls a worker keeps open; the SDK scales between 1 and this on the server's feedback", Worker | Dev},
	{"worker.activity_task_pollers", "activity-task-pollers", "8", "most activity task polls a worker keeps open; the SDK scales between 1 and this on the server's feedback", Worker | Dev},
	{"metrics.listen_address", "metrics-address", "127.0.0.1:9464", "host:port of the worker's Prometheus /metrics endpoint; empty for none", Worker | Dev},
	{"worker.pprof_address", "pprof-address", "", "host:port where the worker serves Go's CPU and heap profiles at /debug/pprof/; empty (the default) for none", Worker | Dev},
	{"dev.data_dir", "data-dir", "data", "directory where the dev server keeps Temporal's SQLite database", Dev},
	{"dev.ip", "ip", "127.0.0.1", "IP address the dev server's Temporal frontend and Web UI listen on", Dev},
	{"dev.port", "port", "7233", "gRPC port of the dev server's Temporal frontend", Dev},
	{"dev.ui_port", "ui-port", "8233", "port of the dev server's Temporal Web UI", Dev},
	{"dev.aws_emulator", "aws-emulator", "false", "start an AWS Organizations emulator of a seeded organization and point aws.organizations.endpoint at it, with fake keys (true or false; docs/aws.md)", Dev},
	{"dev.aws_emulator_closure_delay", "aws-emulator-closure-delay", "30s", "how long the emulator's closed accounts stay PENDING_CLOSURE before they are SUSPENDED", Dev},
}

// DefaultStoreDSN is the status store unless configured: a SQLite file under
// data/ (under the data directory for the dev command).
const DefaultStoreDSN = "sqlite:data/status.db"

const (
	defaultAddress   = "localhost:7233"
	defaultNamespace = "default"
)

// Defaults are the defaults that other packages own: the composition root
// (package app) passes them in, so that each lives in one place and config
// imports none of them.
type Defaults struct {
	// TaskQueue is temporal.task_queue's default: the wire contract's.
	TaskQueue string
}

// def is the key's default: its own, or the one d supplies.
func (d Defaults) def(k key) string {
	if k.name == "temporal.task_queue" {
		return d.TaskQueue
	}
	return k.def
}

// RegisterFlags adds a flag for every setting the command uses, and --config
// for the YAML file.
func RegisterFlags(fs *pflag.FlagSet, cmd Command, d Defaults) {
	fs.String("config", "", "YAML config file (env "+EnvPrefix+"_CONFIG)")
	for _, k := range keys {
		if k.cmds&cmd != 0 {
			fs.String(k.flag, d.def(k), k.usage)
			if switches[k.name] {
				fs.Lookup(k.flag).NoOptDefVal = "true"
			}
		}
	}
}

// Default is the built-in default of the setting named (for example
// "worker.workflow_task_pollers"), "" for none or an unknown name.
func Default(name string) string {
	for _, k := range keys {
		if k.name == name {
			return k.def
		}
	}
	return ""
}

// switches are the keys whose flag alone means true: --aws-emulator.
var switches = map[string]bool{"dev.aws_emulator": true}

// Load reads the settings of the command from every source and validates
// them. fs must have been through RegisterFlags for the same command and
// defaults, and be parsed. A bad value fails with an error naming the key, its
// flag and its environment variable; settings other commands use are neither
// read nor checked.
func Load(fs *pflag.FlagSet, cmd Command, d Defaults) (Config, error) {
	v := viper.New()
	v.SetEnvPrefix(EnvPrefix)
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	v.AutomaticEnv()
	for _, k := range keys {
		if def := d.def(k); def != "" {
			v.SetDefault(k.name, def)
		}
		if f := fs.Lookup(k.flag); f != nil {
			if err := v.BindPFlag(k.name, f); err != nil {
				return Config{}, err
			}
		}
	}

	file, _ := fs.GetString("config")
	if file == "" {
		file = os.Getenv(EnvPrefix + "_CONFIG")
	}
	if file != "" {
		v.SetConfigFile(file)
		v.SetConfigType("yaml")
		if err := v.ReadInConfig(); err != nil {
			return Config{}, fmt.Errorf("config file %s: %w", file, err)
		}
		if err := checkKnownKeys(v, file); err != nil {
			return Config{}, err
		}
	}

	var errs []error
	bad := func(name, rule string, args ...any) {
		errs = append(errs, &KeyError{Key: name, Err: fmt.Errorf(rule, args...)})
	}
	uses := cmd.Uses

	cfg := Config{
		Command:  cmd,
		StoreDSN: v.GetString("store.dsn"),
		Log:      Log{Level: v.GetString("log.level"), Format: v.GetString("log.format")},
	}
	cfg.Temporal.TaskQueue = v.GetString("temporal.task_queue")

	// The dev command serves its own Temporal; what the environment says
	// about other servers does not apply to it.
	var profile envconfig.ClientConfigProfile
	if cmd != Dev {
		var err error
		profile, err = envconfig.LoadClientConfigProfile(envconfig.LoadClientConfigProfileOptions{})
		if err != nil {
			errs = append(errs, fmt.Errorf("temporal environment configuration (TEMPORAL_* variables, TOML profile): %w", err))
		}
	}
	addressFrom := "temporal.address"
	if v.IsSet("temporal.address") {
		profile.Address = v.GetString("temporal.address")
	} else if profile.Address != "" {
		addressFrom = "TEMPORAL_ADDRESS (or the address of the TEMPORAL_PROFILE profile)"
	}
	if profile.Address == "" {
		profile.Address = defaultAddress
	}
	if v.IsSet("temporal.namespace") {
		profile.Namespace = v.GetString("temporal.namespace")
	}
	if profile.Namespace == "" {
		profile.Namespace = defaultNamespace
	}
	if uses("temporal.api_key") {
		if key := v.GetString("temporal.api_key"); key != "" {
			profile.APIKey = key
		}
		checkTemporalTLS(v, profile.TLS, bad)
		layerTLS(v, &profile, bad)
	}
	cfg.Temporal.Address, cfg.Temporal.Namespace, cfg.Temporal.profile = profile.Address, profile.Namespace, profile
	if uses("temporal.api_key") && len(errs) == 0 {
		// What the checks above do not cover fails now, not at the first dial.
		if _, err := profile.ToClientOptions(envconfig.ToClientOptionsRequest{}); err != nil {
			errs = append(errs, fmt.Errorf("temporal connection (temporal.* settings over TEMPORAL_* variables and the TOML profile): %w", err))
		}
	}

	if uses("temporal.address") {
		if err := checkHostPort(cfg.Temporal.Address); err != nil {
			bad(addressFrom, "%v", err)
		}
	}
	if strings.TrimSpace(cfg.Temporal.Namespace) == "" {
		bad("temporal.namespace", "must not be empty")
	}
	if strings.TrimSpace(cfg.Temporal.TaskQueue) == "" {
		bad("temporal.task_queue", "must not be empty")
	}
	if uses("order.reopen_window") {
		window, err := ParseDuration(v.GetString("order.reopen_window"))
		if err != nil {
			bad("order.reopen_window", "%v", err)
		}
		cfg.ReopenWindow = window
	}
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, cfg.Log.Level) {
		bad("log.level", "must be debug, info, warn or error, got %q", cfg.Log.Level)
	}
	if !slices.Contains([]string{"json", "console"}, cfg.Log.Format) {
		bad("log.format", "must be json or console, got %q", cfg.Log.Format)
	}
	if uses("worker.stop_timeout") {
		stop, err := time.ParseDuration(v.GetString("worker.stop_timeout"))
		if err != nil || stop <= 0 {
			bad("worker.stop_timeout", "must be a positive duration such as 30s, got %q", v.GetString("worker.stop_timeout"))
		}
		cfg.StopTimeout = stop
	}
	if uses("worker.workflow_cache_size") {
		n, err := strconv.Atoi(v.GetString("worker.workflow_cache_size"))
		if err != nil || n < 1 {
			bad("worker.workflow_cache_size", "must be a whole number of at least 1, got %q", v.GetString("worker.workflow_cache_size"))
		}
		cfg.WorkflowCacheSize = n
	}
	for _, limit := range []struct {
		name string
		dst  *int
	}{
		{"worker.max_concurrent_activities", &cfg.MaxConcurrentActivities},
		{"worker.max_concurrent_local_activities", &cfg.MaxConcurrentLocalActivities},
		{"worker.workflow_task_pollers", &cfg.WorkflowTaskPollers},
		{"worker.activity_task_pollers", &cfg.ActivityTaskPollers},
		{"store.max_open_conns", &cfg.Store.MaxOpenConns},
		{"store.max_idle_conns", &cfg.Store.MaxIdleConns},
	} {
		if uses(limit.name) {
			n, err := strconv.Atoi(v.GetString(limit.name))
			if err != nil || n < 1 {
				bad(limit.name, "must be a whole number of at least 1, got %q", v.GetString(limit.name))
			}
			*limit.dst = n
		}
	}
	if cfg.Store.MaxOpenConns > 0 && cfg.Store.MaxIdleConns > cfg.Store.MaxOpenConns {
		bad("store.max_idle_conns", "must be at most store.max_open_conns (%d), got %d", cfg.Store.MaxOpenConns, cfg.Store.MaxIdleConns)
	}
	for _, d := range []struct {
		name, example string
		dst           *time.Duration
	}{
		{"store.connect_timeout", "10s", &cfg.Store.ConnectTimeout},
		{"store.conn_max_lifetime", "30m", &cfg.Store.ConnMaxLifetime},
	} {
		if uses(d.name) {
			dur, err := time.ParseDuration(v.GetString(d.name))
			if err != nil || dur <= 0 {
				bad(d.name, "must be a positive duration such as %s, got %q", d.example, v.GetString(d.name))
			}
			*d.dst = dur
		}
	}
	if uses("metrics.listen_address") {
		cfg.MetricsAddress = v.GetString("metrics.listen_address")
		if cfg.MetricsAddress != "" {
			if err := checkHostPort(cfg.MetricsAddress); err != nil && !strings.HasPrefix(cfg.MetricsAddress, ":") {
				bad("metrics.listen_address", "%v", err)
			}
		}
	}
	if uses("worker.pprof_address") {
		cfg.PprofAddress = v.GetString("worker.pprof_address")
		if cfg.PprofAddress != "" {
			if err := checkHostPort(cfg.PprofAddress); err != nil {
				bad("worker.pprof_address", "%v", err)
			} else if cfg.PprofAddress == cfg.MetricsAddress {
				bad("worker.pprof_address", "must differ from metrics.listen_address (%s)", cfg.MetricsAddress)
			}
		}
	}
	if uses("worker.versioning") {
		cfg.Deployment = loadDeployment(v, bad)
	}
	if uses("notify.unlink_sla") {
		cfg.Notify = loadNotify(v, cmd, bad)
	}
	if uses("api.listen_address") {
		cfg.API = loadAPI(v, bad)
	}
	if uses("dev.data_dir") {
		cfg.Dev = loadDev(v, bad)
		if cfg.StoreDSN == DefaultStoreDSN {
			cfg.StoreDSN = "sqlite:" + filepath.Join(cfg.Dev.DataDir, "status.db")
		}
	}
	var dev *DevServer
	if uses("dev.data_dir") {
		dev = &cfg.Dev
	}
	cfg.Codec = loadCodec(v, uses("codec.web_ui_origins"), dev, bad)
	if uses("aws.organizations.mode") {
		cfg.AWS = loadAWS(v, cfg.Temporal.TaskQueue, bad)
		if cfg.Dev.AWSEmulator && cfg.AWS.Endpoint != "" {
			bad("aws.organizations.endpoint", "must be empty with dev.aws_emulator: the dev command points it at its emulator")
		}
	}

	if err := Invalid(errs...); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// Invalid joins the errors of bad settings into one, so that an operator
// fixes them in one round; nil if there are none.
func Invalid(errs ...error) error {
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("invalid configuration: %w", errors.Join(errs...))
}

// KeyError is a setting whose value breaks a rule. Its message names the key,
// its flag and its environment variable, and never the value of a secret.
type KeyError struct {
	// Key is the setting, as in the YAML file: store.dsn.
	Key string
	Err error
}

func (e *KeyError) Error() string { return describe(e.Key) + ": " + e.Err.Error() }

// Unwrap is the broken rule.
func (e *KeyError) Unwrap() error { return e.Err }

func loadDev(v *viper.Viper, bad func(name, rule string, args ...any)) DevServer {
	var dev DevServer
	dev.DataDir = v.GetString("dev.data_dir")
	dev.IP = v.GetString("dev.ip")
	if strings.TrimSpace(dev.DataDir) == "" {
		bad("dev.data_dir", "must not be empty")
	}
	if ip := net.ParseIP(dev.IP); ip == nil || ip.To4() == nil {
		// The Web UI server cannot listen on an IPv6 address.
		bad("dev.ip", "must be an IPv4 address such as 127.0.0.1, got %q", dev.IP)
	}
	var portErr bool
	for _, p := range []struct {
		name string
		dst  *int
	}{{"dev.port", &dev.Port}, {"dev.ui_port", &dev.UIPort}} {
		n, err := strconv.Atoi(v.GetString(p.name))
		if err != nil || n < 1 || n > 65535 {
			bad(p.name, "must be a port number from 1 to 65535, got %q", v.GetString(p.name))
			portErr = true
		}
		*p.dst = n
	}
	if !portErr && dev.Port == dev.UIPort {
		bad("dev.ui_port", "must differ from dev.port (%d)", dev.Port)
	}
	dev.AWSEmulator = boolSetting(v, "dev.aws_emulator", bad)
	if d, err := ParseDuration(v.GetString("dev.aws_emulator_closure_delay")); err != nil {
		bad("dev.aws_emulator_closure_delay", "%v", err)
	} else {
		dev.AWSEmulatorClosureDelay = d
	}
	return dev
}

// layerTLS puts the project's TLS files over what Temporal's environment
// configuration set, and checks them now, so a bad file fails at start.
func layerTLS(v *viper.Viper, profile *envconfig.ClientConfigProfile, bad func(name, rule string, args ...any)) {
	cert, key := v.GetString("temporal.tls.cert_file"), v.GetString("temporal.tls.key_file")
	ca, serverName := v.GetString("temporal.tls.ca_file"), v.GetString("temporal.tls.server_name")
	if cert == "" && key == "" && ca == "" && serverName == "" {
		return
	}
	if profile.TLS == nil {
		profile.TLS = &envconfig.ClientConfigTLS{}
	}
	t := profile.TLS
	if (cert == "") != (key == "") {
		bad("temporal.tls.cert_file", "and temporal.tls.key_file go together for mTLS: set both or neither")
		return
	}
	if cert != "" {
		if _, err := tls.LoadX509KeyPair(cert, key); err != nil {
			bad("temporal.tls.cert_file", "with temporal.tls.key_file is not a usable certificate and key: %v", err)
		}
		t.ClientCertPath, t.ClientKeyPath, t.ClientCertData, t.ClientKeyData = cert, key, nil, nil
	}
	if ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			bad("temporal.tls.ca_file", "cannot be read: %v", err)
		} else if !x509.NewCertPool().AppendCertsFromPEM(pem) {
			bad("temporal.tls.ca_file", "holds no PEM certificate")
		}
		t.ServerCACertPath, t.ServerCACertData = ca, nil
	}
	if serverName != "" {
		t.ServerName = serverName
	}
	t.Disabled = false
}

// checkTemporalTLS checks the TLS files and data that Temporal's environment
// configuration names (TEMPORAL_TLS_* or the TOML profile) and the project's
// settings do not replace, so a bad one fails at start naming its variable,
// not later as an anonymous connection error.
func checkTemporalTLS(v *viper.Viper, t *envconfig.ClientConfigTLS, bad func(name, rule string, args ...any)) {
	if t == nil || t.Disabled {
		return
	}
	if v.GetString("temporal.tls.cert_file") == "" && v.GetString("temporal.tls.key_file") == "" {
		from := temporalSource("CLIENT_CERT_PATH", "CLIENT_KEY_PATH")
		certPEM, keyPEM := t.ClientCertData, t.ClientKeyData
		if len(certPEM) > 0 || len(keyPEM) > 0 {
			from = temporalSource("CLIENT_CERT_DATA", "CLIENT_KEY_DATA")
		}
		certFrom, keyFrom := from[0], from[1]
		readPEM := func(path, from string) []byte {
			if path == "" {
				return nil
			}
			b, err := os.ReadFile(path)
			if err != nil {
				bad(from, "cannot be read: %v", err)
			}
			return b
		}
		if len(certPEM) == 0 && len(keyPEM) == 0 {
			certPEM, keyPEM = readPEM(t.ClientCertPath, certFrom), readPEM(t.ClientKeyPath, keyFrom)
		}
		switch {
		case t.ClientCertPath == "" && t.ClientKeyPath == "" && len(t.ClientCertData) == 0 && len(t.ClientKeyData) == 0:
		case len(certPEM) == 0 && len(keyPEM) == 0:
			// unreadable: named above
		case len(certPEM) == 0 || len(keyPEM) == 0:
			bad(certFrom, "and %s go together for mTLS: set both or neither", keyFrom)
		default:
			if _, err := x509.ParseCertificate(firstPEM(certPEM, "CERTIFICATE")); err != nil {
				bad(certFrom, "holds no PEM certificate")
			} else if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
				bad(certFrom, "with %s is not a usable certificate and key: %v", keyFrom, err)
			}
		}
	}
	if v.GetString("temporal.tls.ca_file") == "" {
		caPEM, caFrom := t.ServerCACertData, temporalSource("SERVER_CA_CERT_DATA")[0]
		if len(caPEM) == 0 && t.ServerCACertPath != "" {
			caFrom = temporalSource("SERVER_CA_CERT_PATH")[0]
			var err error
			if caPEM, err = os.ReadFile(t.ServerCACertPath); err != nil {
				bad(caFrom, "cannot be read: %v", err)
				return
			}
		}
		if (len(caPEM) > 0 || t.ServerCACertPath != "") && !x509.NewCertPool().AppendCertsFromPEM(caPEM) {
			bad(caFrom, "holds no PEM certificate")
		}
	}
}

// temporalSource names where Temporal's environment configuration took TLS
// values from, given their TEMPORAL_TLS_<suffix> variables: those variables
// if any of them is set, else the keys of the TOML profile.
func temporalSource(suffixes ...string) []string {
	fromEnv := slices.ContainsFunc(suffixes, func(s string) bool { return os.Getenv("TEMPORAL_TLS_"+s) != "" })
	names := make([]string, len(suffixes))
	for i, s := range suffixes {
		if fromEnv {
			names[i] = "TEMPORAL_TLS_" + s
		} else {
			names[i] = "tls." + strings.ToLower(s) + " of the Temporal TOML profile (TEMPORAL_CONFIG_FILE, TEMPORAL_PROFILE)"
		}
	}
	return names
}

// firstPEM is the DER of the first PEM block of the type, or nil.
func firstPEM(b []byte, typ string) []byte {
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			return nil
		}
		if block.Type == typ {
			return block.Bytes
		}
	}
}

// ParseDuration reads a duration setting such as a reopen window or an SLA: a
// Go duration (2160h, 90m, 30s) or whole days (90d). It must be whole seconds
// of at least one second; the reopen window's bounds are the domain's, which
// package app checks.
func ParseDuration(s string) (time.Duration, error) {
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil {
			return 0, fmt.Errorf("must be a duration such as 90d, 2160h or 2m, got %q", s)
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, fmt.Errorf("must be a duration such as 90d, 2160h or 2m, got %q", s)
		}
	}
	if d < time.Second || d%time.Second != 0 {
		return 0, fmt.Errorf("must be whole seconds of at least 1s, got %q", s)
	}
	return d, nil
}

// Profile is the connection as Temporal's environment configuration
// describes it, with the project's settings over it: address, namespace, TLS,
// API key, gRPC metadata. It holds secrets: never log it. Package app turns it
// into the SDK's client options.
func (t Temporal) Profile() envconfig.ClientConfigProfile { return t.profile }

// TLS reports whether the connection uses TLS (set by TLS settings or an API key).
func (t Temporal) TLS() bool {
	if t.profile.TLS != nil {
		return !t.profile.TLS.Disabled
	}
	return t.profile.APIKey != ""
}

// APIKeySet reports whether an API key is configured, without revealing it.
func (t Temporal) APIKeySet() bool { return t.profile.APIKey != "" }

// checkKnownKeys rejects keys in the file that no setting reads, so that a
// misspelt key fails at start instead of being silently ignored.
func checkKnownKeys(v *viper.Viper, file string) error {
	var unknown []string
	for _, k := range v.AllKeys() {
		if !slices.ContainsFunc(keys, func(known key) bool { return known.name == k }) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return fmt.Errorf("config file %s: unknown keys %s; known keys are %s", file, strings.Join(unknown, ", "), strings.Join(KeyNames(), ", "))
	}
	return nil
}

// KeyNames lists every setting's key, as in the YAML file.
func KeyNames() []string {
	names := make([]string, len(keys))
	for i, k := range keys {
		names[i] = k.name
	}
	return names
}

// EnvVar is the environment variable of a key: store.dsn is TERMINATION_STORE_DSN.
func EnvVar(name string) string {
	return EnvPrefix + "_" + strings.ToUpper(strings.ReplaceAll(name, ".", "_"))
}

func describe(name string) string {
	for _, k := range keys {
		if k.name == name {
			return fmt.Sprintf("%s (flag --%s, env %s)", name, k.flag, EnvVar(name))
		}
	}
	return name
}

func checkHostPort(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return fmt.Errorf("must be host:port such as localhost:7233, got %q", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("port must be a number from 1 to 65535, got %q", port)
	}
	return nil
}

// Local is the connection to a Temporal server on this machine, such as
// the dev command's embedded one: plain gRPC, no API key, whatever the
// environment says about other servers. It keeps t's namespace and task queue.
func (t Temporal) Local(address string) Temporal {
	return Temporal{
		Address: address, Namespace: t.Namespace, TaskQueue: t.TaskQueue,
		profile: envconfig.ClientConfigProfile{Address: address, Namespace: t.Namespace},
	}
}

// LocalTemporal is the connection to a Temporal server on this machine.
func LocalTemporal(address, namespace, taskQueue string) Temporal {
	return Temporal{Namespace: namespace, TaskQueue: taskQueue}.Local(address)
}
