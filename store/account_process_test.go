package store_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cloudmarket/termination-orders/order"
	"github.com/cloudmarket/termination-orders/store"
)

// The environment of a claiming child process: the store, the order it
// claims for, and the directory where it says it is ready and waits to start.
const (
	childDSN   = "STORE_TEST_CHILD_DSN"
	childOrder = "STORE_TEST_CHILD_ORDER"
	childSync  = "STORE_TEST_CHILD_SYNC"
)

const outcomePrefix = "claim outcome: "

// Claims of one account from separate processes, each with its own store
// (for SQLite: its own file locks; for PostgreSQL: its own sessions), started
// together: exactly one holds the account, the others are refused naming it.
func TestClaimsFromManyProcesses(t *testing.T) {
	if dsn := os.Getenv(childDSN); dsn != "" {
		claimAsChild(t, dsn, os.Getenv(childOrder), os.Getenv(childSync))
		return
	}
	forEachStore(t, func(t *testing.T, dsn string, s *store.Store) {
		const processes = 10
		syncDir := t.TempDir()
		outs := make([]bytes.Buffer, processes)
		cmds := make([]*exec.Cmd, processes)
		for i := range cmds {
			cmd := exec.Command(os.Args[0], "-test.run=^TestClaimsFromManyProcesses$", "-test.count=1")
			cmd.Env = append(os.Environ(), childDSN+"="+dsn, childOrder+"="+fmt.Sprintf("PROC-%02d", i), childSync+"="+syncDir)
			cmd.Stdout, cmd.Stderr = &outs[i], &outs[i]
			require.NoError(t, cmd.Start())
			cmds[i] = cmd
		}
		require.Eventually(t, func() bool {
			ready, _ := filepath.Glob(filepath.Join(syncDir, "ready-*"))
			return len(ready) == processes
		}, time.Minute, 5*time.Millisecond, "the processes did not all open the store")
		require.NoError(t, os.WriteFile(filepath.Join(syncDir, "start"), nil, 0o600))

		outcomes := make([]string, processes)
		for i, cmd := range cmds {
			err := cmd.Wait()
			require.NoError(t, err, "process %d:\n%s", i, outs[i].String())
			outcomes[i] = outcomeOf(t, outs[i].String())
		}
		var winner string
		for i, o := range outcomes {
			if o == "accepted" {
				require.Empty(t, winner, "two processes' claims accepted: %v", outcomes)
				winner = fmt.Sprintf("PROC-%02d", i)
			}
		}
		require.NotEmpty(t, winner, "no claim accepted: %v", outcomes)
		for _, o := range outcomes {
			if o != "accepted" {
				require.Equal(t, "refused by "+winner+" at "+string(order.StageAwaitingUnlink), o)
			}
		}
		acc, err := s.Account(context.Background(), account)
		require.NoError(t, err)
		require.Equal(t, winner, acc.Holder.OrderID)
		require.Len(t, acc.Orders, 1)
	})
}

func claimAsChild(t *testing.T, dsn, orderID, syncDir string) {
	ctx := context.Background()
	s, err := store.Open(ctx, dsn)
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, os.WriteFile(filepath.Join(syncDir, "ready-"+orderID), nil, 0o600))
	require.Eventually(t, func() bool {
		_, err := os.Stat(filepath.Join(syncDir, "start"))
		return err == nil
	}, time.Minute, time.Millisecond)
	err = s.Claim(ctx, claimOf(orderID, "SUB-"+orderID[len(orderID)-1:], time.Now()))
	var r *order.AccountRefusal
	switch {
	case err == nil:
		fmt.Println(outcomePrefix + "accepted")
	case errors.As(err, &r):
		fmt.Println(outcomePrefix + "refused by " + r.Holder.OrderID + " at " + string(r.Holder.Stage))
	default:
		t.Fatalf("claim: %v", err)
	}
}

func outcomeOf(t *testing.T, out string) string {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if o, ok := strings.CutPrefix(sc.Text(), outcomePrefix); ok {
			return o
		}
	}
	t.Fatalf("no claim outcome in the process's output:\n%s", out)
	return ""
}
