package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/cloudmarket/termination-orders/bench"
	"github.com/cloudmarket/termination-orders/internal/command"
)

// newHerdCommand is `termination-bench herd`: N orders started, unlinked all
// at once, every deadline in one second, against the bare shape unlinked by
// signal and by update.
//
//	go run ./cmd/termination-bench herd [--orders 10000] [--concurrency 200] [--server sqlite|postgres] [--profile-dir DIR] [--json herd-results.json]
func newHerdCommand() *cobra.Command {
	var (
		opts bench.HerdOptions
		out  string
	)
	cmd := &cobra.Command{
		Use:   "herd",
		Short: "Measure a herd: N orders started, unlinked at once, and reaching their deadline in the same second",
		Args:  command.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.Orders < 1 || opts.Concurrency < 1 || opts.ProbeOrders < 1 || opts.ProfileSeconds < 1 || opts.CacheSize < 1 || opts.PostgresConns < 1 || opts.PostgresShards < 1 || opts.Window < 0 || opts.BareWindow < 0 ||
				opts.Window%time.Second != 0 || opts.BareWindow%time.Second != 0 {
				return command.Usage(errors.New("--orders, --concurrency, --probe-orders, --profile-seconds, --cache-size, --postgres-conns and --postgres-shards must be at least 1; --window and --bare-window whole seconds (0 to pick from --orders)"))
			}
			if opts.Server != bench.HerdOnSQLite && opts.Server != bench.HerdOnPostgres {
				return command.Usage(fmt.Errorf("--server must be %s or %s, got %q", bench.HerdOnSQLite, bench.HerdOnPostgres, opts.Server))
			}
			began := time.Now()
			progress := cmd.ErrOrStderr()
			opts.Progress = func(format string, args ...any) {
				fmt.Fprintf(progress, "[%5.1fs] %s\n", time.Since(began).Seconds(), fmt.Sprintf(format, args...))
			}
			if opts.ProfileDir != "" {
				if err := os.MkdirAll(opts.ProfileDir, 0o755); err != nil {
					return err
				}
			}
			r, err := bench.RunHerd(cmd.Context(), opts)
			if err != nil {
				return err
			}
			if err := bench.PrintHerd(cmd.OutOrStdout(), r); err != nil {
				return err
			}
			if out != "" {
				body, _ := json.MarshalIndent(r, "", "  ")
				if err := os.WriteFile(out, append(body, '\n'), 0o644); err != nil {
					return err
				}
				fmt.Fprintf(progress, "results written to %s (%.0fs in all)\n", out, time.Since(began).Seconds())
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&opts.Orders, "orders", 1000, "orders in the herd (and as many bare workflows of each kind)")
	f.IntVar(&opts.Concurrency, "concurrency", 200, "calls in flight at once while starting and unlinking")
	f.DurationVar(&opts.Window, "window", 0, "the orders' reopen window from their common close time; must outlast the unlinks (0: 1m + 40ms per order)")
	f.DurationVar(&opts.BareWindow, "bare-window", 0, "the bare shapes' wait from the start of their unlinks to their deadline (0: 30s + 25ms per order)")
	f.IntVar(&opts.CacheSize, "cache-size", 1000, "the worker's workflow cache size (worker.workflow_cache_size)")
	f.IntVar(&opts.ProbeOrders, "probe-orders", 600, "orders outside the herd for the interactive unlinks, one every second of each phase")
	f.StringVar(&opts.ProfileDir, "profile-dir", "", "where to write the worker's CPU profiles of the unlinks and of the drain (empty for none)")
	f.IntVar(&opts.ProfileSeconds, "profile-seconds", 30, "length of each CPU profile, from the start of its phase")
	f.StringVar(&opts.Server, "server", bench.HerdOnSQLite, "where Temporal keeps its state: sqlite (the dev command's server) or postgres (databases created on --postgres-dsn and dropped after)")
	f.StringVar(&opts.PostgresDSN, "postgres-dsn", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable", "an administrator's DSN of the PostgreSQL server for --server postgres")
	f.IntVar(&opts.PostgresConns, "postgres-conns", 10, "connections each of the server's pools keeps on PostgreSQL (it opens about eight pools; PostgreSQL allows 100 by default)")
	f.IntVar(&opts.PostgresShards, "postgres-shards", 4, "history shards of the server on PostgreSQL (the compose server, temporalio/server, has 4)")
	f.StringVar(&out, "json", "herd-results.json", "where to write the results as JSON (empty for nowhere)")
	return cmd
}
