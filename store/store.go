// Package store keeps the customer-facing status messages of termination
// orders where an order details page reads them, and each AWS account's
// claims, which enforce the account's rule (one live termination at a time,
// closed for good is forever): an embedded SQLite file by default,
// PostgreSQL when the DSN says so.
package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cloudmarket/termination-orders/order"
)

var (
	// ErrNotFound means the store holds no message for the order.
	ErrNotFound = errors.New("no status message for this order")
	// ErrInvalidMessage means the message can never be stored as it is: it
	// breaks Message.Validate or the database refuses its data. Retrying is pointless.
	ErrInvalidMessage = errors.New("invalid status message")
)

// Message is one status message of an order, as the order page shows it.
type Message struct {
	OrderID string
	// RunID is the workflow run that wrote the message. With Seq it makes the
	// idempotency key, so a retried write stores the message once.
	RunID       string
	Seq         int
	Stage       order.Stage
	OrderStatus order.OrderStatus
	Text        string
	OccurredAt  time.Time
	// RecordedAt is when the store received the message (read only).
	RecordedAt time.Time
	// RequestID is the request that made the change ("" for none).
	RequestID string
	// AWS is AWS Organizations' answer the change rests on, if it rests on one.
	AWS *order.AWSCheck
	// Facts are the order's facts as the change left them; nil in messages
	// stored before the store kept them (schema version 4).
	Facts *order.Facts
}

// Entry is the message as an entry of the order's timeline.
func (m Message) Entry() order.TimelineEntry {
	return order.TimelineEntry{Seq: m.Seq, Time: m.OccurredAt, Stage: m.Stage, Message: m.Text, RequestID: m.RequestID, AWS: m.AWS}
}

// Validate checks what the store needs of a message; a message that fails it
// can never be stored, however often it is retried.
func (m Message) Validate() error {
	var missing []string
	if m.OrderID == "" {
		missing = append(missing, "OrderID is required")
	}
	if m.RunID == "" {
		missing = append(missing, "RunID is required")
	}
	if m.Seq < 1 {
		missing = append(missing, "Seq must be at least 1")
	}
	if !m.Stage.Valid() {
		missing = append(missing, fmt.Sprintf("Stage %q is not a known stage", m.Stage))
	}
	if m.Text == "" {
		missing = append(missing, "Text is required")
	}
	if m.OccurredAt.IsZero() {
		missing = append(missing, "OccurredAt is required")
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: %s", ErrInvalidMessage, strings.Join(missing, "; "))
	}
	return nil
}

// Store is a status message and account claim store. It is safe for
// concurrent use, also by many Stores (processes) on one database.
type Store struct {
	db      *sql.DB
	dialect *dialect
}

// Open connects to the store the DSN names and brings its schema up to date.
// A DSN is "sqlite:<path>" (the file is created if missing) or a PostgreSQL URL
// "postgres://user@host:port/database?sslmode=disable".
func Open(ctx context.Context, dsn string, opts ...Option) (*Store, error) {
	var o openOptions
	for _, opt := range opts {
		opt(&o)
	}
	d, source, err := dialectFor(dsn)
	if err != nil {
		return nil, err
	}
	db, err := d.open(source)
	if err != nil {
		return nil, fmt.Errorf("open %s status store: %w", d.name, err)
	}
	if d != sqliteDialect {
		o.pool.apply(db)
	}
	openCtx := ctx
	if o.connectTimeout > 0 {
		var cancel context.CancelFunc
		openCtx, cancel = context.WithTimeout(ctx, o.connectTimeout)
		defer cancel()
	}
	s := &Store{db: db, dialect: d}
	if err := s.migrate(openCtx); err != nil {
		_ = db.Close()
		return nil, timeoutError(ctx, openCtx, dsn, o.connectTimeout, err)
	}
	return s, nil
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("ping %s status store: %w", s.dialect.name, err)
	}
	return nil
}

// Stats are the connection pool's figures, its limits among them.
func (s *Store) Stats() sql.DBStats { return s.db.Stats() }

// Close releases the store's connections.
func (s *Store) Close() error { return s.db.Close() }

// Dialect names the database behind the store: "sqlite" or "postgres".
func (s *Store) Dialect() string { return s.dialect.name }

