package app_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cloudmarket/termination-orders/api"
	"github.com/cloudmarket/termination-orders/app"
	"github.com/cloudmarket/termination-orders/config"
	"github.com/cloudmarket/termination-orders/workflows"
)

// loadFor loads a command's App as the command does: flags parsed from args.
func loadFor(t *testing.T, cmd config.Command, args ...string) (app.App, error) {
	t.Helper()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	app.RegisterFlags(fs, cmd)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return app.Load(fs, cmd)
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

// Workers poll the task queue of the wire contract unless told otherwise,
// and --help says which.
func TestTaskQueueIsTheContractsByDefault(t *testing.T) {
	isolate(t)
	a, err := loadFor(t, config.Worker)
	require.NoError(t, err)
	assert.Equal(t, workflows.DefaultTaskQueue, a.Config.Temporal.TaskQueue)
	assert.Equal(t, workflows.DefaultTaskQueue, a.WorkerOptions().TaskQueue)
	fs := pflag.NewFlagSet("help", pflag.ContinueOnError)
	app.RegisterFlags(fs, config.CLI)
	assert.Equal(t, workflows.DefaultTaskQueue, fs.Lookup("task-queue").DefValue)
}

// The rules of the project's packages are checked with config's own, each
// error naming the setting, and none showing a password.
func TestProjectRulesNameTheKey(t *testing.T) {
	for _, tc := range []struct {
		name string
		cmd  config.Command
		args []string
		env  map[string]string
		want []string
	}{
		{"reopen window too long", config.Worker, []string{"--reopen-window", "400d"}, nil,
			[]string{"order.reopen_window (flag --reopen-window, env TERMINATION_ORDER_REOPEN_WINDOW)", "must be whole seconds between 1s and 8760h0m0s"}},
		{"store scheme", config.Worker, []string{"--store-dsn", "mysql://root:hunter2@db/x"}, nil,
			[]string{"store.dsn", `unsupported scheme "mysql"`}},
		{"webhook without secret", config.Worker, nil, map[string]string{"TERMINATION_NOTIFY_MARKETPLACE_WEBHOOK_URLS": "https://a.example/hook"},
			[]string{"notify.marketplace.webhook_secret"}},
		{"e-mail without SMTP", config.Worker, nil, map[string]string{"TERMINATION_NOTIFY_ESCALATION_EMAIL_TO": "lead@example.com"},
			[]string{"notify.smtp.address"}},
		{"not a URL", config.Dev, nil, map[string]string{"TERMINATION_NOTIFY_OPERATIONS_CHAT_URLS": "hooks.slack.com/x"},
			[]string{"notify.operations.chat_urls"}},
		{"role", config.CLI | config.API, nil, map[string]string{"TERMINATION_API_KEYS": "shop:admin:" + api.HashKey("k")},
			[]string{"api.keys (flag --api-keys, env TERMINATION_API_KEYS): entry 1: key shop", `role must be one of backend, operations, reader, got "admin"`}},
		{"a key instead of its hash", config.CLI | config.API, nil, map[string]string{"TERMINATION_API_KEYS": "shop:backend:tok_secret-key-pasted-by-mistake"},
			[]string{"api.keys", "64 hex digits"}},
		{"a name twice", config.Dev, nil, map[string]string{"TERMINATION_API_KEYS": "shop:backend:" + api.HashKey("k") + ",shop:reader:" + api.HashKey("l")},
			[]string{"api.keys", `key name "shop" is used twice`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			isolate(t)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			_, err := loadFor(t, tc.cmd, tc.args...)
			require.Error(t, err)
			assert.True(t, strings.HasPrefix(err.Error(), "invalid configuration: "), err)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
			for _, secret := range []string{"hunter2", "tok_secret"} {
				assert.NotContains(t, err.Error(), secret)
			}
		})
	}
}

// A worker's broken notification target is not the CLI's business.
func TestCLIIgnoresTheWorkersTargets(t *testing.T) {
	isolate(t)
	t.Setenv("TERMINATION_NOTIFY_MARKETPLACE_WEBHOOK_URLS", "not a url")
	_, err := loadFor(t, config.CLI, "--unlink-sla", "2d")
	require.NoError(t, err)
	_, err = loadFor(t, config.Worker)
	require.ErrorContains(t, err, "notify.marketplace.webhook_urls")
}

// The API's keys come from the file and the setting, read by package api.
func TestAPIKeysFromFileAndEnvironment(t *testing.T) {
	isolate(t)
	hash := api.HashKey("k")
	file := filepath.Join(t.TempDir(), "keys")
	require.NoError(t, os.WriteFile(file, []byte("# callers\nshop-backend:backend:"+hash+"\n\n"), 0o600))
	t.Setenv("TERMINATION_API_KEYS", "ops-tool:operations:"+strings.ToUpper(hash)+", page:reader:"+hash)
	a, err := loadFor(t, config.CLI|config.API, "--api-keys-file", file)
	require.NoError(t, err)
	assert.Equal(t, []api.Key{{Name: "shop-backend", Role: api.RoleBackend, Hash: hash}, {Name: "ops-tool", Role: api.RoleOperations, Hash: hash}, {Name: "page", Role: api.RoleReader, Hash: hash}}, a.API.Keys)
	assert.Equal(t, int64(65536), a.API.MaxBodyBytes)
	assert.Equal(t, "role", a.API.OIDC.RoleClaim)

	_, err = loadFor(t, config.CLI|config.API, "--api-keys-file", file, "--api-keys", "x:reader:"+hash+",shop-backend:reader:"+hash)
	require.ErrorContains(t, err, `key name "shop-backend" is used twice`)
}

// The worker's options are the settings', policy and links included.
func TestWorkerOptionsFromSettings(t *testing.T) {
	isolate(t)
	a, err := loadFor(t, config.Worker, "--reopen-window", "2m", "--unlink-sla", "3d", "--last-warning", "0",
		"--notify-web-ui-url", "http://ui.example:8233/", "--temporal-namespace", "orders", "--stop-timeout", "20s")
	require.NoError(t, err)
	o := a.WorkerOptions()
	assert.Equal(t, "2m0s", o.Policy.ReopenWindow.String())
	assert.Equal(t, "72h0m0s", o.Policy.Notify.UnlinkSLA.String())
	assert.Zero(t, o.Policy.Notify.LastWarning)
	assert.Equal(t, 5, o.Policy.Notify.MaxReminders)
	assert.Equal(t, "http://ui.example:8233", o.Links.WebUIURL)
	assert.Equal(t, "orders", o.Links.Namespace)
	assert.Equal(t, "20s", o.StopTimeout.String())
}
