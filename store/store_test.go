package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cloudmarket/termination-orders/internal/pgtest"
	"github.com/cloudmarket/termination-orders/order"
	"github.com/cloudmarket/termination-orders/store"
)

// Every behaviour test runs against both databases the store supports.
func forEachStore(t *testing.T, test func(t *testing.T, dsn string, s *store.Store)) {
	t.Run("sqlite", func(t *testing.T) {
		dsn := "sqlite:" + filepath.Join(t.TempDir(), "status.db")
		s, err := store.Open(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		test(t, dsn, s)
	})
	t.Run("postgres", func(t *testing.T) {
		dsn := pgtest.NewDatabase(t)
		s, err := store.Open(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		test(t, dsn, s)
	})
}

func message(orderID string, seq int, at time.Time) store.Message {
	stage := order.StageAwaitingUnlink
	if seq > 1 {
		stage = order.StagePostClosure
	}
	return store.Message{
		OrderID: orderID, RunID: "run-1", Seq: seq, Stage: stage, OrderStatus: stage.OrderStatus(),
		Text: fmt.Sprintf("message %d", seq), OccurredAt: at,
	}
}

func TestRecordAndRead(t *testing.T) {
	forEachStore(t, func(t *testing.T, _ string, s *store.Store) {
		ctx := context.Background()
		t0 := time.Date(2026, 11, 26, 14, 3, 0, 500_000, time.UTC)
		// Written out of order, as concurrent activities may: reads order by time.
		for _, m := range []store.Message{message("ORD-1", 2, t0.Add(time.Hour)), message("ORD-1", 1, t0), message("ORD-2", 1, t0)} {
			if inserted, err := s.Record(ctx, m); err != nil || !inserted {
				t.Fatalf("Record(%d) = %v, %v; want inserted", m.Seq, inserted, err)
			}
		}
		latest, err := s.Latest(ctx, "ORD-1")
		if err != nil {
			t.Fatal(err)
		}
		if latest.Seq != 2 || latest.Text != "message 2" || latest.Stage != order.StagePostClosure ||
			latest.OrderStatus != order.OrderStatusCompleted || !latest.OccurredAt.Equal(t0.Add(time.Hour)) {
			t.Errorf("Latest = %+v", latest)
		}
		timeline, err := s.Timeline(ctx, "ORD-1")
		if err != nil {
			t.Fatal(err)
		}
		if len(timeline) != 2 || timeline[0].Seq != 1 || timeline[1].Seq != 2 || !timeline[0].OccurredAt.Equal(t0) {
			t.Errorf("Timeline = %+v", timeline)
		}
		if age := time.Since(timeline[0].RecordedAt); age < 0 || age > time.Minute {
			t.Errorf("RecordedAt = %v; want the time of the write", timeline[0].RecordedAt)
		}
	})
}

func TestRecordIsIdempotent(t *testing.T) {
	forEachStore(t, func(t *testing.T, _ string, s *store.Store) {
		ctx := context.Background()
		m := message("ORD-1", 1, time.Now())
		if inserted, err := s.Record(ctx, m); err != nil || !inserted {
			t.Fatalf("first Record = %v, %v", inserted, err)
		}
		// A retry after a timeout: the first write did land.
		if inserted, err := s.Record(ctx, m); err != nil || inserted {
			t.Fatalf("retried Record = %v, %v; want not inserted, no error", inserted, err)
		}
		timeline, err := s.Timeline(ctx, "ORD-1")
		if err != nil || len(timeline) != 1 {
			t.Fatalf("Timeline = %v, %v; want one message", timeline, err)
		}
	})
}

func TestConcurrentWritersStoreOnce(t *testing.T) {
	forEachStore(t, func(t *testing.T, dsn string, s *store.Store) {
		ctx := context.Background()
		// Two workers' stores on the same database, each writing the same messages.
		other, err := store.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		at := time.Now()
		var wg sync.WaitGroup
		var mu sync.Mutex
		inserts := 0
		for i := range 16 {
			target := s
			if i%2 == 1 {
				target = other
			}
			wg.Go(func() {
				for seq := 1; seq <= 3; seq++ {
					inserted, err := target.Record(ctx, message("ORD-C", seq, at.Add(time.Duration(seq)*time.Second)))
					if err != nil {
						t.Error(err)
					}
					if inserted {
						mu.Lock()
						inserts++
						mu.Unlock()
					}
				}
			})
		}
		wg.Wait()
		timeline, err := s.Timeline(ctx, "ORD-C")
		if err != nil {
			t.Fatal(err)
		}
		if len(timeline) != 3 || inserts != 3 {
			t.Fatalf("got %d messages and %d inserts; want 3 and 3", len(timeline), inserts)
		}
	})
}

func TestUnknownOrder(t *testing.T) {
	forEachStore(t, func(t *testing.T, _ string, s *store.Store) {
		_, err := s.Latest(context.Background(), "ORD-NONE")
		if !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Latest of unknown order: %v; want ErrNotFound", err)
		}
		timeline, err := s.Timeline(context.Background(), "ORD-NONE")
		if err != nil || len(timeline) != 0 {
			t.Fatalf("Timeline of unknown order = %v, %v; want empty", timeline, err)
		}
	})
}

func TestInvalidMessageRejected(t *testing.T) {
	forEachStore(t, func(t *testing.T, _ string, s *store.Store) {
		m := message("ORD-1", 0, time.Now())
		m.RunID = ""
		_, err := s.Record(context.Background(), m)
		if err == nil || !strings.Contains(err.Error(), "RunID is required") || !strings.Contains(err.Error(), "Seq must be at least 1") {
			t.Fatalf("Record(invalid) = %v; want RunID and Seq named", err)
		}
	})
}

func TestMigrationsRunOnce(t *testing.T) {
	forEachStore(t, func(t *testing.T, dsn string, s *store.Store) {
		ctx := context.Background()
		if _, err := s.Record(ctx, message("ORD-1", 1, time.Now())); err != nil {
			t.Fatal(err)
		}
		// Reopening applies nothing twice and keeps the data.
		again, err := store.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer again.Close()
		v, err := again.SchemaVersion(ctx)
		if err != nil || v != 4 {
			t.Fatalf("SchemaVersion = %d, %v; want 4", v, err)
		}
		if _, err := again.Latest(ctx, "ORD-1"); err != nil {
			t.Fatalf("data lost on reopen: %v", err)
		}
	})
}

func TestOpenRejectsUnknownDSN(t *testing.T) {
	for _, dsn := range []string{"mysql://admin:s3cret@db/status", "status.db", "sqlite:"} {
		_, err := store.Open(context.Background(), dsn)
		if err == nil {
			t.Fatalf("Open(%q) succeeded", dsn)
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("error leaks the password: %v", err)
		}
		if !strings.Contains(err.Error(), "sqlite:") {
			t.Errorf("Open(%q) = %v; want the accepted forms named", dsn, err)
		}
	}
}

// Data the database refuses is a permanent error, never retried for ever.
func TestRefusedDataIsInvalidMessage(t *testing.T) {
	forEachStore(t, func(t *testing.T, _ string, s *store.Store) {
		m := message("ORD-1", 1, time.Now())
		m.Text = "bad\x00byte"
		_, err := s.Record(context.Background(), m)
		if s.Dialect() == "sqlite" {
			if err != nil {
				t.Fatalf("SQLite stores any text: %v", err)
			}
			return
		}
		if !errors.Is(err, store.ErrInvalidMessage) {
			t.Fatalf("Record(NUL) = %v; want ErrInvalidMessage", err)
		}
	})
}

// The order page's reads use the order index, whatever the table's size.
func TestOrderPageReadsUseTheIndex(t *testing.T) {
	forEachStore(t, func(t *testing.T, dsn string, s *store.Store) {
		ctx := context.Background()
		at := time.Now()
		for o := range 300 {
			for seq := 1; seq <= 3; seq++ {
				if _, err := s.Record(ctx, message(fmt.Sprintf("ORD-%03d", o), seq, at.Add(time.Duration(seq)*time.Second))); err != nil {
					t.Fatal(err)
				}
			}
		}
		if s.Dialect() == "postgres" {
			db, err := sql.Open("pgx", dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if _, err := db.Exec("ANALYZE order_status_messages"); err != nil {
				t.Fatal(err)
			}
		}
		plans, err := s.ReadPlans(ctx, "ORD-042")
		if err != nil {
			t.Fatal(err)
		}
		for i, plan := range plans {
			if !strings.Contains(plan, "order_status_messages_by_order") {
				t.Errorf("read %d is not served by the order index:\n%s", i, plan)
			}
		}
	})
}

// An order's other lives are found across runs, except lives that only failed
// on invalid input; the asking run's own messages never count.
func TestPriorLife(t *testing.T) {
	forEachStore(t, func(t *testing.T, _ string, s *store.Store) {
		ctx := context.Background()
		at := time.Date(2026, 11, 26, 14, 0, 0, 0, time.UTC)
		_, found, err := s.PriorLife(ctx, "ORD-P", "run-2")
		require.NoError(t, err)
		require.False(t, found, "a new order has no prior life")

		failed := message("ORD-P", 1, at)
		failed.RunID, failed.Stage, failed.OrderStatus = "run-1", order.StageFailed, order.OrderStatusFailed
		_, err = s.Record(ctx, failed)
		require.NoError(t, err)
		_, found, err = s.PriorLife(ctx, "ORD-P", "run-2")
		require.NoError(t, err)
		require.False(t, found, "a life that failed on invalid input may be followed by another")

		own := message("ORD-P", 1, at.Add(time.Minute))
		own.RunID = "run-2"
		_, err = s.Record(ctx, own)
		require.NoError(t, err)
		_, found, err = s.PriorLife(ctx, "ORD-P", "run-2")
		require.NoError(t, err)
		require.False(t, found, "the run's own messages are not a prior life")

		prior, found, err := s.PriorLife(ctx, "ORD-P", "run-3")
		require.NoError(t, err)
		require.True(t, found)
		require.Equal(t, "run-2", prior.RunID)
		require.Equal(t, order.StageAwaitingUnlink, prior.Stage)
	})
}
