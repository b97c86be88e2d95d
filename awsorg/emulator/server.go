package emulator

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// Server is an emulator serving HTTP on a TCP address.
type Server struct {
	*Emulator
	// URL is the endpoint to give the SDK (awsorg.Settings.Endpoint and
	// STSEndpoint): http://host:port.
	URL string

	srv  *http.Server
	done chan error
}

// Start serves a new emulator of cfg on addr (host:port; port 0 for any
// free one) until Close.
func Start(addr string, cfg Config) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("aws organizations emulator: listen on %s: %w", addr, err)
	}
	s := &Server{
		Emulator: New(cfg),
		URL:      "http://" + ln.Addr().String(),
		done:     make(chan error, 1),
	}
	s.srv = &http.Server{Handler: s.Emulator, ReadHeaderTimeout: 10 * time.Second}
	go func() { s.done <- s.srv.Serve(ln) }()
	return s, nil
}

// Close stops serving, letting calls in flight finish for up to ctx.
func (s *Server) Close(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if serveErr := <-s.done; !errors.Is(serveErr, http.ErrServerClosed) {
		return errors.Join(err, serveErr)
	}
	return err
}
