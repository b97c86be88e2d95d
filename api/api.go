// Package api is the HTTP API of termination orders, over the starter: the
// same validation and the same answers as Go callers get, for backends in any
// language, Operations' tools and the order details page.
//
// Routes are in routes.go, authentication and roles in auth.go, and the
// mapping from errors to RFC 9457 problem types in problems.go. The OpenAPI
// 3.1 document is derived from the code (huma) and served at
// /v1/openapi.json; openapi.json beside this file is a committed copy.
package api

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/cors"
	"go.uber.org/zap"

	"github.com/cloudmarket/termination-orders/codec"
	"github.com/cloudmarket/termination-orders/health"
	"github.com/cloudmarket/termination-orders/starter"
	"github.com/cloudmarket/termination-orders/store"
)

// Version is the API's version in its OpenAPI document.
const Version = "1.0.0"

// Options are what a server is built from.
type Options struct {
	// Orders drives the orders.
	Orders *starter.Client
	// Store is the status store: the messages route reads it, and it keeps
	// the idempotency keys.
	Store  *store.Store
	Config Config
	Logger *zap.Logger
	// Codec serves /codec/encode and /codec/decode with the keys of
	// Namespace; nil serves no codec endpoints.
	Codec     *codec.Codec
	Namespace string
	// CodecOrigins are the Web UI's origins, allowed to call the codec
	// endpoints from a browser.
	CodecOrigins []string
	// CodecWithoutToken lets the codec endpoints answer without a token:
	// only for the dev command, whose Web UI has no login to pass one, and
	// only on a loopback address.
	CodecWithoutToken bool
}

// Config is how the server answers: who may call it, from which origins,
// and its limits.
type Config struct {
	// Keys are the API keys callers may present as bearer tokens.
	Keys []Key
	// OIDC, when its issuer is set, accepts JWTs from that provider.
	OIDC OIDC
	// CORSOrigins are the browser origins allowed to call the API; none
	// means no cross-origin access at all.
	CORSOrigins []string
	// MaxBodyBytes bounds a request body; larger ones are refused with 413.
	MaxBodyBytes int64
	// IdempotencyKeyTTL is how long an Idempotency-Key is remembered with
	// the request it came with.
	IdempotencyKeyTTL time.Duration
	// RequestTimeout bounds each request: it is answered within it, whatever
	// the status store or Temporal do (503 unavailable or 504
	// outcome-unknown when they do not answer in time).
	RequestTimeout time.Duration
	// ReadTimeout, WriteTimeout and IdleTimeout are the HTTP server's.
	ReadTimeout  time.Duration
	WriteTimeout time.Duration
	IdleTimeout  time.Duration
	// ShutdownTimeout is how long a stopping server lets requests finish.
	ShutdownTimeout time.Duration
}

// OIDC is the OpenID Connect provider whose JWTs the API accepts.
type OIDC struct {
	// Issuer is the provider's issuer URL, as in its tokens' iss claim.
	Issuer string
	// Audience must be among the token's aud claim.
	Audience string
	// JWKSURL is where the provider's signing keys are; empty means the
	// jwks_uri of the issuer's discovery document.
	JWKSURL string
	// RoleClaim names the claim that holds the caller's role (a string, or
	// an array holding exactly one role).
	RoleClaim string
}

// Server is the API: its Handler serves every route.
type Server struct {
	orders  *starter.Client
	store   *store.Store
	cfg     Config
	log     *zap.Logger
	auth    *authenticator
	api     huma.API
	handler http.Handler
	metrics *httpMetrics
	now     func() time.Time
	flights flights
	// route names the route of a request, for the log and metrics of one
	// answered by the deadline.
	route func(*http.Request) string

	codec             *codec.Codec
	namespace         string
	codecWithoutToken bool
}

