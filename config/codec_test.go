package config_test

import (
	"strings"
	"testing"

	"github.com/cloudmarket/termination-orders/config"
)

// The key ring's rules are package codec's (see package app); config reads
// the mode and the key file.
func TestCodecSettingsErrorsNameTheKey(t *testing.T) {
	isolate(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--encryption", "maybe"}, "codec.encryption (flag --encryption, env TERMINATION_CODEC_ENCRYPTION): must be auto, on or off"},
		{[]string{"--codec-keys-file", "/nonexistent/keys"}, "codec.keys_file (flag --codec-keys-file, env TERMINATION_CODEC_KEYS_FILE): cannot be read"},
		{[]string{"--codec-web-ui-origins", "temporal.example.com"}, "codec.web_ui_origins"},
	} {
		_, err := loadFor(t, config.CLI|config.API, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v lacks %q", tc.args, err, tc.want)
		}
	}
	cfg, err := loadFor(t, config.Worker, "--encryption", " ON ")
	if err != nil || cfg.Codec.Encryption != config.EncryptionOn {
		t.Errorf("encryption %q, %v", cfg.Codec.Encryption, err)
	}
}

func TestDevCommandLetsItsOwnWebUICallTheCodec(t *testing.T) {
	isolate(t)
	cfg, err := loadFor(t, config.Dev, "--ui-port", "8299")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cfg.Codec.WebUIOrigins, " "); got != "http://127.0.0.1:8299 http://localhost:8299" {
		t.Errorf("dev origins %q", got)
	}
	cfg, err = loadFor(t, config.CLI|config.API, "--codec-web-ui-origins", "https://temporal.example.com, https://ui.example.com:8443")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cfg.Codec.WebUIOrigins, " "); got != "https://temporal.example.com https://ui.example.com:8443" {
		t.Errorf("origins %q", got)
	}
}
