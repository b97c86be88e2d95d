package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/cloudmarket/termination-orders/config"
)

func TestAWSDefaults(t *testing.T) {
	isolate(t)
	cfg, err := load(t)
	if err != nil {
		t.Fatal(err)
	}
	want := config.AWSOrganizations{
		Mode: config.AWSModeOff, Region: "us-east-1", CloseRate: 0.5, CloseTaskQueue: "contract-queue-aws-close",
		CheckInterval: 15 * time.Second, MaxCheckInterval: 15 * time.Minute, QuotaWait: time.Hour,
	}
	if cfg.AWS != want {
		t.Errorf("AWS = %+v; want %+v", cfg.AWS, want)
	}
}

func TestAWSSettingsFromFileEnvAndFlags(t *testing.T) {
	isolate(t)
	file := writeFile(t, "aws:\n  organizations:\n    mode: close\n    role_arn: arn:aws:iam::111122223333:role/ops/termination-orders\n    external_id: ext-4821\n    quota_wait: 2h\n")
	t.Setenv("TERMINATION_AWS_ORGANIZATIONS_ENDPOINT", "http://127.0.0.1:8235/")
	t.Setenv("TERMINATION_AWS_ORGANIZATIONS_CLOSE_RATE", "0.2")
	cfg, err := load(t, "--config", file, "--task-queue", "orders", "--aws-check-interval", "5s", "--aws-max-check-interval", "1d", "--aws-region", "eu-west-1")
	if err != nil {
		t.Fatal(err)
	}
	want := config.AWSOrganizations{
		Mode: config.AWSModeClose, Region: "eu-west-1",
		RoleARN: "arn:aws:iam::111122223333:role/ops/termination-orders", ExternalID: "ext-4821",
		Endpoint: "http://127.0.0.1:8235", CloseRate: 0.2, CloseTaskQueue: "orders-aws-close",
		CheckInterval: 5 * time.Second, MaxCheckInterval: 24 * time.Hour, QuotaWait: 2 * time.Hour,
	}
	if cfg.AWS != want {
		t.Errorf("AWS = %+v; want %+v", cfg.AWS, want)
	}
	cfg, err = load(t, "--aws-close-task-queue", "aws-closures")
	if err != nil || cfg.AWS.CloseTaskQueue != "aws-closures" {
		t.Errorf("close task queue = %q, %v", cfg.AWS.CloseTaskQueue, err)
	}
}

