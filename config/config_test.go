package config_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/contrib/envconfig"

	"github.com/cloudmarket/termination-orders/config"
)

// defaults stands for the defaults the composition root passes in.
var defaults = config.Defaults{TaskQueue: "contract-queue"}

// load runs config.Load as a command would: flags parsed from args.
func load(t *testing.T, args ...string) (config.Config, error) {
	t.Helper()
	return loadFor(t, config.Worker, args...)
}

func loadFor(t *testing.T, cmd config.Command, args ...string) (config.Config, error) {
	t.Helper()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	config.RegisterFlags(fs, cmd, defaults)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return config.Load(fs, cmd, defaults)
}

// clientOptions are the SDK's options of the connection the settings describe.
func clientOptions(t *testing.T, tc config.Temporal) client.Options {
	t.Helper()
	p := tc.Profile()
	opts, err := p.ToClientOptions(envconfig.ToClientOptionsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	return opts
}

// isolate keeps the developer's own Temporal and project settings out of a test.
func isolate(t *testing.T) {
	t.Helper()
	for _, e := range os.Environ() {
		name, _, _ := strings.Cut(e, "=")
		if strings.HasPrefix(name, "TEMPORAL_") || strings.HasPrefix(name, config.EnvPrefix+"_") {
			t.Setenv(name, "")
			os.Unsetenv(name)
		}
	}
	t.Setenv("TEMPORAL_CONFIG_FILE", filepath.Join(t.TempDir(), "absent.toml"))
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "termination.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestDefaults(t *testing.T) {
	isolate(t)
	cfg, err := load(t)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Temporal.Address != "localhost:7233" || cfg.Temporal.Namespace != "default" || cfg.Temporal.TaskQueue != "contract-queue" {
		t.Errorf("temporal = %+v", cfg.Temporal)
	}
	if cfg.ReopenWindow != 90*24*time.Hour {
		t.Errorf("ReopenWindow = %v; want 90 days", cfg.ReopenWindow)
	}
	if cfg.StoreDSN != "sqlite:data/status.db" || cfg.Log.Level != "info" || cfg.Log.Format != "json" || cfg.StopTimeout != 30*time.Second || cfg.WorkflowCacheSize != 1000 {
		t.Errorf("cfg = %+v", cfg)
	}
	if cfg.Temporal.TLS() || cfg.Temporal.APIKeySet() {
		t.Error("TLS or API key on by default")
	}
}

func TestDefaultIsWhatLoadGives(t *testing.T) {
	isolate(t)
	cfg, err := load(t)
	if err != nil {
		t.Fatal(err)
	}
	if got := config.Default("worker.workflow_task_pollers"); got != strconv.Itoa(cfg.WorkflowTaskPollers) {
		t.Errorf("Default(worker.workflow_task_pollers) = %q, Load gives %d", got, cfg.WorkflowTaskPollers)
	}
	if got := config.Default("worker.no_such_setting"); got != "" {
		t.Errorf("Default of an unknown name = %q, want empty", got)
	}
}

func TestPrecedenceFileEnvFlag(t *testing.T) {
	isolate(t)
	file := writeFile(t, `
temporal:
  address: file-host:7233
  namespace: from-file
  task_queue: file-queue
order:
  reopen_window: 30d
store:
  dsn: sqlite:/tmp/file.db
log:
  level: debug
`)
	t.Setenv("TERMINATION_TEMPORAL_NAMESPACE", "from-env")
	t.Setenv("TERMINATION_LOG_LEVEL", "warn")
	t.Setenv("TERMINATION_ORDER_REOPEN_WINDOW", "2m")

	cfg, err := load(t, "--config", file, "--log-level", "error")
	if err != nil {
		t.Fatal(err)
	}
	// File beats default.
	if cfg.Temporal.Address != "file-host:7233" || cfg.Temporal.TaskQueue != "file-queue" || cfg.StoreDSN != "sqlite:/tmp/file.db" {
		t.Errorf("file values not applied: %+v", cfg)
	}
	// Env beats file.
	if cfg.Temporal.Namespace != "from-env" || cfg.ReopenWindow != 2*time.Minute {
		t.Errorf("env values not applied: namespace %q, window %v", cfg.Temporal.Namespace, cfg.ReopenWindow)
	}
	// Flag beats env.
	if cfg.Log.Level != "error" {
		t.Errorf("log.level = %q; want the flag's error", cfg.Log.Level)
	}
}

func TestConfigFileFromEnvironment(t *testing.T) {
	isolate(t)
	t.Setenv("TERMINATION_CONFIG", writeFile(t, "log:\n  format: console\n"))
	cfg, err := load(t)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Log.Format != "console" {
		t.Errorf("log.format = %q; want console from the file named by TERMINATION_CONFIG", cfg.Log.Format)
	}
}

func TestTemporalStandardEnvironment(t *testing.T) {
	isolate(t)
	t.Setenv("TEMPORAL_ADDRESS", "temporal.internal:7233")
	t.Setenv("TEMPORAL_NAMESPACE", "orders-prod")
	t.Setenv("TEMPORAL_API_KEY", "secret-key-value")
	cfg, err := load(t)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Temporal.Address != "temporal.internal:7233" || cfg.Temporal.Namespace != "orders-prod" {
		t.Errorf("TEMPORAL_* not honoured: %+v", cfg.Temporal)
	}
	if !cfg.Temporal.APIKeySet() || !cfg.Temporal.TLS() {
		t.Error("an API key should be set and turn TLS on")
	}
	opts := clientOptions(t, cfg.Temporal)
	if opts.HostPort != "temporal.internal:7233" || opts.Namespace != "orders-prod" || opts.Credentials == nil || opts.ConnectionOptions.TLS == nil {
		t.Errorf("client options = %+v", opts)
	}

	// The project's own setting wins over Temporal's.
	t.Setenv("TERMINATION_TEMPORAL_ADDRESS", "override:7233")
	cfg, err = load(t, "--temporal-namespace", "orders-staging")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Temporal.Address != "override:7233" || cfg.Temporal.Namespace != "orders-staging" {
		t.Errorf("project settings should override TEMPORAL_*: %+v", cfg.Temporal)
	}
}

func TestBadTemporalAddressNamesItsSource(t *testing.T) {
	isolate(t)
	t.Setenv("TEMPORAL_ADDRESS", "no-port")
	_, err := load(t)
	if err == nil || !strings.Contains(err.Error(), "TEMPORAL_ADDRESS (or the address of the TEMPORAL_PROFILE profile): must be host:port") {
		t.Fatalf("Load = %v; want TEMPORAL_ADDRESS named", err)
	}
}

func TestTemporalTOMLProfile(t *testing.T) {
	isolate(t)
	toml := filepath.Join(t.TempDir(), "temporal.toml")
	if err := os.WriteFile(toml, []byte("[profile.cloud]\naddress = \"ns.acct.tmprl.cloud:7233\"\nnamespace = \"ns.acct\"\napi_key = \"k\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TEMPORAL_CONFIG_FILE", toml)
	t.Setenv("TEMPORAL_PROFILE", "cloud")
	cfg, err := load(t)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Temporal.Address != "ns.acct.tmprl.cloud:7233" || cfg.Temporal.Namespace != "ns.acct" || !cfg.Temporal.APIKeySet() {
		t.Errorf("TOML profile not applied: %+v", cfg.Temporal)
	}
}

func TestBadValuesNameTheKey(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want []string
	}{
		{"address without port", []string{"--temporal-address", "localhost"}, nil,
			[]string{"temporal.address (flag --temporal-address, env TERMINATION_TEMPORAL_ADDRESS)", "must be host:port"}},
		{"port out of range", nil, map[string]string{"TERMINATION_TEMPORAL_ADDRESS": "localhost:99999"},
			[]string{"temporal.address", "port must be a number from 1 to 65535"}},
		{"reopen window not a duration", []string{"--reopen-window", "ninety days"}, nil,
			[]string{"order.reopen_window", "must be a duration such as 90d"}},
		{"fractional seconds", []string{"--reopen-window", "1500ms"}, nil, []string{"order.reopen_window", "must be whole seconds of at least 1s"}},
		{"log level", nil, map[string]string{"TERMINATION_LOG_LEVEL": "verbose"},
			[]string{"log.level", `must be debug, info, warn or error, got "verbose"`}},
		{"log format", []string{"--log-format", "xml"}, nil, []string{"log.format", "must be json or console"}},
		{"stop timeout", []string{"--stop-timeout", "-1s"}, nil, []string{"worker.stop_timeout", "positive duration"}},
		{"empty task queue", []string{"--task-queue", " "}, nil, []string{"temporal.task_queue", "must not be empty"}},
		{"cache size", []string{"--workflow-cache-size", "0"}, nil, []string{"worker.workflow_cache_size", "at least 1"}},
		{"pprof address without port", []string{"--pprof-address", "localhost"}, nil,
			[]string{"worker.pprof_address (flag --pprof-address, env TERMINATION_WORKER_PPROF_ADDRESS)", "must be host:port"}},
		{"pprof address on the metrics port", []string{"--pprof-address", "127.0.0.1:9464"}, nil,
			[]string{"worker.pprof_address", "must differ from metrics.listen_address"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			isolate(t)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			_, err := load(t, tc.args...)
			if err == nil {
				t.Fatal("Load succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error leaks a password: %v", err)
			}
		})
	}
}

func TestEveryBadValueIsReported(t *testing.T) {
	isolate(t)
	_, err := load(t, "--log-level", "loud", "--log-format", "xml", "--reopen-window", "0s")
	if err == nil {
		t.Fatal("Load succeeded")
	}
	for _, k := range []string{"log.level", "log.format", "order.reopen_window"} {
		if !strings.Contains(err.Error(), k) {
			t.Errorf("error %q does not name %s", err, k)
		}
	}
}

func TestUnknownFileKeyIsRejected(t *testing.T) {
	isolate(t)
	file := writeFile(t, "temporal:\n  adress: typo:7233\n")
	_, err := load(t, "--config", file)
	if err == nil || !strings.Contains(err.Error(), "unknown keys temporal.adress") {
		t.Fatalf("Load = %v; want the misspelt key named", err)
	}
}

func TestMissingOrBrokenFile(t *testing.T) {
	isolate(t)
	if _, err := load(t, "--config", filepath.Join(t.TempDir(), "nope.yaml")); err == nil || !strings.Contains(err.Error(), "nope.yaml") {
		t.Errorf("missing file: %v", err)
	}
	if _, err := load(t, "--config", writeFile(t, "temporal: [unclosed")); err == nil || !strings.Contains(err.Error(), "termination.yaml") {
		t.Errorf("broken file: %v", err)
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{"90d": 90 * 24 * time.Hour, "2160h": 2160 * time.Hour, "2m": 2 * time.Minute, "1s": time.Second} {
		got, err := config.ParseDuration(in)
		if err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0s", "-5d", "1.5d", "10ms"} {
		if _, err := config.ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q) succeeded", in)
		}
	}
}

