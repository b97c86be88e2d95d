// Package codec encrypts the payloads the product sends to Temporal: order
// input, results, signals, updates, activity inputs and results. Temporal's
// history and database then hold ciphertext; the Web UI and the CLI read it
// in clear through a codec server that holds the keys.
//
// Payloads are encrypted with AES-256-GCM under the key ring's active key,
// whose ID is written in each payload's metadata, so that older keys still
// decrypt what they encrypted after a rotation. Payloads that were never
// encrypted pass through on decode, so histories from before keep working.
package codec

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/proto"
)

// Metadata of an encrypted payload.
const (
	// MetadataEncoding is the encoding of an encrypted payload; the original
	// payload (with its own encoding) is inside the ciphertext.
	MetadataEncoding = "binary/encrypted"
	// MetadataKeyID names the key that encrypted the payload.
	MetadataKeyID = "encryption-key-id"
	// MetadataCipher names the cipher, so that another one can follow.
	MetadataCipher = "encryption-cipher"
	// CipherAES256GCM is the only cipher today.
	CipherAES256GCM = "AES256-GCM"
)

// KeySize is the size of an AES-256 key in bytes.
const KeySize = 32

// ErrUnknownKey is returned when a payload was encrypted with a key the ring
// does not hold.
var ErrUnknownKey = errors.New("unknown encryption key")

// Key is one key of the ring.
type Key struct {
	ID     string
	Secret []byte // KeySize bytes; never logged
}

// String names the key, never its secret, so that a key printed by mistake
// shows nothing.
func (k Key) String() string { return "key " + k.ID }

// GoString is String, for %#v.
func (k Key) GoString() string { return k.String() }

// Entry is the key as ParseKeys reads it: id:base64. It holds the secret.
func (k Key) Entry() string { return k.ID + ":" + base64.StdEncoding.EncodeToString(k.Secret) }

// NewKey makes a new random key with the ID.
func NewKey(id string) (Key, error) {
	if err := checkID(id); err != nil {
		return Key{}, err
	}
	b := make([]byte, KeySize)
	if _, err := rand.Read(b); err != nil {
		return Key{}, err
	}
	return Key{ID: id, Secret: b}, nil
}

// KeyRing is the keys a process holds: Active encrypts new payloads; every
// key decrypts what it encrypted. A ring with no active key encrypts nothing
// and still decrypts with its keys: encryption turned off.
type KeyRing struct {
	Active string
	keys   map[string]cipher.AEAD
}

// NewKeyRing builds a ring from its keys; active must be one of them, or
// empty for a ring that only decrypts.
func NewKeyRing(active string, keys ...Key) (*KeyRing, error) {
	r := &KeyRing{Active: active, keys: map[string]cipher.AEAD{}}
	for _, k := range keys {
		if err := checkID(k.ID); err != nil {
			return nil, err
		}
		if len(k.Secret) != KeySize {
			return nil, fmt.Errorf("key %q: must be %d bytes (AES-256), got %d", k.ID, KeySize, len(k.Secret))
		}
		if _, dup := r.keys[k.ID]; dup {
			return nil, fmt.Errorf("key %q: listed twice", k.ID)
		}
		block, err := aes.NewCipher(k.Secret)
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", k.ID, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", k.ID, err)
		}
		r.keys[k.ID] = aead
	}
	if _, ok := r.keys[active]; !ok && active != "" {
		return nil, fmt.Errorf("active key %q: not among the keys (%s)", active, r.names())
	}
	return r, nil
}

// String describes the ring by its key IDs, never the keys.
func (r *KeyRing) String() string {
	if r.Active == "" {
		return "key ring (not encrypting; keys " + r.names() + ")"
	}
	return "key ring (active " + r.Active + "; keys " + r.names() + ")"
}

// GoString is String, for %#v.
func (r *KeyRing) GoString() string { return r.String() }

func (r *KeyRing) names() string {
	if len(r.keys) == 0 {
		return "none"
	}
	return strings.Join(r.IDs(), ", ")
}

// ParseKeys reads keys written as comma-separated id:base64 entries, the
// form of a setting or an environment variable.
func ParseKeys(spec string) ([]Key, error) {
	var keys []Key
	for entry := range strings.SplitSeq(spec, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		id, secret, ok := strings.Cut(entry, ":")
		if !ok {
			return nil, fmt.Errorf("key entry %d: must be id:base64-key", len(keys)+1)
		}
		b, err := base64.StdEncoding.DecodeString(secret)
		if err != nil {
			// The message must not repeat the secret.
			return nil, fmt.Errorf("key %q: not base64", id)
		}
		keys = append(keys, Key{ID: id, Secret: b})
	}
	return keys, nil
}

// ParseKeyFile reads a key file: one id:base64 entry per line; blank lines
// and lines starting with # are skipped. Errors name the line, never a key.
func ParseKeyFile(text string) ([]Key, error) {
	var keys []Key
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, err := ParseKeys(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", i+1, err)
		}
		keys = append(keys, k...)
	}
	return keys, nil
}

