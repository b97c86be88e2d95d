package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/cloudmarket/termination-orders/order"
	"github.com/cloudmarket/termination-orders/store"
)

// An Idempotency-Key is recorded in the status store with a hash of its
// request and, once there is one, the request's definite answer. A retry
// with the key gets that answer; a retry arriving while the first request is
// still being answered waits for it, so concurrent duplicates get the same
// answer; the key with another request is refused (422). For unlink, reopen
// and cancel the key is also the request ID, which Temporal and the order's
// timeline keep, so the original answer comes back even after the key is
// forgotten (api.idempotency_key_ttl), for as long as Temporal keeps the order.

// answer is what a key records: the answer, or the problem.
type answer[T any] struct {
	Posted  *posted[T] `json:"posted,omitempty"`
	Problem *Problem   `json:"problem,omitempty"`
	Headers http.Header
}

// awaitPoll is how often a retry waiting for the first request's answer looks.
const awaitPoll = 50 * time.Millisecond

func idempotent[T any](ctx context.Context, s *Server, key, hash string, exec func(ctx context.Context, retry bool) (*posted[T], error)) (*posted[T], error) {
	run := func(retry bool) (*posted[T], error) {
		callCtx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
		defer cancel()
		return exec(callCtx, retry)
	}
	if key == "" {
		return run(false)
	}
	caller := callerOf(ctx).ID
	first, fresh, err := s.store.ClaimIdempotencyKey(ctx, store.IdempotencyKey{Caller: caller, Key: key, RequestHash: hash, CreatedAt: s.now()}, s.cfg.IdempotencyKeyTTL)
	if err != nil {
		return nil, storeProblem(err)
	}
	if first.RequestHash != hash {
		return nil, newProblem(TypeIdempotencyKeyMismatch, http.StatusUnprocessableEntity,
			fmt.Sprintf("Idempotency-Key %s was used on %s with another request (method, path or body); use a new key for a new request", key, order.FormatTime(first.CreatedAt)))
	}
	if !fresh {
		if recorded, ok := s.awaitAnswer(ctx, caller, key, first); ok {
			var a answer[T]
			if err := json.Unmarshal(recorded, &a); err == nil {
				if a.Problem != nil {
					a.Problem.headers = http.Header{}
					return nil, a.Problem
				}
				return a.Posted, nil
			}
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
		if serr := s.store.SaveIdempotentResponse(context.WithoutCancel(ctx), caller, key, b); serr != nil {
			// The answer stands; a retry decides again, which Temporal's
			// request IDs and the start's conflict check keep consistent.
			s.log.Warn("Idempotency-Key answer not recorded", zapErr(serr))
		}
	}
	return out, err
}

// awaitAnswer returns the recorded answer of the key, waiting while the
// first request is still being answered, up to the request timeout.
func (s *Server) awaitAnswer(ctx context.Context, caller, key string, k store.IdempotencyKey) ([]byte, bool) {
	deadline := time.NewTimer(s.cfg.RequestTimeout)
	defer deadline.Stop()
	for k.Response == nil {
		select {
		case <-ctx.Done():
			return nil, false
		case <-deadline.C:
			return nil, false // the first request got no definite answer: decide again
		case <-time.After(awaitPoll):
		}
		var err error
		if k, err = s.store.LookupIdempotencyKey(ctx, caller, key); err != nil {
			return nil, false
		}
	}
	return k.Response, true
}
