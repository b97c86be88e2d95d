package store_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/cloudmarket/termination-orders/store"
)

func TestIdempotencyKeys(t *testing.T) {
	forEachStore(t, func(t *testing.T, _ string, s *store.Store) {
		ctx := context.Background()
		now := time.Now()
		key := store.IdempotencyKey{Caller: "apikey:shop", Key: "k-1", RequestHash: "h1", CreatedAt: now}

		// Concurrent claims of one key with different requests: one request wins, all see it.
		var wg sync.WaitGroup
		firsts := make([]store.IdempotencyKey, 8)
		fresh := make([]bool, 8)
		for i := range firsts {
			wg.Add(1)
			go func() {
				defer wg.Done()
				k := key
				if i%2 == 1 {
					k.RequestHash = "h2"
				}
				got, recorded, err := s.ClaimIdempotencyKey(ctx, k, time.Hour)
				if err != nil {
					t.Error(err)
				}
				firsts[i], fresh[i] = got, recorded
			}()
		}
		wg.Wait()
		recorded := 0
		for i, f := range firsts {
			if f.RequestHash != firsts[0].RequestHash {
				t.Fatalf("claims saw different first requests: %+v", firsts)
			}
			if fresh[i] {
				recorded++
			}
		}
		if recorded != 1 {
			t.Fatalf("%d claims recorded the key; want exactly 1", recorded)
		}

		// The first answer recorded stays.
		if err := s.SaveIdempotentResponse(ctx, key.Caller, key.Key, []byte(`{"status":201}`)); err != nil {
			t.Fatal(err)
		}
		if err := s.SaveIdempotentResponse(ctx, key.Caller, key.Key, []byte(`{"status":409}`)); err != nil {
			t.Fatal(err)
		}
		if got, err := s.LookupIdempotencyKey(ctx, key.Caller, key.Key); err != nil || string(got.Response) != `{"status":201}` {
			t.Fatalf("answer = %s, %v; want the first", got.Response, err)
		}

		// Another caller's key of the same name is its own.
		other := key
		other.Caller, other.RequestHash = "oidc:ops", "h3"
		if got, recorded, err := s.ClaimIdempotencyKey(ctx, other, time.Hour); err != nil || !recorded || got.RequestHash != "h3" {
			t.Fatalf("other caller: %+v, %v", got, err)
		}

		// Once older than the TTL, the key is forgotten and may come with a new request.
		later := key
		later.RequestHash, later.CreatedAt = "h4", now.Add(2*time.Hour)
		if got, recorded, err := s.ClaimIdempotencyKey(ctx, later, time.Hour); err != nil || !recorded || got.RequestHash != "h4" || got.Response != nil {
			t.Fatalf("after the TTL: %+v, %v", got, err)
		}
	})
}
