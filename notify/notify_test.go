package notify_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/cloudmarket/termination-orders/notify"
)

// newSecret makes a Standard Webhooks secret of 32 random bytes.
func newSecret(t *testing.T) string {
	t.Helper()
	key := make([]byte, 32)
	_, err := rand.Read(key)
	require.NoError(t, err)
	return "whsec_" + base64.StdEncoding.EncodeToString(key)
}

func names(ts []notify.Target) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.Name())
	}
	return out
}

func TestNewRejectsInvalidConfigNamingTheKeys(t *testing.T) {
	secret := newSecret(t)
	tests := []struct {
		name string
		cfg  notify.Config
		want []string
	}{
		{
			name: "webhook without secret",
			cfg:  notify.Config{Marketplace: notify.Targets{WebhookURLs: []string{"https://example.com/hook"}}},
			want: []string{"notify.marketplace.webhook_secret: required when notify.marketplace.webhook_urls is set"},
		},
		{
			name: "secret without prefix",
			cfg: notify.Config{Operations: notify.Targets{
				WebhookURLs:   []string{"https://example.com/hook"},
				WebhookSecret: strings.TrimPrefix(secret, "whsec_"),
			}},
			want: []string{"notify.operations.webhook_secret: must be"},
		},
		{
			name: "secret not base64",
			cfg: notify.Config{Operations: notify.Targets{
				WebhookURLs:   []string{"https://example.com/hook"},
				WebhookSecret: "whsec_not*base64!",
			}},
			want: []string{"notify.operations.webhook_secret: must be"},
		},
		{
			name: "secret too short",
			cfg: notify.Config{Operations: notify.Targets{
				WebhookURLs:   []string{"https://example.com/hook"},
				WebhookSecret: "whsec_" + base64.StdEncoding.EncodeToString([]byte("short")),
			}},
			want: []string{"notify.operations.webhook_secret: must be"},
		},
		{
			name: "relative, ftp and host-less URLs",
			cfg: notify.Config{Escalation: notify.Targets{
				WebhookURLs:   []string{"/hook"},
				WebhookSecret: secret,
				ChatURLs:      []string{"https://hooks.example.com/ok", "ftp://example.com/x", "https:///nohost"},
			}},
			want: []string{
				"notify.escalation.webhook_urls[0]: must be an absolute http or https URL",
				"notify.escalation.chat_urls[1]: must be an absolute http or https URL",
				"notify.escalation.chat_urls[2]: must be an absolute http or https URL",
			},
		},
		{
			name: "email without smtp",
			cfg:  notify.Config{Operations: notify.Targets{EmailTo: []string{"ops@example.com"}}},
			want: []string{
				"notify.smtp.address: required when notify.operations.email_to is set",
				"notify.smtp.from: required when notify.operations.email_to is set",
			},
		},
		{
			name: "bad addresses",
			cfg: notify.Config{
				Escalation: notify.Targets{EmailTo: []string{"Ops <ops@example.com>", "not an address"}},
				SMTP:       notify.SMTP{Address: "smtp.example.com", From: "nobody"},
			},
			want: []string{
				"notify.escalation.email_to[1]: not an e-mail address",
				"notify.smtp.address: must be host:port",
				"notify.smtp.from: not an e-mail address",
			},
		},
		{
			name: "username without password",
			cfg:  notify.Config{SMTP: notify.SMTP{Address: "smtp.example.com:587", From: "a@example.com", Username: "u"}},
			want: []string{"notify.smtp.password: required when notify.smtp.username is set"},
		},
		{
			name: "password without username",
			cfg:  notify.Config{SMTP: notify.SMTP{Address: "smtp.example.com:587", From: "a@example.com", Password: "p"}},
			want: []string{"notify.smtp.username: required when notify.smtp.password is set"},
		},
		{
			name: "negative timeout",
			cfg:  notify.Config{RequestTimeout: -time.Second},
			want: []string{"notify.request_timeout: must not be negative"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := notify.New(tt.cfg, zap.NewNop())
			require.Error(t, err)
			assert.Nil(t, n)
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
			assert.Len(t, strings.Split(err.Error(), "\n"), len(tt.want), "one line per problem: %v", err)
		})
	}
}

