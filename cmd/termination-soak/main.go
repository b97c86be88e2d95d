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
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/cloudmarket/termination-orders/soak"
)

func main() {
	if soak.ServeIfAsked() { // this executable, run again as the Temporal server
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fs := pflag.NewFlagSet("termination-soak", pflag.ExitOnError)
	server := fs.String("server", "both", "Temporal server to run on: sqlite, postgres, or both (in sequence)")
	orders := fs.Int("orders", 300, "orders per server, spread over the faults")
	workers := fs.Int("workers", 2, "worker processes (the production binary) at once")
	window := fs.Duration("window", 5*time.Second, "the orders' reopen window (whole seconds)")
	callTimeout := fs.Duration("call-timeout", 30*time.Second, "timeout of every client call")
	outage := fs.Duration("store-outage", 30*time.Second, "how long each cut and each black hole of the status store lasts")
	gap := fs.Duration("gap", 10*time.Second, "quiet time between two faults")
	killEvery := fs.Duration("worker-kill-every", 7*time.Second, "how often a worker process is SIGKILLed")
	drain := fs.Duration("drain", 5*time.Minute, "how long every order may take to finish once the faults end (drivers stop retrying halfway)")
	pg := fs.String("postgres", "", "administrator DSN of the PostgreSQL server for the run's fresh databases (default: TERMINATION_TEST_POSTGRES_DSN, else "+soak.DefaultPostgresDSN+")")
	seed := fs.Uint64("seed", uint64(time.Now().UnixNano()), "random seed (which worker is killed, reopen timing)")
	keep := fs.Bool("keep-logs", false, "keep the Temporal server's and the workers' logs (their directory is printed)")
	out := fs.String("json", "soak-results.json", "where to write the results as JSON (empty for nowhere)")
	_ = fs.Parse(os.Args[1:])

	self, err := os.Executable()
	if err != nil {
		fail(err)
	}
	opts := soak.Options{
		Servers: servers(*server), Orders: *orders, Workers: *workers, Window: *window, CallTimeout: *callTimeout,
		StoreOutage: *outage, Gap: *gap, WorkerKillEvery: *killEvery, Drain: *drain,
		PostgresDSN: postgresDSN(*pg), Self: self, Seed: *seed, KeepLogs: *keep,
	}
	if err := opts.Validate(); err != nil {
		fmt.Fprintln(os.Stderr, "termination-soak:", err)
		os.Exit(2)
	}
	began := time.Now()
	opts.Progress = func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "[%5.1fs] %s\n", time.Since(began).Seconds(), fmt.Sprintf(format, args...))
	}
	opts.Progress("seed %d", *seed)
	r, err := soak.Run(ctx, opts)
	if err != nil {
		fail(err)
	}
	if err := soak.Print(os.Stdout, r); err != nil {
		fail(err)
	}
	if *out != "" {
		body, _ := json.MarshalIndent(r, "", "  ")
		if err := os.WriteFile(*out, append(body, '\n'), 0o644); err != nil {
			fail(err)
		}
		fmt.Fprintf(os.Stderr, "results written to %s (%.0fs in all)\n", *out, time.Since(began).Seconds())
	}
	if !r.Pass {
		fmt.Fprintln(os.Stderr, "termination-soak: targets missed (see the findings)")
		os.Exit(1)
	}
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

func fail(err error) {
	fmt.Fprintln(os.Stderr, "termination-soak:", err)
	os.Exit(1)
}
