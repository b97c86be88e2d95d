package codec_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"

	"github.com/cloudmarket/termination-orders/codec"
	"github.com/cloudmarket/termination-orders/order"
)

func newKey(t *testing.T, id string) codec.Key {
	t.Helper()
	b := make([]byte, codec.KeySize)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return codec.Key{ID: id, Secret: b}
}

func ring(t *testing.T, active string, keys ...codec.Key) *codec.KeyRing {
	t.Helper()
	r, err := codec.NewKeyRing(active, keys...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

var customer = order.Order{
	OrderID: "ORD-1", SubscriptionID: "SUB-1", AccountID: "123456789012",
	TerminationType: order.TerminationTypeCloseAccount, RequestedBy: "jane.doe@example.com",
}

func TestEncryptedPayloadHidesTheOrderAndNamesItsKey(t *testing.T) {
	k1 := newKey(t, "k1")
	dc := codec.DataConverter(codec.New(ring(t, "k1", k1)))
	p, err := dc.ToPayload(customer)
	if err != nil {
		t.Fatal(err)
	}
	md := p.GetMetadata()
	if string(md[converter.MetadataEncoding]) != codec.MetadataEncoding || string(md[codec.MetadataKeyID]) != "k1" ||
		string(md[codec.MetadataCipher]) != codec.CipherAES256GCM {
		t.Errorf("metadata = %q", md)
	}
	for _, secret := range []string{"jane.doe@example.com", "123456789012", "json/plain"} {
		if bytes.Contains(p.GetData(), []byte(secret)) {
			t.Errorf("the payload shows %q in clear", secret)
		}
	}
	var back order.Order
	if err := dc.FromPayload(p, &back); err != nil {
		t.Fatal(err)
	}
	if back.RequestedBy != customer.RequestedBy || back.AccountID != customer.AccountID {
		t.Errorf("round trip = %+v", back)
	}
}

func TestPlainPayloadsFromBeforePassThrough(t *testing.T) {
	plain, err := converter.GetDefaultDataConverter().ToPayload(customer)
	if err != nil {
		t.Fatal(err)
	}
	var back order.Order
	if err := codec.DataConverter(codec.New(ring(t, "k1", newKey(t, "k1")))).FromPayload(plain, &back); err != nil {
		t.Fatal(err)
	}
	if back.OrderID != "ORD-1" {
		t.Errorf("decoded %+v", back)
	}
}

func TestRotationKeepsOldPayloadsReadable(t *testing.T) {
	k1, k2 := newKey(t, "k1"), newKey(t, "k2")
	old, err := codec.DataConverter(codec.New(ring(t, "k1", k1))).ToPayload(customer)
	if err != nil {
		t.Fatal(err)
	}
	rotated := codec.DataConverter(codec.New(ring(t, "k2", k1, k2)))
	var back order.Order
	if err := rotated.FromPayload(old, &back); err != nil {
		t.Fatalf("a payload of key 1 after rotating to key 2: %v", err)
	}
	fresh, err := rotated.ToPayload(customer)
	if err != nil {
		t.Fatal(err)
	}
	if id := string(fresh.GetMetadata()[codec.MetadataKeyID]); id != "k2" {
		t.Errorf("new payloads use key %q, want k2", id)
	}

	// Removing a key still in use fails, naming it.
	err = codec.DataConverter(codec.New(ring(t, "k2", k2))).FromPayload(old, &back)
	if !errors.Is(err, codec.ErrUnknownKey) || !strings.Contains(err.Error(), `"k1"`) {
		t.Errorf("decode with k1 removed: %v", err)
	}
}

func TestTamperedOrRelabelledPayloadIsRefused(t *testing.T) {
	k1, k2 := newKey(t, "k1"), newKey(t, "k2")
	c := codec.New(ring(t, "k1", k1, k2))
	enc, err := c.Encode([]*commonpb.Payload{{Metadata: map[string][]byte{"encoding": []byte("json/plain")}, Data: []byte(`"x"`)}})
	if err != nil {
		t.Fatal(err)
	}
	tampered := &commonpb.Payload{Metadata: enc[0].Metadata, Data: bytes.Clone(enc[0].Data)}
	tampered.Data[len(tampered.Data)-1] ^= 1
	if _, err := c.Decode([]*commonpb.Payload{tampered}); err == nil {
		t.Error("a flipped bit decoded")
	}
	relabelled := &commonpb.Payload{Metadata: map[string][]byte{}, Data: enc[0].Data}
	for k, v := range enc[0].Metadata {
		relabelled.Metadata[k] = v
	}
	relabelled.Metadata[codec.MetadataKeyID] = []byte("k2")
	if _, err := c.Decode([]*commonpb.Payload{relabelled}); err == nil {
		t.Error("a payload passed off as another key's decoded")
	}
}

func TestBadKeysAreRefusedWithoutShowingThem(t *testing.T) {
	secret := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 16))
	keys, err := codec.ParseKeys("short:" + secret)
	if err != nil {
		t.Fatal(err)
	}
	_, err = codec.NewKeyRing("short", keys...)
	if err == nil || !strings.Contains(err.Error(), "must be 32 bytes") || strings.Contains(err.Error(), secret) {
		t.Errorf("a 16-byte key: %v", err)
	}
	if _, err := codec.ParseKeys("k1:not base64!"); err == nil || strings.Contains(err.Error(), "not base64!") {
		t.Errorf("bad base64: %v", err)
	}
	if _, err := codec.NewKeyRing("k9", newKey(t, "k1")); err == nil || !strings.Contains(err.Error(), `"k9"`) {
		t.Errorf("missing active key: %v", err)
	}
	if _, err := codec.NewKeyRing("bad id", codec.Key{ID: "bad id", Secret: make([]byte, 32)}); err == nil {
		t.Error("a key ID with a space was accepted")
	}
	good := base64.StdEncoding.EncodeToString(make([]byte, 32))
	keys, err = codec.ParseKeys(" k1:" + good + ", k2:" + good + " ")
	if err != nil || len(keys) != 2 || keys[1].ID != "k2" {
		t.Errorf("two keys: %v %v", keys, err)
	}
}

// The cost of encryption per payload, without a server: an order's start
// input through the data converter, in clear and encrypted.
func BenchmarkDataConverter(b *testing.B) {
	key := make([]byte, codec.KeySize)
	if _, err := rand.Read(key); err != nil {
		b.Fatal(err)
	}
	r, err := codec.NewKeyRing("k1", codec.Key{ID: "k1", Secret: key})
	if err != nil {
		b.Fatal(err)
	}
	for name, dc := range map[string]converter.DataConverter{
		"clear":     converter.GetDefaultDataConverter(),
		"encrypted": codec.DataConverter(codec.New(r)),
	} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				p, err := dc.ToPayload(customer)
				if err != nil {
					b.Fatal(err)
				}
				var back order.Order
				if err := dc.FromPayload(p, &back); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