func TestNewErrorsNeverQuoteSecrets(t *testing.T) {
	chatURL := "ftp://hooks.example.com/services/T000/B000/very-secret-token"
	_, err := notify.New(notify.Config{
		Operations: notify.Targets{ChatURLs: []string{chatURL}, WebhookURLs: []string{"https://example.com"}, WebhookSecret: "whsec_c2hvcnQ="},
		SMTP:       notify.SMTP{Address: "smtp.example.com:587", From: "a@example.com", Password: "hunter2-password"},
	}, nil)
	require.Error(t, err)
	for _, secret := range []string{"very-secret-token", "c2hvcnQ", "hunter2-password"} {
		assert.NotContains(t, err.Error(), secret)
	}
}

func TestTargetsAreNamedFromConfig(t *testing.T) {
	n, err := notify.New(notify.Config{
		Operations: notify.Targets{
			WebhookURLs:   []string{"https://a.example.com/hook", "http://b.example.com/hook"},
			WebhookSecret: newSecret(t),
			ChatURLs:      []string{"https://chat.example.com/x"},
			EmailTo:       []string{"ops@example.com", "Duty <duty@example.com>"},
		},
		Marketplace: notify.Targets{ChatURLs: []string{"https://chat.example.com/y"}},
		SMTP:        notify.SMTP{Address: "smtp.example.com:587", From: "orders@example.com", StartTLS: true},
	}, zap.NewNop())
	require.NoError(t, err)

	assert.Equal(t, []string{
		"operations.webhook[0]", "operations.webhook[1]", "operations.chat[0]",
		"operations.email[0]", "operations.email[1]",
	}, names(n.Targets(notify.Operations)))
	assert.Equal(t, []string{"marketplace.chat[0]"}, names(n.Targets(notify.Marketplace)))

	got, ok := n.Target(notify.Operations, "operations.email[1]")
	require.True(t, ok)
	assert.Equal(t, "operations.email[1]", got.Name())
	_, ok = n.Target(notify.Marketplace, "operations.email[1]")
	assert.False(t, ok, "a name belongs to its audience")
	_, ok = n.Target(notify.Operations, "operations.webhook[2]")
	assert.False(t, ok)
}

func TestEscalationFallsBackToOperations(t *testing.T) {
	ops := notify.Targets{ChatURLs: []string{"https://chat.example.com/ops"}}

	n, err := notify.New(notify.Config{Operations: ops}, zap.NewNop())
	require.NoError(t, err)
	assert.Equal(t, []string{"operations.chat[0]"}, names(n.Targets(notify.Escalation)))
	got, ok := n.Target(notify.Escalation, "operations.chat[0]")
	require.True(t, ok, "a fallback target can be retried by name under Escalation")
	assert.Equal(t, "operations.chat[0]", got.Name())
	assert.Empty(t, n.Targets(notify.Marketplace), "only Escalation falls back")

	n, err = notify.New(notify.Config{Operations: ops, Escalation: notify.Targets{ChatURLs: []string{"https://chat.example.com/esc"}}}, zap.NewNop())
	require.NoError(t, err)
	assert.Equal(t, []string{"escalation.chat[0]"}, names(n.Targets(notify.Escalation)))
}

func TestTargetsReturnsACopy(t *testing.T) {
	n, err := notify.New(notify.Config{Operations: notify.Targets{ChatURLs: []string{"https://chat.example.com/ops"}}}, nil)
	require.NoError(t, err)
	ts := n.Targets(notify.Operations)
	ts[0] = nil
	assert.Equal(t, []string{"operations.chat[0]"}, names(n.Targets(notify.Operations)))
}

