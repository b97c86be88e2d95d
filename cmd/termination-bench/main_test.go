package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cloudmarket/termination-orders/bench"
	"github.com/cloudmarket/termination-orders/codec"
	"github.com/cloudmarket/termination-orders/internal/command"
)

// The benchmark command runs on a fresh checkout and reports every figure; at
// this tiny size the figures mean nothing, but the event counts are exact and
// hold the product to its budget.
func TestBenchCommandReportsEveryFigure(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "termination-bench")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	jsonPath := filepath.Join(dir, "results.json")
	cmd := exec.Command(bin, "--orders", "6", "--concurrency", "3", "--window", "2s", "--last-warning", "1s", "--api-orders", "3", "--open", "20,40", "--json", jsonPath)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("bench: %v\n%s", err, stderr.String())
	}
	for _, want := range []string{"History events per order", "Throughput", "unlink confirmed -> status message stored",
		"timer due -> final message stored", "Worker memory", "bound by (window if >= 90% of the cap)",
		"status events to the marketplace", "unlink, HTTP API", "Encryption (product run, payloads in clear vs AES-256-GCM)"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}

	body, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var r bench.Results
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatal(err)
	}
	// 37 from release 1.4: one more, the resting priority's options change.
	// 36: version 4's 28 (version 1's 20, the version marker and its
	// TemporalChangeVersion upsert, the confirm-unlink update's two events in
	// place of a signal, the unlink's message by a regular activity), the
	// unlink SLA's timer started and cancelled (2), and the last warning's
	// wake-up (timer fired, workflow task, the next timer, its message: 6).
	// The notifications travel with the status writes: no event of their own.
	if r.Events.PermanentlyClosed == 0 || r.Events.PermanentlyClosed > 37 {
		t.Errorf("happy-path history is %d events; the budget is 37", r.Events.PermanentlyClosed)
	}
	// Every order's four messages reach the marketplace and its work item
	// Operations, each once after deduplication, every signature valid.
	if got := r.Notifications.ByType["order.status"]; got != 6*4 {
		t.Errorf("status events = %d, want %d", got, 6*4)
	}
	if got := r.Notifications.ByType["operations.unlink_requested"]; got != 6 {
		t.Errorf("work items = %d, want 6", got)
	}
	// The API phase measured each call both ways.
	for name, l := range map[string]bench.APILatency{"start": r.API.Start, "status": r.API.Status, "unlink": r.API.Unlink} {
		if l.Go.P50 <= 0 || l.HTTP.P50 <= 0 {
			t.Errorf("API latency of %s not measured: %+v", name, l)
		}
	}
	if r.Notifications.Invalid != 0 {
		t.Errorf("%d requests with a bad signature", r.Notifications.Invalid)
	}
	if r.Events.Baseline == 0 || r.Events.Reopened == 0 || r.Events.Cancelled == 0 {
		t.Errorf("events = %+v", r.Events)
	}
	if r.Throughput.Product <= 0 || r.Throughput.Baseline <= 0 || r.Latency.UnlinkStored.P99 <= 0 || r.Latency.TimerStored.P50 <= 0 {
		t.Errorf("figures missing: %+v %+v", r.Throughput, r.Latency)
	}
	// The bound is computed from the measured figures: the cap is 3 in flight
	// over a 2 s window, and each run is classified against it.
	if r.Throughput.Cap != 1.5 {
		t.Errorf("cap = %v orders/s, want 1.5 (3 in flight / 2 s)", r.Throughput.Cap)
	}
	if want := bench.Bound(r.Throughput.Product, r.Throughput.Cap); r.Throughput.ProductBound != want {
		t.Errorf("product bound %q for %.2f/s against a cap of %.2f/s, want %q", r.Throughput.ProductBound, r.Throughput.Product, r.Throughput.Cap, want)
	}
	if want := bench.Bound(r.Throughput.Baseline, r.Throughput.Cap); r.Throughput.BaselineBound != want {
		t.Errorf("baseline bound %q for %.2f/s against a cap of %.2f/s, want %q", r.Throughput.BaselineBound, r.Throughput.Baseline, r.Throughput.Cap, want)
	}
	// The product ran a second time, encrypting: the server stored
	// ciphertext then (the bench checks one order's history), and each run's
	// receiver got its own orders' webhooks.
	if e := r.Encryption; e == nil {
		t.Error("no encryption figures")
	} else {
		if e.On.InputEncoding != codec.MetadataEncoding || e.On.ResultEncoding != codec.MetadataEncoding || e.Off.InputEncoding != "json/plain" {
			t.Errorf("stored encodings: off %+v, on %+v", e.Off, e.On)
		}
		if e.Off.Throughput != r.Throughput.Product || e.On.Throughput <= 0 || e.On.Start.P50 <= 0 || e.On.UnlinkStored.P99 <= 0 {
			t.Errorf("encryption figures missing: %+v", e)
		}
		if e.On.StatusEvents != 6*4 || e.On.WorkItems != 6 {
			t.Errorf("encrypted run's webhooks: %d status events, %d work items; want 24 and 6", e.On.StatusEvents, e.On.WorkItems)
		}
	}
	if len(r.Memory) != 2 || r.Memory[0].Open != 20 || r.Memory[1].Open != 40 || r.Memory[0].RSS == 0 || r.Memory[0].HeapLive == 0 {
		t.Errorf("memory = %+v", r.Memory)
	}
}

