package config

import (
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/viper"
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

// Encryption modes (codec.encryption).
const (
	EncryptionAuto = "auto" // on when keys are configured
	EncryptionOn   = "on"   // refuse to start without a key
	EncryptionOff  = "off"  // write payloads in clear; configured keys still decrypt
)

// Codec is the payload encryption settings, as written: package app reads the
// keys with package codec, which owns their format, and builds the key ring.
type Codec struct {
	// Encryption is EncryptionAuto, EncryptionOn or EncryptionOff.
	Encryption string
	// KeysFile is the text of codec.keys_file (empty without one); Keys is
	// codec.keys.
	KeysFile Secret
	Keys     Secret
	// ActiveKey is the ID of the key that encrypts new payloads; empty for
	// the only key.
	ActiveKey string
	// WebUIOrigins are the browser origins allowed to call /codec/encode
	// and /codec/decode: those of the Temporal Web UI.
	WebUIOrigins []string
}

// loadCodec reads the codec settings; origins only for the commands that
// serve the codec endpoints, whose default for the dev command is its own
// Web UI.
func loadCodec(v *viper.Viper, origins bool, dev *DevServer, bad func(name, rule string, args ...any)) Codec {
	c := Codec{
		Encryption: strings.ToLower(strings.TrimSpace(v.GetString("codec.encryption"))),
		Keys:       Secret(v.GetString("codec.keys")),
		ActiveKey:  strings.TrimSpace(v.GetString("codec.active_key")),
	}
	if !slices.Contains([]string{EncryptionAuto, EncryptionOn, EncryptionOff}, c.Encryption) {
		bad("codec.encryption", "must be auto, on or off, got %q", v.GetString("codec.encryption"))
	}
	if file := v.GetString("codec.keys_file"); file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			bad("codec.keys_file", "cannot be read: %v", err)
		}
		c.KeysFile = Secret(b)
	}
	if !origins {
		return c
	}
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
