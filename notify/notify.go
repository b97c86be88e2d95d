// Package notify tells people and systems about termination orders: work items
// for Operations, escalations of overdue unlinks, and status events for the
// marketplace's order page.
//
// Activities call it through Target.Send, one target at a time, so that a
// failure of one destination is retried on its own and never repeats a
// delivery another destination already accepted. Every notice carries a stable
// ID that receivers use to drop the duplicates retries may still produce.
//
// The package knows the domain and the wire formats of its destinations; it
// knows nothing of Temporal. A DeliveryError tells the caller whether a retry
// can help, and the caller decides what that means for its retry policy.
package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"
)

// Audience is a group of people or systems that is told about an order.
type Audience string

// The audiences a notice can be meant for.
const (
	// Operations receives work items: an order to unlink, a reopen to act on.
	Operations Audience = "operations"
	// Escalation receives overdue unlinks. Without targets of its own it
	// reaches Operations' targets, so an escalation is never silently lost.
	Escalation Audience = "escalation"
	// Marketplace receives status events for the marketplace's order page.
	Marketplace Audience = "marketplace"
)

// audiences is the order in which audiences are configured and reported.
var audiences = [...]Audience{Operations, Escalation, Marketplace}

// Notice is one notification. ID is stable across retries: receivers drop
// duplicates by it.
type Notice struct {
	// ID identifies the notice across retries and targets, e.g.
	// "order-123/01J.../status/3". It becomes the webhook-id header and the
	// e-mail's Message-ID.
	ID string `json:"id"`
	// Kind names what happened, e.g. "order.status" or
	// "operations.unlink_requested".
	Kind    string `json:"kind"`
	OrderID string `json:"orderId"`
	// Subject is one line: the e-mail subject, the first line of a chat message.
	Subject string `json:"subject"`
	// Text is plain text: the chat message body, the e-mail body.
	Text string `json:"text"`
	// Data is the webhook body, one JSON object, sent as is.
	Data json.RawMessage `json:"data"`
}

// Target is one configured destination.
type Target interface {
	// Name is stable and comes from config, e.g. "operations.webhook[0]";
	// logs, metrics and the retry of one target use it. It never holds a URL,
	// since chat webhook URLs are credentials.
	Name() string
	// Send delivers n once. A failure is a *DeliveryError.
	Send(ctx context.Context, n Notice) error
}

// Notifier maps audiences to their targets. It is safe for concurrent use; the
// zero value has no targets.
type Notifier struct {
	targets map[Audience][]Target
	logger  *zap.Logger
}

