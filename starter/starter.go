// Package starter is the Go client of termination orders, for backend services
// and for the terminationctl command: start an order, confirm the unlink,
// reopen, cancel, read status and list orders by stage. Every input is
// validated before anything is sent, so bad input starts or changes nothing.
//
// Every request gets a definite answer: it was applied (and the order's status
// comes back), it was rejected (a *RejectedError says why; nothing changed),
// or its outcome is unknown because no answer came in time (an
// *OutcomeUnknownError says how to find out). Requests carry a request ID
// (the caller's, or one the starter makes), so a retry with the same ID gets
// the original answer, also after the order has ended.
package starter

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/cloudmarket/termination-orders/order"
	"github.com/cloudmarket/termination-orders/workflows"
)

var (
	// ErrOrderExists: an order with this ID was already started. The error
	// names the existing workflow run; the order was not started again.
	ErrOrderExists = errors.New("order already exists")
	// ErrOrderNotFound: no order with this ID.
	ErrOrderNotFound = errors.New("order not found")
	// ErrRejected: the order is in a stage that does not allow the request;
	// the error (a *RejectedError) says why. Nothing was changed.
	ErrRejected = errors.New("request rejected")
	// ErrClosedForGood: the account's post-closure period is over; it can
	// never be reopened. An error that is ErrClosedForGood is ErrRejected too.
	ErrClosedForGood = errors.New("account closed for good")
	// ErrAlreadyUnlinked: the unlink was reported before; the repeat changed
	// nothing. The error says when the account was closed.
	ErrAlreadyUnlinked = errors.New("unlink already reported")
	// ErrInvalid: the workflow refused the request's input (for example a
	// close time before the order was placed). Nothing was changed.
	ErrInvalid = errors.New("invalid request")
	// ErrOutcomeUnknown: no answer came in time; the request may or may not
	// have been applied. The error (an *OutcomeUnknownError) says how to check.
	ErrOutcomeUnknown = errors.New("outcome unknown")
	// ErrNoAnswer: a read got no answer in time; nothing was changed.
	ErrNoAnswer = errors.New("no answer from Temporal")
	// ErrAccountInTermination: another order holds the order's AWS account.
	// The error (an *AccountRefusedError) names it and its stage. The order
	// was not started: nothing changed and nobody was told.
	ErrAccountInTermination = errors.New("account in termination by another order")
	// ErrAccountClosedForGood: the order's AWS account was closed for good.
	// The error (an *AccountRefusedError) names the order that closed it and
	// when. The order was not started.
	ErrAccountClosedForGood = errors.New("account closed for good")
	// ErrOrderAlreadyProcessed: the order already lived under an earlier run
	// that Temporal no longer holds (the status store remembers it); one
	// order closes an account at most once. It was not started again.
	ErrOrderAlreadyProcessed = errors.New("order already processed")
	// ErrAWSAccountActive: an unlink was reported while AWS Organizations
	// reports the account ACTIVE (the verify mode); the error says AWS's
	// state and when it was checked. Nothing changed. It is ErrRejected too.
	ErrAWSAccountActive = errors.New("AWS reports the account active")
)

// RejectedError is a request the order refused, with the reason.
type RejectedError struct {
	OrderID string
	// Kind is the workflow's refusal type (order.RefusalKind values).
	Kind order.RefusalKind
	// Reason says why, for the person who asked.
	Reason string
}

func (e *RejectedError) Error() string { return "order " + e.OrderID + ": " + e.Reason }

// Is makes errors.Is match ErrAlreadyUnlinked for a repeated unlink, ErrInvalid
// for refused input, and ErrRejected for the rest, which is ErrClosedForGood
// too when the account is closed for good, and ErrAWSAccountActive when AWS
// reports the account active.
func (e *RejectedError) Is(target error) bool {
	switch e.Kind {
	case order.RefusedAlreadyUnlinked:
		return target == ErrAlreadyUnlinked
	case kindInvalid:
		return target == ErrInvalid
	}
	return target == ErrRejected || (target == ErrClosedForGood && e.Kind == order.RefusedClosedForGood) ||
		(target == ErrAWSAccountActive && e.Kind == order.RefusedAWSAccountActive)
}

// kindInvalid is the failure type of a validator's refusal of the input.
const kindInvalid order.RefusalKind = "ValidationError"

// OutcomeUnknownError is a request that got no answer in time.
type OutcomeUnknownError struct {
	OrderID   string
	Request   string
	RequestID string
	Cause     error
}

func (e *OutcomeUnknownError) Error() string {
	return fmt.Sprintf("the outcome of the %s request for order %s is unknown: no answer came in time (%v). "+
		"It may or may not have been applied: check with `terminationctl status %s`, or send it again with request ID %s, which returns the original answer",
		e.Request, e.OrderID, e.Cause, e.OrderID, e.RequestID)
}

