package config

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/viper"
)

// Notify is who is told what about orders, and when. Package app maps it
// onto the notifier's targets and the orders' notification policy.
type Notify struct {
	// UnlinkSLA is how long Operations have to unlink an account before its
	// order is escalated; zero for no SLA.
	UnlinkSLA time.Duration
	// ReminderInterval and MaxReminders space and bound the reminders after
	// the escalation.
	ReminderInterval time.Duration
	MaxReminders     int
	// LastWarning is how long before the reopen deadline the customer is
	// warned a last time; zero for no warning.
	LastWarning time.Duration
	// GiveUpAfter bounds how long a failed notification is retried.
	GiveUpAfter time.Duration
	// RequestTimeout bounds one attempt to deliver a notification.
	RequestTimeout time.Duration
	// WebUIURL is the Temporal Web UI that work items link to; empty for no
	// links (the dev command links its own).
	WebUIURL string
	// Operations, Escalation and Marketplace are the audiences' destinations
	// (notify.<audience>.*); secrets included, never logged.
	Operations, Escalation, Marketplace Audience
	// SMTP is the mail relay of the e-mail targets.
	SMTP SMTP
}

// Audience is one audience's destinations.
type Audience struct {
	WebhookURLs   []string
	WebhookSecret Secret
	// ChatURLs are credentials too (whoever holds one can post): never
	// logged.
	ChatURLs []string
	EmailTo  []string
}

// SMTP is the mail relay (notify.smtp.*).
type SMTP struct {
	Address, Username string
	Password          Secret
	From              string
	StartTLS          bool
}

const notifyCommands = Worker | Dev

// notifyKeys are the notification settings. Lists take a YAML list or a
// comma-separated string (flags, environment).
var notifyKeys = func() []key {
	ks := []key{
		{"notify.unlink_sla", "unlink-sla", "5d", "time Operations have to unlink an account before its order is escalated (e.g. 5d, 120h); 0 for no SLA", notifyCommands | CLI},
		{"notify.reminder_interval", "reminder-interval", "1d", "time between reminders of an overdue unlink", notifyCommands},
		{"notify.max_reminders", "max-reminders", "5", "reminders sent after the escalation, at most", notifyCommands},
		{"notify.last_warning", "last-warning", "7d", "time before the reopen deadline when the customer is warned a last time; 0 for no warning", notifyCommands},
		{"notify.give_up_after", "notify-give-up-after", "3d", "how long a notification that fails is retried before it is given up", notifyCommands},
		{"notify.request_timeout", "notify-request-timeout", "10s", "bound of one attempt to deliver a notification", notifyCommands},
		{"notify.web_ui_url", "notify-web-ui-url", "", "Temporal Web UI base URL that work items link to (default for the dev command: its own UI)", notifyCommands},
		{"notify.smtp.address", "smtp-address", "", "SMTP relay host:port for e-mail notifications", notifyCommands},
		{"notify.smtp.username", "smtp-username", "", "SMTP user (AUTH PLAIN, only over TLS)", notifyCommands},
		{"notify.smtp.password", "smtp-password", "", "SMTP password (prefer the environment variable)", notifyCommands},
		{"notify.smtp.from", "smtp-from", "", "sender address of e-mail notifications", notifyCommands},
		{"notify.smtp.starttls", "smtp-starttls", "true", "require STARTTLS before anything is sent (true or false)", notifyCommands},
	}
	for _, aud := range []string{"operations", "escalation", "marketplace"} {
		ks = append(ks,
			key{"notify." + aud + ".webhook_urls", aud + "-webhook-urls", "", "signed JSON webhooks (Standard Webhooks) for " + aud + ", comma-separated", notifyCommands},
			key{"notify." + aud + ".webhook_secret", aud + "-webhook-secret", "", "signing secret (whsec_...) of the " + aud + " webhooks (prefer the environment variable)", notifyCommands},
			key{"notify." + aud + ".chat_urls", aud + "-chat-urls", "", "Slack or Teams incoming webhooks for " + aud + ", comma-separated", notifyCommands},
			key{"notify." + aud + ".email_to", aud + "-email-to", "", "e-mail recipients for " + aud + ", comma-separated", notifyCommands},
		)
	}
	return ks
}()

