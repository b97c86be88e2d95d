package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"go.uber.org/zap"
)

// Profiles serves Go's runtime profiles (CPU, heap, goroutines, mutexes) at
// /debug/pprof/ on a listener of its own, apart from /metrics: a profile is
// for an operator on the machine, never for a scraper.
type Profiles struct {
	server *http.Server
	addr   string
}

// StartProfiles serves the profiles on addr (host:port). The handlers go on a
// mux of their own, not on http.DefaultServeMux, so that nothing else in the
// process serves them by accident.
func StartProfiles(addr string, logger *zap.Logger) (*Profiles, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("worker.pprof_address %s is not available: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	p := &Profiles{
		// No write timeout: a CPU profile streams for as many seconds as asked.
		server: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second},
		addr:   l.Addr().String(),
	}
	go func() {
		if err := p.server.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("Profile endpoint stopped", zap.Error(err))
		}
	}()
	return p, nil
}

// URL is the index of the profiles.
func (p *Profiles) URL() string { return "http://" + p.addr + "/debug/pprof/" }

// Close stops serving.
func (p *Profiles) Close(ctx context.Context) error { return p.server.Shutdown(ctx) }
