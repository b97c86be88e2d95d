package api

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"net/http"
	"sync"
	"time"
)

// Every request is answered within api.request_timeout, whatever the status
// store or Temporal do: its handler runs with a deadline a little before
// that (its own answer, 503 or 504, names what did not answer), and should
// something not heed the deadline (a connection that accepts and never
// answers, a driver blocked on a lock), the answer is written anyway when
// the time is up and the handler's is dropped.

// deadlineReserve is the part of api.request_timeout kept for writing the
// answer after the handler's deadline: a tenth, at most a second.
func deadlineReserve(timeout time.Duration) time.Duration {
	return min(timeout/10, time.Second)
}

// answerWithin runs next with the request's deadline and answers for it when
// it does not return in time.
func (s *Server) answerWithin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		timeout := s.cfg.RequestTimeout
		if timeout <= 0 {
			next.ServeHTTP(w, r)
			return
		}
		// The handler fills in a request log entry of its own, taken over
		// once it returns: after the deadline it may still be writing.
		outer := infoOf(r.Context())
		info := &requestInfo{id: outer.id}
		ctx, cancel := context.WithTimeout(context.WithValue(r.Context(), infoKey{}, info), timeout-deadlineReserve(timeout))
		defer cancel()
		inner := r.WithContext(ctx)
		held := &heldAnswer{w: w, header: http.Header{}}
		done := make(chan any, 1)
		go func() {
			defer func() { done <- recover() }()
			next.ServeHTTP(held, inner)
		}()
		late := time.NewTimer(timeout)
		defer late.Stop()
		select {
		case v := <-done:
			r.Pattern = inner.Pattern
			outer.orderID, outer.caller, outer.cause = info.orderID, info.caller, info.cause
			if outer.orderID == "" {
				outer.orderID = inner.PathValue("orderId")
			}
			if v != nil {
				panic(v) // observe answers and logs it
			}
			held.release(w)
		case <-late.C:
			held.drop()
			if s.route != nil {
				r.Pattern = s.route(r)
			}
			answerProblem(w, r, lateProblem(r, info.sent.Load(), timeout))
		}
	})
}

// lateProblem is the answer to a request whose handler did not return
// within timeout: a read, or a POST held before it reached Temporal (by the
// status store, say), changed nothing and may be asked again; a POST sent
// on may or may not have been applied, and its Idempotency-Key gets its
// original answer.
func lateProblem(r *http.Request, sent bool, timeout time.Duration) *Problem {
	if r.Method != http.MethodPost || !sent {
		p := newProblem(TypeUnavailable, http.StatusServiceUnavailable,
			fmt.Sprintf("the status store or Temporal did not answer within %s; nothing was changed, ask again", timeout))
		p.headers.Set("Retry-After", "5")
		return p
	}
	key := r.Header.Get("Idempotency-Key")
	if key == "" || checkKey(key) != nil {
		return newProblem(TypeOutcomeUnknown, http.StatusGatewayTimeout,
			fmt.Sprintf("no answer came within %s; the request may or may not have been applied: read the order, or send the request again "+
				"(with an Idempotency-Key, a retry returns the original answer)", timeout))
	}
	p := newProblem(TypeOutcomeUnknown, http.StatusGatewayTimeout,
		fmt.Sprintf("no answer came within %s; the request may or may not have been applied: "+
			"read the order, or send the request again with Idempotency-Key %s, which returns its original answer", timeout, key))
	p.RequestID = key
	return p
}

// heldAnswer keeps a handler's answer until it is released to the client,
// or dropped when the deadline answered first.
type heldAnswer struct {
	// w is the client's writer, reached only through Unwrap (huma sets the
	// body's read deadline through it).
	w       http.ResponseWriter
	mu      sync.Mutex
	header  http.Header
	status  int
	body    bytes.Buffer
	dropped bool
}

func (a *heldAnswer) Header() http.Header { return a.header }

func (a *heldAnswer) Unwrap() http.ResponseWriter { return a.w }

func (a *heldAnswer) WriteHeader(status int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.status == 0 {
		a.status = status
	}
}

func (a *heldAnswer) Write(b []byte) (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.dropped {
		return 0, http.ErrHandlerTimeout
	}
	if a.status == 0 {
		a.status = http.StatusOK
	}
	return a.body.Write(b)
}

func (a *heldAnswer) release(w http.ResponseWriter) {
	a.mu.Lock()
	defer a.mu.Unlock()
	maps.Copy(w.Header(), a.header)
	if a.status == 0 {
		a.status = http.StatusOK
	}
	w.WriteHeader(a.status)
	_, _ = w.Write(a.body.Bytes()) // the client is gone if this fails
}

func (a *heldAnswer) drop() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.dropped = true
}
