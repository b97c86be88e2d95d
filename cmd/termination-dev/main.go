// Command termination-dev runs the whole system on this machine in one
// process: a Temporal server persisting to SQLite under --data-dir, the
// Temporal Web UI on http://localhost:8233, the worker and its status store.
//
//	go run ./cmd/termination-dev [--reopen-window 2m] [--data-dir data] [--port 7233] [--ui-port 8233]
package main

import (
	"context"
	"os"

	"go.uber.org/zap"

	"github.com/cloudmarket/termination-orders/config"
	"github.com/cloudmarket/termination-orders/devserver"
	"github.com/cloudmarket/termination-orders/internal/command"
)

func main() {
	command.Run(command.Options{Name: "termination-dev", Of: config.Dev, ConsoleLogs: true},
		func(ctx context.Context, cfg config.Config, logger *zap.Logger) error {
			return devserver.Run(ctx, cfg, logger, os.Stdout)
		})
}
