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
	// and closed. Payload: UnlinkCompleted. A repeat changes nothing; a signal
	// sent before the workflow waits for it is kept until it does.
	SignalUnlinkCompleted = "unlink-completed"

	// UpdateReopen reopens the account during its post-closure period.
	// Payload: ReopenRequest; result: Status. Its validator rejects it, with the
	// reason, in every other stage; a rejection leaves no trace in history.
	UpdateReopen = "reopen"

	// UpdateCancel cancels the order before the unlink. Payload: CancelRequest;
	// result: Status. Rejected from the unlink on.
	UpdateCancel = "cancel"

	// QueryStatus returns the order's Status.
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
	// UnlinkCompleted is the unlink-completed signal:
	// {"completedBy", "reference", "completedAt" (RFC 3339, optional)}.
	UnlinkCompleted = order.UnlinkCompleted
	// ReopenRequest is the reopen update's argument: {"requestedBy", "reason"}.
	ReopenRequest = order.ReopenRequest
	// CancelRequest is the cancel update's argument: {"requestedBy", "reason"}.
	CancelRequest = order.CancelRequest
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

	// SearchAttributes lists them all, for registering and checking a namespace.
	SearchAttributes = []temporal.SearchAttributeKey{StageKey, AccountIDKey, SubscriptionIDKey, ReopenDeadlineKey}
)

// ErrTypeInvalidOrder is the failure type of a workflow started with input that
// breaks the contract. It is non-retryable.
const ErrTypeInvalidOrder = "InvalidOrder"