// Is makes errors.Is match ErrOutcomeUnknown.
func (e *OutcomeUnknownError) Is(target error) bool { return target == ErrOutcomeUnknown }

func (e *OutcomeUnknownError) Unwrap() error { return e.Cause }

// Client starts and drives termination orders. Its zero value is not usable: use New.
type Client struct {
	temporal  client.Client
	taskQueue string
	now       func() time.Time
	unlinkSLA time.Duration
	// statuses is the status store Status reads; nil: Status is LiveStatus.
	statuses StatusStore
	// liveWait bounds how long Status waits for a workflow that knows more
	// than the store holds.
	liveWait time.Duration
}

// Option changes a Client.
type Option func(*Client)

// WithUnlinkSLA sets the UnlinkDueBy search attribute of every order started
// to its start plus sla (config notify.unlink_sla, as the workers have it), so
// that the workflow need not set it: one history event less per order.
// Without it, the workflow sets it from the workers' policy.
func WithUnlinkSLA(sla time.Duration) Option {
	return func(c *Client) { c.unlinkSLA = sla }
}

// New returns a client that starts orders on taskQueue. The reopen window is
// the workers' policy (config order.reopen_window), unless an order sets its own.
func New(c client.Client, taskQueue string, opts ...Option) *Client {
	cl := &Client{temporal: c, taskQueue: taskQueue, now: time.Now, liveWait: defaultLiveWait}
	for _, opt := range opts {
		opt(cl)
	}
	return cl
}

// searchAttributes are the attributes an order starts with: those of its first
// stage, which the workflow then need not upsert.
func (c *Client) searchAttributes(o order.Order) temporal.SearchAttributes {
	attrs := []temporal.SearchAttributeUpdate{
		workflows.StageKey.ValueSet(string(order.StageAwaitingUnlink)),
		workflows.AccountIDKey.ValueSet(o.AccountID),
		workflows.SubscriptionIDKey.ValueSet(o.SubscriptionID),
	}
	if c.unlinkSLA > 0 {
		// Visibility keeps milliseconds; the workflow compares what it reads.
		attrs = append(attrs, workflows.UnlinkDueByKey.ValueSet(c.now().Add(c.unlinkSLA).UTC().Truncate(time.Millisecond)))
	}
	return temporal.NewSearchAttributes(attrs...)
}

// Run identifies a started order's workflow run.
type Run struct {
	OrderID    string
	WorkflowID string
	RunID      string
}

func staticDetails(o order.Order) string {
	d := fmt.Sprintf("Termination order **%s**: close AWS account **%s** permanently.\n\nSubscription %s · requested by %s · %d item(s) set to quantity 0",
		o.OrderID, o.AccountID, o.SubscriptionID, o.RequestedBy, len(o.Items))
	if o.SubmittedAt != "" {
		d += " · submitted " + o.SubmittedAt
	}
	return d
}

// ConfirmUnlink reports that Operations unlinked and closed the account, and
// returns the order's status with its reopen deadline. The close time is the
// report's completedAt, stamped now when it has none, so the deadline does not
// depend on when a worker handles it. A repeat changes nothing and fails with
// ErrAlreadyUnlinked, saying when the account was closed (unless it carries
// the request ID of the report that closed it: then it gets the original
// answer). It fails with ErrOrderNotFound for an unknown order, ErrRejected
// for a cancelled or failed one, and ErrInvalid for a close time before the
// order was placed.
func (c *Client) ConfirmUnlink(ctx context.Context, orderID string, u order.UnlinkCompleted) (order.Status, error) {
	if err := order.CheckOrderID(orderID); err != nil {
		return order.Status{}, err
	}
	now := c.now()
	if err := u.Validate(now); err != nil {
		return order.Status{}, err
	}
	if u.CompletedAt == "" {
		u.CompletedAt = now.UTC().Truncate(time.Second).Format(time.RFC3339)
	}
	u.RequestID = requestID(u.RequestID)
	return c.request(ctx, orderID, workflows.UpdateConfirmUnlink, u.RequestID, u, order.StagePostClosure,
		func(s order.Status) error { return s.CheckUnlink() })
}

// Reopen reopens the account during its post-closure period and returns the
// order's status. Outside that period it fails with ErrRejected and the
// reason; after it, with ErrClosedForGood and the date the account was closed for good.
func (c *Client) Reopen(ctx context.Context, orderID string, r order.Request) (order.Status, error) {
	return c.ask(ctx, orderID, workflows.UpdateReopen, r, order.StageReopened,
		func(s order.Status) error { return s.CheckReopen(c.now()) })
}

