// Command termination-dev runs the whole system on this machine in one
// process: a Temporal server persisting to SQLite under --data-dir, the
// Temporal Web UI on http://localhost:8233, the worker and its status store.
//
//	go run ./cmd/termination-dev [--reopen-window 2m] [--data-dir data] [--port 7233] [--ui-port 8233]
package main

import (
	"context"
	"os"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/cloudmarket/termination-orders/app"
	"github.com/cloudmarket/termination-orders/config"
	"github.com/cloudmarket/termination-orders/devserver"
	"github.com/cloudmarket/termination-orders/internal/command"
)

func main() {
	os.Exit(command.Execute(context.Background(), newCommand(), os.Args[1:]))
}

func newCommand() *cobra.Command {
	return command.New(command.Options{
		Name:        "termination-dev",
		Short:       "Run the whole system on this machine: Temporal, its Web UI, the worker and the HTTP API",
		Of:          config.Dev,
		ConsoleLogs: true,
		Run: func(ctx context.Context, a app.App, logger *zap.Logger) error {
			return devserver.Run(ctx, a, logger, os.Stdout)
		},
	})
}
