package awsorg

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
)

// DefaultRegion is the region of the Organizations API unless configured:
// its endpoint in the commercial partition is in us-east-1.
const DefaultRegion = "us-east-1"

// DefaultMaxAttempts is how often the SDK tries a call that gets no answer.
const DefaultMaxAttempts = 3

// DefaultRoleSessionName names the session of an assumed role, as CloudTrail
// shows it.
const DefaultRoleSessionName = "termination-orders"

// Settings is the adapter's configuration. The zero value uses the SDK's
// default credential chain against AWS in DefaultRegion.
type Settings struct {
	// Region signs the requests; empty for DefaultRegion.
	Region string
	// RoleARN, when set, is assumed (sts:AssumeRole) with the credentials
	// of the default chain, typically a role in the management account.
	RoleARN string
	// ExternalID is passed to AssumeRole when the role's trust policy
	// requires one.
	ExternalID string
	// RoleSessionName names the assumed role's session; empty for
	// DefaultRoleSessionName.
	RoleSessionName string
	// Endpoint, when set, replaces the Organizations endpoint (the
	// emulator, tests).
	Endpoint string
	// STSEndpoint, when set, replaces the STS endpoint the role is assumed
	// at (the emulator, tests).
	STSEndpoint string
	// MaxAttempts bounds the SDK's attempts at a call that got no answer
	// from AWS (a connection refused, reset or closed); 0 for
	// DefaultMaxAttempts. The SDK never retries an answer, an error
	// included: every one, a rate limit too, reaches the caller (an activity
	// and its retry policy), which decides.
	MaxAttempts int
}

// An Option changes how New builds the adapter.
type Option func(*options)

type options struct {
	credentials aws.CredentialsProvider
}

// WithCredentials replaces the SDK's default credential chain (tests and the
// dev command's emulator use static fake keys). A RoleARN is still assumed
// with them.
func WithCredentials(p aws.CredentialsProvider) Option {
	return func(o *options) { o.credentials = p }
}

// Client is the adapter: Organizations on the AWS SDK. It is safe for
// concurrent use.
type Client struct {
	api *organizations.Client

	mu         sync.Mutex
	management string
}

var _ Organizations = (*Client)(nil)

// New builds the adapter on the SDK's default configuration
// (config.LoadDefaultConfig: environment, shared files, container and
// instance roles), assuming s.RoleARN when it is set. It makes no call to
// AWS: credentials are fetched, and the role assumed, at the first call.
func New(ctx context.Context, s Settings, opts ...Option) (*Client, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	region := s.Region
	if region == "" {
		region = DefaultRegion
	}
	attempts := s.MaxAttempts
	if attempts <= 0 {
		attempts = DefaultMaxAttempts
	}
	retryer := func() aws.Retryer {
		return retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = attempts
			o.Retryables = []retry.IsErrorRetryable{retry.NoRetryCanceledError{}, retry.RetryableConnectionError{}}
		})
	}
	load := []func(*config.LoadOptions) error{config.WithRegion(region), config.WithRetryer(retryer)}
	if o.credentials != nil {
		load = append(load, config.WithCredentialsProvider(o.credentials))
	}
	cfg, err := config.LoadDefaultConfig(ctx, load...)
	if err != nil {
		return nil, fmt.Errorf("aws organizations: load the AWS configuration: %w", err)
	}
	// Wrapped once loaded: loading configures the SDK's own client (a CA
	// bundle from AWS_CA_BUNDLE, say), which it recognises only unwrapped.
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = awshttp.NewBuildableClient()
	}
	cfg.HTTPClient = bufferedBody{cfg.HTTPClient}
	if s.RoleARN != "" {
		session := s.RoleSessionName
		if session == "" {
			session = DefaultRoleSessionName
		}
		stsClient := sts.NewFromConfig(cfg, func(so *sts.Options) {
			if s.STSEndpoint != "" {
				so.BaseEndpoint = aws.String(s.STSEndpoint)
			}
		})
		cfg.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(stsClient, s.RoleARN, func(ro *stscreds.AssumeRoleOptions) {
			ro.RoleSessionName = session
			if s.ExternalID != "" {
				ro.ExternalID = aws.String(s.ExternalID)
			}
		}))
	}
	api := organizations.NewFromConfig(cfg, func(oo *organizations.Options) {
		if s.Endpoint != "" {
			oo.BaseEndpoint = aws.String(s.Endpoint)
		}
	})
	return &Client{api: api}, nil
}

// bufferedBody is an HTTP client that sends a copy of each request's body.
// The SDK closes the body it built as soon as the response arrives; when a
// server answers before the transport has read that body to its end, the
// transport then closes the connection under the response, and the call
// fails with "use of closed network connection" although AWS answered
// (aws-sdk-go-v2 issue 2737). Organizations' request bodies are a few bytes.
type bufferedBody struct{ client aws.HTTPClient }

func (b bufferedBody) Do(r *http.Request) (*http.Response, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return b.client.Do(r)
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, fmt.Errorf("read the request body: %w", err)
	}
	copied := r.Clone(r.Context())
	copied.Body = io.NopCloser(bytes.NewReader(body))
	copied.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	copied.ContentLength = int64(len(body))
	return b.client.Do(copied)
}

// DescribeAccount returns the account's state; an account AWS does not find
// in the organization is StateNotInOrganization.
func (c *Client) DescribeAccount(ctx context.Context, accountID string) (State, error) {
	out, err := c.api.DescribeAccount(ctx, &organizations.DescribeAccountInput{AccountId: aws.String(accountID)})
	if err != nil {
		var notFound *types.AccountNotFoundException
		if errors.As(err, &notFound) {
			return StateNotInOrganization, nil
		}
		return "", classify("DescribeAccount", accountID, err)
	}
	return accountState(out.Account), nil
}

