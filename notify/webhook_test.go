package notify_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cloudmarket/termination-orders/notify"
)

// received is one request a test receiver got.
type received struct {
	header http.Header
	body   []byte
}

// receiver is an HTTP server that records requests and answers with reply.
type receiver struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []received
}

func newReceiver(t *testing.T, reply http.HandlerFunc) *receiver {
	t.Helper()
	r := &receiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.reqs = append(r.reqs, received{header: req.Header.Clone(), body: body})
		r.mu.Unlock()
		if reply != nil {
			reply(w, req)
		}
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) requests() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.reqs...)
}

func status(code int, header ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.WriteHeader(code)
		_, _ = io.WriteString(w, "receiver says\nno")
	}
}

// webhookTarget configures one Marketplace webhook to url.
func webhookTarget(t *testing.T, url, secret string, timeout time.Duration) notify.Target {
	t.Helper()
	n, err := notify.New(notify.Config{
		Marketplace:    notify.Targets{WebhookURLs: []string{url}, WebhookSecret: secret},
		RequestTimeout: timeout,
	}, nil)
	require.NoError(t, err)
	tgt, ok := n.Target(notify.Marketplace, "marketplace.webhook[0]")
	require.True(t, ok)
	return tgt
}

var statusNotice = notify.Notice{
	ID:      "order-123/01JABCDEF/status/3",
	Kind:    "order.status",
	OrderID: "order-123",
	Subject: "Order order-123: unlinked",
	Text:    "The account was unlinked.",
	// Spacing and key order are the caller's and must reach the receiver as is.
	Data: json.RawMessage(`{"orderId":"order-123",  "stage":"PostClosure","seq":3}`),
}

func TestWebhookSendsDataSignedAsStandardWebhooks(t *testing.T) {
	secret := newSecret(t)
	r := newReceiver(t, status(http.StatusNoContent))
	tgt := webhookTarget(t, r.URL, secret, 0)

	before := time.Now().Unix()
	require.NoError(t, tgt.Send(context.Background(), statusNotice))
	after := time.Now().Unix()

	reqs := r.requests()
	require.Len(t, reqs, 1)
	got := reqs[0]
	assert.Equal(t, []byte(statusNotice.Data), got.body, "the body is exactly Data")
	assert.Equal(t, "application/json", got.header.Get("Content-Type"))
	assert.Equal(t, statusNotice.ID, got.header.Get("webhook-id"))
	ts, err := strconv.ParseInt(got.header.Get("webhook-timestamp"), 10, 64)
	require.NoError(t, err)
	assert.GreaterOrEqual(t, ts, before)
	assert.LessOrEqual(t, ts, after)

	// The specification's own verifier accepts it...
	wh, err := standardwebhooks.NewWebhook(secret)
	require.NoError(t, err)
	require.NoError(t, wh.Verify(got.body, got.header))

	// ...and so does an HMAC computed here from the spec's text, so a signer
	// and verifier sharing one wrong decoding of the secret cannot pass.
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	require.NoError(t, err)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(statusNotice.ID + "." + strconv.FormatInt(ts, 10) + "." + string(statusNotice.Data)))
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	assert.Contains(t, strings.Fields(got.header.Get("webhook-signature")), want)

	// A different secret must not verify.
	other, err := standardwebhooks.NewWebhook(newSecret(t))
	require.NoError(t, err)
	assert.Error(t, other.Verify(got.body, got.header))
}

func TestWebhookKeepsIDAcrossRetries(t *testing.T) {
	r := newReceiver(t, status(http.StatusServiceUnavailable))
	tgt := webhookTarget(t, r.URL, newSecret(t), 0)
	for range 2 {
		require.Error(t, tgt.Send(context.Background(), statusNotice))
	}
	reqs := r.requests()
	require.Len(t, reqs, 2)
	assert.Equal(t, reqs[0].header.Get("webhook-id"), reqs[1].header.Get("webhook-id"))
}

func TestWebhookRefusesNoticeItCannotSend(t *testing.T) {
	r := newReceiver(t, status(http.StatusOK))
	tgt := webhookTarget(t, r.URL, newSecret(t), 0)
	for name, n := range map[string]notify.Notice{
		"no data":     {ID: "x", Subject: "s"},
		"array":       {ID: "x", Subject: "s", Data: json.RawMessage(`[1]`)},
		"invalid":     {ID: "x", Subject: "s", Data: json.RawMessage(`{"a":`)},
		"no ID":       {Subject: "s", Data: json.RawMessage(`{}`)},
		"multi-lined": {ID: "x", Subject: "a\r\nBcc: evil@example.com", Data: json.RawMessage(`{}`)},
	} {
		err := tgt.Send(context.Background(), n)
		assert.True(t, notify.IsPermanent(err), "%s: %v", name, err)
	}
	assert.Empty(t, r.requests())
}

