package store

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/cloudmarket/termination-orders/internal/pgtest"
	"github.com/cloudmarket/termination-orders/order"
)

// A store written at schema version 3, before messages kept their facts,
// is brought to version 4 with its messages intact: they read back without
// request IDs, AWS answers or facts.
func TestMessagesStoredBeforeFactsSurviveTheMigration(t *testing.T) {
	for _, dsn := range []string{"sqlite:" + filepath.Join(t.TempDir(), "status.db"), pgtest.NewDatabase(t)} {
		ctx := context.Background()
		d, source, err := dialectFor(dsn)
		if err != nil {
			t.Fatal(err)
		}
		db, err := d.open(source)
		if err != nil {
			t.Fatal(err)
		}
		old := &Store{db: db, dialect: d}
		all, err := loadMigrations(d.name)
		if err != nil {
			t.Fatal(err)
		}
		conn, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.ExecContext(ctx, `CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`); err != nil {
			t.Fatal(err)
		}
		for _, m := range all[:3] {
			if err := old.apply(ctx, conn, m); err != nil {
				t.Fatal(err)
			}
		}
		at := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
		if _, err := conn.ExecContext(ctx, d.rebind(`INSERT INTO order_status_messages (order_id, run_id, seq, stage, order_status, message, occurred_at, recorded_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`), "ORD-V3", "run-1", 1, string(order.StageAwaitingUnlink), string(order.OrderStatusProcessing), "submitted",
			d.encodeTime(at), d.encodeTime(at)); err != nil {
			t.Fatal(err)
		}
		conn.Close()
		db.Close()

		s, err := Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if v, err := s.SchemaVersion(ctx); err != nil || v != 4 {
			t.Fatalf("SchemaVersion = %d, %v; want 4", v, err)
		}
		msgs, err := s.LatestLife(ctx, "ORD-V3")
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) != 1 || msgs[0].Text != "submitted" || msgs[0].Facts != nil || msgs[0].AWS != nil || msgs[0].RequestID != "" {
			t.Fatalf("LatestLife = %+v; want the version 3 message without facts", msgs)
		}
	}
}
