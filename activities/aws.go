package activities

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"

	"github.com/cloudmarket/termination-orders/awsorg"
	"github.com/cloudmarket/termination-orders/order"
)

// AWS activity types, as they appear in history.
const (
	CheckAWSAccountName = "CheckAWSAccount"
	CloseAWSAccountName = "CloseAWSAccount"
)

// MetricAWSCalls counts the calls to AWS Organizations by operation and outcome.
const MetricAWSCalls = "termination_aws_calls"

// AWSMode is how an order uses AWS Organizations, fixed when it is accepted.
type AWSMode string

// The modes.
const (
	// AWSOff: the order takes Operations' word; AWS is never asked.
	AWSOff AWSMode = ""
	// AWSVerify: an unlink is taken only when AWS agrees the account is
	// closed, and "closed for good" only when AWS does not report it ACTIVE.
	AWSVerify AWSMode = "verify"
	// AWSClose: Operations' confirmation means "ready to close"; the order
	// closes the account with CloseAccount, and checks as in AWSVerify.
	AWSClose AWSMode = "close"
)

// AWSPolicy is how the orders a worker accepts use AWS Organizations.
type AWSPolicy struct {
	Mode AWSMode `json:"mode,omitempty"`
	// CheckInterval is the first wait before AWS is asked again; the waits
	// double up to MaxCheckInterval.
	CheckInterval    time.Duration `json:"checkInterval,omitempty"`
	MaxCheckInterval time.Duration `json:"maxCheckInterval,omitempty"`
	// QuotaWait is how long a closure refused by AWS's quota or request
	// limit waits before it is tried again.
	QuotaWait time.Duration `json:"quotaWait,omitempty"`
	// CloseTaskQueue is the task queue of CloseAWSAccount, rate limited by
	// the server across every worker.
	CloseTaskQueue string `json:"closeTaskQueue,omitempty"`
}

// The AWS policy's defaults.
const (
	DefaultAWSCheckInterval    = 15 * time.Second
	DefaultAWSMaxCheckInterval = 15 * time.Minute
	DefaultAWSQuotaWait        = time.Hour
)

// withDefaults fills what the policy leaves unset; a policy whose mode is off
// is the zero value, whatever else it says.
func (p AWSPolicy) withDefaults() AWSPolicy {
	if p.Mode == AWSOff {
		return AWSPolicy{}
	}
	if p.CheckInterval <= 0 {
		p.CheckInterval = DefaultAWSCheckInterval
	}
	if p.MaxCheckInterval < p.CheckInterval {
		p.MaxCheckInterval = max(DefaultAWSMaxCheckInterval, p.CheckInterval)
	}
	if p.QuotaWait <= 0 {
		p.QuotaWait = DefaultAWSQuotaWait
	}
	return p
}

// AWSAccountInput names the account an AWS activity is about.
type AWSAccountInput struct {
	OrderID   string `json:"orderId"`
	AccountID string `json:"accountId"`
}

// The outcomes of CloseAWSAccount.
const (
	// CloseRequested: AWS took the CloseAccount; the account is closing.
	CloseRequested = "Requested"
	// CloseAlreadyClosed: AWS already reported the account closed or gone,
	// or answered AccountAlreadyClosedException: nothing was asked again.
	CloseAlreadyClosed = "AlreadyClosed"
	// CloseQuotaExceeded and CloseRequestsLimitExceeded: AWS refused for
	// now; the order waits and tries again.
	CloseQuotaExceeded         = "QuotaExceeded"
	CloseRequestsLimitExceeded = "RequestsLimitExceeded"
	// CloseManagementAccount: the account is the organization's management
	// account, which the API cannot close: Operations close it.
	CloseManagementAccount = "ManagementAccount"
)

func (a *Activities) organizations() (awsorg.Organizations, error) {
	if a.AWS == nil {
		// A worker that runs orders in an AWS mode without an adapter is
		// misconfigured: retried, visible in the logs, until it is fixed.
		return nil, errors.New("this worker has no AWS Organizations client (aws.organizations.mode is off here)")
	}
	return a.AWS, nil
}

