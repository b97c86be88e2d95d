package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cloudmarket/termination-orders/bench"
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
	cmd := exec.Command(bin, "--orders", "6", "--concurrency", "3", "--window", "1s", "--open", "20,40", "--json", jsonPath)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("bench: %v\n%s", err, stderr.String())
	}
	for _, want := range []string{"History events per order", "Throughput", "unlink confirmed -> status message stored",
		"timer due -> final message stored", "Worker memory", "bound by (window if >= 90% of the cap)"} {
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
	// 28: version 1's 20, plus the version marker and its TemporalChangeVersion
	// upsert, the confirm-unlink update's two events in place of a signal, and
	// the unlink's message written by a regular activity once the decision is
	// in history (3 activity events and a workflow task, for 1 marker).
	if r.Events.PermanentlyClosed == 0 || r.Events.PermanentlyClosed > 28 {
		t.Errorf("happy-path history is %d events; the budget is 28", r.Events.PermanentlyClosed)
	}
	if r.Events.Baseline == 0 || r.Events.Reopened == 0 || r.Events.Cancelled == 0 {
		t.Errorf("events = %+v", r.Events)
	}
	if r.Throughput.Product <= 0 || r.Throughput.Baseline <= 0 || r.Latency.UnlinkStored.P99 <= 0 || r.Latency.TimerStored.P50 <= 0 {
		t.Errorf("figures missing: %+v %+v", r.Throughput, r.Latency)
	}
	// The bound is computed from the measured figures: the cap is 3 in flight
	// over a 1 s window, and each run is classified against it.
	if r.Throughput.Cap != 3 {
		t.Errorf("cap = %v orders/s, want 3 (3 in flight / 1 s)", r.Throughput.Cap)
	}
	if want := bench.Bound(r.Throughput.Product, r.Throughput.Cap); r.Throughput.ProductBound != want {
		t.Errorf("product bound %q for %.2f/s against a cap of %.2f/s, want %q", r.Throughput.ProductBound, r.Throughput.Product, r.Throughput.Cap, want)
	}
	if want := bench.Bound(r.Throughput.Baseline, r.Throughput.Cap); r.Throughput.BaselineBound != want {
		t.Errorf("baseline bound %q for %.2f/s against a cap of %.2f/s, want %q", r.Throughput.BaselineBound, r.Throughput.Baseline, r.Throughput.Cap, want)
	}
	if len(r.Memory) != 2 || r.Memory[0].Open != 20 || r.Memory[1].Open != 40 || r.Memory[0].RSS == 0 || r.Memory[0].HeapLive == 0 {
		t.Errorf("memory = %+v", r.Memory)
	}
}

func TestBadFlagsAreRefused(t *testing.T) {
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
