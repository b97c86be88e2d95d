package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"go.temporal.io/api/serviceerror"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cloudmarket/termination-orders/order"
	"github.com/cloudmarket/termination-orders/starter"
	"github.com/cloudmarket/termination-orders/store"
)

// This file is the one place that decides an error's status code and problem
// type: every error of a route goes through problemFor, every error huma
// raises itself (bad parameters, oversized bodies) through humaProblem.

// ProblemTypeBase starts every problem type URI.
const ProblemTypeBase = "urn:termination-orders:problem:"

// The problem types. Clients branch on these, never on the title or detail.
const (
	// TypeInvalidInput (400): the request breaks the contract; errors lists every broken field.
	TypeInvalidInput = ProblemTypeBase + "invalid-input"
	// TypeUnauthorized (401): no bearer token, or one that is not valid.
	TypeUnauthorized = ProblemTypeBase + "unauthorized"
	// TypeForbidden (403): the token's role may not do this.
	TypeForbidden = ProblemTypeBase + "forbidden"
	// TypeNotFound (404): no such order (or no such route).
	TypeNotFound = ProblemTypeBase + "not-found"
	// TypeMethodNotAllowed (405): the path has no route for the method (HEAD
	// included); Allow lists the methods it takes.
	TypeMethodNotAllowed = ProblemTypeBase + "method-not-allowed"
	// TypeOrderExists (409): the order was started before; existingRun names its run.
	TypeOrderExists = ProblemTypeBase + "order-exists"
	// TypeRejectedByStage (409): the order's stage does not allow the request; detail says why.
	TypeRejectedByStage = ProblemTypeBase + "rejected-by-stage"
	// TypeClosedForGood (409): the reopen window is over; the account can never be reopened.
	TypeClosedForGood = ProblemTypeBase + "closed-for-good"
	// TypeAlreadyUnlinked (409): the unlink was reported before; nothing changed.
	TypeAlreadyUnlinked = ProblemTypeBase + "already-unlinked"
	// TypeAWSAccountActive (409): an unlink was reported while AWS
	// Organizations reports the account ACTIVE (verify mode); nothing changed.
	TypeAWSAccountActive = ProblemTypeBase + "aws-account-active"
	// TypeNotAcceptedYet (409): the order is still being accepted; nothing changed, ask again shortly.
	TypeNotAcceptedYet = ProblemTypeBase + "not-accepted-yet"
	// TypeAccountInTermination (409): another order holds the AWS account;
	// holdingOrderId and holdingStage name it. Nothing was started.
	TypeAccountInTermination = ProblemTypeBase + "account-in-termination"
	// TypeAccountClosedForGood (409): the AWS account was closed for good;
	// holdingOrderId names the order that closed it, closedForGoodAt when.
	// Nothing was started, and no order for the account ever will be.
	TypeAccountClosedForGood = ProblemTypeBase + "account-closed-for-good"
	// TypeOrderAlreadyProcessed (409): the order lived before, beyond
	// Temporal's retention (the status store remembers it); it is not started again.
	TypeOrderAlreadyProcessed = ProblemTypeBase + "order-already-processed"
	// TypeIdempotencyKeyMismatch (422): the Idempotency-Key (request ID) came with another request.
	TypeIdempotencyKeyMismatch = ProblemTypeBase + "idempotency-key-mismatch"
	// TypePayloadTooLarge (413): the body is larger than api.max_body_bytes.
	TypePayloadTooLarge = ProblemTypeBase + "payload-too-large"
	// TypeOutcomeUnknown (504): no answer in time; the request may or may not
	// have been applied. Send it again with requestId as its Idempotency-Key.
	TypeOutcomeUnknown = ProblemTypeBase + "outcome-unknown"
	// TypeUnavailable (503): Temporal or the status store did not answer; nothing was changed.
	TypeUnavailable = ProblemTypeBase + "unavailable"
	// TypeInternal (500): a fault of this service; nothing is known to have changed.
	TypeInternal = ProblemTypeBase + "internal"
	// TypeUndecryptable (422, codec endpoints): a payload was encrypted with a
	// key this server does not hold, or was altered; detail names the key ID.
	TypeUndecryptable = ProblemTypeBase + "undecryptable-payload"
)

