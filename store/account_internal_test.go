package store

import (
	"context"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cloudmarket/termination-orders/internal/pgtest"
	"github.com/cloudmarket/termination-orders/order"
)

// The claims that hold an account are those of the stages that do not free
// it, in the Go queries and in every dialect's unique index alike.
func TestHoldingClaimMatchesTheDomainRule(t *testing.T) {
	for _, stage := range order.Stages {
		named := strings.Contains(holdingClaim, "'"+string(stage)+"'")
		if named != stage.FreesAccount() {
			t.Errorf("holdingClaim %q: stage %s named=%v, but FreesAccount=%v", holdingClaim, stage, named, stage.FreesAccount())
		}
	}
	for _, dialect := range []string{"sqlite", "postgres"} {
		body, err := fs.ReadFile(migrationFiles, "migrations/"+dialect+"/0003_account_claims.sql")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(body), "WHERE "+holdingClaim+";") {
			t.Errorf("%s: the unique index of account_claims is not on %q", dialect, holdingClaim)
		}
	}
}

// Claim's holder query and Account's read are served by the claims' indexes:
// the partial unique index proves its predicate is the one the query repeats.
func TestClaimQueriesUseTheIndexes(t *testing.T) {
	for _, dsn := range []string{"sqlite:" + filepath.Join(t.TempDir(), "status.db"), pgtest.NewDatabase(t)} {
		ctx := context.Background()
		s, err := Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		conn, err := s.db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		explain := "EXPLAIN QUERY PLAN "
		if s.dialect == postgresDialect {
			explain = "EXPLAIN "
			// On an empty table a scan is cheapest; forbid it to see which indexes fit.
			if _, err := conn.ExecContext(ctx, "SET enable_seqscan = off"); err != nil {
				t.Fatal(err)
			}
		}
		for q, index := range map[string]string{
			selectClaims + ` WHERE account_id = ? AND ` + holdingClaim:                                   "account_claims_one_holder",
			selectClaims + ` WHERE account_id = ? ORDER BY claimed_at DESC, order_id DESC, run_key DESC`: "account_claims_by_account",
		} {
			rows, err := conn.QueryContext(ctx, explain+s.dialect.rebind(q), account)
			if err != nil {
				t.Fatal(err)
			}
			var plan strings.Builder
			cols, _ := rows.Columns()
			for rows.Next() {
				vals := make([]any, len(cols))
				ptrs := make([]any, len(cols))
				for i := range vals {
					ptrs[i] = &vals[i]
				}
				if err := rows.Scan(ptrs...); err != nil {
					t.Fatal(err)
				}
				fmt.Fprintln(&plan, vals...)
			}
			rows.Close()
			if !strings.Contains(plan.String(), index) {
				t.Errorf("%s: %s\nis not served by %s:\n%s", s.Dialect(), q, index, plan.String())
			}
		}
	}
}

const account = "999999999999"
