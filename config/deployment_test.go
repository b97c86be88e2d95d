package config_test

import (
	"strings"
	"testing"

	"github.com/cloudmarket/termination-orders/config"
)

func TestWorkerDeploymentSettings(t *testing.T) {
	isolate(t)
	cfg, err := load(t)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Deployment != (config.WorkerDeployment{Name: "termination-orders"}) {
		t.Errorf("default deployment = %+v; want unversioned, named termination-orders", cfg.Deployment)
	}

	t.Setenv("TERMINATION_WORKER_VERSIONING", "true")
	t.Setenv("TERMINATION_WORKER_BUILD_ID", "9f2c1e7")
	cfg, err = load(t, "--deployment-name", "orders-eu", "--make-current=yes")
	if err != nil {
		t.Fatal(err)
	}
	want := config.WorkerDeployment{Versioning: true, Name: "orders-eu", BuildID: "9f2c1e7", MakeCurrent: true}
	if cfg.Deployment != want {
		t.Errorf("deployment = %+v; want %+v", cfg.Deployment, want)
	}
}

func TestBadWorkerDeploymentSettingsNameTheKey(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"versioning not a bool", []string{"--versioning", "sometimes"}, `worker.versioning (flag --versioning, env TERMINATION_WORKER_VERSIONING): must be true or false, got "sometimes"`},
		{"make current without versioning", []string{"--make-current=true"}, "worker.make_current (flag --make-current, env TERMINATION_WORKER_MAKE_CURRENT): needs worker.versioning=true"},
		{"empty deployment name", []string{"--versioning=true", "--deployment-name", " "}, "worker.deployment_name (flag --deployment-name, env TERMINATION_WORKER_DEPLOYMENT_NAME): must not be empty"},
		{"deployment name with a dot", []string{"--versioning=true", "--deployment-name", "orders.eu"}, `worker.deployment_name (flag --deployment-name, env TERMINATION_WORKER_DEPLOYMENT_NAME): must not contain '.' or ':', got "orders.eu"`},
		{"reserved build ID", []string{"--versioning=true", "--build-id", "__unversioned__"}, `worker.build_id (flag --build-id, env TERMINATION_WORKER_BUILD_ID): must not start with '__'`},
		{"build ID too long", []string{"--versioning=true", "--build-id", strings.Repeat("a", 101)}, "worker.build_id (flag --build-id, env TERMINATION_WORKER_BUILD_ID): must be at most 100 characters, got 101"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			isolate(t)
			_, err := load(t, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v; want %q", err, tc.want)
			}
		})
	}
}
