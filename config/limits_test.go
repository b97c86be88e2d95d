package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/cloudmarket/termination-orders/config"
)

func TestResourceLimitDefaults(t *testing.T) {
	isolate(t)
	cfg, err := load(t)
	if err != nil {
		t.Fatal(err)
	}
	want := config.Store{ConnectTimeout: 10 * time.Second, MaxOpenConns: 10, MaxIdleConns: 5, ConnMaxLifetime: 30 * time.Minute}
	if cfg.Store != want {
		t.Errorf("Store = %+v; want %+v", cfg.Store, want)
	}
	if cfg.MaxConcurrentActivities != 50 || cfg.MaxConcurrentLocalActivities != 50 {
		t.Errorf("concurrency = %d activities, %d local; want 50 and 50", cfg.MaxConcurrentActivities, cfg.MaxConcurrentLocalActivities)
	}
}

func TestResourceLimitsFromEnvAndFlags(t *testing.T) {
	isolate(t)
	t.Setenv("TERMINATION_STORE_CONNECT_TIMEOUT", "3s")
	t.Setenv("TERMINATION_STORE_MAX_IDLE_CONNS", "2")
	t.Setenv("TERMINATION_WORKER_MAX_CONCURRENT_LOCAL_ACTIVITIES", "7")
	cfg, err := load(t, "--store-max-open-conns", "4", "--store-conn-max-lifetime", "5m", "--max-concurrent-activities", "9")
	if err != nil {
		t.Fatal(err)
	}
	want := config.Store{ConnectTimeout: 3 * time.Second, MaxOpenConns: 4, MaxIdleConns: 2, ConnMaxLifetime: 5 * time.Minute}
	if cfg.Store != want || cfg.MaxConcurrentActivities != 9 || cfg.MaxConcurrentLocalActivities != 7 {
		t.Errorf("cfg = %+v, %d, %d", cfg.Store, cfg.MaxConcurrentActivities, cfg.MaxConcurrentLocalActivities)
	}
}

func TestBadResourceLimitsNameTheKey(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--store-connect-timeout", "0s"}, "store.connect_timeout (flag --store-connect-timeout, env TERMINATION_STORE_CONNECT_TIMEOUT): must be a positive duration"},
		{[]string{"--store-connect-timeout", "soon"}, "store.connect_timeout (flag --store-connect-timeout, env TERMINATION_STORE_CONNECT_TIMEOUT): must be a positive duration"},
		{[]string{"--store-conn-max-lifetime", "-1m"}, "store.conn_max_lifetime (flag --store-conn-max-lifetime, env TERMINATION_STORE_CONN_MAX_LIFETIME): must be a positive duration"},
		{[]string{"--store-max-open-conns", "0"}, "store.max_open_conns (flag --store-max-open-conns, env TERMINATION_STORE_MAX_OPEN_CONNS): must be a whole number of at least 1"},
		{[]string{"--store-max-idle-conns", "many"}, "store.max_idle_conns (flag --store-max-idle-conns, env TERMINATION_STORE_MAX_IDLE_CONNS): must be a whole number of at least 1"},
		{[]string{"--store-max-open-conns", "3", "--store-max-idle-conns", "4"}, "store.max_idle_conns (flag --store-max-idle-conns, env TERMINATION_STORE_MAX_IDLE_CONNS): must be at most store.max_open_conns (3), got 4"},
		{[]string{"--max-concurrent-activities", "0"}, "worker.max_concurrent_activities (flag --max-concurrent-activities, env TERMINATION_WORKER_MAX_CONCURRENT_ACTIVITIES): must be a whole number of at least 1"},
		{[]string{"--max-concurrent-local-activities", "-5"}, "worker.max_concurrent_local_activities (flag --max-concurrent-local-activities, env TERMINATION_WORKER_MAX_CONCURRENT_LOCAL_ACTIVITIES): must be a whole number of at least 1"},
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

// terminationctl neither has these flags nor checks the variables.
func TestCLIIgnoresWorkerLimits(t *testing.T) {
	isolate(t)
	t.Setenv("TERMINATION_STORE_MAX_OPEN_CONNS", "0")
	t.Setenv("TERMINATION_WORKER_MAX_CONCURRENT_ACTIVITIES", "0")
	if _, err := loadFor(t, config.CLI); err != nil {
		t.Fatal(err)
	}
}

// terminationctl and the HTTP API open the status store too: the connect
// timeout bounds their open as it does the worker's, and is checked as well.
func TestCLIHasTheStoreConnectTimeout(t *testing.T) {
	for _, cmd := range []config.Command{config.CLI, config.CLI | config.API} {
		isolate(t)
		cfg, err := loadFor(t, cmd)
		if err != nil || cfg.Store.ConnectTimeout != 10*time.Second {
			t.Fatalf("Load = %v, %v; want the 10s default", cfg.Store.ConnectTimeout, err)
		}
		t.Setenv("TERMINATION_STORE_CONNECT_TIMEOUT", "never")
		if _, err := loadFor(t, cmd); err == nil || !strings.Contains(err.Error(), "store.connect_timeout") {
			t.Fatalf("Load = %v; want store.connect_timeout refused", err)
		}
	}
}

func TestPollersDefaultAndRefuseNonsense(t *testing.T) {
	cfg, err := load(t)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.WorkflowTaskPollers != 16 || cfg.ActivityTaskPollers != 8 {
		t.Errorf("pollers = %d workflow, %d activity; want 16 and 8", cfg.WorkflowTaskPollers, cfg.ActivityTaskPollers)
	}
	t.Setenv("TERMINATION_WORKER_ACTIVITY_TASK_POLLERS", "3")
	if cfg, err = load(t, "--workflow-task-pollers", "4"); err != nil || cfg.WorkflowTaskPollers != 4 || cfg.ActivityTaskPollers != 3 {
		t.Errorf("cfg = %d, %d, %v; want 4 and 3", cfg.WorkflowTaskPollers, cfg.ActivityTaskPollers, err)
	}
	_, err = load(t, "--workflow-task-pollers", "0")
	if err == nil || !strings.Contains(err.Error(), "worker.workflow_task_pollers (flag --workflow-task-pollers, env TERMINATION_WORKER_WORKFLOW_TASK_POLLERS): must be a whole number of at least 1") {
		t.Errorf("err = %v", err)
	}
}
