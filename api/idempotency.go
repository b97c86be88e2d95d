package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/cloudmarket/termination-orders/order"
	"github.com/cloudmarket/termination-orders/store"
)

// An Idempotency-Key is recorded in the status store with a hash of its
// request and, once there is one, the request's definite answer. A retry
// with the key gets that answer; the key with another request is refused
// (422). A retry arriving while the first request is still being answered
// by this process waits for its answer, so concurrent duplicates get the
// same answer. A key with no answer and no request of this process behind
// it (the process that took it stopped mid-request, or could not record the
// answer) is decided again at once, never after a lease runs out: for
// unlink, reopen and cancel the key is the request ID, which Temporal and
// the order's timeline keep, so the original outcome comes back (also after
// the key is forgotten, api.idempotency_key_ttl, for as long as Temporal
// keeps the order); a start asks the order's run for its acceptance.

// answer is what a key records: the answer, or the problem.
type answer[T any] struct {
	Posted  *posted[T] `json:"posted,omitempty"`
	Problem *Problem   `json:"problem,omitempty"`
	Headers http.Header
}

func idempotent[T any](ctx context.Context, s *Server, key, hash string, exec func(ctx context.Context, retry bool) (*posted[T], error)) (*posted[T], error) {
	run := func(retry bool) (*posted[T], error) {
		infoOf(ctx).sent.Store(true)
		callCtx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
		defer cancel()
		return exec(callCtx, retry)
	}
	if key == "" {
		return run(false)
	}
	caller := callerOf(ctx).ID
	// A request of this process with the key goes first: its answer is
	// recorded before it lets go.
	earlier, done := s.flights.take(caller, key)
	defer done()
	if earlier != nil {
		select {
		case <-earlier:
		case <-ctx.Done():
			p := newProblem(TypeOutcomeUnknown, http.StatusGatewayTimeout,
				fmt.Sprintf("the first request with Idempotency-Key %s is still being answered; send the request again with the same key for its answer", key))
			p.RequestID = key
			return nil, p
		}
	}
	first, fresh, err := s.store.ClaimIdempotencyKey(ctx, store.IdempotencyKey{Caller: caller, Key: key, RequestHash: hash, CreatedAt: s.now()}, s.cfg.IdempotencyKeyTTL)
	if err != nil {
		return nil, storeProblem(err)
	}
	if first.RequestHash != hash {
		return nil, newProblem(TypeIdempotencyKeyMismatch, http.StatusUnprocessableEntity,
			fmt.Sprintf("Idempotency-Key %s was used on %s with another request (method, path or body); use a new key for a new request", key, order.FormatTime(first.CreatedAt)))
	}
	if first.Response != nil {
		var a answer[T]
		if err := json.Unmarshal(first.Response, &a); err == nil {
			if a.Problem != nil {
				a.Problem.headers = http.Header{}
				return nil, a.Problem
			}
			return a.Posted, nil
		}
	}
	out, err := run(!fresh)
	var a answer[T]
	var p *Problem
	switch {
	case err == nil:
		a.Posted = out
	case errors.As(err, &p) && cacheable(p):
		a.Problem = p
	default:
		return out, err
	}
	if b, merr := json.Marshal(a); merr == nil {
		saveCtx, cancel := saveContext(ctx, s.cfg.RequestTimeout)
		defer cancel()
		if serr := s.store.SaveIdempotentResponse(saveCtx, caller, key, b); serr != nil {
			// The answer stands; a retry decides again, which Temporal's
			// request IDs and the start's acceptance keep consistent.
			s.log.Warn("Idempotency-Key answer not recorded", zapErr(serr))
		}
	}
	return out, err
}

// saveContext bounds the recording of a decided answer: past the request's
// own deadline (the answer is known, so a timed-out call does not cancel
// it), by half the part of api.request_timeout kept for answering.
func saveContext(ctx context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(timeout)
	}
	return context.WithDeadline(context.WithoutCancel(ctx), deadline.Add(deadlineReserve(timeout)/2))
}

// flights are the Idempotency-Keys this process is answering a request of.
type flights struct {
	mu   sync.Mutex
	keys map[string]chan struct{}
}

// take makes the request the key's flight in this process, unless another
// request has it: then earlier is closed once that one is answered and its
// answer recorded, and the request is not a flight itself. done lets go of
// what take took.
func (f *flights) take(caller, key string) (earlier <-chan struct{}, done func()) {
	id := caller + "\x00" + key
	f.mu.Lock()
	defer f.mu.Unlock()
	if ch, ok := f.keys[id]; ok {
		return ch, func() {}
	}
	if f.keys == nil {
		f.keys = map[string]chan struct{}{}
	}
	ch := make(chan struct{})
	f.keys[id] = ch
	return nil, func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		delete(f.keys, id)
		close(ch)
	}
}
