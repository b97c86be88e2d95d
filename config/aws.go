package config

import (
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/viper"
)

// The modes of aws.organizations.mode.
const (
	// AWSModeOff trusts Operations' report of the unlink; AWS is not asked.
	AWSModeOff = "off"
	// AWSModeVerify accepts the unlink only when AWS reports the account
	// closed or gone, and asks AWS again at the reopen deadline.
	AWSModeVerify = "verify"
	// AWSModeClose closes the account through the Organizations API once
	// Operations confirm it is ready.
	AWSModeClose = "close"
)

// MaxCloseRate bounds aws.organizations.close_rate. Temporal lets a burst of
// the rate rounded up through a rate-limited task queue at once, so above one
// a second two closures could run together; the bound also refuses a value
// meant as seconds between closures (30) rather than read it as 30 a second.
const MaxCloseRate = 1.0

// CloseTaskQueueSuffix makes the default close task queue from
// temporal.task_queue.
const CloseTaskQueueSuffix = "-aws-close"

// AWSOrganizations is how the orders use AWS Organizations
// (aws.organizations.*). Package app maps it onto the adapter's settings
// (awsorg.Settings) and the workers' policy.
type AWSOrganizations struct {
	// Mode is AWSModeOff, AWSModeVerify or AWSModeClose.
	Mode string
	// Region signs the requests.
	Region string
	// RoleARN, when set, is assumed for the calls; ExternalID goes with it
	// when the role's trust policy requires one.
	RoleARN, ExternalID string
	// Endpoint replaces AWS's Organizations endpoint when set (the
	// emulator).
	Endpoint string
	// CloseRate is how many CloseAccount calls a second the organization
	// may make, across every worker: the close task queue's server-side
	// rate limit.
	CloseRate float64
	// CloseTaskQueue is the task queue of the CloseAccount activities.
	CloseTaskQueue string
	// CheckInterval is the first wait before AWS's state is asked again;
	// the waits double up to MaxCheckInterval.
	CheckInterval, MaxCheckInterval time.Duration
	// QuotaWait is how long a closure refused by AWS's close quota or
	// request limit waits before it is tried again.
	QuotaWait time.Duration
}

const awsCommands = Worker | Dev

var awsKeys = []key{
	{"aws.organizations.mode", "aws-mode", AWSModeOff, "what orders ask of AWS Organizations: off (trust Operations' unlink), verify (accept an unlink only when AWS reports the account closed) or close (close the account through the API); see docs/aws.md", awsCommands},
	{"aws.organizations.region", "aws-region", "us-east-1", "AWS region the Organizations calls are signed for (its endpoint is in us-east-1)", awsCommands},
	{"aws.organizations.role_arn", "aws-role-arn", "", "IAM role to assume for the Organizations calls, arn:aws:iam::<12 digits>:role/<name>; empty for the default credential chain's own identity", awsCommands},
	{"aws.organizations.external_id", "aws-external-id", "", "external ID the role's trust policy requires (needs aws.organizations.role_arn)", awsCommands},
	{"aws.organizations.endpoint", "aws-endpoint", "", "Organizations endpoint URL instead of AWS's, such as an emulator's", awsCommands},
	{"aws.organizations.close_rate", "aws-close-rate", "0.5", "CloseAccount calls a second for the whole organization, across every worker (the close task queue's server-side rate limit), above 0 and at most 1", awsCommands},
	{"aws.organizations.close_task_queue", "aws-close-task-queue", "", "task queue of the CloseAccount activities (default: temporal.task_queue + " + CloseTaskQueueSuffix + ")", awsCommands},
	{"aws.organizations.check_interval", "aws-check-interval", "15s", "first wait before AWS's state of an account is asked again; the waits double up to aws.organizations.max_check_interval", awsCommands},
	{"aws.organizations.max_check_interval", "aws-max-check-interval", "15m", "longest wait between two checks of AWS's state of an account", awsCommands},
	{"aws.organizations.quota_wait", "aws-quota-wait", "1h", "wait before a closure that AWS's close quota or request limit refused is tried again", awsCommands},
}

