// Command termination-dev runs the whole system on this machine in one
// process: a Temporal server persisting to SQLite under --data-dir, the
// Temporal Web UI on http://localhost:8233, the worker and its status store.
//
//	go run ./cmd/termination-dev [--reopen-window 2m] [--data-dir data] [--port 7233] [--ui-port 8233]
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/pflag"
	"go.uber.org/zap"

	"github.com/cloudmarket/termination-orders/config"
	"github.com/cloudmarket/termination-orders/devserver"
	"github.com/cloudmarket/termination-orders/logging"
)

func main() {
	fs := pflag.NewFlagSet("termination-dev", pflag.ExitOnError)
	config.RegisterFlags(fs, config.Dev)
	_ = fs.Parse(os.Args[1:]) // ExitOnError: Parse exits on a bad flag
	cfg, err := config.Load(fs, config.Dev)
	if err != nil {
		fmt.Fprintln(os.Stderr, "termination-dev:", err)
		os.Exit(2)
	}
	if !fs.Changed("log-format") && os.Getenv(config.EnvVar("log.format")) == "" {
		cfg.Log.Format = "console" // a person is watching
	}
	logger, err := logging.New(cfg.Log)
	if err != nil {
		fmt.Fprintln(os.Stderr, "termination-dev:", err)
		os.Exit(2)
	}
	defer logger.Sync() //nolint:errcheck // nothing to do if stderr is gone

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := devserver.Run(ctx, cfg, logger, os.Stdout); err != nil {
		logger.Error("Dev system failed", zap.Error(err))
		os.Exit(1)
	}
}