// CheckAWSAccount asks AWS Organizations for the account's state.
func (a *Activities) CheckAWSAccount(ctx context.Context, in AWSAccountInput) (order.AWSCheck, error) {
	org, err := a.organizations()
	if err != nil {
		return order.AWSCheck{}, err
	}
	state, err := org.DescribeAccount(ctx, in.AccountID)
	a.countAWS(ctx, "DescribeAccount", err)
	logger := log.With(activity.GetLogger(ctx), "OrderID", in.OrderID, "AccountID", in.AccountID)
	if err != nil {
		logger.Warn("AWS DescribeAccount failed; retried", "AWSError", awsorg.ErrorCode(err), "Error", err)
		return order.AWSCheck{}, fmt.Errorf("DescribeAccount %s: %w", in.AccountID, err)
	}
	c := order.AWSCheck{Operation: "DescribeAccount", State: string(state), At: a.now().UTC().Truncate(time.Microsecond)}
	logger.Info("AWS reported the account's state", "AWSState", state)
	return c, nil
}

// CloseAWSAccount closes the account with AWS, once: it first asks AWS for
// the account's state, so that a retry after a CloseAccount whose answer was
// lost (a worker that died) never asks twice. AWS's refusals that wait
// (quota, request limit) and the management account are outcomes for the
// order to act on; a rate limit or a concurrent change is an error, retried
// with backoff.
func (a *Activities) CloseAWSAccount(ctx context.Context, in AWSAccountInput) (order.AWSCheck, error) {
	org, err := a.organizations()
	if err != nil {
		return order.AWSCheck{}, err
	}
	logger := log.With(activity.GetLogger(ctx), "OrderID", in.OrderID, "AccountID", in.AccountID)
	result := func(state awsorg.State, outcome string) (order.AWSCheck, error) {
		c := order.AWSCheck{Operation: "CloseAccount", State: string(state), Outcome: outcome, At: a.now().UTC().Truncate(time.Microsecond)}
		logger.Info("AWS closure", "AWSState", state, "Outcome", outcome)
		return c, nil
	}
	state, err := org.DescribeAccount(ctx, in.AccountID)
	a.countAWS(ctx, "DescribeAccount", err)
	if err != nil {
		logger.Warn("AWS DescribeAccount failed; retried", "AWSError", awsorg.ErrorCode(err), "Error", err)
		return order.AWSCheck{}, fmt.Errorf("DescribeAccount %s: %w", in.AccountID, err)
	}
	if state.Closed() {
		return result(state, CloseAlreadyClosed)
	}
	mgmt, err := org.ManagementAccountID(ctx)
	a.countAWS(ctx, "DescribeOrganization", err)
	if err != nil {
		logger.Warn("AWS DescribeOrganization failed; retried", "AWSError", awsorg.ErrorCode(err), "Error", err)
		return order.AWSCheck{}, fmt.Errorf("DescribeOrganization: %w", err)
	}
	if mgmt == in.AccountID {
		return result(state, CloseManagementAccount)
	}
	err = org.CloseAccount(ctx, in.AccountID)
	a.countAWS(ctx, "CloseAccount", err)
	switch {
	case err == nil:
		return result(awsorg.StatePendingClosure, CloseRequested)
	case errors.Is(err, awsorg.ErrAccountAlreadyClosed), errors.Is(err, awsorg.ErrAccountNotFound):
		return result(state, CloseAlreadyClosed)
	case errors.Is(err, awsorg.ErrCloseQuotaExceeded):
		return result(state, CloseQuotaExceeded)
	case errors.Is(err, awsorg.ErrCloseRequestsLimitExceeded):
		return result(state, CloseRequestsLimitExceeded)
	case errors.Is(err, awsorg.ErrManagementAccount):
		return result(state, CloseManagementAccount)
	}
	logger.Warn("AWS CloseAccount failed; retried with backoff", "AWSError", awsorg.ErrorCode(err), "Error", err)
	if errors.Is(err, awsorg.ErrTooManyRequests) || errors.Is(err, awsorg.ErrConcurrentModification) {
		return order.AWSCheck{}, temporal.NewApplicationErrorWithCause("AWS asked to slow down: "+err.Error(), "AWSThrottled", err)
	}
	return order.AWSCheck{}, fmt.Errorf("CloseAccount %s: %w", in.AccountID, err)
}

func (a *Activities) countAWS(ctx context.Context, operation string, err error) {
	outcome := "ok"
	if err != nil {
		outcome = awsorg.ErrorCode(err)
		if outcome == "" {
			outcome = "error"
		}
	}
	activity.GetMetricsHandler(ctx).WithTags(map[string]string{"operation": operation, "outcome": outcome}).
		Counter(MetricAWSCalls).Inc(1)
}