func TestBadFlagsAreRefused(t *testing.T) {
	for _, args := range [][]string{{"--orders", "0"}, {"--window", "1500ms"}, {"--open", "100,10"}, {"--cache-size", "0"}, {"--orders", "ten"}, {"extra"},
		{"list", "--orders", "100,10"},
		{"herd", "--orders", "0"}, {"herd", "--postgres-conns", "0"}, {"herd", "--postgres-shards", "0"}, {"herd", "--window", "1500ms"}, {"herd", "--probe-orders", "0"}, {"herd", "extra"}, {"herd", "--server", "mysql"}, {"list", "--orders", ""}, {"list", "--repeats", "0"}, {"list", "extra"}} {
		cmd := newCommand()
		var stderr strings.Builder
		cmd.SetErr(&stderr)
		if code := command.Execute(context.Background(), cmd, args); code != command.ExitUsage {
			t.Errorf("%v: exit %d, want %d\n%s", args, code, command.ExitUsage, stderr.String())
		}
		prefix := "termination-bench: "
		if args[0] == "list" || args[0] == "herd" {
			prefix = "termination-bench " + args[0] + ": "
		}
		if !strings.HasPrefix(stderr.String(), prefix) {
			t.Errorf("%v: %q", args, stderr.String())
		}
	}
	for _, in := range []string{"", "1000,10000", " 5 "} {
		if _, err := parseCounts(in); err != nil {
			t.Errorf("parseCounts(%q): %v", in, err)
		}
	}
	for _, in := range []string{"ten", "0", "1000,100", "-5"} {
		if _, err := parseCounts(in); err == nil {
			t.Errorf("parseCounts(%q) succeeded", in)
		}
	}
}

// The list mode fills the server to each count and reports each list there;
// every list it times answered with every order it should.
func TestListModeReportsEachListAtEachCount(t *testing.T) {
	jsonPath := filepath.Join(t.TempDir(), "list.json")
	cmd := newCommand()
	var stdout, stderr strings.Builder
	cmd.SetOut(&stdout)
	cmd.SetErr(&stderr)
	if code := command.Execute(context.Background(), cmd, []string{"list", "--orders", "40,1100", "--repeats", "2", "--json", jsonPath}); code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr.String())
	}
	for _, want := range []string{"by stage (Web UI, CLI --query), first page", "default (CLI, Web UI), first page", "count by stage", "default, every page"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, stdout.String())
		}
	}
	body, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var r bench.ListResults
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatal(err)
	}
	if len(r.At) != 2 || r.At[0].Orders != 40 || r.At[1].Orders != 1100 || r.At[1].PostClosure != 825 {
		t.Fatalf("counts = %+v", r.At)
	}
	for _, s := range r.At {
		if s.StageFirstPage.P50 <= 0 || s.DefaultFirstPage.P99 <= 0 || s.StageCount.P50 <= 0 || s.DefaultAll.P50 <= 0 {
			t.Errorf("latencies missing at %d: %+v", s.Orders, s)
		}
	}
}
