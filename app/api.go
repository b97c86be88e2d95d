package app

import (
	"context"
	"fmt"
	"net"

	"go.temporal.io/sdk/client"
	"go.uber.org/zap"

	"github.com/cloudmarket/termination-orders/api"
	"github.com/cloudmarket/termination-orders/health"
	"github.com/cloudmarket/termination-orders/logging"
	"github.com/cloudmarket/termination-orders/starter"
	"github.com/cloudmarket/termination-orders/store"
)

// APIOption changes how RunAPI builds the server.
type APIOption func(*api.Options)

// CodecWithoutToken is for the dev command only: its Web UI has no login, so
// its codec endpoints take no token. Unless the API listens on a loopback
// address, RunAPI ignores it and logs a warning.
func CodecWithoutToken() APIOption { return func(o *api.Options) { o.CodecWithoutToken = true } }

// RunAPI is the API process: it opens the status store, connects to Temporal
// lazily (so that the messages route answers while Temporal is down), and
// serves on api.listen_address until ctx is cancelled, then shuts down
// gracefully. onListening, if set, is called once it listens.
func (a App) RunAPI(ctx context.Context, logger *zap.Logger, onListening func(addr string), opts ...APIOption) error {
	cfg := a.Config
	st, err := store.Open(ctx, cfg.StoreDSN, store.WithConnectTimeout(cfg.Store.ConnectTimeout))
	if err != nil {
		return err
	}
	defer st.Close()
	copts, err := ClientOptions(cfg.Temporal, a.Codec, logging.ForTemporal(logger))
	if err != nil {
		return err
	}
	c, err := client.NewLazyClient(copts)
	if err != nil {
		return fmt.Errorf("client of Temporal at %s (namespace %s): %w", cfg.Temporal.Address, cfg.Temporal.Namespace, err)
	}
	defer c.Close()
	o := api.Options{
		Orders: a.Orders(c, st), Store: st, Config: a.API, Logger: logger,
		Codec: a.Codec, Namespace: cfg.Temporal.Namespace, CodecOrigins: cfg.Codec.WebUIOrigins,
	}
	for _, opt := range opts {
		opt(&o)
	}
	if o.CodecWithoutToken && !loopback(cfg.API.ListenAddress) {
		logger.Warn("The codec endpoints need a token: the API does not listen on a loopback address, so the Web UI, which has no login here, cannot decode payloads",
			zap.String("listenAddress", cfg.API.ListenAddress))
		o.CodecWithoutToken = false
	}
	srv, err := api.New(ctx, o)
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
		zap.Int("apiKeys", len(a.API.Keys)), zap.String("oidcIssuer", a.API.OIDC.Issuer),
		zap.Strings("corsOrigins", a.API.CORSOrigins), zap.String("store", st.Dialect()),
		zap.String("codecEndpoint", "http://"+l.Addr().String()+api.CodecPath), zap.String("encryption", EncryptionLine(a.Codec)),
		zap.Strings("codecWebUIOrigins", cfg.Codec.WebUIOrigins), zap.Bool("codecWithoutToken", o.CodecWithoutToken))
	if onListening != nil {
		onListening(l.Addr().String())
	}
	return srv.Serve(ctx, l)
}

// CheckAPIReady asks, once, whether the API these settings describe is
// ready, by its /readyz on api.listen_address. It is termination-api's
// --health-check mode. The answer is one line; an error means not ready.
func (a App) CheckAPIReady(ctx context.Context) (string, error) {
	return health.Probe(ctx, a.Config.API.ListenAddress)
}

// Orders is the starter over c: orders on the configured task queue, with
// the unlink SLA the settings give, reading statuses from st (nil: from the
// workflows themselves).
func (a App) Orders(c client.Client, st starter.StatusStore) *starter.Client {
	opts := []starter.Option{starter.WithUnlinkSLA(a.Config.Notify.UnlinkSLA)}
	if st != nil {
		opts = append(opts, starter.WithStatusStore(st))
	}
	return starter.New(c, a.Config.Temporal.TaskQueue, opts...)
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