var problemTitles = map[string]string{
	TypeInvalidInput:           "Invalid input",
	TypeUnauthorized:           "Unauthorized",
	TypeForbidden:              "Forbidden",
	TypeNotFound:               "Not found",
	TypeMethodNotAllowed:       "Method not allowed",
	TypeOrderExists:            "Order already exists",
	TypeRejectedByStage:        "Rejected by the order's stage",
	TypeClosedForGood:          "Account closed for good",
	TypeAlreadyUnlinked:        "Unlink already reported",
	TypeAWSAccountActive:       "AWS reports the account active",
	TypeNotAcceptedYet:         "Order not accepted yet",
	TypeAccountInTermination:   "AWS account in termination by another order",
	TypeAccountClosedForGood:   "AWS account closed for good",
	TypeOrderAlreadyProcessed:  "Order already processed",
	TypeIdempotencyKeyMismatch: "Idempotency key reused for another request",
	TypePayloadTooLarge:        "Payload too large",
	TypeOutcomeUnknown:         "Outcome unknown",
	TypeUnavailable:            "Service unavailable",
	TypeInternal:               "Internal error",
	TypeUndecryptable:          "Payload cannot be decrypted",
}

// Problem is an RFC 9457 problem details object, served as application/problem+json.
type Problem struct {
	Type     string `json:"type" format:"uri" doc:"Stable URI of the kind of problem; branch on this."`
	Title    string `json:"title" doc:"Short summary of the problem type."`
	Status   int    `json:"status" doc:"HTTP status code."`
	Detail   string `json:"detail,omitempty" doc:"What went wrong this time, for the person who asked."`
	Instance string `json:"instance,omitempty" format:"uri" doc:"This occurrence: urn:uuid: and the X-Request-Id of the request, as logged."`
	// Errors lists every broken field of invalid input.
	Errors []*order.FieldError `json:"errors,omitempty" doc:"Every broken field and its rule (invalid-input)."`
	// ExistingRun names the run of an order that exists (order-exists).
	ExistingRun *StartedOrder `json:"existingRun,omitempty" doc:"The run of the existing order (order-exists)."`
	// RequestID is the request ID of an update whose outcome is unknown.
	RequestID string `json:"requestId,omitempty" doc:"outcome-unknown: send the request again with this Idempotency-Key to get its original answer."`
	// HoldingOrderID, HoldingStage and ClosedForGoodAt name the order in the
	// way of an order refused for its AWS account.
	HoldingOrderID  string      `json:"holdingOrderId,omitempty" doc:"account-in-termination: the order that holds the AWS account; account-closed-for-good: the order that closed it."`
	HoldingStage    order.Stage `json:"holdingStage,omitempty" enum:"AwaitingUnlink,Closing,PostClosure,PermanentlyClosed" doc:"account-in-termination, account-closed-for-good: the holding order's stage."`
	ClosedForGoodAt *time.Time  `json:"closedForGoodAt,omitempty" doc:"account-closed-for-good: when the AWS account was closed for good."`

	headers http.Header
	// cause is the error the problem stands for, logged with the request.
	cause error
}

// Error is the detail.
func (p *Problem) Error() string { return p.Detail }

// GetStatus is the HTTP status (huma.StatusError).
func (p *Problem) GetStatus() int { return p.Status }

// GetHeaders are the headers that go with the problem (huma.HeadersError).
func (p *Problem) GetHeaders() http.Header { return p.headers }

// ContentType serves problems as application/problem+json.
func (p *Problem) ContentType(ct string) string {
	if ct == "application/json" {
		return "application/problem+json"
	}
	return ct
}

func newProblem(typ string, status int, detail string) *Problem {
	return &Problem{Type: typ, Title: problemTitles[typ], Status: status, Detail: detail, headers: http.Header{}}
}

// invalid is a 400 listing broken fields.
func invalid(detail string, fields ...*order.FieldError) *Problem {
	p := newProblem(TypeInvalidInput, http.StatusBadRequest, detail)
	p.Errors = fields
	return p
}

