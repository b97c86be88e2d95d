package api

import (
	"fmt"
	"net/http"
	"path"
	"strings"

	"github.com/danielgtaylor/huma/v2"
)

// This file answers, as problems, what http.ServeMux would otherwise answer
// its own way: a path that is not clean (ServeMux redirects it with a 307
// and an HTML body), HEAD (ServeMux serves every GET route to it) and a
// method a path has no route for. What Go's HTTP server answers before any
// handler runs (a malformed request line or header, 431 for headers over
// the limit, OPTIONS *) stays as the server writes it.

// routeMethods are the methods any route of the API is registered for.
var routeMethods = []string{http.MethodGet, http.MethodPost}

// cleanPathsOnly answers 404 for a path with '.' or '..' segments or an
// empty one ('//'): it names no route as sent, and the API never redirects
// to a path of its own choosing.
func cleanPathsOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.Path; !isCleanPath(p) {
			answerProblem(w, r, newProblem(TypeNotFound, http.StatusNotFound,
				fmt.Sprintf("no route for path %q: paths are taken as sent, never cleaned of '.', '..' or empty segments; see /v1/openapi.json", p)))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func isCleanPath(p string) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	clean := path.Clean(p)
	if strings.HasSuffix(p, "/") && clean != "/" {
		clean += "/"
	}
	return clean == p
}

// methodsOnly answers 405, with Allow, a request whose path has routes on
// mux but none for its method, and every HEAD. catchAll is the mux's
// pattern for requests no route takes.
func methodsOnly(mux *http.ServeMux, catchAll string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead || !routed(mux, r, r.Method, catchAll) {
			var allowed []string
			for _, m := range routeMethods {
				if routed(mux, r, m, catchAll) {
					allowed = append(allowed, m)
				}
			}
			if len(allowed) > 0 {
				p := newProblem(TypeMethodNotAllowed, http.StatusMethodNotAllowed,
					fmt.Sprintf("%s is not a method of %s; it takes %s", r.Method, r.URL.Path, strings.Join(allowed, ", ")))
				p.headers.Set("Allow", strings.Join(allowed, ", "))
				answerProblem(w, r, p)
				return
			}
		}
		mux.ServeHTTP(w, r)
	})
}

// routed reports whether mux has a route for the request's path with method.
func routed(mux *http.ServeMux, r *http.Request, method, catchAll string) bool {
	probe := *r
	probe.Method = method
	_, pattern := mux.Handler(&probe)
	return pattern != "" && pattern != catchAll
}

func answerProblem(w http.ResponseWriter, r *http.Request, p *Problem) {
	p.Instance = instance(r.Context())
	writeProblemHTTP(w, p)
}

// Names of the responses every route may give besides its own, in the
// OpenAPI document's components.
const (
	// ResponseNotFound is a path that names no route.
	ResponseNotFound = "NotFound"
	// ResponseMethodNotAllowed is a method a path has no route for, or HEAD.
	ResponseMethodNotAllowed = "MethodNotAllowed"
	// ResponseUnavailable is the status store or Temporal not answering.
	ResponseUnavailable = "Unavailable"
	// ResponseOutcomeUnknown is a POST that got no answer within api.request_timeout.
	ResponseOutcomeUnknown = "OutcomeUnknown"
)

// documentEdges writes into the OpenAPI document the answers that no single
// operation declares (unknown paths and methods) and the ones every
// operation shares: 503 with its Retry-After, and 504.
func documentEdges(doc *huma.OpenAPI) {
	problem := func(description string, headers map[string]*huma.Param) *huma.Response {
		return &huma.Response{
			Description: description,
			Headers:     headers,
			Content: map[string]*huma.MediaType{
				"application/problem+json": {Schema: &huma.Schema{Ref: "#/components/schemas/Problem"}},
			},
		}
	}
	retryAfter := &huma.Param{
		Description: "Seconds to wait before asking again.", Required: true,
		Schema: &huma.Schema{Type: huma.TypeInteger, Minimum: ptr(0.0)},
	}
	if doc.Components.Responses == nil {
		doc.Components.Responses = map[string]*huma.Response{}
	}
	doc.Components.Responses[ResponseNotFound] = problem(
		"not-found: the path names no route (paths are taken as sent, never cleaned or redirected).", nil)
	doc.Components.Responses[ResponseMethodNotAllowed] = problem(
		"method-not-allowed: the path has no route for this method; HEAD is never served. Allow lists the methods it takes.",
		map[string]*huma.Param{"Allow": {Description: "The methods of the path.", Required: true, Schema: &huma.Schema{Type: huma.TypeString}}})
	doc.Components.Responses[ResponseUnavailable] = problem(
		"unavailable: the status store or Temporal did not answer in time (every request is answered within api.request_timeout), "+
			"or Temporal failed with a fault of its own; nothing was changed. Ask again after Retry-After seconds.",
		map[string]*huma.Param{"Retry-After": retryAfter})
	doc.Components.Responses[ResponseOutcomeUnknown] = problem(
		"outcome-unknown: no answer within api.request_timeout; the request may or may not have been applied. "+
			"Send it again with the same Idempotency-Key (requestId names it) for its original answer.", nil)

	// Every operation's 503 and 504 are these.
	for _, item := range doc.Paths {
		for _, op := range []*huma.Operation{item.Get, item.Post} {
			if op == nil {
				continue
			}
			for status, name := range map[string]string{"503": ResponseUnavailable, "504": ResponseOutcomeUnknown} {
				if _, ok := op.Responses[status]; ok {
					op.Responses[status] = &huma.Response{Ref: "#/components/responses/" + name}
				}
			}
		}
	}
}

func ptr[T any](v T) *T { return &v }

// bodyUnreadable reports the huma error of a body that ended before its
// Content-Length or was cut off: the request's fault, not the server's.
func bodyUnreadable(status int, msg string) bool {
	return status == http.StatusInternalServerError && msg == "cannot read request body" ||
		status == http.StatusRequestTimeout
}
