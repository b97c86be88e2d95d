package app_test

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.temporal.io/sdk/converter"
	"go.uber.org/zap"

	"github.com/cloudmarket/termination-orders/app"
	"github.com/cloudmarket/termination-orders/codec"
	"github.com/cloudmarket/termination-orders/config"
)

// Test keys: 32 bytes each, base64; never used outside tests.
var (
	testKey1 = base64.StdEncoding.EncodeToString([]byte("test-key-1-is-thirty-two-bytes!!"))
	testKey2 = base64.StdEncoding.EncodeToString([]byte("test-key-2-is-thirty-two-bytes!!"))
)

func TestEncryptionIsOffWithoutKeys(t *testing.T) {
	isolate(t)
	for _, cmd := range []config.Command{config.CLI, config.Worker, config.Dev, config.CLI | config.API} {
		cfg, err := loadFor(t, cmd)
		if err != nil {
			t.Fatal(err)
		}
		if _, on := cfg.Codec.Encrypting(); on || app.EncryptionLine(cfg.Codec) != "off" {
			t.Errorf("command %d: encrypting without keys: %s", cmd, app.EncryptionLine(cfg.Codec))
		}
	}
}

func TestOneKeyFromTheEnvironmentEncryptsEveryPayload(t *testing.T) {
	isolate(t)
	t.Setenv("TERMINATION_CODEC_KEYS", "k1:"+testKey1)
	cfg, err := loadFor(t, config.Worker)
	if err != nil {
		t.Fatal(err)
	}
	if id, on := cfg.Codec.Encrypting(); !on || id != "k1" {
		t.Fatalf("encrypting = %q, %v", id, on)
	}
	line := app.EncryptionLine(cfg.Codec)
	if !strings.Contains(line, "k1") || strings.Contains(line, testKey1) {
		t.Errorf("encryption line %q", line)
	}
	if s := fmt.Sprintf("%v %+v %#v", cfg, cfg, cfg); strings.Contains(s, testKey1) || strings.Contains(s, "test-key-1") {
		t.Errorf("printing the config shows the key")
	}

	// The one place that builds client options gives them the codec.
	opts, err := cfg.ClientOptions(zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.DataConverter.ToPayload(map[string]string{"requestedBy": "jane.doe@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if string(p.GetMetadata()[converter.MetadataEncoding]) != codec.MetadataEncoding || string(p.GetMetadata()[codec.MetadataKeyID]) != "k1" ||
		strings.Contains(string(p.GetData()), "jane.doe") {
		t.Errorf("payload not encrypted under k1: %v", p)
	}
	if opts.FailureConverter == nil {
		t.Error("no failure converter: failure messages would be in clear")
	}
}

func TestRotationNamesTheActiveKey(t *testing.T) {
	isolate(t)
	file := filepath.Join(t.TempDir(), "keys")
	if err := os.WriteFile(file, []byte("# retired, still decrypts\nk1:"+testKey1+"\n\nk2:"+testKey2+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := loadFor(t, config.Worker, "--codec-keys-file", file)
	if err == nil || !strings.Contains(err.Error(), "codec.active_key") || !strings.Contains(err.Error(), "k1, k2") {
		t.Fatalf("two keys without an active one: %v", err)
	}
	cfg, err := loadFor(t, config.Worker, "--codec-keys-file", file, "--codec-active-key", "k2")
	if err != nil {
		t.Fatal(err)
	}
	if id, on := cfg.Codec.Encrypting(); !on || id != "k2" {
		t.Fatalf("encrypting = %q, %v", id, on)
	}
	if ids := cfg.Codec.Ring().IDs(); strings.Join(ids, ",") != "k1,k2" {
		t.Errorf("ring %v", ids)
	}
}

func TestEncryptionOffStillDecrypts(t *testing.T) {
	isolate(t)
	t.Setenv("TERMINATION_CODEC_KEYS", "k1:"+testKey1)
	on, err := loadFor(t, config.CLI)
	if err != nil {
		t.Fatal(err)
	}
	off, err := loadFor(t, config.CLI, "--encryption", "off")
	if err != nil {
		t.Fatal(err)
	}
	if _, encrypting := off.Codec.Encrypting(); encrypting || !strings.Contains(app.EncryptionLine(off.Codec), "k1 still decrypt") {
		t.Fatalf("off: %s", app.EncryptionLine(off.Codec))
	}
	dcOn, dcOff := codec.DataConverter(on.Codec), codec.DataConverter(off.Codec)
	p, err := dcOn.ToPayload("reason typed by a customer")
	if err != nil {
		t.Fatal(err)
	}
	var back string
	if err := dcOff.FromPayload(p, &back); err != nil || back != "reason typed by a customer" {
		t.Errorf("off does not decrypt what was encrypted: %q, %v", back, err)
	}
	plain, err := dcOff.ToPayload("new")
	if err != nil {
		t.Fatal(err)
	}
	if string(plain.GetMetadata()[converter.MetadataEncoding]) != converter.MetadataEncodingJSON {
		t.Errorf("off encrypts: %v", plain.GetMetadata())
	}
}

func TestCodecSettingsErrorsNameTheKeyNeverTheSecret(t *testing.T) {
	isolate(t)
	short := base64.StdEncoding.EncodeToString([]byte("sixteen-byte-key"))
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want []string
	}{
		{args: []string{"--encryption", "on"}, want: []string{"codec.encryption (flag --encryption, env TERMINATION_CODEC_ENCRYPTION)", "at least one key"}},
		{args: []string{"--encryption", "maybe"}, want: []string{"codec.encryption", "auto, on or off"}},
		{env: map[string]string{"TERMINATION_CODEC_KEYS": "k1:" + short}, want: []string{"codec.keys (flag --codec-keys, env TERMINATION_CODEC_KEYS)", `key "k1": must be 32 bytes`}},
		{env: map[string]string{"TERMINATION_CODEC_KEYS": "k1:not*base64*" + testKey1}, want: []string{"codec.keys", `key "k1": not base64`}},
		{env: map[string]string{"TERMINATION_CODEC_KEYS": testKey1}, want: []string{"codec.keys", "id:base64"}},
		{env: map[string]string{"TERMINATION_CODEC_KEYS": "k1:" + testKey1 + ",k1:" + testKey2}, want: []string{"codec.keys", `"k1": listed twice`}},
		{env: map[string]string{"TERMINATION_CODEC_KEYS": "k1:" + testKey1}, args: []string{"--codec-active-key", "k9"}, want: []string{"codec.keys", `active key "k9": not among the keys (k1)`}},
		{args: []string{"--codec-active-key", "k9"}, want: []string{"codec.active_key", "no keys are configured"}},
		{args: []string{"--codec-keys-file", "/nonexistent/keys"}, want: []string{"codec.keys_file (flag --codec-keys-file, env TERMINATION_CODEC_KEYS_FILE): cannot be read"}},
		{args: []string{"--codec-web-ui-origins", "temporal.example.com"}, want: []string{"codec.web_ui_origins", "scheme://host"}},
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
		for _, secret := range []string{testKey1, testKey2, short, "test-key", "sixteen-byte"} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("the error shows a key: %v", err)
			}
		}
	}
}