// problemFor maps an error of the starter, the order rules or the store to
// its problem.
func problemFor(err error) *Problem {
	var (
		p          *Problem
		validation *order.ValidationError
		rejected   *starter.RejectedError
		refused    *starter.AccountRefusedError
		unknown    *starter.OutcomeUnknownError
	)
	switch {
	case errors.As(err, &p):
		return p
	case errors.As(err, &validation):
		return invalid(err.Error(), validation.Fields...)
	case errors.Is(err, starter.ErrOrderNotFound), errors.Is(err, store.ErrNotFound):
		return newProblem(TypeNotFound, http.StatusNotFound, err.Error())
	case errors.Is(err, starter.ErrOrderExists):
		return newProblem(TypeOrderExists, http.StatusConflict, err.Error())
	case errors.As(err, &refused):
		return accountRefusal(refused)
	case errors.Is(err, starter.ErrOrderAlreadyProcessed):
		return newProblem(TypeOrderAlreadyProcessed, http.StatusConflict, err.Error())
	case errors.As(err, &rejected):
		return rejection(rejected)
	case errors.Is(err, starter.ErrInvalid):
		// The workers' rules refused the input of a start.
		return invalid(err.Error())
	case errors.As(err, &unknown):
		p := newProblem(TypeOutcomeUnknown, http.StatusGatewayTimeout,
			fmt.Sprintf("no answer came in time for the %s request of order %s; it may or may not have been applied: "+
				"read the order, or send the request again with Idempotency-Key %s, which returns its original answer", unknown.Request, unknown.OrderID, unknown.RequestID))
		p.RequestID = unknown.RequestID
		return p
	case errors.Is(err, starter.ErrOutcomeUnknown):
		// A start without an answer: starting again is safe (a second start
		// of a started order is refused and names its run).
		return newProblem(TypeOutcomeUnknown, http.StatusGatewayTimeout, err.Error())
	case serverFault(err):
		p := newProblem(TypeUnavailable, http.StatusServiceUnavailable,
			"Temporal could not do it (a fault of its own, such as its database stalling); ask again: with the same Idempotency-Key a retry is safe")
		p.headers.Set("Retry-After", "5")
		return p
	case errors.Is(err, starter.ErrNoAnswer), unavailable(err):
		// The error names where Temporal or the store is: the log keeps it.
		p := newProblem(TypeUnavailable, http.StatusServiceUnavailable, "Temporal or the status store did not answer; nothing was changed, ask again")
		p.headers.Set("Retry-After", "5")
		p.cause = err
		return p
	}
	p = newProblem(TypeInternal, http.StatusInternalServerError, "the request failed in this service; nothing is known to have changed")
	p.cause = err
	return p
}

func rejection(r *starter.RejectedError) *Problem {
	switch r.Kind {
	case order.RefusedClosedForGood:
		return newProblem(TypeClosedForGood, http.StatusConflict, r.Reason)
	case order.RefusedAlreadyUnlinked:
		return newProblem(TypeAlreadyUnlinked, http.StatusConflict, r.Reason)
	case order.RefusedAWSAccountActive:
		return newProblem(TypeAWSAccountActive, http.StatusConflict, r.Reason)
	case order.RefusedNotAcceptedYet:
		p := newProblem(TypeNotAcceptedYet, http.StatusConflict, r.Reason)
		p.headers.Set("Retry-After", "1")
		return p
	case order.RefusedRequestIDReused:
		return newProblem(TypeIdempotencyKeyMismatch, http.StatusUnprocessableEntity, r.Reason)
	case "ValidationError":
		return invalid(r.Reason)
	}
	return newProblem(TypeRejectedByStage, http.StatusConflict, r.Reason)
}

// accountRefusal is the 409 of an order refused because its AWS account is
// held by another order or was closed for good: the holder's ID and stage
// let a client show the order in the way.
func accountRefusal(r *starter.AccountRefusedError) *Problem {
	typ := TypeAccountInTermination
	if r.Kind == order.RefusedAccountClosedForGood {
		typ = TypeAccountClosedForGood
	}
	p := newProblem(typ, http.StatusConflict, r.Reason)
	p.HoldingOrderID, p.HoldingStage = r.Holder.OrderID, r.Holder.Stage
	if typ == TypeAccountClosedForGood && !r.Holder.EndedAt.IsZero() {
		at := r.Holder.EndedAt.UTC()
		p.ClosedForGoodAt = &at
	}
	return p
}

// codecProblem is the problem of a payload the codec could not encode or
// decode. Its message names the key ID, never a key.
func codecProblem(err error) *Problem {
	return newProblem(TypeUndecryptable, http.StatusUnprocessableEntity, err.Error())
}

// unavailable reports an error meaning Temporal or the database could not be reached.
func unavailable(err error) bool {
	var u *serviceerror.Unavailable
	if errors.As(err, &u) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	for e := err; e != nil; e = errors.Unwrap(e) {
		if s, ok := status.FromError(e); ok {
			switch s.Code() {
			case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted, codes.Canceled:
				return true
			}
		}
	}
	return false
}

