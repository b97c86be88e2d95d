package order

import "slices"

// Stage is where an order is in its life. The values are part of the wire
// contract (the status query and the TerminationStage search attribute).
type Stage string

// The stages of a termination order.
const (
	// StageAwaitingUnlink: submitted; Operations are to contact the customer and unlink the account.
	StageAwaitingUnlink Stage = "AwaitingUnlink"
	// StageClosing: Operations confirmed the account is ready to close and
	// the order is closing it with AWS (AWS Organizations' close mode); it can
	// no longer be cancelled.
	StageClosing Stage = "Closing"
	// StagePostClosure: the account is closed and can be reopened until the reopen deadline.
	StagePostClosure Stage = "PostClosure"
	// StageReopened: the customer reopened the account inside the post-closure period. Final.
	StageReopened Stage = "Reopened"
	// StagePermanentlyClosed: the post-closure period ended; the account can never be reopened. Final.
	StagePermanentlyClosed Stage = "PermanentlyClosed"
	// StageCancelled: the order was cancelled before the unlink; the account stays as it was. Final.
	StageCancelled Stage = "Cancelled"
	// StageFailed: the order could not be processed (its input was invalid). Final.
	StageFailed Stage = "Failed"
)

// Stages lists every stage in the order of an order's life.
var Stages = []Stage{StageAwaitingUnlink, StageClosing, StagePostClosure, StageReopened, StagePermanentlyClosed, StageCancelled, StageFailed}

// OrderStatus is the marketplace's own order status shown beside the status message.
type OrderStatus string

// Marketplace order statuses.
const (
	OrderStatusProcessing OrderStatus = "Processing"
	OrderStatusCompleted  OrderStatus = "Completed"
	OrderStatusFailed     OrderStatus = "Failed"
)

// OrderStatus maps a stage to the marketplace order status: Processing until the
// unlink, Completed from the unlink on, Failed for a failed or cancelled order.
func (s Stage) OrderStatus() OrderStatus {
	switch s {
	case StageAwaitingUnlink, StageClosing:
		return OrderStatusProcessing
	case StagePostClosure, StageReopened, StagePermanentlyClosed:
		return OrderStatusCompleted
	default:
		return OrderStatusFailed
	}
}

// Final reports whether the order's life is over in this stage.
func (s Stage) Final() bool {
	switch s {
	case StageReopened, StagePermanentlyClosed, StageCancelled, StageFailed:
		return true
	default:
		return false
	}
}

// Valid reports whether s is one of the contract's stages.
func (s Stage) Valid() bool {
	for _, known := range Stages {
		if s == known {
			return true
		}
	}
	return false
}

// Before reports whether stage s comes before stage t in an order's life:
// an order only ever moves forward in Stages' order.
func (s Stage) Before(t Stage) bool {
	return slices.Index(Stages, s) < slices.Index(Stages, t)
}