// Cancel cancels the order before the unlink and returns its status. From the
// unlink on it fails with ErrRejected and the reason.
func (c *Client) Cancel(ctx context.Context, orderID string, r order.Request) (order.Status, error) {
	return c.ask(ctx, orderID, workflows.UpdateCancel, r, order.StageCancelled,
		func(s order.Status) error { return s.CheckCancel() })
}

// ask checks a person's request for the update name, which leads the order
// to target unless whyNot refuses it, gives it a request ID, and sends it.
func (c *Client) ask(ctx context.Context, orderID, name string, r order.Request, target order.Stage, whyNot func(order.Status) error) (order.Status, error) {
	if err := order.CheckOrderID(orderID); err != nil {
		return order.Status{}, err
	}
	if err := r.Validate(name); err != nil {
		return order.Status{}, err
	}
	r.RequestID = requestID(r.RequestID)
	return c.request(ctx, orderID, name, r.RequestID, r, target, whyNot)
}

func requestID(id string) string {
	if id != "" {
		return id
	}
	return uuid.NewString()
}

// request sends an update and waits for its answer. The update ID is derived
// from the request ID, so the server answers a retry with the original
// outcome while the order runs; once it has ended, the order's final status
// answers: the request made its change (the timeline keeps its request ID),
// or the stage says why not (whyNot, the same rule the workflow applies).
func (c *Client) request(ctx context.Context, orderID, name, reqID string, arg any, target order.Stage, whyNot func(order.Status) error) (order.Status, error) {
	for {
		s, err := c.update(ctx, orderID, name, reqID, arg)
		var notReady *serviceerror.WorkflowNotReady
		switch {
		case err == nil:
			return s, nil
		case errors.As(err, &notReady):
			// The workflow task that saw the request failed (for example a signal
			// arrived while it completed the order) and the server dropped the
			// request: send it again, so it is decided on what happened.
			select {
			case <-ctx.Done():
				return order.Status{}, c.outcomeUnknown(orderID, name, reqID, ctx.Err())
			case <-time.After(200 * time.Millisecond):
			}
			continue
		case isTimeout(err):
			return order.Status{}, c.outcomeUnknown(orderID, name, reqID, err)
		case !isNotFound(err):
			return order.Status{}, err
		}
		// The workflow has ended (or never existed): its status answers.
		current, qerr := c.Status(ctx, orderID)
		if qerr != nil {
			if errors.Is(qerr, ErrNoAnswer) {
				return order.Status{}, c.outcomeUnknown(orderID, name, reqID, qerr)
			}
			return order.Status{}, qerr
		}
		if e, ok := current.Applied(reqID); ok && e.Stage == target {
			return current, nil
		}
		if reason := whyNot(current); reason != nil {
			return current, rejection(orderID, reason)
		}
		return order.Status{}, fmt.Errorf("%s order %s: the order ended while the request was sent (now %s); see its status", name, orderID, current.Stage)
	}
}

func (c *Client) update(ctx context.Context, orderID, name, reqID string, arg any) (order.Status, error) {
	handle, err := c.temporal.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID:   order.WorkflowID(orderID),
		UpdateID:     name + ":" + reqID,
		UpdateName:   name,
		Args:         []any{arg},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err == nil {
		var s order.Status
		if err = handle.Get(ctx, &s); err == nil {
			return s, nil
		}
	}
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		// The workflow's refusal: its type says which, its message why.
		return order.Status{}, &RejectedError{OrderID: orderID, Kind: order.RefusalKind(appErr.Type()), Reason: appErr.Message()}
	}
	if isNotFound(err) || isTimeout(err) {
		return order.Status{}, err
	}
	return order.Status{}, fmt.Errorf("%s order %s: %w", name, orderID, err)
}

func (c *Client) outcomeUnknown(orderID, name, reqID string, cause error) error {
	return &OutcomeUnknownError{OrderID: orderID, Request: name, RequestID: reqID, Cause: cause}
}

func rejection(orderID string, reason error) error {
	var r *order.Refusal
	if errors.As(reason, &r) {
		return &RejectedError{OrderID: orderID, Kind: r.Kind, Reason: r.Reason}
	}
	return &RejectedError{OrderID: orderID, Kind: order.RefusedByStage, Reason: reason.Error()}
}

func (c *Client) readError(orderID string, err error) error {
	if isTimeout(err) {
		return fmt.Errorf("%w: read status of order %s: no answer in time (%v); nothing was changed, ask again", ErrNoAnswer, orderID, err)
	}
	return fmt.Errorf("read status of order %s: %w", orderID, err)
}

func isNotFound(err error) bool {
	var nf *serviceerror.NotFound
	return errors.As(err, &nf)
}

// isTimeout reports an error that means the answer did not come in time.
func isTimeout(err error) bool {
	var deadline *serviceerror.DeadlineExceeded
	var canceled *serviceerror.Canceled
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
		errors.As(err, &deadline) || errors.As(err, &canceled)
}
