package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/server/temporaltest"

	"github.com/cloudmarket/termination-orders/activities"
	"github.com/cloudmarket/termination-orders/starter/cli"
	"github.com/cloudmarket/termination-orders/store"
	"github.com/cloudmarket/termination-orders/worker"
)

type ctl struct {
	t     *testing.T
	flags []string
	// worker is the worker behind the orders; a test may stop it.
	worker interface{ Stop() }
}

// run executes terminationctl in-process and returns its exit code and output.
func (c ctl) run(stdin string, args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := cli.Run(context.Background(), append(args, c.flags...), strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

func newCtl(t *testing.T) ctl {
	t.Helper()
	for _, e := range os.Environ() { // keep the developer's settings out
		if name, _, _ := strings.Cut(e, "="); strings.HasPrefix(name, "TEMPORAL_") || strings.HasPrefix(name, "TERMINATION_") {
			t.Setenv(name, "")
			os.Unsetenv(name)
		}
	}
	ts := temporaltest.NewServer(temporaltest.WithT(t))
	c := ts.GetDefaultClient()
	require.NoError(t, worker.RegisterSearchAttributes(context.Background(), c, ts.GetDefaultNamespace()))
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "status.db")
	st, err := store.Open(context.Background(), dsn)
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	w := worker.New(c, st, worker.Options{TaskQueue: "cli-test", Policy: activities.Policy{ReopenWindow: time.Hour}, StopTimeout: 5 * time.Second})
	require.NoError(t, w.Start())
	t.Cleanup(w.Stop)
	return ctl{t: t, worker: w, flags: []string{
		"--temporal-address", ts.GetFrontendHostPort(), "--temporal-namespace", ts.GetDefaultNamespace(),
		"--task-queue", "cli-test", "--store-dsn", dsn, "--log-level", "warn",
	}}
}

func TestOperationsWalkthrough(t *testing.T) {
	c := newCtl(t)
	code, out, errOut := c.run("", "start", "--order-id", "ORD-CLI-1", "--subscription-id", "SUB-9", "--account-id", "123456789012",
		"--item", "ITM-1", "--item", "ITM-2", "--requested-by", "jane.doe@example.com")
	require.Equal(t, cli.ExitOK, code, errOut)
	require.Contains(t, out, "Started termination order ORD-CLI-1: workflow termination-ORD-CLI-1, run ")

	code, _, errOut = c.run("", "start", "--order-id", "ORD-CLI-1", "--subscription-id", "SUB-9", "--account-id", "123456789012",
		"--item", "ITM-1", "--requested-by", "jane.doe@example.com")
	require.Equal(t, cli.ExitRejected, code)
	require.Contains(t, errOut, "order already exists: order ORD-CLI-1 was already started as workflow termination-ORD-CLI-1")

	code, out, errOut = c.run("", "unlink", "ORD-CLI-1", "--completed-by", "ops.sam@example.com", "--reference", "OPS-7781")
	require.Equal(t, cli.ExitOK, code, errOut)
	require.Contains(t, out, "it can be reopened until")

	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		code, out, _ := c.run("", "list", "--stage", "PostClosure")
		require.Equal(ct, cli.ExitOK, code)
		require.Contains(ct, out, "ORD-CLI-1")
		code, out, _ = c.run("", "list", "--stage", "PostClosure", "--limit", "1", "--json")
		require.Equal(ct, cli.ExitOK, code)
		var page struct {
			Orders []map[string]any `json:"orders"`
		}
		require.NoError(ct, json.Unmarshal([]byte(out), &page))
		require.Len(ct, page.Orders, 1)
		require.Equal(ct, "ORD-CLI-1", page.Orders[0]["orderId"], "the contract's camelCase names: %s", out)
		require.Equal(ct, "123456789012", page.Orders[0]["accountId"])
	}, 30*time.Second, 200*time.Millisecond)

	code, out, errOut = c.run("", "status", "ORD-CLI-1")
	require.Equal(t, cli.ExitOK, code, errOut)
	require.Contains(t, out, "PostClosure (order status Completed)")
	require.Contains(t, out, "Reopen by")

	code, out, errOut = c.run("", "reopen", "ORD-CLI-1", "--requested-by", "jane.doe@example.com", "--reason", "Still need it")
	require.Equal(t, cli.ExitOK, code, errOut)
	require.Contains(t, out, "Reopened (order status Completed)")

	// The update answers once the reopen is decided; its message is stored
	// behind the answer.
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		code, out, errOut := c.run("", "messages", "ORD-CLI-1")
		require.Equal(ct, cli.ExitOK, code, errOut)
		require.Contains(ct, out, "was reopened on")
		require.Equal(ct, 3, strings.Count(out, "UTC  "), "three messages listed: %s", out)
	}, 10*time.Second, 100*time.Millisecond)

	code, _, errOut = c.run("", "cancel", "ORD-CLI-1", "--requested-by", "jane", "--reason", "too late")
	require.Equal(t, cli.ExitRejected, code)
	require.Contains(t, errOut, "can no longer be cancelled")
}

