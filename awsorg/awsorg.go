// Package awsorg is the product's port to AWS Organizations, the source of
// truth about an AWS account's state, and its adapter on the AWS SDK for Go
// v2. The activities call the Organizations interface; the workflow never
// sees the SDK. The adapter classifies AWS's answers into the errors below,
// so that a caller decides on errors.Is, never on AWS's error strings.
//
// Package awsorg/emulator serves the same operations over HTTP, as AWS does,
// for the tests and the dev command.
package awsorg

import (
	"context"
	"errors"
)

// State is an AWS account's state as AWS Organizations reports it
// (DescribeAccount's Account.State), or StateNotInOrganization.
type State string

// The states of an account. CloseAccount moves an ACTIVE account to
// PENDING_CLOSURE, then AWS suspends it; a SUSPENDED account can be reopened
// through AWS Support for 90 days, then it is CLOSED and leaves the
// organization.
const (
	StatePendingActivation State = "PENDING_ACTIVATION"
	StateActive            State = "ACTIVE"
	StatePendingClosure    State = "PENDING_CLOSURE"
	StateSuspended         State = "SUSPENDED"
	StateClosed            State = "CLOSED"
	// StateNotInOrganization: DescribeAccount answered
	// AccountNotFoundException (the account left the organization, or was
	// never in it).
	StateNotInOrganization State = "NOT_IN_ORGANIZATION"
)

// Closed reports whether AWS agrees that the account is closed or gone:
// PENDING_CLOSURE, SUSPENDED, CLOSED or NOT_IN_ORGANIZATION.
func (s State) Closed() bool {
	switch s {
	case StatePendingClosure, StateSuspended, StateClosed, StateNotInOrganization:
		return true
	}
	return false
}

// Valid reports whether s is one of the states above. AWS may add states; an
// account in one this package does not know is not Closed.
func (s State) Valid() bool {
	switch s {
	case StatePendingActivation, StateActive, StatePendingClosure, StateSuspended, StateClosed, StateNotInOrganization:
		return true
	}
	return false
}

// Organizations is the port the activities use.
type Organizations interface {
	// DescribeAccount returns the account's state (DescribeAccount's
	// Account.State). AccountNotFoundException is StateNotInOrganization
	// with a nil error.
	DescribeAccount(ctx context.Context, accountID string) (State, error)
	// CloseAccount asks AWS to close the account. AWS closes it
	// asynchronously: DescribeAccount reports PENDING_CLOSURE, then
	// SUSPENDED.
	CloseAccount(ctx context.Context, accountID string) error
	// ManagementAccountID returns the organization's management account
	// (DescribeOrganization), cached after the first success.
	ManagementAccountID(ctx context.Context) (string, error)
}

// The classified errors, matched with errors.Is on what the adapter returns.
// Each wraps AWS's own error, so its code and message are kept (ErrorCode
// returns the code, for metrics and logs).
var (
	// ErrAccountAlreadyClosed: CloseAccount on an account that is not
	// ACTIVE (AccountAlreadyClosedException).
	ErrAccountAlreadyClosed = errors.New("account already closed")
	// ErrAccountNotFound: CloseAccount on an account that is not in the
	// organization (AccountNotFoundException). DescribeAccount answers
	// StateNotInOrganization instead.
	ErrAccountNotFound = errors.New("account not in the organization")
	// ErrCloseQuotaExceeded: the organization closed as many accounts as
	// it may in a rolling 30 days (ConstraintViolationException
	// CLOSE_ACCOUNT_QUOTA_EXCEEDED).
	ErrCloseQuotaExceeded = errors.New("close account quota exceeded")
	// ErrCloseRequestsLimitExceeded: too many accounts closing at a time
	// (ConstraintViolationException CLOSE_ACCOUNT_REQUESTS_LIMIT_EXCEEDED).
	ErrCloseRequestsLimitExceeded = errors.New("close account requests limit exceeded")
	// ErrTooManyRequests: AWS's rate limit (TooManyRequestsException).
	ErrTooManyRequests = errors.New("too many requests")
	// ErrConcurrentModification: another request is changing the same
	// thing (ConcurrentModificationException).
	ErrConcurrentModification = errors.New("concurrent modification")
	// ErrManagementAccount: the account is the organization's management
	// account, which the API cannot close (ConstraintViolationException
	// CANNOT_CLOSE_MANAGEMENT_ACCOUNT).
	ErrManagementAccount = errors.New("the management account cannot be closed with the API")
	// ErrAccessDenied: the credentials may not make the call
	// (AccessDeniedException), for example CloseAccount under the verify
	// mode's policy.
	ErrAccessDenied = errors.New("access denied")
	// ErrAWSOrganizationsNotInUse: the credentials' account is in no
	// organization (AWSOrganizationsNotInUseException).
	ErrAWSOrganizationsNotInUse = errors.New("the credentials' account is not in an organization")
	// ErrCredentials: AWS refused the credentials or their signature
	// (UnrecognizedClientException, InvalidSignatureException,
	// ExpiredTokenException, MissingAuthenticationTokenException, and STS's
	// InvalidClientTokenId, SignatureDoesNotMatch and ExpiredToken).
	ErrCredentials = errors.New("AWS refused the credentials")
)
