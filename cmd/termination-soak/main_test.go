package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/cloudmarket/termination-orders/soak"
)

// bin is the command, built once for the tests.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "termination-soak-test-")
	if err != nil {
		panic(err)
	}
	bin = filepath.Join(dir, "termination-soak")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// The soak at a small size, on both servers: every fault kind strikes, every
// order is checked, and any order lost, doubled, closed early, stuck or
// wrongly answered, or any of its notifications missing, unexpected or
// conflicting, fails the test (the command exits 1 and its findings are
// printed here).
//
// The drain outlasts the product's slowest recovery from a worker killed at
// the very end of the faults: a notification it was delivering is retried
// once its activity's StartToClose (a minute) has passed, 10 s later (and
// again 20 s after that if the receiver refuses it once more), so 60 s
// failed such an order as stuck (CI, 3 December). It ends as soon as every
// order has.
func TestSoakMeetsEveryTarget(t *testing.T) {
	requirePostgres(t)
	dir := t.TempDir()
	jsonPath := filepath.Join(dir, "results.json")
	cmd := exec.Command(bin, "--server", "both", "--orders", "20", "--workers", "2", "--window", "3s",
		"--store-outage", "5s", "--gap", "2s", "--worker-kill-every", "4s", "--call-timeout", "20s", "--drain", "120s",
		"--json", jsonPath)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	began := time.Now()
	err := cmd.Run()
	t.Logf("soak took %s\n%s", time.Since(began).Round(time.Second), stdout.String())
	if err != nil {
		t.Fatalf("soak: %v\n%s", err, stderr.String())
	}

	body, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var rs soak.Results
	if err := json.Unmarshal(body, &rs); err != nil {
		t.Fatal(err)
	}
	if !rs.Pass || len(rs.Runs) != 2 || rs.Runs[0].Server != soak.ServerSQLite || rs.Runs[1].Server != soak.ServerPostgres {
		t.Fatalf("results: pass %v, runs %d", rs.Pass, len(rs.Runs))
	}
	for _, r := range rs.Runs {
		f := r.Faults
		if f.WorkerKills == 0 || f.ServerKills != 3 || f.StoreCuts != 1 || f.StoreBlackHoles != 1 {
			t.Errorf("%s: not every fault struck: %+v", r.Server, f)
		}
		// Every order's events came, each once, through a receiver that
		// failed and was slow.
		if n := r.Notifications; n.Events < r.Orders || n.Refused == 0 || n.Held == 0 {
			t.Errorf("%s: the notifications' faults did not all strike: %+v", r.Server, n)
		}
		if r.Orders != 20 || r.Calls[soak.Success] < 20 || len(r.StoreRecoverySec) != 2 {
			t.Errorf("%s: orders %d, calls %v, recoveries %v", r.Server, r.Orders, r.Calls, r.StoreRecoverySec)
		}
		for _, p := range []string{soak.PathClose, soak.PathReopen, soak.PathCancel, soak.PathRace, soak.PathDeadline} {
			if r.Paths[p] != 4 {
				t.Errorf("%s: %d orders on path %s, want 4", r.Server, r.Paths[p], p)
			}
		}
	}
	if !strings.Contains(stdout.String(), "targets met") {
		t.Errorf("no table:\n%s", stdout.String())
	}
}

func TestBadFlagsAreRefused(t *testing.T) {
	for _, args := range [][]string{{"--server", "mysql"}, {"--workers", "1"}, {"--window", "1500ms"}, {"--orders", "2"}} {
		out, err := exec.Command(bin, args...).CombinedOutput()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 2 {
			t.Errorf("%v: %v\n%s", args, err, out)
		}
	}
}

// requirePostgres skips without a PostgreSQL server, except under CI where
// that fails the test.
func requirePostgres(t *testing.T) {
	t.Helper()
	dsn := postgresDSN("")
	db, err := sql.Open("pgx", dsn)
	if err == nil {
		defer db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err = db.PingContext(ctx)
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL at %s is required under CI: %v", dsn, err)
		}
		t.Skipf("no PostgreSQL at %s: %v", dsn, err)
	}
}