func TestEachCommandHasItsOwnSettings(t *testing.T) {
	isolate(t)
	// A worker setting means nothing to terminationctl: no flag, no check.
	cliFlags := pflag.NewFlagSet("cli", pflag.ContinueOnError)
	config.RegisterFlags(cliFlags, config.CLI, defaults)
	for _, worker := range []string{"reopen-window", "stop-timeout", "port", "data-dir"} {
		if cliFlags.Lookup(worker) != nil {
			t.Errorf("terminationctl has --%s", worker)
		}
	}
	t.Setenv("TERMINATION_ORDER_REOPEN_WINDOW", "forever")
	t.Setenv("TERMINATION_DEV_PORT", "70000")
	if _, err := loadFor(t, config.CLI); err != nil {
		t.Errorf("terminationctl failed on settings it does not use: %v", err)
	}
	_, err := loadFor(t, config.Worker)
	if err == nil || !strings.Contains(err.Error(), "order.reopen_window") || strings.Contains(err.Error(), "dev.port") {
		t.Errorf("worker: %v; want only order.reopen_window named", err)
	}
	_, err = loadFor(t, config.Dev)
	if err == nil || !strings.Contains(err.Error(), "dev.port (flag --port, env TERMINATION_DEV_PORT): must be a port number") {
		t.Errorf("dev: %v; want dev.port named", err)
	}
}

