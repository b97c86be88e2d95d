package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cloudmarket/termination-orders/order"
	"github.com/cloudmarket/termination-orders/store"
)

const account = "999999999999"

func claimOf(orderID, subscriptionID string, at time.Time) order.Claim {
	return order.Claim{AccountID: account, OrderID: orderID, SubscriptionID: subscriptionID, RunKey: "run-of-" + orderID, ClaimedAt: at}
}

// enter records the status message of c's order life entering stage.
func enter(t testing.TB, s *store.Store, c order.Claim, seq int, stage order.Stage, at time.Time) bool {
	t.Helper()
	inserted, err := s.Record(context.Background(), store.Message{
		OrderID: c.OrderID, RunID: c.RunKey, Seq: seq, Stage: stage, OrderStatus: stage.OrderStatus(),
		Text: "entered " + string(stage), OccurredAt: at,
	})
	require.NoError(t, err)
	return inserted
}

// refusal is err as the account refusal it must be.
func refusal(t testing.TB, err error) *order.AccountRefusal {
	t.Helper()
	var r *order.AccountRefusal
	require.ErrorAs(t, err, &r)
	return r
}

func TestClaimHoldsTheAccount(t *testing.T) {
	forEachStore(t, func(t *testing.T, _ string, s *store.Store) {
		ctx := context.Background()
		t0 := time.Date(2026, 11, 26, 14, 0, 0, 0, time.UTC)
		a := claimOf("DUP-A", "SUB-1", t0)
		require.NoError(t, s.Claim(ctx, a))
		// A retried activity of the same life: its claim stands.
		require.NoError(t, s.Claim(ctx, a))

		// The same subscription again, and another subscription of the account.
		for _, c := range []order.Claim{claimOf("DUP-C", "SUB-1", t0.Add(time.Minute)), claimOf("DUP-B", "SUB-2", t0.Add(2*time.Minute))} {
			r := refusal(t, s.Claim(ctx, c))
			require.Equal(t, order.RefusedAccountInTermination, r.Kind)
			require.Equal(t, "DUP-A", r.Holder.OrderID)
			require.Equal(t, "SUB-1", r.Holder.SubscriptionID)
			require.Equal(t, order.StageAwaitingUnlink, r.Holder.Stage)
			require.True(t, r.Holder.ClaimedAt.Equal(t0), "holder claimed at %v", r.Holder.ClaimedAt)
			require.True(t, r.Holder.EndedAt.IsZero())
			require.Contains(t, r.Reason, "termination order "+c.OrderID+" was refused")
			require.Contains(t, r.Reason, "already in termination by order DUP-A")
			var plain *order.Refusal
			require.ErrorAs(t, r, &plain, "callers that know only Refusal see its kind")
		}

		// The refusal names the holder's stage as it is now.
		enter(t, s, a, 2, order.StagePostClosure, t0.Add(time.Hour))
		r := refusal(t, s.Claim(ctx, claimOf("DUP-C", "SUB-1", t0.Add(2*time.Hour))))
		require.Equal(t, order.StagePostClosure, r.Holder.Stage)

		acc, err := s.Account(ctx, account)
		require.NoError(t, err)
		require.Equal(t, order.AccountInTermination, acc.State)
		require.NotNil(t, acc.Holder)
		require.Equal(t, "DUP-A", acc.Holder.OrderID)
		require.Equal(t, order.StagePostClosure, acc.Holder.Stage)
		require.Len(t, acc.Orders, 1, "a refused order claims nothing")
	})
}

func TestReleasingStagesFreeTheAccount(t *testing.T) {
	forEachStore(t, func(t *testing.T, _ string, s *store.Store) {
		ctx := context.Background()
		t0 := time.Date(2026, 11, 26, 14, 0, 0, 0, time.UTC)
		for i, stage := range []order.Stage{order.StageCancelled, order.StageReopened, order.StageFailed} {
			held := claimOf(fmt.Sprintf("REL-%d-A", i), "SUB-1", t0)
			held.AccountID = fmt.Sprintf("11111111111%d", i)
			require.NoError(t, s.Claim(ctx, held))
			if stage == order.StageReopened {
				enter(t, s, held, 2, order.StagePostClosure, t0.Add(time.Hour))
			}
			endedAt := t0.Add(2 * time.Hour)
			enter(t, s, held, 3, stage, endedAt)

			acc, err := s.Account(ctx, held.AccountID)
			require.NoError(t, err)
			require.Equal(t, order.AccountFree, acc.State, "after %s", stage)
			require.Nil(t, acc.Holder)
			require.Len(t, acc.Orders, 1)
			require.Equal(t, stage, acc.Orders[0].Stage)
			require.True(t, acc.Orders[0].EndedAt.Equal(endedAt), "EndedAt = %v", acc.Orders[0].EndedAt)

			next := claimOf(fmt.Sprintf("REL-%d-B", i), "SUB-2", t0.Add(3*time.Hour))
			next.AccountID = held.AccountID
			require.NoError(t, s.Claim(ctx, next), "after %s the account is free", stage)
			acc, err = s.Account(ctx, held.AccountID)
			require.NoError(t, err)
			require.Equal(t, order.AccountInTermination, acc.State)
			require.Equal(t, next.OrderID, acc.Holder.OrderID)
			require.Equal(t, []string{next.OrderID, held.OrderID}, orderIDs(acc), "newest first, the freed claim kept as history")
		}
	})
}