func TestStartFromJSONFile(t *testing.T) {
	c := newCtl(t)
	body := `{"orderId":"ORD-CLI-J","subscriptionId":"SUB-1","accountId":"123456789012","terminationType":"CloseAccount",
		"items":[{"itemId":"ITM-1","quantity":0}],"requestedBy":"backend@example.com","submittedAt":"2026-11-26T10:00:00Z"}`
	code, out, errOut := c.run(body, "start", "--file", "-")
	require.Equal(t, cli.ExitOK, code, errOut)
	require.Contains(t, out, "ORD-CLI-J")
	code, out, _ = c.run("", "status", "ORD-CLI-J", "--json")
	require.Equal(t, cli.ExitOK, code)
	require.Contains(t, out, `"stage": "AwaitingUnlink"`)
	require.Contains(t, out, `"orderStatus": "Processing"`)
}

func TestBadInputIsAnsweredAndStartsNothing(t *testing.T) {
	c := newCtl(t)
	tests := []struct {
		name  string
		stdin string
		args  []string
		code  int
		want  string
	}{
		{"invalid account", "", []string{"start", "--order-id", "ORD-X", "--subscription-id", "S", "--account-id", "12ab", "--item", "I", "--requested-by", "me"},
			cli.ExitInvalid, "accountId: must be a 12-digit AWS account ID"},
		{"no items", "", []string{"start", "--order-id", "ORD-X", "--subscription-id", "S", "--account-id", "123456789012", "--requested-by", "me"},
			cli.ExitInvalid, "items: must list at least one item"},
		{"non-zero quantity in JSON", `{"orderId":"ORD-X","subscriptionId":"S","accountId":"123456789012","terminationType":"CloseAccount","items":[{"itemId":"I","quantity":5}],"requestedBy":"me"}`,
			[]string{"start", "--file", "-"}, cli.ExitInvalid, "items[0].quantity: must be 0"},
		{"unknown JSON field", `{"orderID":"ORD-X"}`, []string{"start", "--file", "-"}, cli.ExitInvalid, `orderID: is not a field of the order`},
		{"file and flags", "{}", []string{"start", "--file", "-", "--order-id", "ORD-X"}, cli.ExitInvalid, "do not combine"},
		{"unlink without reference", "", []string{"unlink", "ORD-X", "--completed-by", "ops"}, cli.ExitInvalid, "reference: is required"},
		{"future completedAt", "", []string{"unlink", "ORD-X", "--completed-by", "ops", "--reference", "R", "--completed-at", "2999-01-01T00:00:00Z"},
			cli.ExitInvalid, "completedAt: must not be in the future"},
		{"bad order ID", "", []string{"status", "ORD X"}, cli.ExitInvalid, "orderId: may contain only"},
		{"missing order ID", "", []string{"status"}, cli.ExitInvalid, "expected one ORDER_ID argument"},
		{"bad stage", "", []string{"list", "--stage", "Closed"}, cli.ExitInvalid, "stage: must be one of"},
		{"bad limit", "", []string{"list", "--limit", "0"}, cli.ExitInvalid, "--limit must be between 1 and 1000"},
		{"bad page token", "", []string{"list", "--page-token", "!!"}, cli.ExitInvalid, "--page-token is not a token printed by list"},
		{"bad request ID", "", []string{"cancel", "ORD-X", "--requested-by", "jane", "--reason", "r", "--request-id", "a b"}, cli.ExitInvalid, "requestId: may contain only"},
		{"bad setting", "", []string{"status", "ORD-X", "--log-format", "xml"}, cli.ExitInvalid, "log.format"},
		{"unknown flag", "", []string{"status", "ORD-X", "--colour"}, cli.ExitInvalid, "unknown flag: --colour"},
		{"unknown order", "", []string{"status", "ORD-NOPE"}, cli.ExitNotFound, "order not found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := c.run(tc.stdin, tc.args...)
			require.Equal(t, tc.code, code, errOut)
			require.Contains(t, errOut, tc.want)
		})
	}
	code, out, _ := c.run("", "list")
	require.Equal(t, cli.ExitOK, code)
	require.Contains(t, out, "No orders.", "bad input started nothing")
}