func TestDevSettings(t *testing.T) {
	isolate(t)
	cfg, err := loadFor(t, config.Dev, "--port", "7300", "--ui-port", "8300", "--data-dir", "/tmp/x")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Dev.Port != 7300 || cfg.Dev.UIPort != 8300 || cfg.Dev.DataDir != "/tmp/x" || cfg.Dev.IP != "127.0.0.1" {
		t.Errorf("dev = %+v", cfg.Dev)
	}
	_, err = loadFor(t, config.Dev, "--port", "7300", "--ui-port", "7300", "--ip", "localhost")
	if err == nil || !strings.Contains(err.Error(), "dev.ui_port") || !strings.Contains(err.Error(), "dev.ip") {
		t.Errorf("Load = %v; want dev.ui_port and dev.ip named", err)
	}
}

func TestDevCommandIgnoresOtherServersAndKeepsItsStoreInItsDataDir(t *testing.T) {
	isolate(t)
	t.Setenv("TEMPORAL_PROFILE", "nope")
	t.Setenv("TEMPORAL_NAMESPACE", "cloud-ns.acct")
	cfg, err := loadFor(t, config.Dev, "--data-dir", "/tmp/demo")
	if err != nil {
		t.Fatalf("the dev command must not read Temporal's environment: %v", err)
	}
	if cfg.Temporal.Namespace != "default" {
		t.Errorf("namespace = %q; want the dev server's own", cfg.Temporal.Namespace)
	}
	if cfg.StoreDSN != "sqlite:/tmp/demo/status.db" {
		t.Errorf("StoreDSN = %q; want the store in the data directory", cfg.StoreDSN)
	}
	cfg, err = loadFor(t, config.Dev, "--data-dir", "/tmp/demo", "--store-dsn", "sqlite:/elsewhere.db")
	if err != nil || cfg.StoreDSN != "sqlite:/elsewhere.db" {
		t.Errorf("an explicit store stays: %q, %v", cfg.StoreDSN, err)
	}
	if _, err := loadFor(t, config.Dev, "--ip", "::1"); err == nil || !strings.Contains(err.Error(), "must be an IPv4 address") {
		t.Errorf("IPv6: %v", err)
	}
}
