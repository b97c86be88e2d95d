package api

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cloudmarket/termination-orders/starter"
)

// The refusals of a start that the real-server tests cannot provoke cheaply
// (an order beyond Temporal's retention, input only the workers refuse) get
// their own problems, not a 500.
func TestStartRefusalsHaveTheirProblems(t *testing.T) {
	for err, want := range map[error]struct {
		typ    string
		status int
	}{
		fmt.Errorf("%w: order ACCT-P-1: it was processed on 1 December 2026", starter.ErrOrderAlreadyProcessed): {TypeOrderAlreadyProcessed, http.StatusConflict},
		fmt.Errorf("%w: order ACCT-P-2: submittedAt is in the future", starter.ErrInvalid):                      {TypeInvalidInput, http.StatusBadRequest},
	} {
		p := problemFor(err)
		require.Equal(t, want.typ, p.Type, err.Error())
		require.Equal(t, want.status, p.Status)
		require.Equal(t, err.Error(), p.Detail)
		require.True(t, cacheable(p), "a definite answer: a retry with the same key gets it again")
	}
}
