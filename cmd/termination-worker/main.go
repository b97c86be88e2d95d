// Command termination-worker runs the termination order worker against a
// Temporal service. It never embeds a Temporal server.
//
//	termination-worker [--config termination.yaml] [--temporal-address host:7233] ...
//	termination-worker --health-check   # is the running worker ready? exit 0 or 1
package main

import (
	"context"
	"os"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/cloudmarket/termination-orders/app"
	"github.com/cloudmarket/termination-orders/config"
	"github.com/cloudmarket/termination-orders/internal/command"
)

func main() {
	os.Exit(command.Execute(context.Background(), newCommand(), os.Args[1:]))
}

func newCommand() *cobra.Command {
	return command.New(command.Options{
		Name:  "termination-worker",
		Short: "Run the termination order worker against a Temporal service",
		Of:    config.Worker,
		HealthCheck: func(ctx context.Context, a app.App) (string, error) {
			return a.CheckWorkerReady(ctx)
		},
		Run: func(ctx context.Context, a app.App, logger *zap.Logger) error {
			return a.RunWorker(ctx, logger)
		},
	})
}
