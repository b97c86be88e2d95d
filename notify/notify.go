// Package notify tells people about orders: Operations' work items and
// escalations, and the marketplace's status events.
package notify

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"time"

	"go.uber.org/zap"
)

// Audience is who a notification is for.
type Audience string

// The audiences.
const (
	Operations  Audience = "operations"
	Escalation  Audience = "escalation"
	Marketplace Audience = "marketplace"
)

// Notice is one notification.
type Notice struct {
	ID      string          `json:"id"`
	Kind    string          `json:"kind"`
	OrderID string          `json:"orderId"`
	Subject string          `json:"subject"`
	Text    string          `json:"text"`
	Data    json.RawMessage `json:"data"`
}

// Target is one configured destination.
type Target interface {
	Name() string
	Send(ctx context.Context, n Notice) error
}

// Notifier maps audiences to their targets.
type Notifier struct {
	targets map[Audience][]Target
}

// Config configures the targets.
type Config struct {
	Operations, Escalation, Marketplace Targets
	SMTP                                SMTP
	RequestTimeout                      time.Duration
}

// Targets are one audience's destinations.
type Targets struct {
	WebhookURLs   []string
	WebhookSecret string
	ChatURLs      []string
	EmailTo       []string
}

// SMTP is the mail relay.
type SMTP struct {
	Address            string
	Username, Password string
	From               string
	StartTLS           bool
	RootCAs            *x509.CertPool
}

// New builds a Notifier.
func New(cfg Config, logger *zap.Logger) (*Notifier, error) { return &Notifier{}, nil }

// Targets returns the audience's targets.
func (n *Notifier) Targets(a Audience) []Target { return n.targets[a] }

// Target finds one target by name.
func (n *Notifier) Target(a Audience, name string) (Target, bool) {
	for _, t := range n.Targets(a) {
		if t.Name() == name {
			return t, true
		}
	}
	return nil, false
}

// WithLogTargets gives every audience without targets one that logs.
func (n *Notifier) WithLogTargets() *Notifier { return n }

// DeliveryError is a failed send.
type DeliveryError struct {
	Target     string
	StatusCode int
	Permanent  bool
	RetryAfter time.Duration
	Err        error
}

func (e *DeliveryError) Error() string { return e.Target + ": " + e.Err.Error() }

// Unwrap returns the cause.
func (e *DeliveryError) Unwrap() error { return e.Err }
