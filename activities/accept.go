package activities

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/cloudmarket/termination-orders/order"
	"github.com/cloudmarket/termination-orders/store"
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
	// AccountRefused is set when the order's AWS account is held by another
	// order or was closed for good: this run changes nothing but its own
	// order's page, and tells nobody.
	AccountRefused *order.AccountRefusal `json:"accountRefused,omitempty"`
	// ReopenWindow is the order's post-closure period, fixed now: its own
	// override or the worker's policy.
	ReopenWindow time.Duration `json:"reopenWindow"`
	// At is when the decision was made, by the worker's clock.
	At time.Time `json:"at"`
	// Notify is the timing of the order's notifications, fixed now from the
	// worker's policy.
	Notify NotifyPolicy `json:"notify,omitzero"`
	// AWS is how the order uses AWS Organizations, fixed now from the
	// worker's policy; its zero value (and every order accepted before AWS
	// was asked) takes Operations' word.
	AWS AWSPolicy `json:"aws,omitzero"`
}

// ErrTypeInvalidClaim is the failure type of an acceptance whose claim the
// status store can never take.
const ErrTypeInvalidClaim = "InvalidAccountClaim"

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
func (a Acceptance) Accepted() bool {
	return len(a.Problems) == 0 && a.PriorLife == nil && a.AccountRefused == nil
}

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
// asks the status store whether the order already lived, and claims its AWS
// account (one live termination per account, none after it was closed for
// good). Its answer is recorded in history, so a stricter rule or another
// policy deployed later never changes an order that was already accepted.
// The claim is the store's, keyed on the order's life, so a retried step
// finds its own claim and a crash between claim and answer loses nothing.
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
	if aws := a.Policy.AWS.withDefaults(); aws.Mode != AWSOff && len(acc.Problems) == 0 && acc.ReopenWindow > order.AWSPostClosurePeriod {
		// AWS reopens a closed account for 90 days only: a longer window
		// would promise the customer what AWS cannot do.
		acc.Problems = append(acc.Problems, order.FieldError{Field: "reopenWindowSeconds",
			Rule: fmt.Sprintf("must be at most %d (90 days) where AWS Organizations closes the account: AWS can reopen it only that long, got %d",
				int64(order.AWSPostClosurePeriod/time.Second), int64(acc.ReopenWindow/time.Second))})
	}
	if len(acc.Problems) > 0 {
		acc.ReopenWindow = 0
	} else {
		acc.Notify = a.Policy.Notify
		if acc.Notify.GiveUpAfter <= 0 {
			acc.Notify.GiveUpAfter = DefaultGiveUpAfter
		}
		acc.AWS = a.Policy.AWS.withDefaults()
	}
	acc, err := a.checkPriorLife(ctx, acc, in)
	if err != nil || !acc.Accepted() {
		return acc, err
	}
	return a.claimAccount(ctx, acc, in)
}

// claimAccount claims the order's AWS account for this life of the order, or
// records why it may not.
func (a *Activities) claimAccount(ctx context.Context, acc Acceptance, in AcceptInput) (Acceptance, error) {
	o := acc.Order
	err := a.Store.Claim(ctx, order.Claim{
		AccountID: o.AccountID, OrderID: acc.Owner, SubscriptionID: o.SubscriptionID, RunKey: in.RunKey, ClaimedAt: acc.At,
	})
	var refused *order.AccountRefusal
	if errors.As(err, &refused) && a.releaseAbandoned(ctx, refused.Holder, acc.At) {
		err = a.Store.Claim(ctx, order.Claim{
			AccountID: o.AccountID, OrderID: acc.Owner, SubscriptionID: o.SubscriptionID, RunKey: in.RunKey, ClaimedAt: acc.At,
		})
	}
	switch {
	case errors.As(err, &refused):
		acc.AccountRefused = refused
		activity.GetLogger(ctx).Warn("Order refused: its AWS account is not free", "OrderID", acc.Owner, "AccountID", o.AccountID,
			"Refusal", refused.Kind, "HolderOrderID", refused.Holder.OrderID, "HolderStage", refused.Holder.Stage)
		return acc, nil
	case errors.Is(err, store.ErrInvalidClaim):
		// A claim the store can never take: retrying cannot help.
		return Acceptance{}, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeInvalidClaim, err)
	case err != nil:
		return Acceptance{}, fmt.Errorf("claim AWS account %s for order %s: %w", o.AccountID, acc.Owner, err)
	}
	return acc, nil
}

// releaseAbandoned frees the account of a holder that awaited the unlink
// and whose workflow no longer runs (terminated, or gone with Temporal's
// retention): it can never reach a final stage, and its account was never
// closed. It reports whether the account was freed. When Temporal cannot
// say, the holder keeps the account and the order is refused.
func (a *Activities) releaseAbandoned(ctx context.Context, holder order.Claim, at time.Time) bool {
	if a.Runs == nil || holder.Stage != order.StageAwaitingUnlink {
		return false
	}
	logger := activity.GetLogger(ctx)
	running, err := a.Runs.Running(ctx, order.WorkflowID(holder.OrderID))
	if err != nil {
		logger.Warn("Holder of the AWS account not checked; the order is refused", "HolderOrderID", holder.OrderID, "Error", err)
		return false
	}
	if running {
		return false
	}
	released, err := a.Store.ReleaseAbandoned(ctx, holder, at)
	if err != nil {
		logger.Warn("Abandoned claim not released; the order is refused", "HolderOrderID", holder.OrderID, "Error", err)
		return false
	}
	if released {
		logger.Warn("Claim of an order that stopped before its unlink released", "HolderOrderID", holder.OrderID, "AccountID", holder.AccountID)
	}
	return released
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
