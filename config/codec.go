package config

import (
	"fmt"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/viper"

	"github.com/cloudmarket/termination-orders/codec"
)

// The codec.* keys: the payload encryption of every process's connection to
// Temporal, and the origins of the Web UI that may call the codec endpoints.
var codecKeys = []key{
	{"codec.encryption", "encryption", "auto", "payload encryption: auto (on when keys are configured), on (refuse to start without a key) or off (write payloads in clear; configured keys still decrypt)", allCommands | API},
	{"codec.keys_file", "codec-keys-file", "", "file of payload encryption keys, one id:base64-of-32-bytes per line (see termination-api new-encryption-key)", allCommands | API},
	{"codec.keys", "codec-keys", "", "payload encryption keys as comma-separated id:base64 entries (prefer the environment variable or the file: a flag shows in ps)", allCommands | API},
	{"codec.active_key", "codec-active-key", "", "ID of the key that encrypts new payloads (default: the only key); the other keys only decrypt", allCommands | API},
	{"codec.web_ui_origins", "codec-web-ui-origins", "", "comma-separated origins of the Temporal Web UI allowed to call the codec endpoints (default for the dev command: its own Web UI)", API | Dev},
}

// Codec is what the codec endpoints need beyond the codec itself, which
// Temporal carries (Temporal.Codec).
type Codec struct {
	// WebUIOrigins are the browser origins allowed to call /codec/encode
	// and /codec/decode: those of the Temporal Web UI.
	WebUIOrigins []string
}

// loadCodec builds the codec of the key ring the settings describe. The
// errors name keys and key IDs, never a secret.
func loadCodec(v *viper.Viper, bad func(name, rule string, args ...any)) *codec.Codec {
	mode := strings.ToLower(strings.TrimSpace(v.GetString("codec.encryption")))
	if !slices.Contains([]string{"auto", "on", "off"}, mode) {
		bad("codec.encryption", "must be auto, on or off, got %q", v.GetString("codec.encryption"))
	}

	var keys []codec.Key
	if file := v.GetString("codec.keys_file"); file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			bad("codec.keys_file", "cannot be read: %v", err)
		} else if keys, err = codec.ParseKeyFile(string(b)); err != nil {
			bad("codec.keys_file", "%v", err)
		}
	}
	fromSetting, err := codec.ParseKeys(v.GetString("codec.keys"))
	if err != nil {
		bad("codec.keys", "%v", err)
	}
	keys = append(keys, fromSetting...)

	active := strings.TrimSpace(v.GetString("codec.active_key"))
	switch {
	case mode == "off":
		active = ""
	case len(keys) == 0:
		if mode == "on" {
			bad("codec.encryption", "is on, so codec.keys or codec.keys_file must hold at least one key")
		}
		if active != "" {
			bad("codec.active_key", "names key %q, but no keys are configured (codec.keys, codec.keys_file)", active)
		}
		active = ""
	case active == "" && len(keys) == 1:
		active = keys[0].ID
	case active == "":
		ids := make([]string, len(keys))
		for i, k := range keys {
			ids[i] = k.ID
		}
		bad("codec.active_key", "must name the key that encrypts new payloads when there are several (%s)", strings.Join(ids, ", "))
	}
	ring, err := codec.NewKeyRing(active, keys...)
	if err != nil {
		bad("codec.keys", "%v", err)
		return nil
	}
	return codec.New(ring)
}

// loadCodecOrigins reads the Web UI origins; the dev command's default is its
// own Web UI.
func loadCodecOrigins(v *viper.Viper, dev *DevServer, bad func(name, rule string, args ...any)) Codec {
	var c Codec
	for _, o := range splitList(v.GetString("codec.web_ui_origins")) {
		if u, err := url.Parse(o); err != nil || u.Scheme == "" || u.Host == "" || u.Path != "" {
			bad("codec.web_ui_origins", "each origin must be scheme://host[:port] such as https://temporal.example.com, got %q", o)
		}
		c.WebUIOrigins = append(c.WebUIOrigins, o)
	}
	if len(c.WebUIOrigins) == 0 && dev != nil && dev.UIPort > 0 {
		port := strconv.Itoa(dev.UIPort)
		c.WebUIOrigins = []string{"http://" + dev.IP + ":" + port}
		if dev.IP == "127.0.0.1" {
			c.WebUIOrigins = append(c.WebUIOrigins, "http://localhost:"+port)
		}
	}
	return c
}

// Codec is the payload codec of the connection: it encrypts under the active
// key, if any, and decrypts with every key of the ring. Never nil from Load.
func (t Temporal) Codec() *codec.Codec { return t.codec }

// WithCodec is the connection with another codec (the dev command and the
// benchmark set their own).
func (t Temporal) WithCodec(c *codec.Codec) Temporal {
	t.codec = c
	return t
}

// EncryptionLine says in one line whether payloads are encrypted, for logs
// and banners: key IDs, never keys.
func (t Temporal) EncryptionLine() string {
	if t.codec == nil {
		return "off"
	}
	if id, on := t.codec.Encrypting(); on {
		return fmt.Sprintf("on: AES-256-GCM, new payloads under key %s; keys %s decrypt", id, strings.Join(t.codec.Ring().IDs(), ", "))
	}
	if ids := t.codec.Ring().IDs(); len(ids) > 0 {
		return "off (payloads written in clear; keys " + strings.Join(ids, ", ") + " still decrypt)"
	}
	return "off"
}