// loadNotify reads the notification settings: all of them for a worker,
// only the unlink SLA (for the starter's UnlinkDueBy) for the CLI.
func loadNotify(v *viper.Viper, cmd Command, bad func(name, rule string, args ...any)) Notify {
	var n Notify
	duration := func(name string, dst *time.Duration) {
		s := strings.TrimSpace(v.GetString(name))
		if s == "0" || s == "" {
			return
		}
		d, err := ParseDuration(s)
		if err != nil {
			bad(name, "%v, or 0", err)
		}
		*dst = d
	}
	duration("notify.unlink_sla", &n.UnlinkSLA)
	if cmd&notifyCommands == 0 {
		return n
	}
	duration("notify.reminder_interval", &n.ReminderInterval)
	duration("notify.last_warning", &n.LastWarning)
	if d, err := ParseDuration(v.GetString("notify.give_up_after")); err != nil {
		bad("notify.give_up_after", "%v", err)
	} else {
		n.GiveUpAfter = d
	}
	if m, err := strconv.Atoi(v.GetString("notify.max_reminders")); err != nil || m < 0 || m > 100 {
		bad("notify.max_reminders", "must be a whole number from 0 to 100, got %q", v.GetString("notify.max_reminders"))
	} else {
		n.MaxReminders = m
	}
	if n.MaxReminders > 0 && n.ReminderInterval <= 0 {
		bad("notify.reminder_interval", "must be set when notify.max_reminders is above 0")
	}
	if d, err := time.ParseDuration(v.GetString("notify.request_timeout")); err != nil || d <= 0 || d > 5*time.Minute {
		bad("notify.request_timeout", "must be a duration from 1ms to 5m such as 10s, got %q", v.GetString("notify.request_timeout"))
	} else {
		n.RequestTimeout = d
	}
	n.WebUIURL = strings.TrimRight(strings.TrimSpace(v.GetString("notify.web_ui_url")), "/")
	if n.WebUIURL != "" {
		if u, err := url.Parse(n.WebUIURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("notify.web_ui_url", "must be an http or https URL such as http://localhost:8233, got %q", n.WebUIURL)
		}
	}

	for _, t := range []struct {
		aud string
		dst *Audience
	}{{"operations", &n.Operations}, {"escalation", &n.Escalation}, {"marketplace", &n.Marketplace}} {
		t.dst.WebhookURLs = list(v, "notify."+t.aud+".webhook_urls")
		t.dst.WebhookSecret = Secret(v.GetString("notify." + t.aud + ".webhook_secret"))
		t.dst.ChatURLs = list(v, "notify."+t.aud+".chat_urls")
		t.dst.EmailTo = list(v, "notify."+t.aud+".email_to")
	}
	n.SMTP = SMTP{
		Address:  v.GetString("notify.smtp.address"),
		Username: v.GetString("notify.smtp.username"),
		Password: Secret(v.GetString("notify.smtp.password")),
		From:     v.GetString("notify.smtp.from"),
	}
	switch s := strings.ToLower(strings.TrimSpace(v.GetString("notify.smtp.starttls"))); s {
	case "true", "1", "yes":
		n.SMTP.StartTLS = true
	case "false", "0", "no":
	default:
		bad("notify.smtp.starttls", "must be true or false, got %q", s)
	}
	// The targets' own rules (URLs, secrets, addresses) are package notify's;
	// package app checks them.
	return n
}

// list reads a list setting: a YAML list, or a comma-separated string.
func list(v *viper.Viper, name string) []string {
	var items []string
	switch raw := v.Get(name).(type) {
	case []any:
		for _, item := range raw {
			items = append(items, fmt.Sprint(item))
		}
	case []string:
		items = raw
	default:
		items = strings.Split(v.GetString(name), ",")
	}
	var out []string
	for _, item := range items {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// Audiences lists the audiences that have a target, for logs and banners.
func (n Notify) Audiences() []string {
	var out []string
	for _, t := range []struct {
		name    string
		targets Audience
	}{{"operations", n.Operations}, {"escalation", n.Escalation}, {"marketplace", n.Marketplace}} {
		if c := len(t.targets.WebhookURLs) + len(t.targets.ChatURLs) + len(t.targets.EmailTo); c > 0 {
			out = append(out, fmt.Sprintf("%s (%d)", t.name, c))
		}
	}
	return out
}
