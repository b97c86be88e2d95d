package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// IdempotencyKey is a caller's Idempotency-Key, a hash of the request it
// first came with, and the answer that request got once it had a definite one.
type IdempotencyKey struct {
	// Caller names who sent the key: keys of different callers never meet.
	Caller string
	Key    string
	// RequestHash identifies the request (method, path, body).
	RequestHash string
	CreatedAt   time.Time
	// Response is the answer recorded by SaveIdempotentResponse; nil while
	// the first request is still being answered (or got no definite answer).
	Response []byte
}

// ClaimIdempotencyKey records the key with its request unless the caller
// already used it within ttl, and returns the key as first recorded, and
// whether this call recorded it. A RequestHash other than k's means the key
// came with another request. Keys older than ttl are forgotten, so they may
// come with a new request. Concurrent claims of one key all see the same
// first request, and exactly one of them records it.
func (s *Store) ClaimIdempotencyKey(ctx context.Context, k IdempotencyKey, ttl time.Duration) (IdempotencyKey, bool, error) {
	cutoff := s.dialect.encodeTime(k.CreatedAt.Add(-ttl))
	if _, err := s.db.ExecContext(ctx, s.dialect.rebind(`DELETE FROM idempotency_keys WHERE created_at < ?`), cutoff); err != nil {
		return IdempotencyKey{}, false, fmt.Errorf("forget expired idempotency keys: %w", err)
	}
	res, err := s.db.ExecContext(ctx, s.dialect.rebind(`
		INSERT INTO idempotency_keys (caller, idem_key, request_hash, created_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (caller, idem_key) DO NOTHING`),
		k.Caller, k.Key, k.RequestHash, s.dialect.encodeTime(k.CreatedAt))
	if err != nil {
		return IdempotencyKey{}, false, fmt.Errorf("record idempotency key: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return IdempotencyKey{}, false, fmt.Errorf("record idempotency key: %w", err)
	}
	first, err := s.LookupIdempotencyKey(ctx, k.Caller, k.Key)
	return first, n == 1, err
}

// LookupIdempotencyKey reads a caller's key as recorded.
func (s *Store) LookupIdempotencyKey(ctx context.Context, caller, key string) (IdempotencyKey, error) {
	k := IdempotencyKey{Caller: caller, Key: key}
	var (
		created  any
		response sql.NullString
	)
	err := s.db.QueryRowContext(ctx, s.dialect.rebind(`SELECT request_hash, created_at, response FROM idempotency_keys WHERE caller = ? AND idem_key = ?`),
		caller, key).Scan(&k.RequestHash, &created, &response)
	if errors.Is(err, sql.ErrNoRows) {
		return IdempotencyKey{}, fmt.Errorf("idempotency key: %w", ErrNotFound)
	}
	if err != nil {
		return IdempotencyKey{}, fmt.Errorf("read idempotency key: %w", err)
	}
	if k.CreatedAt, err = s.dialect.decodeTime(created); err != nil {
		return IdempotencyKey{}, fmt.Errorf("read idempotency key: %w", err)
	}
	if response.Valid {
		k.Response = []byte(response.String)
	}
	return k, nil
}

// SaveIdempotentResponse records the definite answer to the request a key
// came with. The first answer recorded stays.
func (s *Store) SaveIdempotentResponse(ctx context.Context, caller, key string, response []byte) error {
	if _, err := s.db.ExecContext(ctx, s.dialect.rebind(`UPDATE idempotency_keys SET response = ? WHERE caller = ? AND idem_key = ? AND response IS NULL`),
		string(response), caller, key); err != nil {
		return fmt.Errorf("record the answer of idempotency key: %w", err)
	}
	return nil
}
