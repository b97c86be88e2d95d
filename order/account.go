package order

import (
	"fmt"
	"time"
)

// The AWS account's own life. What a termination makes irreversible is the
// account, not the order, so the account is guarded across orders:
//
//   - an account has at most one live termination at a time: from its
//     acceptance until it is cancelled, reopened, failed or closed for good;
//     so at most one subscription's order holds it;
//   - an account closed for good refuses every later order, for good;
//   - a cancelled, reopened or failed order frees the account for a later one.
//
// The status store enforces it (its claims); this file says what the rule is.

// AccountState is where an AWS account stands with termination orders.
type AccountState string

// The states of an AWS account.
const (
	// AccountFree: no order holds the account; a new order may claim it.
	AccountFree AccountState = "Free"
	// AccountInTermination: an order holds the account until it ends.
	AccountInTermination AccountState = "InTermination"
	// AccountClosedForGood: an order closed the account for good; no order
	// may ever claim it again.
	AccountClosedForGood AccountState = "ClosedForGood"
)

// FreesAccount reports whether an order that reaches this stage frees its
// account for a later order: it was cancelled, reopened or failed.
func (s Stage) FreesAccount() bool {
	return s == StageCancelled || s == StageReopened || s == StageFailed
}

// Claim is one order's hold on an AWS account, from its acceptance on.
type Claim struct {
	AccountID      string `json:"accountId"`
	OrderID        string `json:"orderId"`
	SubscriptionID string `json:"subscriptionId"`
	// RunKey identifies the order's life (its workflow's original run).
	RunKey string `json:"-"`
	// Stage is the holding order's latest stage.
	Stage     Stage     `json:"stage"`
	ClaimedAt time.Time `json:"claimedAt"`
	// EndedAt is when the order freed the account or closed it for good;
	// zero while it holds it.
	EndedAt time.Time `json:"endedAt,omitzero"`
}

// Live reports whether the claim still holds the account as a termination in
// progress.
func (c Claim) Live() bool { return !c.Stage.Final() }

// ClosedForGood reports whether the claim's order closed the account for good.
func (c Claim) ClosedForGood() bool { return c.Stage == StagePermanentlyClosed }

// Account is an AWS account's record: where it stands and the orders it
// has had, newest first.
type Account struct {
	AccountID string       `json:"accountId"`
	State     AccountState `json:"state"`
	// Holder is the order that holds the account (InTermination) or closed it
	// for good (ClosedForGood); nil when the account is free.
	Holder *Claim  `json:"holder,omitempty"`
	Orders []Claim `json:"orders"`
}

// NewAccount is the record of an account from its claims, newest first.
func NewAccount(accountID string, claims []Claim) Account {
	a := Account{AccountID: accountID, State: AccountFree, Orders: claims}
	if a.Orders == nil {
		a.Orders = []Claim{}
	}
	for i, c := range claims {
		switch {
		case c.ClosedForGood():
			a.State, a.Holder = AccountClosedForGood, &claims[i]
			return a
		case c.Live() && a.Holder == nil:
			a.State, a.Holder = AccountInTermination, &claims[i]
		}
	}
	return a
}

// Refusal kinds of an order whose account is not free.
const (
	// RefusedAccountInTermination: another order holds the account.
	RefusedAccountInTermination RefusalKind = "AccountInTermination"
	// RefusedAccountClosedForGood: the account was closed for good.
	RefusedAccountClosedForGood RefusalKind = "AccountClosedForGood"
)

// AccountRefusal is why an order may not claim its account: the holder is
// the claim in its way. It is a *Refusal, so it carries its kind and reason.
type AccountRefusal struct {
	Refusal
	Holder Claim
}

// Unwrap lets errors.As find the Refusal.
func (r *AccountRefusal) Unwrap() error { return &r.Refusal }

// RefuseAccount is the refusal of orderID for the holder's claim in its way.
func RefuseAccount(orderID string, holder Claim) *AccountRefusal {
	if holder.ClosedForGood() {
		return &AccountRefusal{Holder: holder, Refusal: Refusal{Kind: RefusedAccountClosedForGood, Reason: fmt.Sprintf(
			"termination order %s was refused: AWS account %s was closed for good on %s by order %s and can never be terminated again",
			orderID, holder.AccountID, FormatTime(holder.EndedAt), holder.OrderID)}}
	}
	return &AccountRefusal{Holder: holder, Refusal: Refusal{Kind: RefusedAccountInTermination, Reason: fmt.Sprintf(
		"termination order %s was refused: AWS account %s is already in termination by order %s (subscription %s, stage %s); "+
			"a new order can be placed once that one is cancelled, reopened or fails",
		orderID, holder.AccountID, holder.OrderID, holder.SubscriptionID, holder.Stage)}}
}

// AccountRefusedMessage is the status message of an order refused because
// its account is not free, for its own page: what holds the account, and that
// nothing was changed.
func AccountRefusedMessage(r *AccountRefusal) string {
	return "Your " + r.Reason + ". Nothing was changed on your AWS account."
}
