// Package deploy holds the files docker-compose.yml mounts. There is no Docker
// engine where the tests run, so these tests load the compose file and the
// Dockerfile and check what would break `docker compose up`.
package deploy_test

import (
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/cloudmarket/termination-orders/app"
	"github.com/cloudmarket/termination-orders/config"
	"github.com/cloudmarket/termination-orders/workflows"
)

type composeFile struct {
	Name     string             `yaml:"name"`
	Services map[string]service `yaml:"services"`
	Volumes  map[string]any     `yaml:"volumes"`
}

type service struct {
	Image           string `yaml:"image"`
	Build           *build
	DependsOn       map[string]struct{ Condition string } `yaml:"depends_on"`
	Environment     map[string]string                     `yaml:"environment"`
	Volumes         []string                              `yaml:"volumes"`
	Ports           []string                              `yaml:"ports"`
	Entrypoint      []string                              `yaml:"entrypoint"`
	Command         any                                   `yaml:"command"`
	Healthcheck     *healthcheck                          `yaml:"healthcheck"`
	Restart         string                                `yaml:"restart"`
	StopGracePeriod string                                `yaml:"stop_grace_period"`
}

type build struct {
	Context, Dockerfile, Target string
	Args                        map[string]string
}

type healthcheck struct {
	Test        []string `yaml:"test"`
	Interval    string   `yaml:"interval"`
	Timeout     string   `yaml:"timeout"`
	Retries     int      `yaml:"retries"`
	StartPeriod string   `yaml:"start_period"`
}

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	body, err := os.ReadFile("../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	dec := yaml.NewDecoder(strings.NewReader(string(body)))
	dec.KnownFields(true) // a misspelt key is an error, as it is for docker compose
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	return c
}

func TestEveryImageIsPinned(t *testing.T) {
	c := loadCompose(t)
	pinned := regexp.MustCompile(`^[a-z0-9./_-]+:[0-9][0-9A-Za-z._-]*$`)
	for name, s := range c.Services {
		if s.Build != nil {
			continue // built from this repository
		}
		if !pinned.MatchString(s.Image) {
			t.Errorf("service %s: image %q is not pinned to a version", name, s.Image)
		}
	}
	// The Dockerfile's bases are pinned too.
	for _, from := range dockerfileFroms(t) {
		if !strings.Contains(from, ":") || strings.HasSuffix(from, ":latest") {
			t.Errorf("Dockerfile: base %q is not pinned", from)
		}
	}
}

func TestDependenciesAndStartOrder(t *testing.T) {
	c := loadCompose(t)
	for name, s := range c.Services {
		for dep, d := range s.DependsOn {
			target, ok := c.Services[dep]
			if !ok {
				t.Errorf("service %s depends on unknown service %s", name, dep)
				continue
			}
			switch d.Condition {
			case "service_healthy":
				if target.Healthcheck == nil {
					t.Errorf("service %s waits for %s to be healthy, but %s has no health check", name, dep, dep)
				}
			case "service_completed_successfully":
				if target.Restart != "" && !strings.HasPrefix(target.Restart, "on-failure") {
					t.Errorf("service %s waits for job %s to finish, but %s restarts %q", name, dep, dep, target.Restart)
				}
			default:
				t.Errorf("service %s: depends_on %s needs a condition, got %q", name, dep, d.Condition)
			}
		}
	}
	// The worker starts only once the namespace and its search attributes exist.
	if c.Services["worker"].DependsOn["temporal-setup"].Condition != "service_completed_successfully" {
		t.Error("worker must wait for temporal-setup to complete")
	}
}

func TestPortsAndMountsAreConsistent(t *testing.T) {
	c := loadCompose(t)
	seen := map[string]string{}
	for name, s := range c.Services {
		for _, p := range s.Ports {
			host, _, _ := strings.Cut(p, ":")
			if other, dup := seen[host]; dup {
				t.Errorf("host port %s published by %s and %s", host, name, other)
			}
			seen[host] = name
		}
		for _, v := range s.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if strings.HasPrefix(src, "./") {
				if _, err := os.Stat(filepath.Join("..", src)); err != nil {
					t.Errorf("service %s mounts %s, which is not in the repository", name, src)
				}
			} else if _, declared := c.Volumes[src]; !declared {
				t.Errorf("service %s uses volume %s, which is not declared", name, src)
			}
		}
	}
}

