// Command termination-worker runs the termination order worker against a
// Temporal service. It never embeds a Temporal server.
//
//	termination-worker [--config termination.yaml] [--temporal-address host:7233] ...
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
	"github.com/cloudmarket/termination-orders/logging"
	"github.com/cloudmarket/termination-orders/worker"
)

func main() {
	fs := pflag.NewFlagSet("termination-worker", pflag.ExitOnError)
	config.RegisterFlags(fs, config.Worker)
	_ = fs.Parse(os.Args[1:]) // ExitOnError: Parse exits on a bad flag
	cfg, err := config.Load(fs, config.Worker)
	if err != nil {
		fmt.Fprintln(os.Stderr, "termination-worker:", err)
		os.Exit(2)
	}
	logger, err := logging.New(cfg.Log)
	if err != nil {
		fmt.Fprintln(os.Stderr, "termination-worker:", err)
		os.Exit(2)
	}
	defer logger.Sync() //nolint:errcheck // nothing to do if stderr is gone

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := worker.Run(ctx, cfg, logger); err != nil {
		logger.Error("Worker failed", zap.Error(err))
		os.Exit(1)
	}
}
