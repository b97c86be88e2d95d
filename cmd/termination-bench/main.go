// Command termination-bench measures what a termination order costs on the
// embedded Temporal server, against the bare workflow of the same shape, and
// prints a table (and writes it as JSON).
//
//	go run ./cmd/termination-bench [--orders 1000] [--concurrency 200] [--window 2s] [--last-warning 1s] [--encryption-cost=true] [--open 1000,10000] [--json bench-results.json]
//
// The defaults saturate the server: every order waits its window, so a run
// can complete at most concurrency / window orders per second (100/s), far
// above what the embedded server on a small machine sustains. The table says,
// for the product's and the baseline's run, whether it was bound by that cap
// (the window) or by the server; the ratio compares the server's capacity
// for each shape only when both were bound by the server. With
// --encryption-cost (the default) the product runs a second time with payload
// encryption on, and the table gives both runs' throughput and latency.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/cloudmarket/termination-orders/bench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fs := pflag.NewFlagSet("termination-bench", pflag.ExitOnError)
	orders := fs.Int("orders", 1000, "orders driven through their full life (and as many baseline workflows)")
	concurrency := fs.Int("concurrency", 200, "orders in flight at once; with --window, caps throughput at concurrency/window orders/s")
	window := fs.Duration("window", 2*time.Second, "reopen window of those orders (and the baseline's timer)")
	warning := fs.Duration("last-warning", time.Second, "the customer's last warning this long before the deadline (whole seconds; 0 for none)")
	apiOrders := fs.Int("api-orders", 100, "orders each through the HTTP API and the Go starter, one at a time, to compare their latency (0 for none)")
	open := fs.String("open", "1000,10000", "open-order counts at which to measure the worker's memory (comma-separated; empty for none)")
	encryption := fs.Bool("encryption-cost", true, "run the product a second time with payload encryption on (a second worker process, a fresh key) and report its cost")
	cache := fs.Int("cache-size", 1000, "the worker's workflow cache size (worker.workflow_cache_size)")
	out := fs.String("json", "bench-results.json", "where to write the results as JSON (empty for nowhere)")
	_ = fs.Parse(os.Args[1:])

	opens, err := parseCounts(*open)
	if err != nil || *orders < 1 || *concurrency < 1 || *window < time.Second || *window%time.Second != 0 || *warning < 0 || *warning%time.Second != 0 || *apiOrders < 0 || *cache < 1 {
		fmt.Fprintln(os.Stderr, "termination-bench: --orders and --concurrency must be at least 1, --window whole seconds of at least 1s, --last-warning whole seconds, --cache-size at least 1, --open a list of counts such as 1000,10000")
		os.Exit(2)
	}
	began := time.Now()
	r, err := bench.Run(ctx, bench.Options{
		Orders: *orders, Concurrency: *concurrency, Window: *window, LastWarning: *warning, APIOrders: *apiOrders, EncryptionCost: *encryption, Open: opens, CacheSize: *cache,
		Progress: func(format string, args ...any) {
			fmt.Fprintf(os.Stderr, "[%5.1fs] %s\n", time.Since(began).Seconds(), fmt.Sprintf(format, args...))
		},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "termination-bench:", err)
		os.Exit(1)
	}
	if err := bench.Print(os.Stdout, r); err != nil {
		fmt.Fprintln(os.Stderr, "termination-bench:", err)
		os.Exit(1)
	}
	if *out != "" {
		body, _ := json.MarshalIndent(r, "", "  ")
		if err := os.WriteFile(*out, append(body, '\n'), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "termination-bench:", err)
			os.Exit(1)
		}
		fmt.Fprintf(os.Stderr, "results written to %s (%.0fs in all)\n", *out, time.Since(began).Seconds())
	}
}

func parseCounts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("bad count %q", f)
		}
		if len(out) > 0 && n <= out[len(out)-1] {
			return nil, fmt.Errorf("counts must grow: %q", s)
		}
		out = append(out, n)
	}
	return out, nil
}
