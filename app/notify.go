package app

import (
	"github.com/cloudmarket/termination-orders/activities"
	"github.com/cloudmarket/termination-orders/config"
	"github.com/cloudmarket/termination-orders/notify"
)

// notifyConfig is where the notify.* settings send notifications.
func notifyConfig(n config.Notify) notify.Config {
	targets := func(a config.Audience) notify.Targets {
		return notify.Targets{WebhookURLs: a.WebhookURLs, WebhookSecret: string(a.WebhookSecret), ChatURLs: a.ChatURLs, EmailTo: a.EmailTo}
	}
	return notify.Config{
		Operations:  targets(n.Operations),
		Escalation:  targets(n.Escalation),
		Marketplace: targets(n.Marketplace),
		SMTP: notify.SMTP{
			Address: n.SMTP.Address, Username: n.SMTP.Username, Password: string(n.SMTP.Password),
			From: n.SMTP.From, StartTLS: n.SMTP.StartTLS,
		},
		RequestTimeout: n.RequestTimeout,
	}
}

// notifyPolicy is the timing that the orders a worker accepts take on.
func notifyPolicy(n config.Notify) activities.NotifyPolicy {
	return activities.NotifyPolicy{
		UnlinkSLA:        n.UnlinkSLA,
		ReminderInterval: n.ReminderInterval,
		MaxReminders:     n.MaxReminders,
		LastWarning:      n.LastWarning,
		GiveUpAfter:      n.GiveUpAfter,
	}
}
