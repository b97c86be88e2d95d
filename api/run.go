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

// Option changes how Run builds the server.
type Option func(*Options)

// CodecWithoutToken is for the dev command only: its Web UI has no login, so
// its codec endpoints take no token. Unless the API listens on a loopback
// address, Run ignores it and logs a warning.
func CodecWithoutToken() Option { return func(o *Options) { o.CodecWithoutToken = true } }

// Run is the API process: it opens the status store, connects to Temporal
// lazily (so that the messages route answers while Temporal is down), and
// serves on api.listen_address until ctx is cancelled, then shuts down
// gracefully. onListening, if set, is called once it listens.
func Run(ctx context.Context, cfg config.Config, logger *zap.Logger, onListening func(addr string), opts ...Option) error {
	st, err := store.Open(ctx, cfg.StoreDSN, store.WithConnectTimeout(cfg.Store.ConnectTimeout))
	if err != nil {
		return err
	}
	defer st.Close()
	copts, err := cfg.Temporal.ClientOptions(logging.ForTemporal(logger))
	if err != nil {
		return err
	}
	c, err := client.NewLazyClient(copts)
	if err != nil {
		return fmt.Errorf("client of Temporal at %s (namespace %s): %w", cfg.Temporal.Address, cfg.Temporal.Namespace, err)
	}
	defer c.Close()
	o := Options{
		Orders: starter.New(c, cfg.Temporal.TaskQueue, starter.WithUnlinkSLA(cfg.Notify.Policy.UnlinkSLA)), Store: st, Config: cfg.API, Logger: logger,
		Codec: cfg.Temporal.Codec(), Namespace: cfg.Temporal.Namespace, CodecOrigins: cfg.Codec.WebUIOrigins,
	}
	for _, opt := range opts {
		opt(&o)
	}
	if o.CodecWithoutToken && !loopback(cfg.API.ListenAddress) {
		logger.Warn("The codec endpoints need a token: the API does not listen on a loopback address, so the Web UI, which has no login here, cannot decode payloads",
			zap.String("listenAddress", cfg.API.ListenAddress))
		o.CodecWithoutToken = false
	}
	srv, err := New(ctx, o)
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
		zap.Strings("corsOrigins", cfg.API.CORSOrigins), zap.String("store", st.Dialect()),
		zap.String("codecEndpoint", "http://"+l.Addr().String()+CodecPath), zap.String("encryption", cfg.Temporal.EncryptionLine()),
		zap.Strings("codecWebUIOrigins", cfg.Codec.WebUIOrigins), zap.Bool("codecWithoutToken", o.CodecWithoutToken))
	if onListening != nil {
		onListening(l.Addr().String())
	}
	return srv.Serve(ctx, l)
}

// loopback reports whether a host:port listens only on this machine.
func loopback(hostPort string) bool {
	host, _, err := net.SplitHostPort(hostPort)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
