package cli_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cloudmarket/termination-orders/starter/cli"
)

// startFor is the start command of an order for subscription sub of the AWS
// account acct.
func startFor(id, sub, acct string) []string {
	return []string{"start", "--order-id", id, "--subscription-id", sub, "--account-id", acct,
		"--item", "ITM-1", "--requested-by", "jane.doe@example.com"}
}

// A start for an AWS account that another order holds is refused with its
// own exit code, and the message names the holder and its stage.
func TestStartRefusedForItsAccountExitsRefused(t *testing.T) {
	c := newCtl(t)
	const acct = "417000000117"
	code, _, errOut := c.run("", startFor("ACCT-CLI-1", "SUB-ACCT-CLI-1", acct)...)
	require.Equal(t, cli.ExitOK, code, errOut)

	code, out, errOut := c.run("", startFor("ACCT-CLI-2", "SUB-ACCT-CLI-2", acct)...)
	require.Equal(t, cli.ExitRefused, code, errOut)
	require.NotContains(t, out, "Started")
	require.Contains(t, errOut, "termination order ACCT-CLI-2 was refused: AWS account "+acct+
		" is already in termination by order ACCT-CLI-1 (subscription SUB-ACCT-CLI-1, stage AwaitingUnlink)")
}