func TestHTTPStatusClassification(t *testing.T) {
	httpDate := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	tests := []struct {
		name       string
		reply      http.HandlerFunc
		code       int
		permanent  bool
		retryAfter time.Duration // compared within 5s for HTTP-dates
	}{
		{name: "200", reply: status(200), code: 0},
		{name: "202", reply: status(202), code: 0},
		{name: "500", reply: status(500), code: 500},
		{name: "503 with Retry-After", reply: status(503, "Retry-After", "7"), code: 503, retryAfter: 7 * time.Second},
		{name: "408", reply: status(408), code: 408},
		{name: "429 with seconds", reply: status(429, "Retry-After", "120"), code: 429, retryAfter: 2 * time.Minute},
		{name: "429 with HTTP-date", reply: status(429, "Retry-After", httpDate), code: 429, retryAfter: 90 * time.Second},
		{name: "429 capped at an hour", reply: status(429, "Retry-After", "86400"), code: 429, retryAfter: notify.MaxRetryAfter},
		{name: "429 with nonsense", reply: status(429, "Retry-After", "soon"), code: 429},
		{name: "400", reply: status(400, "Retry-After", "5"), code: 400, permanent: true},
		{name: "401", reply: status(401), code: 401, permanent: true},
		{name: "404", reply: status(404), code: 404, permanent: true},
		{name: "410", reply: status(410), code: 410, permanent: true},
		{name: "302 not followed", reply: status(302, "Location", "https://elsewhere.example.com/"), code: 302, permanent: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newReceiver(t, tt.reply)
			for _, tgt := range []notify.Target{webhookTarget(t, r.URL, newSecret(t), 0), chatTarget(t, r.URL, 0)} {
				err := tgt.Send(context.Background(), statusNotice)
				if tt.code == 0 {
					assert.NoError(t, err, tgt.Name())
					continue
				}
				var de *notify.DeliveryError
				require.ErrorAs(t, err, &de, tgt.Name())
				assert.Equal(t, tgt.Name(), de.Target)
				assert.Equal(t, tt.code, de.StatusCode)
				assert.Equal(t, tt.permanent, de.Permanent, "%v", err)
				assert.InDelta(t, tt.retryAfter, de.RetryAfter, float64(5*time.Second))
				assert.NotContains(t, err.Error(), "\n", "one line")
			}
			assert.Len(t, r.requests(), 2, "one request per send, redirects not followed")
		})
	}
}

func TestHTTPTimeoutIsRetryable(t *testing.T) {
	release := make(chan struct{})
	r := newReceiver(t, func(http.ResponseWriter, *http.Request) { <-release })
	defer close(release) // before r.Close, which waits for the handler
	tgt := chatTarget(t, r.URL, 100*time.Millisecond)

	start := time.Now()
	err := tgt.Send(context.Background(), statusNotice)
	assert.Less(t, time.Since(start), 5*time.Second, "bounded by notify.request_timeout")
	var de *notify.DeliveryError
	require.ErrorAs(t, err, &de)
	assert.False(t, de.Permanent)
	assert.Zero(t, de.StatusCode)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestHTTPConnectionErrorIsRetryableAndHidesURL(t *testing.T) {
	r := newReceiver(t, nil)
	url := r.URL + "/services/T000/B000/secret-token"
	r.Close() // nothing listens there any more
	tgt := chatTarget(t, url, time.Second)

	err := tgt.Send(context.Background(), statusNotice)
	var de *notify.DeliveryError
	require.ErrorAs(t, err, &de)
	assert.False(t, de.Permanent)
	assert.Zero(t, de.StatusCode)
	assert.NotContains(t, err.Error(), "secret-token", "a chat URL is a credential")
	assert.NotContains(t, err.Error(), r.URL)
}

func TestHTTPCallerCancellation(t *testing.T) {
	release := make(chan struct{})
	r := newReceiver(t, func(http.ResponseWriter, *http.Request) { <-release })
	defer close(release)
	tgt := webhookTarget(t, r.URL, newSecret(t), time.Minute)

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := tgt.Send(ctx, statusNotice)
	assert.True(t, errors.Is(err, context.DeadlineExceeded), "%v", err)
	assert.False(t, notify.IsPermanent(err))
}