// The worker's settings are keys the code reads, and they point at the
// services that exist.
func TestWorkerSettingsMatchTheConfig(t *testing.T) {
	c := loadCompose(t)
	w := c.Services["worker"]
	known := map[string]bool{}
	for _, k := range config.KeyNames() {
		known[config.EnvVar(k)] = true
	}
	for env := range w.Environment {
		if strings.HasPrefix(env, config.EnvPrefix+"_") && !known[env] {
			t.Errorf("worker sets %s, which no setting reads", env)
		}
	}
	host, port, _ := strings.Cut(w.Environment["TERMINATION_TEMPORAL_ADDRESS"], ":")
	if _, ok := c.Services[host]; !ok || port != "7233" {
		t.Errorf("worker's Temporal address %q is not the temporal service's frontend", w.Environment["TERMINATION_TEMPORAL_ADDRESS"])
	}
	if ns := c.Services["temporal-setup"].Environment["TERMINATION_NAMESPACE"]; ns != w.Environment["TERMINATION_TEMPORAL_NAMESPACE"] {
		t.Errorf("worker's namespace %q is not the one temporal-setup creates (%q)", w.Environment["TERMINATION_TEMPORAL_NAMESPACE"], ns)
	}
	if q := w.Environment["TERMINATION_TEMPORAL_TASK_QUEUE"]; q != workflows.DefaultTaskQueue {
		t.Errorf("task queue %q is not the contract's %q", q, workflows.DefaultTaskQueue)
	}

	dsn, err := url.Parse(w.Environment["TERMINATION_STORE_DSN"])
	if err != nil || dsn.Scheme != "postgres" {
		t.Fatalf("store DSN %q is not a PostgreSQL URL", w.Environment["TERMINATION_STORE_DSN"])
	}
	if _, ok := c.Services[dsn.Hostname()]; !ok {
		t.Errorf("store DSN host %s is not a service", dsn.Hostname())
	}
	// The status store has its own database, made by the PostgreSQL init script.
	initSQL, err := os.ReadFile("postgres/10-termination-status.sql")
	if err != nil {
		t.Fatal(err)
	}
	db := strings.TrimPrefix(dsn.Path, "/")
	password, _ := dsn.User.Password()
	for _, want := range []string{"CREATE DATABASE " + db + " OWNER " + dsn.User.Username(), "CREATE ROLE " + dsn.User.Username() + " LOGIN PASSWORD '" + password + "'"} {
		if !strings.Contains(string(initSQL), want) {
			t.Errorf("init script lacks %q", want)
		}
	}
	if db == "temporal" || db == "temporal_visibility" {
		t.Errorf("the status store must not share Temporal's database %s", db)
	}
	// The worker gets longer to stop than it gives running writes (worker.stop_timeout, 30s).
	grace, err := time.ParseDuration(w.StopGracePeriod)
	if err != nil || grace <= 30*time.Second {
		t.Errorf("worker stop_grace_period %q must exceed worker.stop_timeout (30s)", w.StopGracePeriod)
	}
}

// The search attributes the setup job creates are the contract's.
func TestSetupCreatesTheContractSearchAttributes(t *testing.T) {
	script := readFile(t, "temporal/setup-namespace.sh")
	m := regexp.MustCompile(`for sa in ([^;]+);`).FindStringSubmatch(script)
	if m == nil {
		t.Fatal("setup-namespace.sh: no search attribute list found")
	}
	got := strings.Fields(m[1])
	var want []string
	for _, key := range workflows.SearchAttributes {
		want = append(want, key.GetName()+":"+key.GetValueType().String())
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("setup creates %v; the contract has %v", got, want)
	}
}

// The image compose builds runs the production worker: the Dockerfile builds
// its main package and makes it the entry point, static and non-root.
func TestDockerfileBuildsTheWorker(t *testing.T) {
	c := loadCompose(t)
	w := c.Services["worker"]
	if w.Build == nil || w.Build.Context != "." || w.Build.Dockerfile != "Dockerfile" {
		t.Fatalf("worker must be built from ./Dockerfile, got %+v", w.Build)
	}
	if w.Entrypoint != nil || w.Command != nil {
		t.Error("worker must run the image's own entry point")
	}
	df := readFile(t, "../Dockerfile")
	build := regexp.MustCompile(`go build [^\n]*-o /out/termination-worker (\./cmd/[a-z-]+)`).FindStringSubmatch(df)
	if build == nil {
		t.Fatal("Dockerfile does not build /out/termination-worker")
	}
	if build[1] != "./cmd/termination-worker" {
		t.Errorf("Dockerfile builds %s as the worker", build[1])
	}
	if _, err := os.Stat(filepath.Join("..", build[1], "main.go")); err != nil {
		t.Errorf("%s has no main.go", build[1])
	}
	for _, want := range []string{`ENTRYPOINT ["/usr/local/bin/termination-worker"]`, "USER nonroot", "CGO_ENABLED=0", "GOTOOLCHAIN=local"} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	goVersion := regexp.MustCompile(`(?m)^go (\S+)`).FindStringSubmatch(readFile(t, "../go.mod"))
	if goVersion == nil || !strings.Contains(df, "golang:"+goVersion[1]) {
		t.Errorf("Dockerfile's Go image is not go.mod's Go (%v)", goVersion)
	}
}

