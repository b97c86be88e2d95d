package notify

import (
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"strings"
	"time"
)

// Config is where notifications go. Package app maps the notify.* settings onto it;
// New's errors use those keys.
type Config struct {
	// Operations, Escalation and Marketplace are notify.operations.*,
	// notify.escalation.* and notify.marketplace.*.
	Operations, Escalation, Marketplace Targets
	// SMTP is notify.smtp.*; required when any audience has email_to.
	SMTP SMTP
	// RequestTimeout is notify.request_timeout: the bound of one HTTP or SMTP
	// attempt, DefaultRequestTimeout if zero.
	RequestTimeout time.Duration
}

// Targets are one audience's destinations (notify.<audience>.*).
type Targets struct {
	// WebhookURLs is notify.<audience>.webhook_urls: signed JSON webhooks
	// (Standard Webhooks).
	WebhookURLs []string
	// WebhookSecret is notify.<audience>.webhook_secret: "whsec_" followed by
	// the base64 of 24 to 64 random bytes, as Standard Webhooks specifies.
	// Required with WebhookURLs; never logged.
	WebhookSecret string
	// ChatURLs is notify.<audience>.chat_urls: Slack or Microsoft Teams
	// incoming webhooks. Their URLs are credentials: never logged.
	ChatURLs []string
	// EmailTo is notify.<audience>.email_to: recipients, each a target of its
	// own so that one bouncing address does not hold back the others.
	EmailTo []string
}

// SMTP is the mail submission server (notify.smtp.*).
type SMTP struct {
	// Address is notify.smtp.address, host:port.
	Address string
	// Username and Password are notify.smtp.username and notify.smtp.password:
	// both or neither. They are only ever sent over TLS; Password is never
	// logged.
	Username, Password string
	// From is notify.smtp.from, the sender; its domain also qualifies the
	// Message-ID.
	From string
	// StartTLS is notify.smtp.starttls: refuse to send unless the server offers
	// STARTTLS. When false, STARTTLS is still used if offered.
	StartTLS bool
	// RootCAs verify the server's certificate; nil means the system's roots.
	RootCAs *x509.CertPool
}

func (c Config) targets(a Audience) Targets {
	switch a {
	case Operations:
		return c.Operations
	case Escalation:
		return c.Escalation
	case Marketplace:
		return c.Marketplace
	}
	return Targets{}
}

// validate reports every problem at once, so an operator fixes the config in
// one round instead of one restart per key.
func (c Config) validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	var emailKey string
	for _, a := range audiences {
		t := c.targets(a)
		p := "notify." + string(a)
		for i, u := range t.WebhookURLs {
			if err := checkURL(u); err != nil {
				bad(fmt.Sprintf("%s.webhook_urls[%d]", p, i), "%v", err)
			}
		}
		switch {
		case t.WebhookSecret != "":
			if err := checkWebhookSecret(t.WebhookSecret); err != nil {
				bad(p+".webhook_secret", "%v", err)
			}
		case len(t.WebhookURLs) > 0:
			bad(p+".webhook_secret", "required when %s.webhook_urls is set", p)
		}
		for i, u := range t.ChatURLs {
			if err := checkURL(u); err != nil {
				bad(fmt.Sprintf("%s.chat_urls[%d]", p, i), "%v", err)
			}
		}
		for i, to := range t.EmailTo {
			if _, err := parseAddress(to); err != nil {
				bad(fmt.Sprintf("%s.email_to[%d]", p, i), "%v", err)
			}
		}
		if len(t.EmailTo) > 0 && emailKey == "" {
			emailKey = p + ".email_to"
		}
	}
	s := c.SMTP
	if emailKey != "" {
		if s.Address == "" {
			bad("notify.smtp.address", "required when %s is set", emailKey)
		}
		if s.From == "" {
			bad("notify.smtp.from", "required when %s is set", emailKey)
		}
	}
	if s.Address != "" {
		if host, port, err := net.SplitHostPort(s.Address); err != nil || host == "" || port == "" {
			bad("notify.smtp.address", "must be host:port")
		}
	}
	if s.From != "" {
		if a, err := parseAddress(s.From); err != nil {
			bad("notify.smtp.from", "%v", err)
		} else if _, domain, _ := strings.Cut(a.Address, "@"); domain == "" {
			bad("notify.smtp.from", "needs a domain")
		}
	}
	switch {
	case s.Username != "" && s.Password == "":
		bad("notify.smtp.password", "required when notify.smtp.username is set")
	case s.Username == "" && s.Password != "":
		bad("notify.smtp.username", "required when notify.smtp.password is set")
	}
	if c.RequestTimeout < 0 {
		bad("notify.request_timeout", "must not be negative")
	}
	return errors.Join(errs...)
}

// checkURL never quotes the URL: a chat webhook's URL is its credential.
func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("not a valid URL")
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Hostname() == "" {
		return errors.New("must be an absolute http or https URL with a host")
	}
	return nil
}

const webhookSecretPrefix = "whsec_"

// checkWebhookSecret holds secrets to the Standard Webhooks specification: the
// signing library would accept an empty or prefix-less secret and sign with a
// key nobody meant.
func checkWebhookSecret(s string) error {
	const want = `must be "whsec_" followed by the base64 of 24 to 64 random bytes`
	enc, ok := strings.CutPrefix(s, webhookSecretPrefix)
	if !ok {
		return errors.New(want)
	}
	key, err := base64.StdEncoding.DecodeString(enc)
	if err != nil || len(key) < 24 || len(key) > 64 {
		return errors.New(want)
	}
	return nil
}

// parseAddress accepts one RFC 5322 address whose addr-spec is safe on an SMTP
// command line.
func parseAddress(s string) (*mail.Address, error) {
	a, err := mail.ParseAddress(s)
	if err != nil {
		return nil, fmt.Errorf("not an e-mail address: %w", err)
	}
	if strings.ContainsAny(a.Address, "\r\n<> ") {
		return nil, errors.New("not an e-mail address")
	}
	return a, nil
}
