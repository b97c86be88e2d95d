package cli_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cloudmarket/termination-orders/internal/netfault"
	"github.com/cloudmarket/termination-orders/order"
	"github.com/cloudmarket/termination-orders/starter/cli"
)

// Defect: terminationctl status asked the order's workflow, which failed
// while workers were stopped. It reads the status store now: with every
// worker stopped it prints what the workflow answered (status --live)
// while it ran; --live needs a worker and says so.
func TestStatusWithEveryWorkerStopped(t *testing.T) {
	c := newCtl(t)
	code, _, errOut := c.run("", "start", "--order-id", "ORD-CLI-DUR", "--subscription-id", "SUB-9", "--account-id", "123456789013",
		"--item", "ITM-1", "--requested-by", "jane.doe@example.com")
	require.Equal(t, cli.ExitOK, code, errOut)
	code, _, errOut = c.run("", "unlink", "ORD-CLI-DUR", "--completed-by", "ops.sam@example.com", "--reference", "OPS-7782")
	require.Equal(t, cli.ExitOK, code, errOut)

	var live string
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		code, out, errOut := c.run("", "status", "ORD-CLI-DUR", "--live", "--json")
		require.Equal(ct, cli.ExitOK, code, errOut)
		var s order.Status
		require.NoError(ct, json.Unmarshal([]byte(out), &s))
		require.Equal(ct, order.StagePostClosure, s.Stage)
		code, msgs, errOut := c.run("", "messages", "ORD-CLI-DUR")
		require.Equal(ct, cli.ExitOK, code, errOut)
		require.Equal(ct, len(s.Timeline), strings.Count(msgs, "UTC  "), "every message stored: %s", msgs)
		live = out
	}, 30*time.Second, 100*time.Millisecond)
	code, out, errOut := c.run("", "status", "ORD-CLI-DUR", "--json")
	require.Equal(t, cli.ExitOK, code, errOut)
	require.Equal(t, live, out, "the stored status is the workflow's")

	c.worker.Stop()
	code, out, errOut = c.run("", "status", "ORD-CLI-DUR", "--json")
	require.Equal(t, cli.ExitOK, code, errOut)
	require.Equal(t, live, out, "with every worker stopped")
	code, out, errOut = c.run("", "status", "ORD-CLI-DUR")
	require.Equal(t, cli.ExitOK, code, errOut)
	require.Contains(t, out, "PostClosure (order status Completed)")
	require.Contains(t, out, "Reopen by")

	code, _, errOut = c.run("", "status", "ORD-CLI-DUR", "--live", "--timeout", "3s")
	require.Equal(t, cli.ExitFailure, code, "the live status needs a worker")
	require.Contains(t, errOut, "no answer")
}

// Defect: terminationctl opened the status store with nothing but the
// command's --timeout to bound it, so a store that took the connection and
// never answered used all of it, and the status that would have come from
// the workflow failed with it. store.connect_timeout bounds the open now;
// the rest of the --timeout is left for the workflow's answer.
func TestStatusWithAStoreThatNeverAnswers(t *testing.T) {
	c := newCtl(t)
	code, _, errOut := c.run("", "start", "--order-id", "ORD-CLI-SILENT", "--subscription-id", "SUB-9", "--account-id", "123456789014",
		"--item", "ITM-1", "--requested-by", "jane.doe@example.com")
	require.Equal(t, cli.ExitOK, code, errOut)

	silent, err := netfault.Silent()
	require.NoError(t, err)
	t.Cleanup(func() { silent.Close() })
	t.Setenv("TERMINATION_STORE_CONNECT_TIMEOUT", "1s")
	c.flags = append(c.flags, "--store-dsn", "postgres://termination@"+silent.Addr()+"/db?sslmode=disable", "--timeout", "8s")
	code, out, errOut := c.run("", "status", "ORD-CLI-SILENT", "--json")
	require.Equal(t, cli.ExitOK, code, "the status comes from the workflow: %s", errOut)
	var s order.Status
	require.NoError(t, json.Unmarshal([]byte(out), &s))
	require.Equal(t, order.StageAwaitingUnlink, s.Stage)

	code, _, errOut = c.run("", "messages", "ORD-CLI-SILENT")
	require.Equal(t, cli.ExitFailure, code, "messages are only in the store")
	require.Contains(t, errOut, "did not answer within 1s")
}