func TestServerMetricsAndHealth(t *testing.T) {
	c := loadCompose(t)
	s := c.Services["temporal"]
	if _, port, ok := strings.Cut(s.Environment["PROMETHEUS_ENDPOINT"], ":"); !ok {
		t.Error("Temporal server exports no Prometheus metrics")
	} else if _, err := strconv.Atoi(port); err != nil {
		t.Errorf("PROMETHEUS_ENDPOINT port %q", port)
	}
	if s.Environment["BIND_ON_IP"] != "0.0.0.0" {
		t.Error("the server must listen on all interfaces inside its container")
	}
}

func dockerfileFroms(t *testing.T) []string {
	var froms []string
	for _, line := range strings.Split(readFile(t, "../Dockerfile"), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && strings.EqualFold(f[0], "FROM") {
			froms = append(froms, f[1])
		}
	}
	return froms
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The worker's health check runs the binary's own --health-check mode, in
// exec form: the distroless image has no shell and no curl. It reads /readyz
// on metrics.listen_address, so the worker must serve one, and compose must
// give it longer than the check's own bound.
func TestWorkerHealthCheckUsesItsHealthCheckMode(t *testing.T) {
	c := loadCompose(t)
	w := c.Services["worker"]
	if w.Healthcheck == nil {
		t.Fatal("worker has no health check")
	}
	// The last stage is the image built by default: the worker's.
	entries := regexp.MustCompile(`(?m)^ENTRYPOINT \["([^"]+)"\]`).FindAllStringSubmatch(readFile(t, "../Dockerfile"), -1)
	if entries == nil {
		t.Fatal("Dockerfile has no exec-form ENTRYPOINT")
	}
	entry := entries[len(entries)-1]
	if want := []string{"CMD", entry[1], "--health-check"}; !slices.Equal(w.Healthcheck.Test, want) {
		t.Errorf("worker health check is %q; want %q", w.Healthcheck.Test, want)
	}
	// The mode exists: the worker's main hands a health check to the command,
	// which then has the flag.
	if !strings.Contains(readFile(t, "../cmd/termination-worker/main.go"), "return a.CheckWorkerReady(ctx)") {
		t.Error("cmd/termination-worker does not offer --health-check (HealthCheck: a.CheckWorkerReady)")
	}
	if !strings.Contains(readFile(t, "../internal/command/command.go"), `"health-check"`) {
		t.Error("internal/command registers no --health-check flag")
	}
	if w.Environment["TERMINATION_METRICS_LISTEN_ADDRESS"] == "" {
		t.Error("worker serves no metrics listener, so there is no /readyz to check")
	}
	timeout, err := time.ParseDuration(w.Healthcheck.Timeout)
	if err != nil || timeout <= app.CheckReadyTimeout {
		t.Errorf("health check timeout %q must exceed the check's own %s", w.Healthcheck.Timeout, app.CheckReadyTimeout)
	}
	interval, err := time.ParseDuration(w.Healthcheck.Interval)
	if err != nil || interval < timeout {
		t.Errorf("health check interval %q must be at least its timeout", w.Healthcheck.Interval)
	}
	if _, err := time.ParseDuration(w.Healthcheck.StartPeriod); err != nil || w.Healthcheck.Retries < 1 {
		t.Errorf("health check needs a start period and retries, got %q and %d", w.Healthcheck.StartPeriod, w.Healthcheck.Retries)
	}
	// No service built from the distroless Dockerfile may use a shell form.
	for name, s := range c.Services {
		if s.Build != nil && s.Healthcheck != nil && (len(s.Healthcheck.Test) == 0 || s.Healthcheck.Test[0] != "CMD") {
			t.Errorf("service %s: health check %q needs a shell the distroless image lacks", name, s.Healthcheck.Test)
		}
	}
}

// The worker's pool and concurrency are bounded in compose too, beside
// Temporal's own use of the same PostgreSQL.
func TestWorkerResourcesAreBounded(t *testing.T) {
	w := loadCompose(t).Services["worker"]
	for _, key := range []string{"store.max_open_conns", "worker.max_concurrent_activities", "worker.max_concurrent_local_activities"} {
		n, err := strconv.Atoi(w.Environment[config.EnvVar(key)])
		if err != nil || n < 1 || n > 100 {
			t.Errorf("worker %s = %q; want a small bound", config.EnvVar(key), w.Environment[config.EnvVar(key)])
		}
	}
}

// The API service runs the Dockerfile's api target with settings the code reads.
func TestAPIService(t *testing.T) {
	c := loadCompose(t)
	a, ok := c.Services["api"]
	if !ok {
		t.Fatal("no api service")
	}
	if a.Build == nil || a.Build.Dockerfile != "Dockerfile" || a.Build.Target != "api" {
		t.Fatalf("api must be built from the Dockerfile's api target, got %+v", a.Build)
	}
	df := readFile(t, "../Dockerfile")
	for _, want := range []string{"-o /out/termination-api ./cmd/termination-api", "AS api", `ENTRYPOINT ["/usr/local/bin/termination-api"]`} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	known := map[string]bool{}
	for _, k := range config.KeyNames() {
		known[config.EnvVar(k)] = true
	}
	for env := range a.Environment {
		if strings.HasPrefix(env, config.EnvPrefix+"_") && !known[env] {
			t.Errorf("api sets %s, which no setting reads", env)
		}
	}
	w := c.Services["worker"]
	// The codec's keys too: the API starts orders (encrypting them) and
	// decodes for the Web UI what the worker encrypted.
	for _, same := range []string{"TERMINATION_TEMPORAL_ADDRESS", "TERMINATION_TEMPORAL_NAMESPACE", "TERMINATION_TEMPORAL_TASK_QUEUE", "TERMINATION_STORE_DSN",
		"TERMINATION_CODEC_ENCRYPTION", "TERMINATION_CODEC_KEYS", "TERMINATION_CODEC_ACTIVE_KEY"} {
		if a.Environment[same] != w.Environment[same] || a.Environment[same] == "" {
			t.Errorf("api's %s %q is not the worker's %q", same, a.Environment[same], w.Environment[same])
		}
	}
	// The Web UI's browser may call the codec endpoint.
	ui := c.Services["temporal-ui"]
	uiOrigin := "http://localhost:" + strings.Split(ui.Ports[0], ":")[0]
	if !strings.Contains(a.Environment["TERMINATION_CODEC_WEB_UI_ORIGINS"], uiOrigin) {
		t.Errorf("api's codec origins %q leave out the Web UI at %s", a.Environment["TERMINATION_CODEC_WEB_UI_ORIGINS"], uiOrigin)
	}
	if _, ok := ui.Environment["TEMPORAL_CODEC_ENDPOINT"]; !ok {
		t.Error("the Web UI has no TEMPORAL_CODEC_ENDPOINT to set")
	}
	_, port, _ := strings.Cut(a.Environment["TERMINATION_API_LISTEN_ADDRESS"], ":")
	if !slices.Contains(a.Ports, port+":"+port) {
		t.Errorf("api listens on port %s but publishes %v", port, a.Ports)
	}
	if a.Healthcheck == nil || !slices.Equal(a.Healthcheck.Test, []string{"CMD", "/usr/local/bin/termination-api", "--health-check"}) {
		t.Errorf("api health check must run termination-api --health-check, got %+v", a.Healthcheck)
	}
	grace, err := time.ParseDuration(a.StopGracePeriod)
	shutdown, _ := time.ParseDuration(a.Environment["TERMINATION_API_SHUTDOWN_TIMEOUT"])
	if err != nil || shutdown == 0 || grace <= shutdown {
		t.Errorf("api stop_grace_period %q must exceed api.shutdown_timeout %q", a.StopGracePeriod, a.Environment["TERMINATION_API_SHUTDOWN_TIMEOUT"])
	}
}

// The worker runs under Worker Versioning: the image as the build it was built
// as, compose's single worker making its build current when it starts.
func TestWorkerRunsVersioned(t *testing.T) {
	w := loadCompose(t).Services["worker"]
	if id := w.Build.Args["BUILD_ID"]; !regexp.MustCompile(`^\$\{TERMINATION_BUILD_ID:-[a-z0-9-]+\}$`).MatchString(id) {
		t.Errorf("worker build arg BUILD_ID = %q; want ${TERMINATION_BUILD_ID:-<default>}", id)
	}
	for key, want := range map[string]string{"worker.versioning": "true", "worker.make_current": "true", "worker.deployment_name": config.DefaultDeploymentName} {
		if got := w.Environment[config.EnvVar(key)]; got != want {
			t.Errorf("worker %s = %q; want %q", config.EnvVar(key), got, want)
		}
	}
	df := readFile(t, "../Dockerfile")
	final := df[strings.LastIndex(df, "\nFROM "):]
	for _, want := range []string{"ARG BUILD_ID", config.EnvVar("worker.versioning") + "=true", config.EnvVar("worker.build_id") + "=${BUILD_ID}"} {
		if !strings.Contains(final, want) {
			t.Errorf("the worker's image stage lacks %q", want)
		}
	}
}
