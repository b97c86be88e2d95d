package activities

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/cloudmarket/termination-orders/order"
)

// AcceptInput is what the acceptance step decides on: the start input exactly
// as the client sent it, and the workflow it started.
type AcceptInput struct {
	// Input is the start input's JSON; nil when the start carried none or
	// carried something that is not JSON.
	Input []byte `json:"input"`
	// InputProblem says why Input is nil when the start carried something.
	InputProblem string `json:"inputProblem,omitempty"`
	WorkflowID   string `json:"workflowId"`
	// RunKey identifies this life of the order in the status store.
	RunKey string `json:"runKey"`
}

// Acceptance is the acceptance step's decision, recorded in history.
type Acceptance struct {
	// Order is the decoded input.
	Order order.Order `json:"order"`
	// Problems lists every broken rule; empty when the order is accepted.
	Problems []order.FieldError `json:"problems,omitempty"`
	// Owner is the order whose page this run may write to: the order of its
	// workflow ID, unless that order already lived. "" for none.
	Owner string `json:"owner,omitempty"`
	// PriorLife is set when the order already lived under another run (the
	// status store remembers every order, also after Temporal's retention):
	// this run must change nothing.
	PriorLife *PriorLife `json:"priorLife,omitempty"`
	// ReopenWindow is the order's post-closure period, fixed now: its own
	// override or the worker's policy.
	ReopenWindow time.Duration `json:"reopenWindow"`
	// At is when the decision was made, by the worker's clock.
	At time.Time `json:"at"`
	// Notify is the timing of the order's notifications, fixed now from the
	// worker's policy.
	Notify NotifyPolicy `json:"notify,omitzero"`
}

// DefaultGiveUpAfter bounds the retries of a failed notification when the
// policy does not.
const DefaultGiveUpAfter = 72 * time.Hour

// PriorLife is the earlier life of an order: its latest stored message.
type PriorLife struct {
	Stage order.Stage `json:"stage"`
	At    time.Time   `json:"at"`
}

// Error describes the refusal for the person who started the duplicate.
func (p PriorLife) Error() string {
	return fmt.Sprintf("this order was already processed: it reached %s on %s under another workflow run, and one order closes an account at most once; nothing was changed",
		p.Stage, order.FormatTime(p.At))
}

// Accepted reports whether the order may go ahead.
func (a Acceptance) Accepted() bool { return len(a.Problems) == 0 && a.PriorLife == nil }

// Invalid returns the broken rules as one error, or nil.
func (a Acceptance) Invalid() error {
	if len(a.Problems) == 0 {
		return nil
	}
	fields := make([]*order.FieldError, len(a.Problems))
	for i := range a.Problems {
		fields[i] = &a.Problems[i]
	}
	return &order.ValidationError{Subject: "termination order", Fields: fields}
}

// AcceptOrder is the acceptance step of every order: it decodes and validates
// the start input by the worker's current rules, checks that the order runs
// under its own workflow ID, fixes its reopen window from the worker's policy,
// and asks the status store whether the order already lived. Its answer is
// recorded in history, so a stricter rule or another policy deployed later
// never changes an order that was already accepted.
func (a *Activities) AcceptOrder(ctx context.Context, in AcceptInput) (Acceptance, error) {
	now := a.now().UTC()
	if in.Input == nil {
		problem := in.InputProblem
		if problem == "" {
			problem = "is required: the start takes one termination order"
		}
		acc := Acceptance{Problems: []order.FieldError{{Field: "(input)", Rule: problem}}, At: now}
		return a.checkPriorLife(ctx, acc, in)
	}
	o := order.DecodeJSON(in.Input)
	acc := Acceptance{Order: o, At: now, ReopenWindow: o.ReopenWindow(a.Policy.ReopenWindow)}
	for _, err := range []error{o.Validate(now), order.CheckWorkflowID(o, in.WorkflowID)} {
		var verr *order.ValidationError
		if errors.As(err, &verr) {
			for _, f := range verr.Fields {
				acc.Problems = append(acc.Problems, *f)
			}
		}
	}
	if len(acc.Problems) > 0 {
		acc.ReopenWindow = 0
	} else {
		acc.Notify = a.Policy.Notify
		if acc.Notify.GiveUpAfter <= 0 {
			acc.Notify.GiveUpAfter = DefaultGiveUpAfter
		}
	}
	return a.checkPriorLife(ctx, acc, in)
}

// checkPriorLife finds the order the run may write to and whether it already
// lived. Only a life that failed on invalid input may be followed by another.
func (a *Activities) checkPriorLife(ctx context.Context, acc Acceptance, in AcceptInput) (Acceptance, error) {
	owner := order.OwnerOf(in.WorkflowID)
	if owner == "" {
		return acc, nil
	}
	prior, found, err := a.Store.PriorLife(ctx, owner, in.RunKey)
	if err != nil {
		return Acceptance{}, fmt.Errorf("check whether order %s already lived: %w", owner, err)
	}
	if found {
		acc.PriorLife = &PriorLife{Stage: prior.Stage, At: prior.OccurredAt}
		activity.GetLogger(ctx).Warn("Order refused: it already lived under another run", "OrderID", owner, "PriorStage", prior.Stage)
		return acc, nil
	}
	acc.Owner = owner
	return acc, nil
}
