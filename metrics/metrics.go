// Package metrics exports the worker's metrics for Prometheus: the Temporal
// SDK's own (workflow tasks, activities, polls, requests, latencies) and the
// product's, which the workflow emits through the SDK's replay-safe handler
// (see workflows/metrics.go).
package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/contrib/opentelemetry"
	"go.uber.org/zap"
)

var (
	latencyBuckets    = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}
	unlinkWaitBuckets = []float64{60, 300, 900, 3600, 4 * 3600, 12 * 3600, 86400, 2 * 86400, 4 * 86400, 7 * 86400, 14 * 86400, 30 * 86400}
)

// Exporter serves /metrics and gives the SDK the handler that feeds it.
type Exporter struct {
	// Handler goes into the Temporal client's options.
	Handler  client.MetricsHandler
	provider *sdkmetric.MeterProvider
	server   *http.Server
	mux      *http.ServeMux
	addr     string
}

// Start serves the metrics on addr (host:port) at /metrics.
func Start(addr string, logger *zap.Logger) (*Exporter, error) {
	registry := prometheus.NewRegistry()
	// The process's own figures too: resident memory, live heap, GC.
	registry.MustRegister(
		collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(collectors.MetricsGC)),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	exporter, err := otelprom.New(otelprom.WithRegisterer(registry), otelprom.WithoutScopeInfo())
	if err != nil {
		return nil, fmt.Errorf("metrics exporter: %w", err)
	}
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter),
		// Durations are in seconds: OpenTelemetry's default buckets (up to
		// 10,000) suit milliseconds. SDK latencies are sub-second to a minute;
		// an unlink comes minutes to weeks after the order.
		sdkmetric.WithView(
			sdkmetric.NewView(sdkmetric.Instrument{Name: "temporal_*", Kind: sdkmetric.InstrumentKindHistogram},
				sdkmetric.Stream{Aggregation: sdkmetric.AggregationExplicitBucketHistogram{Boundaries: latencyBuckets}}),
			sdkmetric.NewView(sdkmetric.Instrument{Name: "termination_order_unlink_wait"},
				sdkmetric.Stream{Aggregation: sdkmetric.AggregationExplicitBucketHistogram{Boundaries: unlinkWaitBuckets}}),
		))
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics.listen_address %s is not available: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(registry, promhttp.HandlerOpts{}))
	e := &Exporter{
		Handler: opentelemetry.NewMetricsHandler(opentelemetry.MetricsHandlerOptions{
			Meter:                provider.Meter("termination-orders"),
			UseMonotonicCounters: true,
			OnError:              func(err error) { logger.Warn("Metric not recorded", zap.Error(err)) },
		}),
		provider: provider,
		server:   &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second},
		mux:      mux,
		addr:     l.Addr().String(),
	}
	go func() {
		if err := e.server.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("Metrics endpoint stopped", zap.Error(err))
		}
	}()
	return e, nil
}

// Handle serves h at pattern beside /metrics, on the same listener: the
// worker's health endpoints live there.
func (e *Exporter) Handle(pattern string, h http.Handler) { e.mux.Handle(pattern, h) }

// URL is where Prometheus scrapes.
func (e *Exporter) URL() string { return "http://" + e.addr + "/metrics" }

// Close stops serving.
func (e *Exporter) Close(ctx context.Context) error {
	return errors.Join(e.server.Shutdown(ctx), e.provider.Shutdown(ctx))
}
