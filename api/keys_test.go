package api_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cloudmarket/termination-orders/api"
)

// A new key's entry is what the server reads back: its name, its role and
// the hash of the key, never the key itself.
func TestNewKeyEntryReadsBack(t *testing.T) {
	key, entry, err := api.NewKey("shop-backend", api.RoleBackend)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(key, "tok_"), key)
	require.NotContains(t, entry, key)
	k, err := api.ParseKey(entry)
	require.NoError(t, err)
	require.Equal(t, api.Key{Name: "shop-backend", Role: api.RoleBackend, Hash: api.HashKey(key)}, k)
	require.Equal(t, entry, k.Entry())

	_, _, err = api.NewKey("bad name", api.RoleReader)
	require.ErrorContains(t, err, "without spaces or commas")
}

func TestParseKeyRefusesWhatNoCallerCouldUse(t *testing.T) {
	hash := api.HashKey("tok_x")
	for entry, want := range map[string]string{
		"shop:admin:" + hash:                 `key shop: role must be one of backend, operations, reader, got "admin"`,
		"shop:backend:tok_pasted-by-mistake": "key shop: the hash must be 64 hex digits",
		"shop:backend":                       "must be name:role:sha256-hex",
		":reader:" + hash:                    "the name must be non-empty",
	} {
		_, err := api.ParseKey(entry)
		require.ErrorContains(t, err, want, entry)
		require.NotContains(t, err.Error(), "tok_pasted", "an error must not quote the entry")
	}
	for _, r := range api.Roles {
		k, err := api.ParseKey("k:" + string(r) + ":" + strings.ToUpper(hash))
		require.NoError(t, err)
		require.Equal(t, api.Key{Name: "k", Role: r, Hash: hash}, k)
	}
}