// serverFault reports an error Temporal answered with for a fault of its
// own (Internal, Unknown, Aborted): its persistence stalling or failing, not
// anything about the order, so the caller may ask again.
func serverFault(err error) bool {
	var internal *serviceerror.Internal
	if errors.As(err, &internal) {
		return true
	}
	for e := err; e != nil; e = errors.Unwrap(e) {
		if s, ok := status.FromError(e); ok {
			switch s.Code() {
			case codes.Internal, codes.Unknown, codes.Aborted:
				return true
			}
		}
	}
	return false
}

// storeProblem is the problem of a failed read of the status store: no such
// order, or the store did not answer.
func storeProblem(err error) *Problem {
	if errors.Is(err, store.ErrNotFound) {
		return newProblem(TypeNotFound, http.StatusNotFound, err.Error())
	}
	p := newProblem(TypeUnavailable, http.StatusServiceUnavailable, "the status store did not answer; ask again")
	p.headers.Set("Retry-After", "5")
	return p
}

// cacheable reports whether a problem is a definite answer that a retry with
// the same Idempotency-Key must get again. Answers that say "ask again" are
// not, nor is account-in-termination: the holder frees the account when it
// ends, and the refused order may then be placed again.
func cacheable(p *Problem) bool {
	switch p.Type {
	case TypeInvalidInput, TypeOrderExists, TypeRejectedByStage, TypeClosedForGood, TypeAlreadyUnlinked, TypeAWSAccountActive, TypeIdempotencyKeyMismatch,
		TypeAccountClosedForGood, TypeOrderAlreadyProcessed:
		return true
	}
	return false
}

// humaProblem turns the errors huma raises itself into problems: bad
// parameters, unreadable or oversized bodies, unknown content types.
func humaProblem(ctx huma.Context, status int, msg string, errs ...error) huma.StatusError {
	var p *Problem
	switch {
	case status == http.StatusRequestEntityTooLarge:
		p = newProblem(TypePayloadTooLarge, status, msg)
	case bodyUnreadable(status, msg):
		// A body that ends before its Content-Length, or is not all there
		// within huma's body read timeout (5 s): the request is incomplete.
		p = invalid("the request body could not be read", &order.FieldError{Field: "(body)",
			Rule: "must be sent whole: it ended before its Content-Length or did not arrive in time"})
		p.headers.Set("Connection", "close")
	case status == http.StatusUnprocessableEntity || status == http.StatusBadRequest:
		p = invalid(msg)
		for _, e := range errs {
			var d *huma.ErrorDetail
			if errors.As(e, &d) {
				field := d.Location
				for _, prefix := range []string{"query.", "path.", "header.", "body."} {
					field = strings.TrimPrefix(field, prefix)
				}
				p.Errors = append(p.Errors, &order.FieldError{Field: field, Rule: d.Message})
			} else if e != nil {
				p.Errors = append(p.Errors, &order.FieldError{Field: "(request)", Rule: e.Error()})
			}
		}
		if len(p.Errors) == 0 {
			field := "(request)"
			if strings.Contains(msg, "body") {
				field = "(body)"
			}
			p.Errors = []*order.FieldError{{Field: field, Rule: msg}}
		}
	case status == http.StatusUnauthorized:
		p = newProblem(TypeUnauthorized, status, msg)
	case status == http.StatusForbidden:
		p = newProblem(TypeForbidden, status, msg)
	case status == http.StatusNotFound:
		p = newProblem(TypeNotFound, status, msg)
	case status >= 500:
		p = newProblem(TypeInternal, status, msg)
	default:
		p = newProblem(TypeInvalidInput, status, msg)
		p.Title = http.StatusText(status)
	}
	if ctx != nil {
		p.Instance = instance(ctx.Context())
	}
	return p
}

var installProblems sync.Once

// useProblems makes huma build every error it raises as a Problem. huma
// keeps its error constructor in a package variable, so this is set once
// per process, to the same function for every server.
func useProblems() {
	installProblems.Do(func() {
		huma.NewError = func(status int, msg string, errs ...error) huma.StatusError {
			return humaProblem(nil, status, msg, errs...)
		}
		huma.NewErrorWithContext = humaProblem
	})
}