func TestZeroNotifierHasNoTargets(t *testing.T) {
	var n notify.Notifier
	assert.Empty(t, n.Targets(notify.Operations))
	_, ok := n.Target(notify.Escalation, "operations.log")
	assert.False(t, ok)
	assert.Len(t, n.WithLogTargets().Targets(notify.Marketplace), 1)
}

func TestWithLogTargetsLogsWhatWouldBeSentAndNoSecret(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	secret := newSecret(t)
	n, err := notify.New(notify.Config{
		Marketplace: notify.Targets{WebhookURLs: []string{"https://market.example.com/hook"}, WebhookSecret: secret},
		SMTP:        notify.SMTP{Address: "smtp.example.com:587", From: "orders@example.com", Username: "u", Password: "smtp-password"},
	}, zap.New(core))
	require.NoError(t, err)

	dev := n.WithLogTargets()
	assert.Equal(t, []string{"operations.log"}, names(dev.Targets(notify.Operations)))
	assert.Equal(t, []string{"escalation.log"}, names(dev.Targets(notify.Escalation)),
		"escalations are logged as such, not as Operations' fallback")
	assert.Equal(t, []string{"marketplace.webhook[0]"}, names(dev.Targets(notify.Marketplace)),
		"a configured audience keeps its real targets")
	assert.Empty(t, n.Targets(notify.Operations), "the original is unchanged")

	notice := notify.Notice{
		ID: "order-123/01JABC/escalation/1", Kind: "operations.unlink_overdue", OrderID: "order-123",
		Subject: "Unlink overdue: order-123", Text: "Body text", Data: []byte(`{"token":"data-only"}`),
	}
	for _, tgt := range dev.Targets(notify.Escalation) {
		require.NoError(t, tgt.Send(context.Background(), notice))
	}

	entries := logs.All()
	require.Len(t, entries, 1)
	assert.Equal(t, zapcore.InfoLevel, entries[0].Level)
	assert.Equal(t, map[string]any{
		"audience": "escalation",
		"kind":     "operations.unlink_overdue",
		"id":       "order-123/01JABC/escalation/1",
		"orderId":  "order-123",
		"subject":  "Unlink overdue: order-123",
	}, entries[0].ContextMap())
	dump := fmt.Sprint(entries[0].Message, entries[0].ContextMap())
	for _, s := range []string{secret, strings.TrimPrefix(secret, "whsec_"), "smtp-password", "data-only", "Body text"} {
		assert.NotContains(t, dump, s)
	}
}

func TestWithLogTargetsKeepsEscalationFallback(t *testing.T) {
	n, err := notify.New(notify.Config{Operations: notify.Targets{ChatURLs: []string{"https://chat.example.com/ops"}}}, nil)
	require.NoError(t, err)
	dev := n.WithLogTargets()
	assert.Equal(t, []string{"operations.chat[0]"}, names(dev.Targets(notify.Escalation)))
	assert.Equal(t, []string{"marketplace.log"}, names(dev.Targets(notify.Marketplace)))
}

func TestDeliveryError(t *testing.T) {
	cause := errors.New("boom")
	err := fmt.Errorf("activity: %w", &notify.DeliveryError{
		Target: "operations.webhook[0]", StatusCode: 503, RetryAfter: 30 * time.Second, Err: cause,
	})
	assert.ErrorIs(t, err, cause)
	assert.False(t, notify.IsPermanent(err))
	assert.Equal(t, "activity: notify operations.webhook[0]: boom (retry after 30s)", err.Error())

	err = &notify.DeliveryError{Target: "marketplace.chat[0]", StatusCode: 404, Permanent: true, Err: errors.New("HTTP 404")}
	assert.True(t, notify.IsPermanent(err))
	assert.Equal(t, "notify marketplace.chat[0]: permanent failure: HTTP 404", err.Error())
	assert.False(t, notify.IsPermanent(cause))
}