// New builds the targets of cfg. An invalid cfg yields an error that names
// every offending key (notify.operations.webhook_urls[0], notify.smtp.from,
// ...), so a worker fails at start instead of at the first notice. A nil
// logger logs nothing.
func New(cfg Config, logger *zap.Logger) (*Notifier, error) {
	if logger == nil {
		logger = zap.NewNop()
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	timeout := cfg.RequestTimeout
	if timeout == 0 {
		timeout = DefaultRequestTimeout
	}
	poster := newPoster(timeout)
	n := &Notifier{targets: make(map[Audience][]Target), logger: logger}
	for _, a := range audiences {
		tc := cfg.targets(a)
		var ts []Target
		for i, u := range tc.WebhookURLs {
			w, err := newWebhook(fmt.Sprintf("%s.webhook[%d]", a, i), u, tc.WebhookSecret, poster)
			if err != nil {
				// validate has parsed the secret already; this is a bug, not config.
				return nil, fmt.Errorf("notify.%s.webhook_secret: %w", a, err)
			}
			ts = append(ts, w)
		}
		for i, u := range tc.ChatURLs {
			ts = append(ts, newChat(fmt.Sprintf("%s.chat[%d]", a, i), u, poster))
		}
		for i, to := range tc.EmailTo {
			ts = append(ts, newEmail(fmt.Sprintf("%s.email[%d]", a, i), to, cfg.SMTP, timeout))
		}
		if len(ts) > 0 {
			n.targets[a] = ts
		}
	}
	return n, nil
}

// Targets returns the targets of a. Escalation falls back to Operations' when
// it has none of its own. The slice is the caller's to keep.
func (n *Notifier) Targets(a Audience) []Target {
	if n == nil {
		return nil
	}
	ts := n.targets[a]
	if len(ts) == 0 && a == Escalation {
		ts = n.targets[Operations]
	}
	return slices.Clone(ts)
}

// Target finds one of a's targets (after the Escalation fallback) by name, so
// that an activity retrying a single failed destination reaches that one only.
func (n *Notifier) Target(a Audience, name string) (Target, bool) {
	for _, t := range n.Targets(a) {
		if t.Name() == name {
			return t, true
		}
	}
	return nil, false
}

// WithLogTargets returns a Notifier in which every audience with no targets
// (after the Escalation fallback) gets one target that only logs what it would
// send: the dev command uses it so that a demo shows its notifications. n is
// left unchanged.
func (n *Notifier) WithLogTargets() *Notifier {
	out := &Notifier{targets: make(map[Audience][]Target), logger: zap.NewNop()}
	if n != nil {
		out.logger = n.logger
		for a, ts := range n.targets {
			out.targets[a] = slices.Clone(ts)
		}
	}
	for _, a := range audiences {
		// Decided on n, not out: Operations' new log target must not become
		// Escalation's fallback, or escalations would be logged as operations.
		if len(n.Targets(a)) == 0 {
			out.targets[a] = []Target{newLogTarget(a, out.logger)}
		}
	}
	return out
}

// DeliveryError is how a target reports a failed send.
type DeliveryError struct {
	// Target is the Name of the target that failed.
	Target string
	// StatusCode is the HTTP status or SMTP reply code; 0 for transport errors.
	StatusCode int
	// Permanent is true when retrying cannot help: HTTP 4xx other than 408 and
	// 429, redirects, SMTP 5xx, a notice the target can never send.
	Permanent bool
	// RetryAfter is the receiver's own Retry-After (capped at MaxRetryAfter),
	// 0 if it gave none.
	RetryAfter time.Duration
	// Err says what went wrong. It never holds a target's URL or credentials.
	Err error
}

// Error reads as one line for logs and activity failures.
func (e *DeliveryError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "notify %s: ", e.Target)
	if e.Permanent {
		b.WriteString("permanent failure: ")
	}
	if e.Err != nil {
		b.WriteString(e.Err.Error())
	} else {
		b.WriteString("delivery failed")
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %s)", e.RetryAfter)
	}
	return b.String()
}

// Unwrap exposes the cause, e.g. context.DeadlineExceeded for a timeout.
func (e *DeliveryError) Unwrap() error { return e.Err }

// IsPermanent reports whether err holds a DeliveryError that retrying cannot
// fix. An error that is not a DeliveryError is not known to be permanent.
func IsPermanent(err error) bool {
	var de *DeliveryError
	return errors.As(err, &de) && de.Permanent
}

// DefaultRequestTimeout bounds one HTTP or SMTP attempt when
// Config.RequestTimeout is zero.
const DefaultRequestTimeout = 10 * time.Second

// MaxRetryAfter caps a receiver's Retry-After: a receiver asking for a day's
// pause must not hold an order's notification that long.
const MaxRetryAfter = time.Hour

// retryableStatus tells which HTTP failures a later attempt may cure: the
// receiver's own trouble (5xx), a request timeout and rate limiting.
func retryableStatus(code int) bool {
	return code >= 500 || code == http.StatusRequestTimeout || code == http.StatusTooManyRequests
}

// parseRetryAfter reads a Retry-After header, in seconds or as an HTTP-date.
// A missing, malformed or past value is 0.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := parseSeconds(v); err == nil {
		d = secs
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), MaxRetryAfter)
}

// parseSeconds parses a non-negative count of seconds without overflowing on
// an absurdly large value.
func parseSeconds(v string) (time.Duration, error) {
	var secs int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, errors.New("not a number of seconds")
		}
		if secs > int64(MaxRetryAfter/time.Second) {
			return MaxRetryAfter, nil
		}
		secs = secs*10 + int64(c-'0')
	}
	return time.Duration(secs) * time.Second, nil
}

// checkNotice rejects a notice no target could deliver correctly; the caller
// has a bug, so retrying is pointless.
func checkNotice(target string, n Notice) error {
	switch {
	case n.ID == "":
		return &DeliveryError{Target: target, Permanent: true, Err: errors.New("notice has no ID")}
	case strings.ContainsAny(n.Subject, "\r\n"):
		return &DeliveryError{Target: target, Permanent: true, Err: errors.New("notice subject must be one line")}
	}
	return nil
}
