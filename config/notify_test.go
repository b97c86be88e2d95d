package config_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cloudmarket/termination-orders/config"
)

const secret = "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="

func TestNotifyDefaultsAndTargets(t *testing.T) {
	isolate(t)
	t.Setenv("TERMINATION_NOTIFY_MARKETPLACE_WEBHOOK_URLS", "https://a.example/hook, https://b.example/hook")
	t.Setenv("TERMINATION_NOTIFY_MARKETPLACE_WEBHOOK_SECRET", secret)
	file := writeFile(t, "notify:\n  operations:\n    chat_urls:\n      - https://hooks.slack.com/services/T/B/X\n    email_to: [ops@example.com]\n  smtp:\n    address: smtp.example.com:587\n    from: terminations@example.com\n")
	cfg, err := load(t, "--config", file)
	if err != nil {
		t.Fatal(err)
	}
	p := cfg.Notify
	if p.UnlinkSLA != 5*24*time.Hour || p.ReminderInterval != 24*time.Hour || p.MaxReminders != 5 || p.LastWarning != 7*24*time.Hour || p.GiveUpAfter != 72*time.Hour {
		t.Errorf("policy = %+v", p)
	}
	if got := cfg.Notify.Marketplace.WebhookURLs; len(got) != 2 || got[1] != "https://b.example/hook" {
		t.Errorf("marketplace webhooks from a comma-separated variable = %q", got)
	}
	if got := cfg.Notify.Operations.ChatURLs; len(got) != 1 {
		t.Errorf("operations chat from a YAML list = %q", got)
	}
	if !cfg.Notify.SMTP.StartTLS {
		t.Error("STARTTLS is required by default")
	}
	if got := strings.Join(cfg.Notify.Audiences(), ","); got != "operations (2),marketplace (2)" {
		t.Errorf("audiences = %q", got)
	}
	if string(cfg.Notify.Marketplace.WebhookSecret) != secret {
		t.Error("the webhook secret is not read")
	}
	if s := fmt.Sprintf("%v %+v %#v", cfg, cfg, cfg); strings.Contains(s, secret) {
		t.Error("printing the config shows the webhook secret")
	}
}

func TestNotifyBadValuesNameTheKey(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"SLA", map[string]string{"TERMINATION_NOTIFY_UNLINK_SLA": "five days"},
			[]string{"notify.unlink_sla (flag --unlink-sla, env TERMINATION_NOTIFY_UNLINK_SLA)", "must be a duration"}},
		{"reminders", map[string]string{"TERMINATION_NOTIFY_MAX_REMINDERS": "-1"}, []string{"notify.max_reminders", "0 to 100"}},
		{"reminders without interval", map[string]string{"TERMINATION_NOTIFY_REMINDER_INTERVAL": "0"},
			[]string{"notify.reminder_interval", "must be set when notify.max_reminders is above 0"}},
		{"STARTTLS", map[string]string{"TERMINATION_NOTIFY_SMTP_STARTTLS": "maybe"}, []string{"notify.smtp.starttls"}},
		{"Web UI", map[string]string{"TERMINATION_NOTIFY_WEB_UI_URL": "localhost:8233"}, []string{"notify.web_ui_url"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			isolate(t)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			_, err := load(t)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			if strings.Contains(err.Error(), secret) {
				t.Error("the error shows the secret")
			}
		})
	}
}

func TestCLIReadsOnlyTheUnlinkSLA(t *testing.T) {
	isolate(t)
	// A worker's broken setting is not the CLI's business.
	t.Setenv("TERMINATION_NOTIFY_MAX_REMINDERS", "-1")
	cfg, err := loadFor(t, config.CLI, "--unlink-sla", "2d")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Notify.UnlinkSLA != 48*time.Hour {
		t.Errorf("SLA = %v", cfg.Notify.UnlinkSLA)
	}
}
