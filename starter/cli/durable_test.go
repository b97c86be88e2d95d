package cli_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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
