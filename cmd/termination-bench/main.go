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
//
// The list mode times the lists the Web UI and the temporal CLI send as the
// server fills with orders:
//
//	go run ./cmd/termination-bench list [--orders 10000,50000] [--repeats 20] [--json bench-list.json]
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/cloudmarket/termination-orders/bench"
	"github.com/cloudmarket/termination-orders/internal/command"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := command.Execute(ctx, newCommand(), os.Args[1:])
	stop()
	os.Exit(code)
}

func newCommand() *cobra.Command {
	var (
		opts      bench.Options
		open, out string
	)
	cmd := &cobra.Command{
		Use:   "termination-bench",
		Short: "Measure what a termination order costs on the embedded Temporal server",
		Args:  command.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opens, err := parseCounts(open)
			if err != nil || opts.Orders < 1 || opts.Concurrency < 1 || opts.Window < time.Second || opts.Window%time.Second != 0 ||
				opts.LastWarning < 0 || opts.LastWarning%time.Second != 0 || opts.APIOrders < 0 || opts.CacheSize < 1 {
				return command.Usage(errors.New("--orders and --concurrency must be at least 1, --window whole seconds of at least 1s, --last-warning whole seconds, --cache-size at least 1, --open a list of counts such as 1000,10000"))
			}
			opts.Open = opens
			began := time.Now()
			progress := cmd.ErrOrStderr()
			opts.Progress = func(format string, args ...any) {
				fmt.Fprintf(progress, "[%5.1fs] %s\n", time.Since(began).Seconds(), fmt.Sprintf(format, args...))
			}
			r, err := bench.Run(cmd.Context(), opts)
			if err != nil {
				return err
			}
			if err := bench.Print(cmd.OutOrStdout(), r); err != nil {
				return err
			}
			return writeJSON(out, r, progress, began)
		},
	}
	cmd.AddCommand(newHerdCommand())
	f := cmd.Flags()
	f.IntVar(&opts.Orders, "orders", 1000, "orders driven through their full life (and as many baseline workflows)")
	f.IntVar(&opts.Concurrency, "concurrency", 200, "orders in flight at once; with --window, caps throughput at concurrency/window orders/s")
	f.DurationVar(&opts.Window, "window", 2*time.Second, "reopen window of those orders (and the baseline's timer)")
	f.DurationVar(&opts.LastWarning, "last-warning", time.Second, "the customer's last warning this long before the deadline (whole seconds; 0 for none)")
	f.IntVar(&opts.APIOrders, "api-orders", 100, "orders each through the HTTP API and the Go starter, one at a time, to compare their latency (0 for none)")
	f.StringVar(&open, "open", "1000,10000", "open-order counts at which to measure the worker's memory (comma-separated; empty for none)")
	f.BoolVar(&opts.EncryptionCost, "encryption-cost", true, "run the product a second time with payload encryption on (a second worker process, a fresh key) and report its cost")
	f.IntVar(&opts.CacheSize, "cache-size", 1000, "the worker's workflow cache size (worker.workflow_cache_size)")
	f.StringVar(&out, "json", "bench-results.json", "where to write the results as JSON (empty for nowhere)")
	cmd.AddCommand(newListCommand())
	return cmd
}

// newListCommand is the list mode: the lists the Web UI and the temporal CLI
// send, timed as the namespace fills with orders.
func newListCommand() *cobra.Command {
	var (
		opts        bench.ListOptions
		orders, out string
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "Measure the Web UI's and the temporal CLI's lists as the embedded server fills with orders",
		Long: `Fills the embedded Temporal server with orders up to each count in turn (workflows of the
order's type and search attributes that no worker runs) and asks, --repeats times at each count,
the Web UI's list by stage (TerminationStage = 'PostClosure'), the default list (no query), the
count by stage, and (up to 3 times) the whole default list, pages of 1000.`,
		Args: command.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			counts, err := parseCounts(orders)
			if err != nil || len(counts) == 0 || opts.Repeats < 1 {
				return command.Usage(errors.New("--orders must be a growing list of counts such as 10000,50000, --repeats at least 1"))
			}
			opts.Orders = counts
			began := time.Now()
			progress := cmd.ErrOrStderr()
			opts.Progress = func(format string, args ...any) {
				fmt.Fprintf(progress, "[%5.1fs] %s\n", time.Since(began).Seconds(), fmt.Sprintf(format, args...))
			}
			r, err := bench.RunList(cmd.Context(), opts)
			if err != nil {
				return err
			}
			if err := bench.PrintList(cmd.OutOrStdout(), r); err != nil {
				return err
			}
			return writeJSON(out, r, progress, began)
		},
	}
	f := cmd.Flags()
	f.StringVar(&orders, "orders", "10000,50000", "order counts at which to measure (comma-separated, growing)")
	f.IntVar(&opts.Repeats, "repeats", 20, "asks of each list at each count")
	f.StringVar(&out, "json", "bench-list.json", "where to write the results as JSON (empty for nowhere)")
	return cmd
}

// writeJSON writes a run's results to out, unless out is empty.
func writeJSON(out string, r any, progress io.Writer, began time.Time) error {
	if out == "" {
		return nil
	}
	body, _ := json.MarshalIndent(r, "", "  ")
	if err := os.WriteFile(out, append(body, '\n'), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(progress, "results written to %s (%.0fs in all)\n", out, time.Since(began).Seconds())
	return nil
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
