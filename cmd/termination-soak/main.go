// Command termination-soak drives termination orders through their lives
// while it kills and restarts the worker processes and the Temporal server,
// and cuts and black-holes the status store; then it checks every order and
// prints what was lost, doubled, early, stuck or wrongly answered. It exits 1
// when any of those is not 0.
//
//	go run ./cmd/termination-soak [--server both] [--orders 300] [--workers 2] [--window 5s] [--store-outage 30s] [--json soak-results.json]
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/cloudmarket/termination-orders/internal/command"
	"github.com/cloudmarket/termination-orders/soak"
)

func main() {
	// This executable, run again, is the soak's Temporal server.
	if asked, err := soak.ServeIfAsked(); asked {
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(command.ExitFailure)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := command.Execute(ctx, newCommand(), os.Args[1:])
	stop()
	os.Exit(code)
}

func newCommand() *cobra.Command {
	var (
		opts            soak.Options
		server, pg, out string
	)
	cmd := &cobra.Command{
		Use:   "termination-soak",
		Short: "Drive termination orders through worker, server and store faults, then check every order",
		Args:  command.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			self, err := os.Executable()
			if err != nil {
				return err
			}
			opts.Servers, opts.PostgresDSN, opts.Self = servers(server), postgresDSN(pg), self
			if err := opts.Validate(); err != nil {
				return command.Usage(err)
			}
			began := time.Now()
			progress := cmd.ErrOrStderr()
			opts.Progress = func(format string, args ...any) {
				fmt.Fprintf(progress, "[%5.1fs] %s\n", time.Since(began).Seconds(), fmt.Sprintf(format, args...))
			}
			opts.Progress("seed %d", opts.Seed)
			r, err := soak.Run(cmd.Context(), opts)
			if err != nil {
				return err
			}
			if err := soak.Print(cmd.OutOrStdout(), r); err != nil {
				return err
			}
			if out != "" {
				body, _ := json.MarshalIndent(r, "", "  ")
				if err := os.WriteFile(out, append(body, '\n'), 0o644); err != nil {
					return err
				}
				fmt.Fprintf(progress, "results written to %s (%.0fs in all)\n", out, time.Since(began).Seconds())
			}
			if !r.Pass {
				return errors.New("targets missed (see the findings)")
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&server, "server", "both", "Temporal server to run on: sqlite, postgres, or both (in sequence)")
	f.IntVar(&opts.Orders, "orders", 300, "orders per server, spread over the faults")
	f.IntVar(&opts.Workers, "workers", 2, "worker processes (the production binary) at once")
	f.DurationVar(&opts.Window, "window", 5*time.Second, "the orders' reopen window (whole seconds)")
	f.DurationVar(&opts.CallTimeout, "call-timeout", 30*time.Second, "timeout of every client call")
	f.DurationVar(&opts.StoreOutage, "store-outage", 30*time.Second, "how long each cut and each black hole of the status store lasts")
	f.DurationVar(&opts.Gap, "gap", 10*time.Second, "quiet time between two faults")
	f.DurationVar(&opts.WorkerKillEvery, "worker-kill-every", 7*time.Second, "how often a worker process is SIGKILLed")
	f.DurationVar(&opts.Drain, "drain", 5*time.Minute, "how long every order may take to finish once the faults end (drivers stop retrying halfway)")
	f.StringVar(&pg, "postgres", "", "administrator DSN of the PostgreSQL server for the run's fresh databases (default: TERMINATION_TEST_POSTGRES_DSN, else "+soak.DefaultPostgresDSN+")")
	f.Uint64Var(&opts.Seed, "seed", uint64(time.Now().UnixNano()), "random seed (which worker is killed, reopen timing)")
	f.BoolVar(&opts.KeepLogs, "keep-logs", false, "keep the Temporal server's and the workers' logs (their directory is printed)")
	f.StringVar(&out, "json", "soak-results.json", "where to write the results as JSON (empty for nowhere)")
	return cmd
}

func servers(s string) []string {
	if s == "both" {
		return []string{soak.ServerSQLite, soak.ServerPostgres}
	}
	return strings.Split(s, ",")
}

func postgresDSN(flag string) string {
	if flag != "" {
		return flag
	}
	if env := os.Getenv("TERMINATION_TEST_POSTGRES_DSN"); env != "" {
		return env
	}
	return soak.DefaultPostgresDSN
}
