// Command termination-api serves the HTTP API of termination orders over a
// Temporal service and the status store. It never embeds a Temporal server.
//
//	termination-api [--config termination.yaml] [--api-address 0.0.0.0:8234] ...
//	termination-api --health-check                        # is the running API ready? exit 0 or 1
//	termination-api new-key --name shop-backend --role backend   # a new API key and its entry
//	termination-api new-encryption-key --id 2026-11 >> keys     # a new payload encryption key
package main

import (
	"context"
	"os"

	"go.uber.org/zap"

	"github.com/cloudmarket/termination-orders/api"
	"github.com/cloudmarket/termination-orders/config"
	"github.com/cloudmarket/termination-orders/health"
	"github.com/cloudmarket/termination-orders/internal/command"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "new-key" {
		os.Exit(api.NewKeyCommand(os.Args[2:], os.Stdout, os.Stderr))
	}
	if len(os.Args) > 1 && os.Args[1] == "new-encryption-key" {
		os.Exit(api.NewEncryptionKeyCommand(os.Args[2:], os.Stdout, os.Stderr))
	}
	command.Run(command.Options{
		Name: "termination-api", Of: config.CLI | config.API,
		HealthCheck: func(ctx context.Context, cfg config.Config) (string, error) {
			return health.Probe(ctx, cfg.API.ListenAddress)
		},
	}, func(ctx context.Context, cfg config.Config, logger *zap.Logger) error {
		return api.Run(ctx, cfg, logger, nil)
	})
}
