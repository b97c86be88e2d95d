// Command termination-worker runs the termination order worker against a
// Temporal service. It never embeds a Temporal server.
//
//	termination-worker [--config termination.yaml] [--temporal-address host:7233] ...
//	termination-worker --health-check   # is the running worker ready? exit 0 or 1
package main

import (
	"context"

	"go.uber.org/zap"

	"github.com/cloudmarket/termination-orders/config"
	"github.com/cloudmarket/termination-orders/internal/command"
	"github.com/cloudmarket/termination-orders/worker"
)

func main() {
	command.Run(command.Options{Name: "termination-worker", Of: config.Worker, HealthCheck: worker.CheckReady},
		func(ctx context.Context, cfg config.Config, logger *zap.Logger) error {
			return worker.Run(ctx, cfg, logger)
		})
}