// IDs lists the ring's key IDs, sorted; never the keys.
func (r *KeyRing) IDs() []string {
	ids := make([]string, 0, len(r.keys))
	for id := range r.keys {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func checkID(id string) error {
	if id == "" || len(id) > 64 || strings.ContainsFunc(id, func(c rune) bool {
		return !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.')
	}) {
		return fmt.Errorf("key ID %q: must be 1 to 64 letters, digits, '-', '_' or '.'", id)
	}
	return nil
}

// Codec is the payload codec of a key ring.
type Codec struct{ ring *KeyRing }

// New returns the codec that encrypts with ring's active key (or, with none,
// only decrypts).
func New(ring *KeyRing) *Codec { return &Codec{ring: ring} }

// Encrypting reports whether new payloads are encrypted, and under which key.
func (c *Codec) Encrypting() (keyID string, on bool) { return c.ring.Active, c.ring.Active != "" }

// Ring is the codec's key ring.
func (c *Codec) Ring() *KeyRing { return c.ring }

// DataConverter is the data converter every process uses: JSON payloads,
// encrypted by c.
func DataConverter(c *Codec) converter.DataConverter {
	return converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), c)
}

// FailureConverter turns errors into Temporal failures with dc. While c
// encrypts, a failure's message and stack trace go into an encrypted
// payload too: an error may quote the input (a rejected e-mail address, a
// reason). The Temporal history then shows "Encoded failure"; the type of an
// application error stays in clear, so callers still tell the cases apart.
func FailureConverter(c *Codec, dc converter.DataConverter) converter.FailureConverter {
	_, on := c.Encrypting()
	return temporal.NewDefaultFailureConverter(temporal.DefaultFailureConverterOptions{DataConverter: dc, EncodeCommonAttributes: on})
}

// Encode encrypts each payload under the active key; with no active key it
// returns them as they are.
func (c *Codec) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	aead, ok := c.ring.keys[c.ring.Active]
	if !ok {
		return payloads, nil
	}
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		plain, err := proto.Marshal(p)
		if err != nil {
			return nil, fmt.Errorf("encode payload: %w", err)
		}
		nonce := make([]byte, aead.NonceSize())
		if _, err := rand.Read(nonce); err != nil {
			return nil, fmt.Errorf("encode payload: %w", err)
		}
		out[i] = &commonpb.Payload{
			Metadata: map[string][]byte{
				converter.MetadataEncoding: []byte(MetadataEncoding),
				MetadataKeyID:              []byte(c.ring.Active),
				MetadataCipher:             []byte(CipherAES256GCM),
			},
			// The key ID is authenticated with the ciphertext: a payload
			// cannot be passed off as another key's.
			Data: aead.Seal(nonce, nonce, plain, []byte(c.ring.Active)),
		}
	}
	return out, nil
}

// Decode decrypts each encrypted payload; others pass through unchanged. A
// payload it cannot decrypt fails with a *DecryptError naming its key.
func (c *Codec) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if string(p.GetMetadata()[converter.MetadataEncoding]) != MetadataEncoding {
			out[i] = p
			continue
		}
		id := string(p.GetMetadata()[MetadataKeyID])
		fail := func(err error) error { return &DecryptError{KeyID: id, Err: err} }
		if cph := string(p.GetMetadata()[MetadataCipher]); cph != CipherAES256GCM {
			return nil, fail(fmt.Errorf("cipher %q is not %s", cph, CipherAES256GCM))
		}
		aead, ok := c.ring.keys[id]
		if !ok {
			return nil, fail(fmt.Errorf("%w %q: it is not among this process's keys (%s); a key still used by payloads in history must stay in the ring",
				ErrUnknownKey, id, c.ring.names()))
		}
		data := p.GetData()
		if len(data) < aead.NonceSize() {
			return nil, fail(errors.New("too short"))
		}
		plain, err := aead.Open(nil, data[:aead.NonceSize()], data[aead.NonceSize():], []byte(id))
		if err != nil {
			return nil, fail(err)
		}
		var orig commonpb.Payload
		if err := proto.Unmarshal(plain, &orig); err != nil {
			return nil, fail(err)
		}
		out[i] = &orig
	}
	return out, nil
}

// DecryptError is a payload that could not be decrypted: its key is not in
// the ring, or the payload was altered.
type DecryptError struct {
	KeyID string
	Err   error
}

func (e *DecryptError) Error() string {
	if errors.Is(e.Err, ErrUnknownKey) {
		return "decode payload: " + e.Err.Error()
	}
	return fmt.Sprintf("decode payload encrypted with key %q: %v", e.KeyID, e.Err)
}

func (e *DecryptError) Unwrap() error { return e.Err }

// WorkerDataConverter is DataConverter for workers: where a client gets an
// error for a payload it cannot decrypt, a worker panics. The SDK turns the
// panic into a failed workflow task, retried until the key is back in the
// ring; an error would instead reach the order's code (a workflow input it
// cannot read fails the whole order, an activity result looks like a failed
// activity), and an order must never be decided on a missing key.
func WorkerDataConverter(c *Codec) converter.DataConverter {
	return workerConverter{DataConverter: DataConverter(c)}
}

type workerConverter struct{ converter.DataConverter }

func (w workerConverter) FromPayload(p *commonpb.Payload, valuePtr any) error {
	return mustDecrypt(w.DataConverter.FromPayload(p, valuePtr))
}

func (w workerConverter) FromPayloads(ps *commonpb.Payloads, valuePtrs ...any) error {
	return mustDecrypt(w.DataConverter.FromPayloads(ps, valuePtrs...))
}

func mustDecrypt(err error) error {
	var d *DecryptError
	if errors.As(err, &d) {
		panic(d)
	}
	return err
}
