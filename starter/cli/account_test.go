package cli_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cloudmarket/termination-orders/order"
	"github.com/cloudmarket/termination-orders/starter/cli"
	"github.com/cloudmarket/termination-orders/store"
)

// startFor is the start command of an order for subscription sub of the AWS
// account acct.
func startFor(id, sub, acct string) []string {
	return []string{"start", "--order-id", id, "--subscription-id", sub, "--account-id", acct,
		"--item", "ITM-1", "--requested-by", "jane.doe@example.com"}
}

// A start for an AWS account that another order holds is refused with its
// own exit code, and the message names the holder and its stage; the
// account command shows the holder and the orders that held the account.
func TestStartRefusedForItsAccountExitsRefused(t *testing.T) {
	c := newCtl(t)
	const acct = "417000000117"
	code, out, errOut := c.run("", "account", acct)
	require.Equal(t, cli.ExitOK, code, errOut)
	require.Contains(t, out, "Free: no order holds it")
	require.Contains(t, out, "No order has held it.")

	code, _, errOut = c.run("", startFor("ACCT-CLI-1", "SUB-ACCT-CLI-1", acct)...)
	require.Equal(t, cli.ExitOK, code, errOut)

	code, out, errOut = c.run("", startFor("ACCT-CLI-2", "SUB-ACCT-CLI-2", acct)...)
	require.Equal(t, cli.ExitRefused, code, errOut)
	require.NotContains(t, out, "Started")
	require.Contains(t, errOut, "termination order ACCT-CLI-2 was refused: AWS account "+acct+
		" is already in termination by order ACCT-CLI-1 (subscription SUB-ACCT-CLI-1, stage AwaitingUnlink)")
	require.Contains(t, errOut, "(see terminationctl account "+acct+")")

	code, out, errOut = c.run("", "account", acct)
	require.Equal(t, cli.ExitOK, code, errOut)
	require.Contains(t, out, "InTermination by order ACCT-CLI-1 (subscription SUB-ACCT-CLI-1, stage AwaitingUnlink) since ")
	require.Contains(t, out, "Orders, newest first")
	require.Regexp(t, `ACCT-CLI-1\s+SUB-ACCT-CLI-1\s+AwaitingUnlink\s+\S+\s+-`, out)
	require.NotContains(t, out, "ACCT-CLI-2", "the refused order never held the account")

	code, out, errOut = c.run("", "account", acct, "--json")
	require.Equal(t, cli.ExitOK, code, errOut)
	var a order.Account
	require.NoError(t, json.Unmarshal([]byte(out), &a), out)
	require.Equal(t, order.AccountInTermination, a.State)
	require.Equal(t, "ACCT-CLI-1", a.Holder.OrderID)
	require.Len(t, a.Orders, 1)
}

// An account closed for good shows the date and the order that closed it,
// read from the status store alone (no Temporal server).
func TestAccountClosedForGood(t *testing.T) {
	ctx := context.Background()
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "status.db")
	st, err := store.Open(ctx, dsn)
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	const acct = "417000000127"
	claimed := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	closed := claimed.Add(90 * 24 * time.Hour)
	require.NoError(t, st.Claim(ctx, order.Claim{AccountID: acct, OrderID: "ACCT-CLI-3", SubscriptionID: "SUB-ACCT-CLI-3",
		RunKey: "run-acct-cli-3", ClaimedAt: claimed}))
	_, err = st.Record(ctx, store.Message{OrderID: "ACCT-CLI-3", RunID: "run-acct-cli-3", Seq: 3, Stage: order.StagePermanentlyClosed,
		OrderStatus: order.StagePermanentlyClosed.OrderStatus(), Text: "closed for good", OccurredAt: closed})
	require.NoError(t, err)

	c := ctl{t: t, flags: []string{"--store-dsn", dsn, "--log-level", "warn"}}
	code, out, errOut := c.run("", "account", acct)
	require.Equal(t, cli.ExitOK, code, errOut)
	require.Contains(t, out, "ClosedForGood on "+order.FormatTime(closed)+" by order ACCT-CLI-3 (subscription SUB-ACCT-CLI-3)")
	require.Regexp(t, `ACCT-CLI-3\s+SUB-ACCT-CLI-3\s+PermanentlyClosed\s+2026-11-02T09:00:00Z\s+`+closed.Format(time.RFC3339), out)
}

func TestAccountNeedsAnAccountID(t *testing.T) {
	c := ctl{t: t, flags: []string{"--store-dsn", "sqlite:" + filepath.Join(t.TempDir(), "status.db")}}
	for args, want := range map[[2]string]string{
		{"account", "41700000012"}:  "accountId: must be a 12-digit AWS account ID",
		{"account", "41700000012x"}: "accountId: must be a 12-digit AWS account ID",
		{"account", ""}:             "accountId: must be a 12-digit AWS account ID",
	} {
		code, _, errOut := c.run("", args[:]...)
		require.Equal(t, cli.ExitInvalid, code, errOut)
		require.Contains(t, errOut, want)
	}
	code, _, errOut := c.run("", "account")
	require.Equal(t, cli.ExitInvalid, code)
	require.Contains(t, errOut, "expected one ACCOUNT_ID argument, got 0")
	code, _, errOut = c.run("", "account", "417000000127")
	require.Equal(t, cli.ExitInvalid, code)
	require.Contains(t, errOut, "no status store at", "looking up creates no store")
}
