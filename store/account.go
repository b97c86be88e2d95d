package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cloudmarket/termination-orders/order"
)

// ErrInvalidClaim means the claim can never be made as it is: a field is
// missing, or the order's life already claimed another account. Retrying is
// pointless.
var ErrInvalidClaim = errors.New("invalid account claim")

// holdingClaim selects the claims that hold their account: live, or closed
// for good. It is the predicate of the unique index account_claims_one_holder,
// written the same way so that the databases use that index for it.
const holdingClaim = `stage NOT IN ('Cancelled', 'Reopened', 'Failed')`

// claimAttempts bounds how often Claim tries again when the claim in its way
// freed the account between its insert and its read.
const claimAttempts = 5

const selectClaims = `SELECT account_id, order_id, run_key, subscription_id, stage, claimed_at, ended_at FROM account_claims`

// Claim claims c.AccountID for the life of order c.OrderID (c.RunKey), at
// stage AwaitingUnlink. It returns nil when the claim is this life's: made
// now, or by an earlier attempt of the same life. When another claim holds
// the account (a live order, or one that closed it for good) it returns the
// *order.AccountRefusal naming that claim. The unique index decides, so
// concurrent claims from any number of stores on one database get exactly
// one holder. Other errors may be retried, except ErrInvalidClaim.
func (s *Store) Claim(ctx context.Context, c order.Claim) error {
	if err := validateClaim(c); err != nil {
		return err
	}
	for range claimAttempts {
		res, err := s.db.ExecContext(ctx, s.dialect.rebind(`
			INSERT INTO account_claims (account_id, order_id, run_key, subscription_id, stage, claimed_at)
			VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT DO NOTHING`),
			c.AccountID, c.OrderID, c.RunKey, c.SubscriptionID, string(order.StageAwaitingUnlink), s.dialect.encodeTime(c.ClaimedAt))
		if err != nil {
			return fmt.Errorf("claim AWS account %s for order %s: %w", c.AccountID, c.OrderID, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("claim AWS account %s for order %s: %w", c.AccountID, c.OrderID, err)
		}
		if n == 1 {
			return nil
		}
		// The insert met this life's own claim or the account's holder.
		inTheWay, err := s.claims(ctx, selectClaims+` WHERE order_id = ? AND run_key = ?
			UNION ALL `+selectClaims+` WHERE account_id = ? AND `+holdingClaim,
			c.OrderID, c.RunKey, c.AccountID)
		if err != nil {
			return fmt.Errorf("claim AWS account %s for order %s: %w", c.AccountID, c.OrderID, err)
		}
		var holder *order.Claim
		for i, h := range inTheWay {
			if h.OrderID == c.OrderID && h.RunKey == c.RunKey {
				if h.AccountID != c.AccountID {
					return fmt.Errorf("%w: life %s of order %s already claimed AWS account %s, not %s",
						ErrInvalidClaim, c.RunKey, c.OrderID, h.AccountID, c.AccountID)
				}
				return nil
			}
			holder = &inTheWay[i]
		}
		if holder != nil {
			return order.RefuseAccount(c.OrderID, *holder)
		}
		// The holder freed the account since the insert: claim it again.
	}
	return fmt.Errorf("claim AWS account %s for order %s: the account changed hands %d times while it was being claimed; try again",
		c.AccountID, c.OrderID, claimAttempts)
}

func validateClaim(c order.Claim) error {
	var missing []string
	for _, f := range []struct{ name, value string }{
		{"AccountID", c.AccountID}, {"OrderID", c.OrderID}, {"SubscriptionID", c.SubscriptionID}, {"RunKey", c.RunKey},
	} {
		if f.value == "" {
			missing = append(missing, f.name+" is required")
		}
	}
	if c.ClaimedAt.IsZero() {
		missing = append(missing, "ClaimedAt is required")
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: %s", ErrInvalidClaim, strings.Join(missing, "; "))
	}
	return nil
}

// advanceClaim moves the claim of the message's order life to the message's
// stage, and ends it at a final stage: the account is then free, or closed
// for good. An ended claim never changes again, so a message retried late
// cannot reopen it. Record calls it for stages after AwaitingUnlink only, the
// stage every claim starts at, so a claim never moves backwards.
func (s *Store) advanceClaim(ctx context.Context, tx *sql.Tx, m Message) error {
	var ended any // NULL while the order lives on
	if m.Stage.Final() {
		ended = s.dialect.encodeTime(m.OccurredAt)
	}
	_, err := tx.ExecContext(ctx, s.dialect.rebind(`UPDATE account_claims SET stage = ?, ended_at = ?
		WHERE order_id = ? AND run_key = ? AND ended_at IS NULL`),
		string(m.Stage), ended, m.OrderID, m.RunID)
	if err != nil {
		return fmt.Errorf("move the account claim to %s: %w", m.Stage, err)
	}
	return nil
}

// Account is the AWS account's record: where it stands and every order
// that claimed it, newest first. An account no order ever claimed is free.
func (s *Store) Account(ctx context.Context, accountID string) (order.Account, error) {
	claims, err := s.claims(ctx, selectClaims+` WHERE account_id = ? ORDER BY claimed_at DESC, order_id DESC, run_key DESC`, accountID)
	if err != nil {
		return order.Account{}, fmt.Errorf("read AWS account %s: %w", accountID, err)
	}
	return order.NewAccount(accountID, claims), nil
}

func (s *Store) claims(ctx context.Context, q string, args ...any) ([]order.Claim, error) {
	rows, err := s.db.QueryContext(ctx, s.dialect.rebind(q), args...)
	if err != nil {
		return nil, fmt.Errorf("read account claims: %w", err)
	}
	defer rows.Close()
	var claims []order.Claim
	for rows.Next() {
		var (
			c            order.Claim
			stage        string
			claimed, end any
		)
		if err := rows.Scan(&c.AccountID, &c.OrderID, &c.RunKey, &c.SubscriptionID, &stage, &claimed, &end); err != nil {
			return nil, fmt.Errorf("read account claims: %w", err)
		}
		c.Stage = order.Stage(stage)
		if c.ClaimedAt, err = s.dialect.decodeTime(claimed); err != nil {
			return nil, fmt.Errorf("read account claims: claimed_at: %w", err)
		}
		if end != nil {
			if c.EndedAt, err = s.dialect.decodeTime(end); err != nil {
				return nil, fmt.Errorf("read account claims: ended_at: %w", err)
			}
		}
		claims = append(claims, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read account claims: %w", err)
	}
	return claims, nil
}

// ReleaseAbandoned ends the claim of an order that stopped before its final
// stage (its workflow was terminated, or Temporal no longer holds it) while
// it still awaited the unlink: the account was never closed, so it is free
// again. The claim ends as Failed at at. A claim past the unlink is never
// released here: its account was closed, and only a reopen or the end of its
// window decides it. It reports whether it released the claim.
func (s *Store) ReleaseAbandoned(ctx context.Context, c order.Claim, at time.Time) (bool, error) {
	res, err := s.db.ExecContext(ctx, s.dialect.rebind(`UPDATE account_claims SET stage = ?, ended_at = ?
		WHERE order_id = ? AND run_key = ? AND ended_at IS NULL AND stage = ?`),
		string(order.StageFailed), s.dialect.encodeTime(at), c.OrderID, c.RunKey, string(order.StageAwaitingUnlink))
	if err != nil {
		return false, fmt.Errorf("release the abandoned claim of order %s on AWS account %s: %w", c.OrderID, c.AccountID, err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}
