package api_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cloudmarket/termination-orders/api"
	"github.com/cloudmarket/termination-orders/config"
)

func TestNewKeyCommand(t *testing.T) {
	var out, errOut strings.Builder
	require.Equal(t, 0, api.NewKeyCommand([]string{"--name", "shop-backend", "--role", "backend"}, &out, &errOut), errOut.String())
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 2)
	key := lines[0][strings.LastIndex(lines[0], " ")+1:]
	entry := lines[1][strings.LastIndex(lines[1], " ")+1:]
	require.True(t, strings.HasPrefix(key, "tok_"), key)
	k, err := config.ParseAPIKey(entry)
	require.NoError(t, err)
	require.Equal(t, config.APIKey{Name: "shop-backend", Role: "backend", Hash: api.HashKey(key)}, k)
	require.NotContains(t, entry, key)

	require.Equal(t, 2, api.NewKeyCommand([]string{"--name", "x", "--role", "admin"}, &out, &errOut))
	require.Contains(t, errOut.String(), "role must be one of")
}

func TestRolesAreTheConfigsRoles(t *testing.T) {
	var roles []string
	for _, r := range api.Roles {
		roles = append(roles, string(r))
	}
	require.Equal(t, config.APIRoles, roles)
}