// Order, reopen, new order, closed for good: then no order ever again, also
// for a store opened later (the rule outlives Temporal's history).
func TestClosedForGoodIsForever(t *testing.T) {
	forEachStore(t, func(t *testing.T, dsn string, s *store.Store) {
		ctx := context.Background()
		t0 := time.Date(2026, 11, 26, 14, 0, 0, 0, time.UTC)
		first := claimOf("ORD-1", "SUB-1", t0)
		require.NoError(t, s.Claim(ctx, first))
		enter(t, s, first, 2, order.StagePostClosure, t0.Add(time.Hour))
		enter(t, s, first, 3, order.StageReopened, t0.Add(2*time.Hour))

		second := claimOf("ORD-2", "SUB-1", t0.Add(3*time.Hour))
		require.NoError(t, s.Claim(ctx, second))
		enter(t, s, second, 2, order.StagePostClosure, t0.Add(4*time.Hour))
		closedAt := t0.Add(90 * 24 * time.Hour)
		enter(t, s, second, 3, order.StagePermanentlyClosed, closedAt)
		// A late message of the closed life changes nothing.
		enter(t, s, second, 4, order.StageCancelled, closedAt.Add(time.Minute))

		later, err := store.Open(ctx, dsn)
		require.NoError(t, err)
		defer later.Close()
		for _, st := range []*store.Store{s, later} {
			for i, c := range []order.Claim{claimOf("ORD-3", "SUB-2", closedAt.Add(time.Hour)), claimOf("ORD-4", "SUB-1", closedAt.Add(365*24*time.Hour))} {
				r := refusal(t, st.Claim(ctx, c))
				require.Equal(t, order.RefusedAccountClosedForGood, r.Kind, "claim %d", i)
				require.Equal(t, "ORD-2", r.Holder.OrderID)
				require.Equal(t, order.StagePermanentlyClosed, r.Holder.Stage)
				require.True(t, r.Holder.EndedAt.Equal(closedAt), "EndedAt = %v", r.Holder.EndedAt)
				require.Contains(t, r.Reason, "closed for good on "+order.FormatTime(closedAt))
			}
		}

		acc, err := later.Account(ctx, account)
		require.NoError(t, err)
		require.Equal(t, order.AccountClosedForGood, acc.State)
		require.Equal(t, "ORD-2", acc.Holder.OrderID)
		require.True(t, acc.Holder.EndedAt.Equal(closedAt))
		require.Equal(t, []string{"ORD-2", "ORD-1"}, orderIDs(acc))
		require.Equal(t, order.StageReopened, acc.Orders[1].Stage)
	})
}

// The claim follows the messages of its own life only, forward only, and a
// retried Record leaves it right whether or not the message was stored before.
func TestRecordMovesTheClaimForwardOnly(t *testing.T) {
	forEachStore(t, func(t *testing.T, _ string, s *store.Store) {
		ctx := context.Background()
		t0 := time.Date(2026, 11, 26, 14, 0, 0, 0, time.UTC)
		c := claimOf("ORD-F", "SUB-1", t0)
		stage := func() order.Claim {
			t.Helper()
			acc, err := s.Account(ctx, account)
			require.NoError(t, err)
			require.Len(t, acc.Orders, 1)
			return acc.Orders[0]
		}

		// A message stored before the claim existed: its retry still moves it.
		require.True(t, enter(t, s, c, 2, order.StagePostClosure, t0.Add(time.Hour)))
		require.NoError(t, s.Claim(ctx, c))
		require.Equal(t, order.StageAwaitingUnlink, stage().Stage)
		require.False(t, enter(t, s, c, 2, order.StagePostClosure, t0.Add(time.Hour)))
		require.Equal(t, order.StagePostClosure, stage().Stage)

		// The first message, written late, does not move the claim back.
		enter(t, s, c, 1, order.StageAwaitingUnlink, t0)
		require.Equal(t, order.StagePostClosure, stage().Stage)

		// Another life of the same order does not touch this life's claim.
		other := c
		other.RunKey = "another-run"
		enter(t, s, other, 3, order.StageCancelled, t0.Add(2*time.Hour))
		require.Equal(t, order.StagePostClosure, stage().Stage)

		reopenedAt := t0.Add(3 * time.Hour)
		require.True(t, enter(t, s, c, 3, order.StageReopened, reopenedAt))
		require.False(t, enter(t, s, c, 3, order.StageReopened, reopenedAt))
		enter(t, s, c, 2, order.StagePostClosure, t0.Add(time.Hour))
		got := stage()
		require.Equal(t, order.StageReopened, got.Stage)
		require.True(t, got.EndedAt.Equal(reopenedAt), "EndedAt = %v", got.EndedAt)
	})
}

