package worker

import (
	"context"
	"errors"
	"time"

	"github.com/cloudmarket/termination-orders/config"
	"github.com/cloudmarket/termination-orders/health"
)

// CheckReadyTimeout bounds CheckReady: longer than /readyz's own ping of the
// store, so that its answer arrives. A container health check's timeout must
// exceed it.
const CheckReadyTimeout = health.DefaultPingTimeout + 3*time.Second

// CheckReady asks, once, whether the worker these settings describe is ready:
// it reads the /readyz the worker serves on metrics.listen_address, on this
// machine. It is the command's --health-check mode, for images without curl.
// The answer is one line; an error means not ready.
func CheckReady(ctx context.Context, cfg config.Config) (string, error) {
	if cfg.MetricsAddress == "" {
		return "", errors.New("metrics.listen_address is empty, so the worker serves no /readyz to check")
	}
	ctx, cancel := context.WithTimeout(ctx, CheckReadyTimeout)
	defer cancel()
	return health.Probe(ctx, cfg.MetricsAddress)
}
