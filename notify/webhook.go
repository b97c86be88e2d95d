package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// webhook posts a notice's Data, signed as Standard Webhooks specifies, so a
// receiver can check it came from us and drop duplicates by webhook-id.
type webhook struct {
	name   string
	url    string
	signer *standardwebhooks.Webhook
	poster *poster
}

func newWebhook(name, rawURL, secret string, p *poster) (*webhook, error) {
	signer, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		return nil, errors.New("not a Standard Webhooks secret")
	}
	return &webhook{name: name, url: rawURL, signer: signer, poster: p}, nil
}

// Name implements Target.
func (w *webhook) Name() string { return w.name }

// Send implements Target.
func (w *webhook) Send(ctx context.Context, n Notice) error {
	if err := checkNotice(w.name, n); err != nil {
		return err
	}
	body := []byte(n.Data)
	if trimmed := bytes.TrimSpace(body); len(trimmed) == 0 || trimmed[0] != '{' || !json.Valid(trimmed) {
		return &DeliveryError{Target: w.name, Permanent: true, Err: errors.New("notice data is not one JSON object")}
	}
	// The timestamp is taken per attempt: receivers reject signatures older
	// than a few minutes, and a retry may come much later.
	now := w.poster.now()
	sig, err := w.signer.Sign(n.ID, now, body)
	if err != nil {
		return &DeliveryError{Target: w.name, Permanent: true, Err: errors.New("cannot sign notice")}
	}
	return w.poster.post(ctx, w.name, w.url, body, func(h http.Header) {
		h.Set(standardwebhooks.HeaderWebhookID, n.ID)
		h.Set(standardwebhooks.HeaderWebhookTimestamp, strconv.FormatInt(now.Unix(), 10))
		h.Set(standardwebhooks.HeaderWebhookSignature, sig)
	})
}