func TestAccountNeverClaimedIsFree(t *testing.T) {
	forEachStore(t, func(t *testing.T, _ string, s *store.Store) {
		acc, err := s.Account(context.Background(), "123456789012")
		require.NoError(t, err)
		require.Equal(t, order.AccountFree, acc.State)
		require.Nil(t, acc.Holder)
		require.NotNil(t, acc.Orders)
		require.Empty(t, acc.Orders)
	})
}

func TestInvalidClaimRejected(t *testing.T) {
	forEachStore(t, func(t *testing.T, _ string, s *store.Store) {
		ctx := context.Background()
		err := s.Claim(ctx, order.Claim{OrderID: "ORD-X"})
		require.ErrorIs(t, err, store.ErrInvalidClaim)
		for _, field := range []string{"AccountID", "SubscriptionID", "RunKey", "ClaimedAt"} {
			require.Contains(t, err.Error(), field+" is required")
		}
		require.NotContains(t, err.Error(), "OrderID")

		c := claimOf("ORD-X", "SUB-1", time.Now())
		require.NoError(t, s.Claim(ctx, c))
		c.AccountID = "222222222222"
		err = s.Claim(ctx, c)
		require.ErrorIs(t, err, store.ErrInvalidClaim, "one life claims one account")
		require.Contains(t, err.Error(), "already claimed AWS account "+account)
	})
}

