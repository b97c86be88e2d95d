package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cloudmarket/termination-orders/bench"
	"github.com/cloudmarket/termination-orders/internal/command"
)

// The herd mode measures every phase of every shape and probes the product
// meanwhile, on either server; at this size the figures mean nothing, but
// each must be there, and every call of the herd must have succeeded.
func TestHerdModeReportsEveryPhaseOfEveryShape(t *testing.T) {
	for _, server := range []string{bench.HerdOnSQLite, bench.HerdOnPostgres} {
		t.Run(server, func(t *testing.T) { testHerdMode(t, server) })
	}
}

func testHerdMode(t *testing.T, server string) {
	dir := t.TempDir()
	jsonPath := filepath.Join(dir, "herd.json")
	cmd := newCommand()
	var stdout, stderr strings.Builder
	cmd.SetOut(&stdout)
	cmd.SetErr(&stderr)
	args := []string{"herd", "--orders", "4", "--concurrency", "4", "--window", "8s", "--bare-window", "4s", "--probe-orders", "6",
		"--profile-seconds", "2", "--profile-dir", filepath.Join(dir, "prof"), "--json", jsonPath, "--server", server,
		// Other packages' tests share the PostgreSQL server's 100 connections.
		"--postgres-conns", "2", "--postgres-shards", "2"}
	if code := command.Execute(context.Background(), cmd, args); code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr.String())
	}
	for _, want := range []string{"starts /s", "unlinks p50 / p99 ms", "deadlines drained in s", "Temporal database per order KB",
		"interactive probes (product)", "during unlinks", "product task queue backlog", "list by stage at N", "where the time went, cores", "a person's unlink, split"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, stdout.String())
		}
	}
	body, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var r bench.HerdResults
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{bench.HerdOnSQLite: "embedded, SQLite", bench.HerdOnPostgres: "embedded, PostgreSQL"}[server]; r.Server != want {
		t.Errorf("server = %q, want %q", r.Server, want)
	}
	// The dev command's server has one history shard; on PostgreSQL, as asked.
	if want := map[string]int{bench.HerdOnSQLite: 1, bench.HerdOnPostgres: 2}[server]; r.HistoryShards != want {
		t.Errorf("history shards = %d, want %d", r.HistoryShards, want)
	}
	for name, s := range map[string]bench.HerdShape{"product": r.Product, "bare signal": r.BareSignal, "bare update": r.BareUpdate} {
		for phase, p := range map[string]bench.HerdPhase{"start": s.Start, "unlink": s.Unlink} {
			if p.Failed != 0 || p.Rate <= 0 || p.Latency.P99 <= 0 {
				t.Errorf("%s %s: %+v", name, phase, p)
			}
		}
		if s.Drain.Seconds <= 0 || s.Drain.Overlapped || s.BytesPerOrder <= 0 {
			t.Errorf("%s drain %+v, %.0f bytes per order", name, s.Drain, s.BytesPerOrder)
		}
	}
	if r.Product.Unlink.Backlog == nil || r.Product.Drain.Backlog == nil {
		t.Errorf("backlog not sampled: unlinks %+v, drain %+v", r.Product.Unlink.Backlog, r.Product.Drain.Backlog)
	}
	if p := r.Product.Unlink.Probes; p == nil || p.Status.Calls == 0 || p.Status.Failed != 0 {
		t.Errorf("status probes during the unlinks: %+v", p)
	}
	// Each probe unlink is split at its workflow task: both parts positive,
	// and together no longer than the call (its p99 bounds theirs).
	if p := r.Product.Unlink.Probes; p != nil {
		if p.Unlink.ToTask == nil || p.Unlink.ToTask.P50 <= 0 || p.Unlink.FromTask.P50 <= 0 || p.Unlink.ToTask.P99 > p.Unlink.Latency.P99 || p.Unlink.FromTask.P99 > p.Unlink.Latency.P99 {
			t.Errorf("probe unlinks not split at their workflow task: %+v", p.Unlink)
		}
	}
	if r.List.FirstPage <= 0 || r.Ratios.UnlinkVsUpdate <= 0 || r.Ratios.DrainVsBare <= 0 || r.Load.Start == "" {
		t.Errorf("list %+v, ratios %+v, load %+v", r.List, r.Ratios, r.Load)
	}
	// Where the time went: this process used CPU in every phase, and on
	// PostgreSQL its processes did too. (Phases this short are within the
	// tick of the kernel's accounting, so they are summed.)
	var pg float64
	for name, u := range map[string]*bench.Usage{"product unlinks": r.Product.Unlink.Usage, "product drain": r.Product.Drain.Usage,
		"bare update unlinks": r.BareUpdate.Unlink.Usage, "bare signal drain": r.BareSignal.Drain.Usage} {
		if u == nil || u.Bench <= 0 || u.Worker < 0 {
			t.Errorf("%s: usage %+v", name, u)
			continue
		}
		pg += u.Postgres
	}
	if server == bench.HerdOnPostgres && pg <= 0 {
		t.Errorf("PostgreSQL's processes used no CPU in the herd")
	}
	// The worker served its CPU profiles through worker.pprof_address.
	if len(r.Profiles) != 2 {
		t.Errorf("profiles = %v, want the unlinks' and the drain's", r.Profiles)
	}
	for _, p := range r.Profiles {
		if info, err := os.Stat(p); err != nil || info.Size() == 0 {
			t.Errorf("profile %s: %v", p, err)
		}
	}
}
