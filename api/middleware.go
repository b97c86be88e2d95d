package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/cloudmarket/termination-orders/order"
)

// requestInfo is what the request log says about a request, filled in as it
// is answered. It never holds a token.
type requestInfo struct {
	id      string
	orderID string
	caller  string
	// cause is the error behind a 5xx answer, for the log only: it may
	// name internal addresses, which answers never do.
	cause error
	// sent is set once a POST is sent on to Temporal: from then on, an
	// answer that does not come in time means its outcome is unknown.
	sent atomic.Bool
}

type infoKey struct{}

func infoOf(ctx context.Context) *requestInfo {
	if i, ok := ctx.Value(infoKey{}).(*requestInfo); ok {
		return i
	}
	return &requestInfo{}
}

// instance names one request in problems, as in the logs and X-Request-Id.
func instance(ctx context.Context) string {
	if id := infoOf(ctx).id; id != "" {
		return "urn:uuid:" + id
	}
	return ""
}

// statusRecorder remembers the status code written.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// observe gives each request its ID, and logs and counts it once answered:
// route, status, latency, order ID and caller, never a token.
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		info := &requestInfo{id: uuid.NewString()}
		w.Header().Set("X-Request-Id", info.id)
		rec := &statusRecorder{ResponseWriter: w}
		r = r.WithContext(context.WithValue(r.Context(), infoKey{}, info))
		defer func() {
			if v := recover(); v != nil {
				s.log.Error("HTTP API handler panicked", zap.Any("panic", v), zap.String("requestId", info.id))
				if rec.status == 0 {
					p := newProblem(TypeInternal, http.StatusInternalServerError, "the request failed in this service")
					p.Instance = instance(r.Context())
					writeProblemHTTP(rec, p)
				}
			}
			route := r.Pattern
			if route == "" || route == "/" {
				route = "unmatched"
			}
			elapsed := time.Since(start)
			status := strconv.Itoa(rec.status)
			s.metrics.requests.WithLabelValues(route, r.Method, status).Inc()
			s.metrics.latency.WithLabelValues(route, r.Method).Observe(elapsed.Seconds())
			if info.orderID == "" {
				info.orderID = r.PathValue("orderId")
			}
			fields := []zap.Field{
				zap.String("requestId", info.id), zap.String("method", r.Method), zap.String("route", route),
				zap.Int("status", rec.status), zap.Duration("duration", elapsed),
			}
			if info.orderID != "" {
				fields = append(fields, zap.String("OrderID", info.orderID), zap.String("WorkflowID", order.WorkflowID(info.orderID)))
			}
			if info.caller != "" {
				fields = append(fields, zap.String("caller", info.caller))
			}
			if info.cause != nil {
				fields = append(fields, zap.Error(info.cause))
			}
			if rec.status >= 500 {
				s.log.Warn("HTTP request", fields...)
			} else {
				s.log.Info("HTTP request", fields...)
			}
		}()
		next.ServeHTTP(rec, r)
	})
}

// limitBody refuses a body announced larger than api.max_body_bytes before
// reading it, and cuts off one that turns out larger (huma then answers 413).
func (s *Server) limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > s.cfg.MaxBodyBytes {
			p := newProblem(TypePayloadTooLarge, http.StatusRequestEntityTooLarge,
				"the request body is larger than "+strconv.FormatInt(s.cfg.MaxBodyBytes, 10)+" bytes")
			p.Instance = instance(r.Context())
			w.Header().Set("Connection", "close")
			writeProblemHTTP(w, p)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func writeProblemHTTP(w http.ResponseWriter, p *Problem) {
	p.sealed()
	for k, v := range p.headers {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p) // the client is gone if this fails
}

// writeProblem answers a problem from a huma middleware.
func writeProblem(ctx huma.Context, p *Problem) {
	p.sealed()
	p.Instance = instance(ctx.Context())
	for k, vs := range p.headers {
		for _, v := range vs {
			ctx.AppendHeader(k, v)
		}
	}
	ctx.SetHeader("Content-Type", "application/problem+json")
	ctx.SetStatus(p.Status)
	_ = json.NewEncoder(ctx.BodyWriter()).Encode(p)
}

func writeJSON(w http.ResponseWriter, code int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body)
}

func zapErr(err error) zap.Field { return zap.Error(err) }
