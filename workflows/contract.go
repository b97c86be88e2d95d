// Package workflows runs the life of a termination order as one Temporal workflow.
//
// This file is the wire contract: the names and payloads that backend services
// in any language use to start an order, report the unlink, reopen, cancel and
// read status. Payloads are JSON with the field names given on the types in
// package order. Change nothing here without a versioning plan.
package workflows

import (
	"go.temporal.io/sdk/temporal"

	"github.com/cloudmarket/termination-orders/order"
)

const (
	// DefaultTaskQueue is the task queue workers poll unless configured otherwise.
	DefaultTaskQueue = "termination-orders"

	// WorkflowType is the registered name of the workflow. Its workflow ID is
	// order.WorkflowID(orderId): "termination-<orderId>". Input: one Order.
	WorkflowType = "TerminationOrder"

	// SignalUnlinkCompleted is Operations' report that the account is unlinked
	// and closed, for clients that can only signal. Payload: UnlinkCompleted.
	// A repeat changes nothing; a signal sent before the workflow waits for it
	// is kept until it does; an invalid one is logged and ignored. Without a
	// completedAt the account closes when the server received the signal.
	// Prefer UpdateConfirmUnlink, which answers.
	SignalUnlinkCompleted = "unlink-completed"

	// UpdateConfirmUnlink is Operations' report that the account is unlinked
	// and closed, answered. Payload: UnlinkCompleted; result: Status. Rejected
	// with type AlreadyUnlinked after the unlink (unless the requestId is the
	// one that made it, which gets the original answer) and RejectedByStage
	// when the order was cancelled or failed. Without a completedAt the account
	// closes when the workflow handles the update.
	UpdateConfirmUnlink = "confirm-unlink"

	// UpdateReopen reopens the account during its post-closure period.
	// Payload: ReopenRequest; result: Status. Rejected, with the reason, in
	// every other stage: type ClosedForGood once the period is over, else
	// RejectedByStage. A rejection by the validator leaves no trace in history.
	UpdateReopen = "reopen"

	// UpdateAcceptance answers once the order is accepted, with its Status,
	// or refused, with the refusal as its failure: type InvalidOrder,
	// OrderAlreadyProcessed, AccountInTermination or AccountClosedForGood
	// (whose details carry the order.Claim in the way). No payload. Sent with
	// the start (update-with-start), it tells the caller the truth about its
	// own order; sent later, the same answer.
	UpdateAcceptance = "acceptance"

	// UpdateCancel cancels the order before the unlink. Payload: CancelRequest;
	// result: Status. Rejected (RejectedByStage) from the unlink on.
	UpdateCancel = "cancel"

	// Every update is decided in the order the server recorded it, after any
	// unlink-completed signal recorded before it. A request that reaches an
	// order whose acceptance waits for the status store is rejected with type
	// NotAcceptedYet; input that breaks the contract with type ValidationError.
	// An update answers once the decision is made; its status message is
	// stored behind it (the workflow ends only once every message is stored).

	// QueryStatus returns the order's Status. Before the order is accepted it
	// fails with the reason (the acceptance waits for the status store).
	QueryStatus = "status"
)

// Payload types, defined in the domain package and named here for clients.
type (
	// Order is the start input:
	// {"orderId", "subscriptionId", "accountId" (12 digits, a string),
	// "terminationType": "CloseAccount", "items": [{"itemId", "quantity": 0}],
	// "requestedBy", "submittedAt" (RFC 3339, optional),
	// "reopenWindowSeconds" (optional; default 90 days)}.
	Order = order.Order
	// UnlinkCompleted is the unlink-completed signal's and the confirm-unlink
	// update's payload: {"completedBy", "reference", "completedAt" (RFC 3339,
	// optional), "requestId" (optional)}.
	UnlinkCompleted = order.UnlinkCompleted
	// ReopenRequest is the reopen update's argument: {"requestedBy", "reason", "requestId" (optional)}.
	ReopenRequest = order.Request
	// CancelRequest is the cancel update's argument, the same type: {"requestedBy", "reason", "requestId" (optional)}.
	CancelRequest = order.Request
	// Status is the status query's result and the workflow's result:
	// {"orderId", "subscriptionId", "accountId", "stage", "orderStatus",
	// "statusMessage", "closedAt", "reopenDeadline",
	// "timeline": [{"seq", "time", "stage", "message"}]}.
	Status = order.Status
)

// Custom search attributes, upserted at every stage change so that the Web UI
// and `temporal workflow list` can filter orders, e.g.
// TerminationStage = 'PostClosure' AND ReopenDeadline < '2027-03-01T00:00:00Z'.
// Each must be registered on the namespace before workers run.
var (
	StageKey          = temporal.NewSearchAttributeKeyKeyword("TerminationStage")
	AccountIDKey      = temporal.NewSearchAttributeKeyKeyword("AwsAccountId")
	SubscriptionIDKey = temporal.NewSearchAttributeKeyKeyword("SubscriptionId")
	ReopenDeadlineKey = temporal.NewSearchAttributeKeyTime("ReopenDeadline")
	// UnlinkDueByKey is the unlink SLA's deadline, set by
	// the starter with the start: Operations list overdue orders with
	// TerminationStage = 'AwaitingUnlink' AND UnlinkDueBy < '<now>'.
	UnlinkDueByKey = temporal.NewSearchAttributeKeyTime("UnlinkDueBy")

	// SearchAttributes lists them all, for registering and checking a namespace.
	SearchAttributes = []temporal.SearchAttributeKey{StageKey, AccountIDKey, SubscriptionIDKey, ReopenDeadlineKey, UnlinkDueByKey}
)

// Failure types of a workflow that changes nothing. All are non-retryable.
const (
	// ErrTypeInvalidOrder: the start input breaks the contract (each broken
	// field is named). The order page gets a Failed message.
	ErrTypeInvalidOrder = "InvalidOrder"
	// ErrTypeOrderAlreadyProcessed: the order already lived under another run
	// (the status store remembers it beyond Temporal's retention); one order
	// closes an account at most once. Nothing is written to its order page.
	ErrTypeOrderAlreadyProcessed = "OrderAlreadyProcessed"
	// ErrTypeAccountInTermination: another order holds the AWS account (its
	// details: the order.Claim of the holder, with its stage). The order's
	// own page says so; nobody is notified.
	ErrTypeAccountInTermination = string(order.RefusedAccountInTermination)
	// ErrTypeAccountClosedForGood: the AWS account was closed for good (its
	// details: the order.Claim of the order that closed it, with the date).
	ErrTypeAccountClosedForGood = string(order.RefusedAccountClosedForGood)
)