// Record stores a message once: recording the same order, run and sequence
// number again changes nothing and reports inserted=false. In the same
// transaction it moves the account claim of the message's order life (if it
// has one) to the message's stage, so a final stage frees the account, or
// closes it for good, exactly when the order's page says so.
func (s *Store) Record(ctx context.Context, m Message) (inserted bool, err error) {
	if err := m.Validate(); err != nil {
		return false, err
	}
	if m.Stage == order.StageAwaitingUnlink {
		// Every claim starts at AwaitingUnlink and never returns to it: the
		// message alone changes no claim and needs no transaction.
		inserted, err = s.insertMessage(ctx, s.db, m)
	} else {
		inserted, err = s.recordAndAdvance(ctx, m)
	}
	if err != nil {
		if s.dialect.isDataError(err) {
			err = fmt.Errorf("%w: %w", ErrInvalidMessage, err)
		}
		return false, fmt.Errorf("record status message %d of order %s: %w", m.Seq, m.OrderID, err)
	}
	return inserted, nil
}

// recordAndAdvance advances the claim whether or not the message was already
// there: a retry repairs what an earlier attempt may have left.
func (s *Store) recordAndAdvance(ctx context.Context, m Message) (bool, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	inserted, err := s.insertMessage(ctx, tx, m)
	if err != nil {
		return false, err
	}
	if err := s.advanceClaim(ctx, tx, m); err != nil {
		return false, err
	}
	return inserted, tx.Commit()
}

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func (s *Store) insertMessage(ctx context.Context, db execer, m Message) (bool, error) {
	var requestID any // NULL for none
	if m.RequestID != "" {
		requestID = m.RequestID
	}
	check, err := jsonColumn(m.AWS)
	if err != nil {
		return false, err
	}
	facts, err := jsonColumn(m.Facts)
	if err != nil {
		return false, err
	}
	res, err := db.ExecContext(ctx, s.dialect.rebind(`
		INSERT INTO order_status_messages (order_id, run_id, seq, stage, order_status, message, occurred_at, recorded_at, request_id, aws_check, facts)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (order_id, run_id, seq) DO NOTHING`),
		m.OrderID, m.RunID, m.Seq, string(m.Stage), string(m.OrderStatus), m.Text,
		s.dialect.encodeTime(m.OccurredAt), s.dialect.encodeTime(time.Now()), requestID, check, facts)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

const selectMessages = `SELECT order_id, run_id, seq, stage, order_status, message, occurred_at, recorded_at, request_id, aws_check, facts
	FROM order_status_messages WHERE order_id = ?`

const (
	latestOrder   = ` ORDER BY occurred_at DESC, seq DESC LIMIT 1`
	timelineOrder = ` ORDER BY occurred_at, seq`
)

// Latest is the message the order details page shows: the order's newest.
func (s *Store) Latest(ctx context.Context, orderID string) (Message, error) {
	msgs, err := s.query(ctx, selectMessages+latestOrder, orderID)
	if err != nil {
		return Message{}, err
	}
	if len(msgs) == 0 {
		return Message{}, fmt.Errorf("order %s: %w", orderID, ErrNotFound)
	}
	return msgs[0], nil
}

// PriorLife returns the latest message of the order that another life of it
// (a run key other than runKey) wrote in a stage other than Failed. Its
// existence means the order already lived: only a life that failed on invalid
// input may be followed by another.
func (s *Store) PriorLife(ctx context.Context, orderID, runKey string) (Message, bool, error) {
	msgs, err := s.query(ctx, selectMessages+` AND run_id <> ? AND stage <> ?`+latestOrder, orderID, runKey, string(order.StageFailed))
	if err != nil || len(msgs) == 0 {
		return Message{}, false, err
	}
	return msgs[0], true, nil
}

// Message is the message the store holds for an order's life (runID) and
// sequence number; ErrNotFound when there is none.
func (s *Store) Message(ctx context.Context, orderID, runID string, seq int) (Message, error) {
	msgs, err := s.query(ctx, selectMessages+` AND run_id = ? AND seq = ?`, orderID, runID, seq)
	if err != nil {
		return Message{}, err
	}
	if len(msgs) == 0 {
		return Message{}, fmt.Errorf("message %d of order %s: %w", seq, orderID, ErrNotFound)
	}
	return msgs[0], nil
}

// LatestLife is the messages of the order's latest life (the life, or run
// key, of its newest message) in sequence order: the timeline of the order
// as its status shows it. It is empty when the store holds no message of
// the order.
func (s *Store) LatestLife(ctx context.Context, orderID string) ([]Message, error) {
	return s.query(ctx, selectMessages+` AND run_id = (SELECT run_id FROM order_status_messages WHERE order_id = ?`+latestOrder+`) ORDER BY seq`,
		orderID, orderID)
}

// Timeline is every message of the order, oldest first.
func (s *Store) Timeline(ctx context.Context, orderID string) ([]Message, error) {
	return s.query(ctx, selectMessages+timelineOrder, orderID)
}

func (s *Store) query(ctx context.Context, q string, orderID string, more ...any) ([]Message, error) {
	rows, err := s.db.QueryContext(ctx, s.dialect.rebind(q), append([]any{orderID}, more...)...)
	if err != nil {
		return nil, fmt.Errorf("read status messages of order %s: %w", orderID, err)
	}
	defer rows.Close()
	var msgs []Message
	for rows.Next() {
		var (
			m                       Message
			stage, stat             string
			occurred, recorded      any
			requestID, check, facts sql.NullString
		)
		if err := rows.Scan(&m.OrderID, &m.RunID, &m.Seq, &stage, &stat, &m.Text, &occurred, &recorded, &requestID, &check, &facts); err != nil {
			return nil, fmt.Errorf("read status messages of order %s: %w", orderID, err)
		}
		m.RequestID = requestID.String
		if m.AWS, err = decodeJSONColumn[order.AWSCheck](check); err != nil {
			return nil, fmt.Errorf("read status messages of order %s: aws_check of message %d: %w", orderID, m.Seq, err)
		}
		if m.Facts, err = decodeJSONColumn[order.Facts](facts); err != nil {
			return nil, fmt.Errorf("read status messages of order %s: facts of message %d: %w", orderID, m.Seq, err)
		}
		m.Stage, m.OrderStatus = order.Stage(stage), order.OrderStatus(stat)
		if m.OccurredAt, err = s.dialect.decodeTime(occurred); err != nil {
			return nil, fmt.Errorf("read status messages of order %s: %w", orderID, err)
		}
		if m.RecordedAt, err = s.dialect.decodeTime(recorded); err != nil {
			return nil, fmt.Errorf("read status messages of order %s: %w", orderID, err)
		}
		msgs = append(msgs, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read status messages of order %s: %w", orderID, err)
	}
	return msgs, nil
}

// jsonColumn is v as the JSON text of a column, NULL for nil.
func jsonColumn[T any](v *T) (any, error) {
	if v == nil {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidMessage, err)
	}
	return string(b), nil
}

func decodeJSONColumn[T any](col sql.NullString) (*T, error) {
	if !col.Valid {
		return nil, nil
	}
	v := new(T)
	if err := json.Unmarshal([]byte(col.String), v); err != nil {
		return nil, err
	}
	return v, nil
}

// ReadPlans returns the database's query plans for the order page's two reads
// (latest message, timeline), so tests and operators can check they are
// served by the order index rather than a scan.
func (s *Store) ReadPlans(ctx context.Context, orderID string) ([]string, error) {
	explain := "EXPLAIN QUERY PLAN "
	if s.dialect == postgresDialect {
		explain = "EXPLAIN "
	}
	var plans []string
	for _, q := range []string{selectMessages + latestOrder, selectMessages + timelineOrder} {
		rows, err := s.db.QueryContext(ctx, explain+s.dialect.rebind(q), orderID)
		if err != nil {
			return nil, fmt.Errorf("explain: %w", err)
		}
		cols, _ := rows.Columns()
		var plan []string
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				rows.Close()
				return nil, err
			}
			plan = append(plan, fmt.Sprint(vals...))
		}
		rows.Close()
		plans = append(plans, strings.Join(plan, "\n"))
	}
	return plans, nil
}
