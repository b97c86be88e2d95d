package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/cloudmarket/termination-orders/config"
)

const hashA = "c9feaaa1ab9ef92a85d056d486cfaa95d50db477953ebcdf0a711deb25a60ccd"

func TestAPIDefaults(t *testing.T) {
	isolate(t)
	cfg, err := loadFor(t, config.CLI|config.API)
	if err != nil {
		t.Fatal(err)
	}
	a := cfg.API
	if a.ListenAddress != "127.0.0.1:8234" || a.MaxBodyBytes != 65536 || a.IdempotencyKeyTTL != 24*time.Hour ||
		a.RequestTimeout != 30*time.Second || a.WriteTimeout <= a.RequestTimeout || a.OIDC.RoleClaim != "role" || len(a.Keys) != 0 {
		t.Fatalf("defaults: %+v", a)
	}
	// The worker has no API settings.
	fs := pflag.NewFlagSet("worker", pflag.ContinueOnError)
	config.RegisterFlags(fs, config.Worker, defaults)
	if fs.Lookup("api-address") != nil {
		t.Error("the worker has --api-address")
	}
}

// The entries are read from the file (comments and blank lines skipped), then
// from the setting, each with where it came from; package api reads them.
func TestAPIKeysFromFileAndEnvironment(t *testing.T) {
	isolate(t)
	file := filepath.Join(t.TempDir(), "keys")
	if err := os.WriteFile(file, []byte("# callers\nshop-backend:backend:"+hashA+"\n\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TERMINATION_API_KEYS", "ops-tool:operations:"+strings.ToUpper(hashA)+", page:reader:"+hashA)
	cfg, err := loadFor(t, config.CLI|config.API, "--api-keys-file", file)
	if err != nil {
		t.Fatal(err)
	}
	want := []config.APIKeyEntry{
		{Setting: "api.keys_file", Place: "line 2", Text: "shop-backend:backend:" + hashA},
		{Setting: "api.keys", Place: "entry 1", Text: "ops-tool:operations:" + strings.ToUpper(hashA)},
		{Setting: "api.keys", Place: "entry 2", Text: "page:reader:" + hashA},
	}
	if len(cfg.API.Keys) != len(want) {
		t.Fatalf("keys %+v", cfg.API.Keys)
	}
	for i := range want {
		if cfg.API.Keys[i] != want[i] {
			t.Errorf("key %d = %+v; want %+v", i, cfg.API.Keys[i], want[i])
		}
	}
}

func TestAPISettingsErrorsNameTheKey(t *testing.T) {
	isolate(t)
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want []string
	}{
		{args: []string{"--api-keys-file", "/nonexistent/keys"}, want: []string{"api.keys_file (flag --api-keys-file, env TERMINATION_API_KEYS_FILE): cannot be read"}},
		{args: []string{"--api-oidc-issuer", "https://login.example.com/"}, want: []string{"api.oidc.audience", "is required with api.oidc.issuer"}},
		{args: []string{"--api-oidc-issuer", "login.example.com", "--api-oidc-audience", "x"}, want: []string{"api.oidc.issuer", "must be an http(s) URL"}},
		{args: []string{"--api-cors-origins", "https://orders.example.com/page"}, want: []string{"api.cors_origins"}},
		{args: []string{"--api-max-body-bytes", "lots"}, want: []string{"api.max_body_bytes"}},
		{args: []string{"--api-request-timeout", "1m"}, want: []string{"api.write_timeout", "must be longer than api.request_timeout"}},
		{args: []string{"--api-address", "8234"}, want: []string{"api.listen_address"}},
	} {
		for k, v := range tc.env {
			t.Setenv(k, v)
		}
		_, err := loadFor(t, config.CLI|config.API, tc.args...)
		for k := range tc.env {
			t.Setenv(k, "")
		}
		if err == nil {
			t.Errorf("%v %v: no error", tc.args, tc.env)
			continue
		}
		for _, want := range tc.want {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%v %v: error %q lacks %q", tc.args, tc.env, err, want)
			}
		}
		if strings.Contains(err.Error(), "tok_secret") {
			t.Errorf("the error shows a key: %v", err)
		}
	}
}