func TestMessagesNeedAnExistingStore(t *testing.T) {
	dir := t.TempDir()
	c := ctl{t: t, flags: []string{"--store-dsn", "sqlite:" + filepath.Join(dir, "status.db")}}
	code, _, errOut := c.run("", "messages", "ORD-X")
	require.Equal(t, cli.ExitInvalid, code)
	require.Contains(t, errOut, "no status store at "+filepath.Join(dir, "status.db"))
	_, err := os.Stat(filepath.Join(dir, "status.db"))
	require.True(t, os.IsNotExist(err), "reading created a store")
}

// A server that takes the connection and never answers: the caller is told
// the outcome is unknown, with the request ID to retry with.
func TestSilentServerLeavesTheOutcomeUnknown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { conn.Close() }) // held open, never answered
		}
	}()
	c := ctl{t: t, flags: []string{"--temporal-address", ln.Addr().String(), "--timeout", "2s", "--log-level", "error"}}
	code, _, errOut := c.run("", "cancel", "ORD-X", "--requested-by", "jane", "--reason", "r", "--request-id", "REQ-7")
	require.Equal(t, cli.ExitUnknown, code, errOut)
	require.Contains(t, errOut, "outcome of the cancel request for order ORD-X is unknown")
	require.Contains(t, errOut, "request ID REQ-7")
	code, _, errOut = c.run("", "status", "ORD-X")
	require.Equal(t, cli.ExitFailure, code, errOut)
	require.Contains(t, errOut, "no answer")
}

func TestUnreachableServerTimesOut(t *testing.T) {
	c := ctl{t: t, flags: []string{"--temporal-address", "127.0.0.1:1", "--timeout", "2s", "--log-level", "error"}}
	code, _, errOut := c.run("", "status", "ORD-X")
	require.Equal(t, cli.ExitFailure, code)
	require.Contains(t, errOut, "read status of order ORD-X")
	code, _, errOut = c.run("", "cancel", "ORD-X", "--requested-by", "jane", "--reason", "r")
	require.Equal(t, cli.ExitFailure, code, "refused connections: nothing was sent: %s", errOut)
	c.flags = []string{"--temporal-address", "127.0.0.1:1", "--timeout", "0s"}
	code, _, errOut = c.run("", "status", "ORD-X")
	require.Equal(t, cli.ExitInvalid, code)
	require.Contains(t, errOut, "--timeout must be positive")
}
