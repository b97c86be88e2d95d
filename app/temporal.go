package app

import (
	"errors"
	"fmt"
	"strings"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/contrib/envconfig"
	"go.temporal.io/sdk/log"

	"github.com/cloudmarket/termination-orders/codec"
	"github.com/cloudmarket/termination-orders/config"
)

// ClientOptions are the options for dialing Temporal as t describes, payloads
// through c (nil: in clear), logging through logger. This is the one place
// that turns settings into a connection.
func ClientOptions(t config.Temporal, c *codec.Codec, logger log.Logger) (client.Options, error) {
	profile := t.Profile()
	opts, err := profile.ToClientOptions(envconfig.ToClientOptionsRequest{})
	if err != nil {
		return client.Options{}, fmt.Errorf("temporal connection: %w", err)
	}
	opts.Logger = logger
	if c != nil {
		opts.DataConverter = codec.DataConverter(c)
		opts.FailureConverter = codec.FailureConverter(c, opts.DataConverter)
	}
	return opts, nil
}

// WorkerClientOptions are ClientOptions for a worker: its data converter
// panics on a payload it cannot decrypt (codec.WorkerDataConverter), so that
// the workflow task is retried until the key is back, instead of the order
// deciding on an error.
func WorkerClientOptions(t config.Temporal, c *codec.Codec, logger log.Logger) (client.Options, error) {
	opts, err := ClientOptions(t, c, logger)
	if err != nil || c == nil {
		return opts, err
	}
	opts.DataConverter = codec.WorkerDataConverter(c)
	opts.FailureConverter = codec.FailureConverter(c, opts.DataConverter)
	return opts, nil
}

// EncryptionLine says in one line whether payloads are encrypted, for logs
// and banners: key IDs, never keys.
func EncryptionLine(c *codec.Codec) string {
	if c == nil {
		return "off"
	}
	if id, on := c.Encrypting(); on {
		return fmt.Sprintf("on: AES-256-GCM, new payloads under key %s; keys %s decrypt", id, strings.Join(c.Ring().IDs(), ", "))
	}
	if ids := c.Ring().IDs(); len(ids) > 0 {
		return "off (payloads written in clear; keys " + strings.Join(ids, ", ") + " still decrypt)"
	}
	return "off"
}

// newCodec builds the codec of the key ring the settings describe. The
// errors name settings and key IDs, never a secret.
func newCodec(s config.Codec) (*codec.Codec, error) {
	var errs []error
	bad := func(key string, err error) { errs = append(errs, &config.KeyError{Key: key, Err: err}) }
	keys, err := codec.ParseKeyFile(string(s.KeysFile))
	if err != nil {
		bad("codec.keys_file", err)
	}
	fromSetting, err := codec.ParseKeys(string(s.Keys))
	if err != nil {
		bad("codec.keys", err)
	}
	keys = append(keys, fromSetting...)

	active := s.ActiveKey
	switch {
	case s.Encryption == config.EncryptionOff:
		active = ""
	case len(keys) == 0:
		if s.Encryption == config.EncryptionOn {
			bad("codec.encryption", errors.New("is on, so codec.keys or codec.keys_file must hold at least one key"))
		}
		if active != "" {
			bad("codec.active_key", fmt.Errorf("names key %q, but no keys are configured (codec.keys, codec.keys_file)", active))
		}
		active = ""
	case active == "" && len(keys) == 1:
		active = keys[0].ID
	case active == "":
		ids := make([]string, len(keys))
		for i, k := range keys {
			ids[i] = k.ID
		}
		bad("codec.active_key", fmt.Errorf("must name the key that encrypts new payloads when there are several (%s)", strings.Join(ids, ", ")))
	}
	ring, err := codec.NewKeyRing(active, keys...)
	if err != nil {
		bad("codec.keys", err)
		return nil, errors.Join(errs...)
	}
	return codec.New(ring), errors.Join(errs...)
}
