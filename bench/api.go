package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/cloudmarket/termination-orders/api"
	"github.com/cloudmarket/termination-orders/order"
)

// APILatency compares one call made through the HTTP API with the same call
// made through the Go starter, on the same run.
type APILatency struct {
	Go   Percentiles `json:"go"`
	HTTP Percentiles `json:"http"`
}

// apiClient calls the HTTP API as a backend in another language would.
type apiClient struct {
	base               string
	backend, operation string
	http               *http.Client
}

// startAPI serves the HTTP API (package api, as termination-api does) over
// the benchmark's starter and store, with one key for the backend and one
// for Operations.
func (b *bench) startAPI(ctx context.Context) (*apiClient, func(), error) {
	backendKey, backendEntry, err := api.NewKey("bench-backend", api.RoleBackend)
	if err != nil {
		return nil, nil, err
	}
	opsKey, opsEntry, err := api.NewKey("bench-operations", api.RoleOperations)
	if err != nil {
		return nil, nil, err
	}
	var keys []api.Key
	for _, entry := range []string{backendEntry, opsEntry} {
		k, err := api.ParseKey(entry)
		if err != nil {
			return nil, nil, err
		}
		keys = append(keys, k)
	}
	srv, err := api.New(ctx, api.Options{Orders: b.orders, Store: b.st, Logger: zap.NewNop(), Config: api.Config{
		Keys: keys, MaxBodyBytes: 64 << 10, IdempotencyKeyTTL: time.Hour, RequestTimeout: 30 * time.Second,
		ReadTimeout: 15 * time.Second, WriteTimeout: 45 * time.Second, IdleTimeout: 2 * time.Minute, ShutdownTimeout: 5 * time.Second,
	}})
	if err != nil {
		return nil, nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	c := &apiClient{base: "http://" + ln.Addr().String(), backend: backendKey, operation: opsKey, http: &http.Client{Timeout: time.Minute}}
	return c, func() { _ = hs.Close() }, nil
}

// call sends one request and checks its status.
func (c *apiClient) call(ctx context.Context, method, path, token string, body any, want int) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: HTTP %d, want %d: %s", method, path, resp.StatusCode, want, got)
	}
	return nil
}

// apiRun measures start, status and unlink through the HTTP API and through
// the Go starter, one order of each at a time, alternating, so both see the
// same server. The difference is the API's own cost: HTTP, authentication,
// decoding and its idempotency record.
func (b *bench) apiRun(ctx context.Context, r *Results, n int) error {
	c, stop, err := b.startAPI(ctx)
	if err != nil {
		return err
	}
	defer stop()
	var goStart, goStatus, goUnlink, httpStart, httpStatus, httpUnlink []time.Duration
	unlink := order.UnlinkCompleted{CompletedBy: "bench", Reference: "BENCH"}
	timed := func(dst *[]time.Duration, f func() error) error {
		t := time.Now()
		if err := f(); err != nil {
			return err
		}
		*dst = append(*dst, time.Since(t))
		return nil
	}
	for range n {
		o := b.newOrder("APIGO", time.Hour)
		steps := []struct {
			dst *[]time.Duration
			f   func() error
		}{
			{&goStart, func() error { _, err := b.orders.Start(ctx, o); return err }},
			{nil, func() error { return b.waitForFirstTask(ctx, order.WorkflowID(o.OrderID)) }},
			{&goStatus, func() error { _, err := b.orders.Status(ctx, o.OrderID); return err }},
			{&goUnlink, func() error { _, err := b.orders.ConfirmUnlink(ctx, o.OrderID, unlink); return err }},
		}
		h := b.newOrder("APIHTTP", time.Hour)
		steps = append(steps, []struct {
			dst *[]time.Duration
			f   func() error
		}{
			{&httpStart, func() error { return c.call(ctx, http.MethodPost, "/v1/orders", c.backend, h, http.StatusCreated) }},
			{nil, func() error { return b.waitForFirstTask(ctx, order.WorkflowID(h.OrderID)) }},
			{&httpStatus, func() error {
				return c.call(ctx, http.MethodGet, "/v1/orders/"+h.OrderID, c.backend, nil, http.StatusOK)
			}},
			{&httpUnlink, func() error {
				return c.call(ctx, http.MethodPost, "/v1/orders/"+h.OrderID+"/unlink", c.operation, unlink, http.StatusOK)
			}},
		}...)
		for _, s := range steps {
			var err error
			if s.dst == nil {
				err = s.f()
			} else {
				err = timed(s.dst, s.f)
			}
			if err != nil {
				return fmt.Errorf("API phase: %w", err)
			}
		}
	}
	r.API.Start = APILatency{Go: percentiles(goStart), HTTP: percentiles(httpStart)}
	r.API.Status = APILatency{Go: percentiles(goStatus), HTTP: percentiles(httpStatus)}
	r.API.Unlink = APILatency{Go: percentiles(goUnlink), HTTP: percentiles(httpUnlink)}
	return nil
}