func TestBadAWSSettingsNameTheKey(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--aws-mode", "on"}, "aws.organizations.mode (flag --aws-mode, env TERMINATION_AWS_ORGANIZATIONS_MODE): must be off, verify or close, got \"on\""},
		{[]string{"--aws-region", "US East"}, "aws.organizations.region (flag --aws-region, env TERMINATION_AWS_ORGANIZATIONS_REGION): must be an AWS region such as us-east-1"},
		{[]string{"--aws-role-arn", "arn:aws:iam::1111:role/x"}, "aws.organizations.role_arn (flag --aws-role-arn, env TERMINATION_AWS_ORGANIZATIONS_ROLE_ARN): must be an IAM role ARN"},
		{[]string{"--aws-role-arn", "arn:aws:iam::111122223333:user/x"}, "aws.organizations.role_arn"},
		{[]string{"--aws-external-id", "ext-4821"}, "aws.organizations.external_id (flag --aws-external-id, env TERMINATION_AWS_ORGANIZATIONS_EXTERNAL_ID): needs aws.organizations.role_arn"},
		{[]string{"--aws-role-arn", "arn:aws:iam::111122223333:role/x", "--aws-external-id", "has space"}, "aws.organizations.external_id"},
		{[]string{"--aws-endpoint", "127.0.0.1:8235"}, "aws.organizations.endpoint (flag --aws-endpoint, env TERMINATION_AWS_ORGANIZATIONS_ENDPOINT): must be an http or https URL"},
		{[]string{"--aws-endpoint", "ftp://emulator"}, "aws.organizations.endpoint"},
		{[]string{"--aws-close-rate", "0"}, "aws.organizations.close_rate (flag --aws-close-rate, env TERMINATION_AWS_ORGANIZATIONS_CLOSE_RATE): must be a number of closures a second above 0 and at most 1, such as 0.5 (one every 2 s), got \"0\""},
		{[]string{"--aws-close-rate", "30"}, "aws.organizations.close_rate"},
		{[]string{"--aws-close-rate", "2"}, "aws.organizations.close_rate"},
		{[]string{"--aws-close-rate", "fast"}, "aws.organizations.close_rate"},
		{[]string{"--task-queue", "q", "--aws-close-task-queue", "q"}, "aws.organizations.close_task_queue (flag --aws-close-task-queue, env TERMINATION_AWS_ORGANIZATIONS_CLOSE_TASK_QUEUE): must differ from temporal.task_queue"},
		{[]string{"--aws-check-interval", "0s"}, "aws.organizations.check_interval (flag --aws-check-interval, env TERMINATION_AWS_ORGANIZATIONS_CHECK_INTERVAL): must be whole seconds of at least 1s"},
		{[]string{"--aws-check-interval", "2h"}, "aws.organizations.check_interval (flag --aws-check-interval, env TERMINATION_AWS_ORGANIZATIONS_CHECK_INTERVAL): must be from 1s to 1h, got \"2h\""},
		{[]string{"--aws-check-interval", "10m", "--aws-max-check-interval", "5m"}, "aws.organizations.max_check_interval (flag --aws-max-check-interval, env TERMINATION_AWS_ORGANIZATIONS_MAX_CHECK_INTERVAL): must be at least aws.organizations.check_interval (10m0s), got 5m0s"},
		{[]string{"--aws-max-check-interval", "2d"}, "aws.organizations.max_check_interval (flag --aws-max-check-interval, env TERMINATION_AWS_ORGANIZATIONS_MAX_CHECK_INTERVAL): must be from 1s to 24h"},
		{[]string{"--aws-quota-wait", "30s"}, "aws.organizations.quota_wait (flag --aws-quota-wait, env TERMINATION_AWS_ORGANIZATIONS_QUOTA_WAIT): must be from 1m to 7d"},
		{[]string{"--aws-quota-wait", "soon"}, "aws.organizations.quota_wait"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			isolate(t)
			_, err := load(t, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Load = %v; want %q", err, tc.want)
			}
		})
	}
}

// terminationctl and termination-api neither have the settings nor check them.
func TestOnlyWorkersReadAWSSettings(t *testing.T) {
	isolate(t)
	t.Setenv("TERMINATION_AWS_ORGANIZATIONS_MODE", "sometimes")
	for _, cmd := range []config.Command{config.CLI, config.API | config.CLI} {
		if _, err := loadFor(t, cmd); err != nil {
			t.Errorf("command %d: %v", cmd, err)
		}
	}
	if _, err := loadFor(t, config.Dev); err == nil || !strings.Contains(err.Error(), "aws.organizations.mode") {
		t.Errorf("dev: %v; want aws.organizations.mode named", err)
	}
}

func TestDevAWSEmulatorSettings(t *testing.T) {
	isolate(t)
	cfg, err := loadFor(t, config.Dev)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Dev.AWSEmulator || cfg.Dev.AWSEmulatorClosureDelay != 30*time.Second {
		t.Errorf("dev = %+v", cfg.Dev)
	}
	cfg, err = loadFor(t, config.Dev, "--aws-emulator", "--aws-emulator-closure-delay", "2m", "--aws-mode", "verify")
	if err != nil || !cfg.Dev.AWSEmulator || cfg.Dev.AWSEmulatorClosureDelay != 2*time.Minute || cfg.AWS.Mode != config.AWSModeVerify {
		t.Errorf("dev = %+v, aws = %+v, %v", cfg.Dev, cfg.AWS, err)
	}
	_, err = loadFor(t, config.Dev, "--aws-emulator=true", "--aws-endpoint", "http://127.0.0.1:9000")
	if err == nil || !strings.Contains(err.Error(), "aws.organizations.endpoint (flag --aws-endpoint, env TERMINATION_AWS_ORGANIZATIONS_ENDPOINT): must be empty with dev.aws_emulator") {
		t.Errorf("emulator and endpoint: %v", err)
	}
	_, err = loadFor(t, config.Dev, "--aws-emulator=maybe", "--aws-emulator-closure-delay", "0")
	if err == nil || !strings.Contains(err.Error(), "dev.aws_emulator (flag --aws-emulator") || !strings.Contains(err.Error(), "dev.aws_emulator_closure_delay") {
		t.Errorf("bad emulator settings: %v", err)
	}
}
