package api

import (
	"context"
	"fmt"
	"net"

	"go.temporal.io/sdk/client"
	"go.uber.org/zap"

	"github.com/cloudmarket/termination-orders/config"
	"github.com/cloudmarket/termination-orders/logging"
	"github.com/cloudmarket/termination-orders/starter"
	"github.com/cloudmarket/termination-orders/store"
)

// Run is the API process: it opens the status store, connects to Temporal
// lazily (so that the messages route answers while Temporal is down), and
// serves on api.listen_address until ctx is cancelled, then shuts down
// gracefully. onListening, if set, is called once it listens.
func Run(ctx context.Context, cfg config.Config, logger *zap.Logger, onListening func(addr string)) error {
	st, err := store.Open(ctx, cfg.StoreDSN, store.WithConnectTimeout(cfg.Store.ConnectTimeout))
	if err != nil {
		return err
	}
	defer st.Close()
	opts, err := cfg.Temporal.ClientOptions(logging.ForTemporal(logger))
	if err != nil {
		return err
	}
	c, err := client.NewLazyClient(opts)
	if err != nil {
		return fmt.Errorf("client of Temporal at %s (namespace %s): %w", cfg.Temporal.Address, cfg.Temporal.Namespace, err)
	}
	defer c.Close()
	srv, err := New(ctx, Options{Orders: starter.New(c, cfg.Temporal.TaskQueue, starter.WithUnlinkSLA(cfg.Notify.Policy.UnlinkSLA)), Store: st, Config: cfg.API, Logger: logger})
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", cfg.API.ListenAddress)
	if err != nil {
		return fmt.Errorf("api.listen_address %s: %w", cfg.API.ListenAddress, err)
	}
	logger.Info("HTTP API listening",
		zap.String("url", "http://"+l.Addr().String()),
		zap.String("temporalAddress", cfg.Temporal.Address), zap.String("namespace", cfg.Temporal.Namespace),
		zap.Int("apiKeys", len(cfg.API.Keys)), zap.String("oidcIssuer", cfg.API.OIDC.Issuer),
		zap.Strings("corsOrigins", cfg.API.CORSOrigins), zap.String("store", st.Dialect()))
	if onListening != nil {
		onListening(l.Addr().String())
	}
	return srv.Serve(ctx, l)
}