// CloseAccount asks AWS to close the account.
func (c *Client) CloseAccount(ctx context.Context, accountID string) error {
	if _, err := c.api.CloseAccount(ctx, &organizations.CloseAccountInput{AccountId: aws.String(accountID)}); err != nil {
		return classify("CloseAccount", accountID, err)
	}
	return nil
}

// ManagementAccountID returns the organization's management account, asked
// of AWS once.
func (c *Client) ManagementAccountID(ctx context.Context) (string, error) {
	c.mu.Lock()
	id := c.management
	c.mu.Unlock()
	if id != "" {
		return id, nil
	}
	out, err := c.api.DescribeOrganization(ctx, &organizations.DescribeOrganizationInput{})
	if err != nil {
		return "", classify("DescribeOrganization", "", err)
	}
	if out.Organization == nil || aws.ToString(out.Organization.MasterAccountId) == "" {
		return "", &Error{Op: "DescribeOrganization", Err: errors.New("the answer names no management account")}
	}
	id = aws.ToString(out.Organization.MasterAccountId)
	c.mu.Lock()
	c.management = id
	c.mu.Unlock()
	return id, nil
}

// Account is an account of the organization, as ListAccounts reports it.
type Account struct {
	ID, Name, Email string
	State           State
}

// ListAccounts returns every account of the organization, the management
// account included (organizations:ListAccounts).
func (c *Client) ListAccounts(ctx context.Context) ([]Account, error) {
	var accounts []Account
	pages := organizations.NewListAccountsPaginator(c.api, &organizations.ListAccountsInput{})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, classify("ListAccounts", "", err)
		}
		for _, a := range page.Accounts {
			accounts = append(accounts, Account{
				ID: aws.ToString(a.Id), Name: aws.ToString(a.Name), Email: aws.ToString(a.Email),
				State: accountState(&a),
			})
		}
	}
	return accounts, nil
}

// accountState is the account's State, or its older Status where AWS sends
// no State.
func accountState(a *types.Account) State {
	if a == nil {
		return ""
	}
	if a.State != "" {
		return State(a.State)
	}
	return State(a.Status)
}

// Error is a call to AWS Organizations that failed. Its message names the
// operation, the account, the classified error and AWS's code, reason and
// message, never a credential.
type Error struct {
	// Op is the Organizations operation: CloseAccount.
	Op string
	// AccountID is the account of the call; empty for the organization's.
	AccountID string
	// Code is AWS's error code (ConstraintViolationException); empty when
	// AWS did not answer (a network error, a timeout).
	Code string
	// Reason is a ConstraintViolationException's reason
	// (CLOSE_ACCOUNT_QUOTA_EXCEEDED).
	Reason string
	// Kind is the classified error (ErrCloseQuotaExceeded), nil for one this
	// package does not classify.
	Kind error
	// Err is the SDK's error.
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("aws organizations ")
	b.WriteString(e.Op)
	if e.AccountID != "" {
		b.WriteString(" " + e.AccountID)
	}
	b.WriteString(": ")
	if e.Kind != nil {
		b.WriteString(e.Kind.Error())
		b.WriteString(" (" + e.Code)
		if e.Reason != "" {
			b.WriteString(" " + e.Reason)
		}
		b.WriteString("): ")
	} else if e.Reason != "" {
		b.WriteString("reason " + e.Reason + ": ")
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

// Unwrap is the classified error and the SDK's, for errors.Is and errors.As.
func (e *Error) Unwrap() []error {
	if e.Kind == nil {
		return []error{e.Err}
	}
	return []error{e.Kind, e.Err}
}

// ErrorCode is the AWS error code in err (TooManyRequestsException), or
// empty when AWS gave none, for a metric's outcome or a log field.
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode()
	}
	return ""
}

func classify(op, accountID string, err error) error {
	e := &Error{Op: op, AccountID: accountID, Err: err}
	var api smithy.APIError
	if !errors.As(err, &api) {
		return e
	}
	e.Code = api.ErrorCode()
	var cv *types.ConstraintViolationException
	if errors.As(err, &cv) {
		e.Reason = string(cv.Reason)
	}
	e.Kind = kind(e.Code, e.Reason)
	return e
}

// kind is the classified error of AWS's code and reason, or nil.
func kind(code, reason string) error {
	switch code {
	case "AccountAlreadyClosedException":
		return ErrAccountAlreadyClosed
	case "AccountNotFoundException":
		return ErrAccountNotFound
	case "TooManyRequestsException":
		return ErrTooManyRequests
	case "ConcurrentModificationException":
		return ErrConcurrentModification
	case "AccessDeniedException", "AccessDenied":
		return ErrAccessDenied
	case "AWSOrganizationsNotInUseException":
		return ErrAWSOrganizationsNotInUse
	case "UnrecognizedClientException", "InvalidSignatureException", "IncompleteSignatureException",
		"MissingAuthenticationTokenException", "ExpiredTokenException",
		"InvalidClientTokenId", "SignatureDoesNotMatch", "ExpiredToken":
		return ErrCredentials
	case "ConstraintViolationException":
		switch types.ConstraintViolationExceptionReason(reason) {
		case types.ConstraintViolationExceptionReasonCloseAccountQuotaExceeded:
			return ErrCloseQuotaExceeded
		case types.ConstraintViolationExceptionReasonCloseAccountRequestsLimitExceeded:
			return ErrCloseRequestsLimitExceeded
		case types.ConstraintViolationExceptionReasonCannotCloseManagementAccount:
			return ErrManagementAccount
		}
	}
	return nil
}