// openStores opens n stores on one database at once, as n processes starting
// together would: each has its own connections.
func openStores(t *testing.T, dsn string, n int) []*store.Store {
	t.Helper()
	stores := make([]*store.Store, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range stores {
		wg.Go(func() { stores[i], errs[i] = store.Open(context.Background(), dsn) })
	}
	wg.Wait()
	for i, s := range stores {
		require.NoError(t, errs[i], "open store %d", i)
		t.Cleanup(func() { s.Close() })
	}
	return stores
}

// Twenty claims of one account from twenty stores at once, on two
// subscriptions: exactly one holds it, nineteen are refused naming it.
func TestConcurrentClaimsFromManyStores(t *testing.T) {
	forEachStore(t, func(t *testing.T, dsn string, s *store.Store) {
		ctx := context.Background()
		stores := openStores(t, dsn, 20)
		errs := make([]error, len(stores))
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i, st := range stores {
			wg.Go(func() {
				<-start
				errs[i] = st.Claim(ctx, claimOf(fmt.Sprintf("RACE-%02d", i), fmt.Sprintf("SUB-%d", i%2), time.Now()))
			})
		}
		close(start)
		wg.Wait()

		winner := ""
		for i, err := range errs {
			if err == nil {
				require.Empty(t, winner, "two claims accepted: %s and RACE-%02d", winner, i)
				winner = fmt.Sprintf("RACE-%02d", i)
			}
		}
		require.NotEmpty(t, winner, "no claim accepted: %v", errs)
		for _, err := range errs {
			if err != nil {
				r := refusal(t, err)
				require.Equal(t, winner, r.Holder.OrderID)
				require.Equal(t, order.StageAwaitingUnlink, r.Holder.Stage)
			}
		}
		acc, err := s.Account(ctx, account)
		require.NoError(t, err)
		require.Equal(t, winner, acc.Holder.OrderID)
		require.Len(t, acc.Orders, 1)
	})
}

// Claims racing the holder's release, from many stores: each is refused
// naming the old holder (and tries again), or refused naming the one new
// holder, or is that holder; at no point do two claims hold the account.
func TestClaimsRacingARelease(t *testing.T) {
	forEachStore(t, func(t *testing.T, dsn string, s *store.Store) {
		ctx := context.Background()
		stores := openStores(t, dsn, 10)
		for round, release := range []order.Stage{order.StageCancelled, order.StageReopened, order.StageFailed, order.StageCancelled} {
			held := claimOf(fmt.Sprintf("HELD-%d", round), "SUB-1", time.Now())
			require.NoError(t, s.Claim(ctx, held))
			if release == order.StageReopened {
				enter(t, s, held, 2, order.StagePostClosure, time.Now())
			}

			var done atomic.Bool
			var watch sync.WaitGroup
			watch.Go(func() {
				for !done.Load() {
					acc, err := s.Account(ctx, account)
					if err != nil {
						t.Error(err)
						return
					}
					if n := holding(acc); n > 1 {
						t.Errorf("round %d: %d claims hold the account at once: %+v", round, n, acc.Orders)
						return
					}
				}
			})

			outcome := make([]error, len(stores))
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i, st := range stores {
				wg.Go(func() {
					<-start
					c := claimOf(fmt.Sprintf("NEXT-%d-%d", round, i), fmt.Sprintf("SUB-%d", i%2), time.Now())
					deadline := time.Now().Add(30 * time.Second)
					for {
						err := st.Claim(ctx, c)
						var r *order.AccountRefusal
						if !errors.As(err, &r) || r.Holder.OrderID != held.OrderID || time.Now().After(deadline) {
							outcome[i] = err
							return
						}
						time.Sleep(time.Millisecond) // the customer tries again
					}
				})
			}
			close(start)
			time.Sleep(5 * time.Millisecond)
			enter(t, stores[round%len(stores)], held, 3, release, time.Now())
			wg.Wait()
			done.Store(true)
			watch.Wait()

			var accepted []string
			for i, err := range outcome {
				if err == nil {
					accepted = append(accepted, fmt.Sprintf("NEXT-%d-%d", round, i))
				}
			}
			require.Len(t, accepted, 1, "round %d: claims accepted after the %s: %v (outcomes %v)", round, release, accepted, outcome)
			for _, err := range outcome {
				if err != nil {
					require.Equal(t, accepted[0], refusal(t, err).Holder.OrderID, "round %d", round)
				}
			}
			acc, err := s.Account(ctx, account)
			require.NoError(t, err)
			require.Equal(t, accepted[0], acc.Holder.OrderID)
			require.Equal(t, 1, holding(acc))
			// Free the account for the next round.
			enter(t, s, *acc.Holder, 3, order.StageCancelled, time.Now())
		}
	})
}

// holding counts the claims that hold the account: live or closed for good.
func holding(acc order.Account) int {
	n := 0
	for _, c := range acc.Orders {
		if !c.Stage.FreesAccount() {
			n++
		}
	}
	return n
}

func orderIDs(acc order.Account) []string {
	ids := make([]string, len(acc.Orders))
	for i, c := range acc.Orders {
		ids[i] = c.OrderID
	}
	return ids
}

func TestReleaseAbandonedOnlyBeforeTheUnlink(t *testing.T) {
	forEachStore(t, func(t *testing.T, _ string, s *store.Store) {
		ctx := context.Background()
		t0 := time.Date(2026, 11, 26, 14, 0, 0, 0, time.UTC)
		a := claimOf("ABN-A", "SUB-1", t0)
		require.NoError(t, s.Claim(ctx, a))
		released, err := s.ReleaseAbandoned(ctx, a, t0.Add(time.Hour))
		require.NoError(t, err)
		require.True(t, released)
		released, err = s.ReleaseAbandoned(ctx, a, t0.Add(2*time.Hour))
		require.NoError(t, err)
		require.False(t, released, "an ended claim is not ended again")

		b := claimOf("ABN-B", "SUB-1", t0.Add(3*time.Hour))
		require.NoError(t, s.Claim(ctx, b), "the account is free again")
		acct, err := s.Account(ctx, account)
		require.NoError(t, err)
		require.Equal(t, order.StageFailed, acct.Orders[1].Stage)
		require.True(t, acct.Orders[1].EndedAt.Equal(t0.Add(time.Hour)))

		enter(t, s, b, 2, order.StagePostClosure, t0.Add(4*time.Hour))
		released, err = s.ReleaseAbandoned(ctx, b, t0.Add(5*time.Hour))
		require.NoError(t, err)
		require.False(t, released, "a claim past the unlink is never released as abandoned")
		r := refusal(t, s.Claim(ctx, claimOf("ABN-C", "SUB-1", t0.Add(6*time.Hour))))
		require.Equal(t, "ABN-B", r.Holder.OrderID)
	})
}