// New builds the API. ctx bounds the background fetches of the OIDC
// provider's keys, so it must live as long as the server.
func New(ctx context.Context, opts Options) (*Server, error) {
	useProblems()
	auth, err := newAuthenticator(ctx, opts.Config, opts.Logger)
	if err != nil {
		return nil, err
	}
	s := &Server{
		orders: opts.Orders, store: opts.Store, cfg: opts.Config, log: opts.Logger, auth: auth,
		metrics: newHTTPMetrics(), now: time.Now,
		codec: opts.Codec, namespace: opts.Namespace, codecWithoutToken: opts.CodecWithoutToken,
	}
	mux := http.NewServeMux()
	s.api = humago.New(mux, humaConfig())
	s.api.UseMiddleware(s.authorize)
	s.routes(s.api)
	documentEdges(s.api.OpenAPI())

	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]bool{"alive": true})
	})
	mux.HandleFunc("GET /readyz", s.ready)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		p := newProblem(TypeNotFound, http.StatusNotFound, "no route "+r.Method+" "+r.URL.Path+"; see /v1/openapi.json")
		p.Instance = instance(r.Context())
		writeProblemHTTP(w, p)
	})

	h := s.openAPI30(methodsOnly(mux, "/"))
	if len(opts.Config.CORSOrigins) > 0 {
		h = cors.New(cors.Options{
			AllowedOrigins: opts.Config.CORSOrigins,
			AllowedMethods: []string{http.MethodGet, http.MethodPost},
			AllowedHeaders: []string{"Authorization", "Content-Type", "Idempotency-Key", "X-Request-Id"},
			ExposedHeaders: []string{"Location", "X-Request-Id", "Retry-After"},
			MaxAge:         600,
		}).Handler(h)
	}
	h = s.limitBody(s.limitChunkedBody(h))
	h = s.checkQuery(h)
	codecMux := http.NewServeMux()
	if opts.Codec != nil {
		// The codec endpoints have their own origins (the Web UI's, not the
		// order pages') and their own body limit.
		codecMux.Handle("POST "+CodecPath+"/encode", s.codecEndpoint("encode"))
		codecMux.Handle("POST "+CodecPath+"/decode", s.codecEndpoint("decode"))
		codecMux.Handle(CodecPath+"/", mux) // the 404 problem
		ch := methodsOnly(codecMux, CodecPath+"/")
		if len(opts.CodecOrigins) > 0 {
			ch = cors.New(cors.Options{
				AllowedOrigins: opts.CodecOrigins,
				AllowedMethods: []string{http.MethodPost},
				AllowedHeaders: []string{"Authorization", "Content-Type", "X-Namespace"},
				ExposedHeaders: []string{"X-Request-Id"},
				MaxAge:         600,
			}).Handler(ch)
		}
		top := http.NewServeMux()
		top.Handle(CodecPath+"/", ch)
		top.Handle("/", h)
		h = top
	}
	s.route = func(r *http.Request) string {
		_, pattern := mux.Handler(r)
		if opts.Codec != nil && strings.HasPrefix(r.URL.Path, CodecPath+"/") {
			_, pattern = codecMux.Handler(r)
		}
		return pattern
	}
	s.handler = s.observe(cleanPathsOnly(s.answerWithin(h)))
	return s, nil
}

func humaConfig() huma.Config {
	cfg := huma.DefaultConfig("Termination orders API", Version)
	cfg.Info.Description = "Start and drive AWS account termination orders. Every error is an RFC 9457 problem (application/problem+json) whose type URI says which case it is."
	cfg.OpenAPIPath = openAPIPath
	cfg.DocsPath = ""
	cfg.SchemasPath = ""
	cfg.CreateHooks = nil // no $schema links in the answers
	describeService(&cfg)
	cfg.Formats = map[string]huma.Format{"application/json": huma.DefaultJSONFormat, "json": huma.DefaultJSONFormat}
	cfg.Components.SecuritySchemes = map[string]*huma.SecurityScheme{
		securityScheme: {
			Type: "http", Scheme: "bearer",
			Description: "An API key (see termination-api new-key) or a JWT of the configured OIDC provider. Roles: backend (start, reopen, cancel, read), operations (unlink, read, list), reader (read, list).",
		},
	}
	cfg.Transformers = append(cfg.Transformers, func(ctx huma.Context, _ string, v any) (any, error) {
		if p, ok := v.(*Problem); ok {
			p.Instance = instance(ctx.Context())
			if p.cause != nil {
				infoOf(ctx.Context()).cause = p.cause
			}
			p.sealed()
		}
		return v, nil
	})
	return cfg
}

// Handler serves the API.
func (s *Server) Handler() http.Handler { return s.handler }

// OpenAPI is the API's OpenAPI document.
func (s *Server) OpenAPI() *huma.OpenAPI { return s.api.OpenAPI() }

// ready is /readyz: Temporal and the status store answer.
func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), health.DefaultPingTimeout)
	defer cancel()
	report := health.Report{Ready: true, Checks: map[string]health.Check{}}
	for name, ping := range map[string]func(context.Context) error{"temporal": s.orders.Ping, "store": s.store.Ping} {
		c := health.Check{Ready: true, Detail: "answered"}
		if err := ping(ctx); err != nil {
			// /readyz answers without a token: where the dependency is
			// stays in the log.
			c = health.Check{Detail: "did not answer within " + health.DefaultPingTimeout.String()}
			if ctx.Err() == nil {
				c.Detail = "refused or failed"
			}
			report.Ready = false
			s.log.Warn("Not ready: a dependency did not answer", zap.String("dependency", name), zap.Error(err))
		}
		report.Checks[name] = c
	}
	code := http.StatusOK
	if !report.Ready {
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, report)
}

// Serve answers on l until ctx is cancelled, then stops taking requests and
// lets running ones finish within api.shutdown_timeout.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: min(s.cfg.ReadTimeout, 5*time.Second),
		ReadTimeout:       s.cfg.ReadTimeout,
		WriteTimeout:      s.cfg.WriteTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		ErrorLog:          zap.NewStdLog(s.log.Named("http")),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	select {
	case err := <-served:
		return fmt.Errorf("HTTP API on %s: %w", l.Addr(), err)
	case <-ctx.Done():
	}
	s.log.Info("HTTP API stopping: no new requests, running ones may finish", zap.Duration("shutdownTimeout", s.cfg.ShutdownTimeout))
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(stopCtx); err != nil {
		_ = srv.Close()
		return fmt.Errorf("HTTP API shutdown: %w", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// httpMetrics are the API's Prometheus metrics.
type httpMetrics struct {
	registry *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

func newHTTPMetrics() *httpMetrics {
	m := &httpMetrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "termination_api_requests_total",
			Help: "HTTP requests answered, by route, method and status code.",
		}, []string{"route", "method", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "termination_api_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by route and method.",
			Buckets: []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
		}, []string{"route", "method"}),
	}
	m.registry.MustRegister(m.requests, m.latency,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}
