package main

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cloudmarket/termination-orders/api"
	"github.com/cloudmarket/termination-orders/codec"
	"github.com/cloudmarket/termination-orders/internal/command"
)

// run runs termination-api in this process and returns its exit status and
// what it printed.
func run(args ...string) (code int, stdout, stderr string) {
	cmd := newCommand()
	var out, errOut strings.Builder
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	code = command.Execute(context.Background(), cmd, args)
	return code, out.String(), errOut.String()
}

func TestNewKeyCommand(t *testing.T) {
	code, out, errOut := run("new-key", "--name", "shop-backend", "--role", "backend")
	require.Equal(t, 0, code, errOut)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 2)
	key := lines[0][strings.LastIndex(lines[0], " ")+1:]
	entry := lines[1][strings.LastIndex(lines[1], " ")+1:]
	require.True(t, strings.HasPrefix(key, "tok_"), key)
	k, err := api.ParseKey(entry)
	require.NoError(t, err)
	require.Equal(t, api.Key{Name: "shop-backend", Role: api.RoleBackend, Hash: api.HashKey(key)}, k)
	require.NotContains(t, entry, key)

	code, _, errOut = run("new-key", "--name", "x", "--role", "admin")
	require.Equal(t, 2, code)
	require.Contains(t, errOut, "termination-api new-key: --role: role must be one of")
	code, _, errOut = run("new-key", "--nme", "x")
	require.Equal(t, 2, code)
	require.Contains(t, errOut, "unknown flag: --nme")
}

func TestNewEncryptionKeyCommand(t *testing.T) {
	code, out, errOut := run("new-encryption-key", "--id", "2026-11")
	require.Equal(t, 0, code, errOut)
	// stdout is only the key file's line, so `>> keys` appends a usable key.
	keys, err := codec.ParseKeyFile(out)
	require.NoError(t, err)
	require.Len(t, keys, 1)
	assert.Equal(t, "2026-11", keys[0].ID)
	assert.Len(t, keys[0].Secret, codec.KeySize)
	assert.Contains(t, errOut, "codec.active_key=2026-11")
	assert.NotContains(t, errOut, out[len("2026-11:"):len(out)-1])

	code, _, errOut = run("new-encryption-key", "--id", "bad id")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, `--id: key ID "bad id"`)
}

// Bad flags and settings run nothing and exit 2; an unknown subcommand is
// named.
func TestBadInputExitsTwo(t *testing.T) {
	t.Setenv("TEMPORAL_CONFIG_FILE", t.TempDir()+"/none.toml")
	code, _, errOut := run("--api-address", "8234")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "termination-api: invalid configuration: api.listen_address (flag --api-address, env TERMINATION_API_LISTEN_ADDRESS)")
	code, _, errOut = run("new-kee")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, `unknown command "new-kee"`)
	code, _, errOut = run("--no-such-flag")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "unknown flag: --no-such-flag")
	code, out, _ := run("--help")
	assert.Equal(t, 0, code)
	for _, want := range []string{"new-key", "new-encryption-key", "--health-check", "--api-address"} {
		assert.Contains(t, out, want)
	}
}