var (
	awsRegionPattern  = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d+$`)
	roleARNPattern    = regexp.MustCompile(`^arn:aws(-cn|-us-gov)?:iam::\d{12}:role/([\w+=,.@-]+/)*[\w+=,.@-]{1,64}$`)
	externalIDPattern = regexp.MustCompile(`^[\w+=,.@:/-]+$`)
)

// loadAWS reads the aws.organizations.* settings. taskQueue is
// temporal.task_queue, the default close task queue's stem.
func loadAWS(v *viper.Viper, taskQueue string, bad func(name, rule string, args ...any)) AWSOrganizations {
	a := AWSOrganizations{
		Mode:           strings.ToLower(strings.TrimSpace(v.GetString("aws.organizations.mode"))),
		Region:         strings.TrimSpace(v.GetString("aws.organizations.region")),
		RoleARN:        strings.TrimSpace(v.GetString("aws.organizations.role_arn")),
		ExternalID:     strings.TrimSpace(v.GetString("aws.organizations.external_id")),
		Endpoint:       strings.TrimRight(strings.TrimSpace(v.GetString("aws.organizations.endpoint")), "/"),
		CloseTaskQueue: strings.TrimSpace(v.GetString("aws.organizations.close_task_queue")),
	}
	if !slices.Contains([]string{AWSModeOff, AWSModeVerify, AWSModeClose}, a.Mode) {
		bad("aws.organizations.mode", "must be off, verify or close, got %q", v.GetString("aws.organizations.mode"))
	}
	if !awsRegionPattern.MatchString(a.Region) {
		bad("aws.organizations.region", "must be an AWS region such as us-east-1, got %q", a.Region)
	}
	if a.RoleARN != "" && !roleARNPattern.MatchString(a.RoleARN) {
		bad("aws.organizations.role_arn", "must be an IAM role ARN such as arn:aws:iam::111122223333:role/termination-orders, got %q", a.RoleARN)
	}
	switch {
	case a.ExternalID != "" && a.RoleARN == "":
		bad("aws.organizations.external_id", "needs aws.organizations.role_arn: an external ID is passed when a role is assumed")
	case a.ExternalID != "" && (len(a.ExternalID) < 2 || len(a.ExternalID) > 1224 || !externalIDPattern.MatchString(a.ExternalID)):
		bad("aws.organizations.external_id", "must be 2 to 1224 letters, digits or any of +=,.@:/-_")
	}
	if a.Endpoint != "" {
		if u, err := url.Parse(a.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("aws.organizations.endpoint", "must be an http or https URL such as http://127.0.0.1:8235, got %q", a.Endpoint)
		}
	}
	if r, err := strconv.ParseFloat(strings.TrimSpace(v.GetString("aws.organizations.close_rate")), 64); err != nil || !(r > 0 && r <= MaxCloseRate) {
		bad("aws.organizations.close_rate", "must be a number of closures a second above 0 and at most %g, such as 0.5 (one every 2 s), got %q", MaxCloseRate, v.GetString("aws.organizations.close_rate"))
	} else {
		a.CloseRate = r
	}
	if a.CloseTaskQueue == "" {
		a.CloseTaskQueue = taskQueue + CloseTaskQueueSuffix
	}
	if a.CloseTaskQueue == taskQueue {
		bad("aws.organizations.close_task_queue", "must differ from temporal.task_queue (%q): its rate limit would hold back every activity", taskQueue)
	}
	for _, d := range []struct {
		name     string
		min, max time.Duration
		dst      *time.Duration
	}{
		{"aws.organizations.check_interval", time.Second, time.Hour, &a.CheckInterval},
		{"aws.organizations.max_check_interval", time.Second, 24 * time.Hour, &a.MaxCheckInterval},
		{"aws.organizations.quota_wait", time.Minute, 7 * 24 * time.Hour, &a.QuotaWait},
	} {
		s := v.GetString(d.name)
		dur, err := ParseDuration(s)
		if err != nil {
			bad(d.name, "%v", err)
			continue
		}
		if dur < d.min || dur > d.max {
			bad(d.name, "must be from %s to %s, got %q", formatBound(d.min), formatBound(d.max), s)
			continue
		}
		*d.dst = dur
	}
	if a.CheckInterval > 0 && a.MaxCheckInterval > 0 && a.MaxCheckInterval < a.CheckInterval {
		bad("aws.organizations.max_check_interval", "must be at least aws.organizations.check_interval (%s), got %s", a.CheckInterval, a.MaxCheckInterval)
	}
	return a
}

// formatBound writes a bound as a person would: 1s, 1m, 1h, 24h, 7d.
func formatBound(d time.Duration) string {
	switch {
	case d >= 48*time.Hour && d%(24*time.Hour) == 0:
		return strconv.Itoa(int(d/(24*time.Hour))) + "d"
	case d%time.Hour == 0:
		return strconv.Itoa(int(d/time.Hour)) + "h"
	case d%time.Minute == 0:
		return strconv.Itoa(int(d/time.Minute)) + "m"
	}
	return d.String()
}
