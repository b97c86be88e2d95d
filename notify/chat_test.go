package notify_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cloudmarket/termination-orders/notify"
)

// chatTarget configures one Operations chat webhook to url.
func chatTarget(t *testing.T, url string, timeout time.Duration) notify.Target {
	t.Helper()
	n, err := notify.New(notify.Config{
		Operations:     notify.Targets{ChatURLs: []string{url}},
		RequestTimeout: timeout,
	}, nil)
	require.NoError(t, err)
	tgt, ok := n.Target(notify.Operations, "operations.chat[0]")
	require.True(t, ok)
	return tgt
}

func TestChatPostsSubjectAndText(t *testing.T) {
	r := newReceiver(t, status(http.StatusOK))
	tgt := chatTarget(t, r.URL, 0)

	n := notify.Notice{ID: "order-9/unlink/1", Kind: "operations.unlink_requested", OrderID: "order-9",
		Subject: "Unlink account 1234 \"prod\" <now>", Text: "Order order-9 is accepted.\nUnlink it."}
	require.NoError(t, tgt.Send(context.Background(), n))
	reqs := r.requests()
	require.Len(t, reqs, 1)
	assert.Equal(t, "application/json", reqs[0].header.Get("Content-Type"))
	var body map[string]any
	require.NoError(t, json.Unmarshal(reqs[0].body, &body))
	assert.Equal(t, map[string]any{"text": n.Subject + "\n\n" + n.Text}, body)
	assert.Empty(t, reqs[0].header.Get("webhook-signature"), "chat services take no signature")
}

func TestChatWithoutTextSendsSubjectOnly(t *testing.T) {
	r := newReceiver(t, status(http.StatusOK))
	require.NoError(t, chatTarget(t, r.URL, 0).Send(context.Background(), notify.Notice{ID: "x", Subject: "Only a subject"}))
	assert.JSONEq(t, `{"text":"Only a subject"}`, string(r.requests()[0].body))
}
