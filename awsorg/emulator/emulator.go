// Package emulator is a small AWS Organizations for the tests and the dev
// command: an http.Handler that speaks the AWS JSON 1.1 protocol as the AWS
// SDK sends it (POST, X-Amz-Target: AWSOrganizationsV20161128.<Op>, a SigV4
// Authorization header scoped to organizations, which it verifies), for the
// operations the product uses: DescribeAccount, CloseAccount,
// DescribeOrganization and ListAccounts. It also answers STS's AssumeRole,
// so that the role path of the adapter runs too.
//
// It holds one organization: the management account and member accounts
// with their states. CloseAccount is asynchronous as on AWS: an ACTIVE
// account is PENDING_CLOSURE, then SUSPENDED after Config.ClosureDelay. It
// enforces AWS's rules (the management account cannot be closed, an account
// that is not ACTIVE is already closed, the rolling 30-day close quota) and
// produces every error the product handles on demand (FailNext), in AWS's
// exact shapes. Every call is logged (Calls), so that a test can assert what
// was asked of AWS, how often and when. It is safe for concurrent use.
package emulator

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/cloudmarket/termination-orders/awsorg"
)

// Op is an operation the emulator answers.
type Op string

// The operations.
const (
	OpDescribeAccount      Op = "DescribeAccount"
	OpCloseAccount         Op = "CloseAccount"
	OpDescribeOrganization Op = "DescribeOrganization"
	OpListAccounts         Op = "ListAccounts"
	// OpAssumeRole is STS's, answered at the same address.
	OpAssumeRole Op = "AssumeRole"
)

// The emulator's own credentials, which it knows unless Config.Credentials
// says otherwise: fake, like every key the emulator issues.
const (
	AccessKeyID     = "AKIAEMULATORFAKEKEY1"
	SecretAccessKey = "emulator/fake/secret/access/key/00000000"
)

// StaticCredentials are the emulator's own credentials, for
// awsorg.WithCredentials.
func StaticCredentials() aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider(AccessKeyID, SecretAccessKey, "")
}

// DefaultClosureDelay is how long a closed account stays PENDING_CLOSURE
// unless configured: AWS takes minutes, tests want seconds.
const DefaultClosureDelay = 2 * time.Second

// Config is the emulator's organization and behaviour. The zero value is an
// organization of only its management account (SeedManagementAccountID),
// closing accounts after DefaultClosureDelay under DefaultQuota.
type Config struct {
	// ManagementAccountID is the organization's management account; empty
	// for SeedManagementAccountID.
	ManagementAccountID string
	// OrganizationID is o- and 10 to 32 lowercase letters or digits; empty
	// for SeedOrganizationID.
	OrganizationID string
	// Accounts are the member accounts (ACTIVE unless they say otherwise).
	Accounts []Account
	// ClosureDelay is how long an account stays PENDING_CLOSURE after
	// CloseAccount; 0 for DefaultClosureDelay.
	ClosureDelay time.Duration
	// CloseQuota is the rolling close quota; the zero Quota for
	// DefaultQuota.
	CloseQuota Quota
	// MaxPendingClosures, when above 0, is how many accounts may be
	// PENDING_CLOSURE at once: one more CloseAccount answers
	// CLOSE_ACCOUNT_REQUESTS_LIMIT_EXCEEDED.
	MaxPendingClosures int
	// MinCloseInterval, when above 0, is AWS's request rate on
	// CloseAccount: a CloseAccount sooner than this after the last one that
	// was accepted answers TooManyRequestsException.
	MinCloseInterval time.Duration
	// Region, when set, is the only region a request may be signed for;
	// empty accepts any.
	Region string
	// Latency delays every answer, to measure what AWS's round trips cost
	// (SetLatency sets it per operation).
	Latency time.Duration
	// Credentials are the access keys the emulator knows, ID to secret;
	// nil for AccessKeyID and SecretAccessKey.
	Credentials map[string]string
}

// Account is an account of the emulated organization.
type Account struct {
	// ID is 12 digits.
	ID string
	// Name and Email are made up from the ID when empty.
	Name, Email string
	// State is ACTIVE when empty.
	State awsorg.State
	// JoinedAt is when the account joined; the emulator's start when zero.
	JoinedAt time.Time
}

// Quota is AWS's rolling quota on closures: an organization may close
// Percent of its member accounts, at least Min and at most Max, within any
// Window.
type Quota struct {
	Percent, Min, Max int
	Window            time.Duration
}

// DefaultQuota is AWS's close quota as its CloseAccount reference states
// it: 10% of the member accounts, between 10 and 1,000, in a rolling 30 days.
var DefaultQuota = Quota{Percent: 10, Min: 10, Max: 1000, Window: 30 * 24 * time.Hour}

// NoQuota lets an organization close any number of accounts, for tests
// that close more than DefaultQuota allows a small organization.
var NoQuota = Quota{Percent: 100, Min: 1 << 30, Max: 1 << 30, Window: 30 * 24 * time.Hour}

// Limit is how many of members accounts may be closed within the window.
func (q Quota) Limit(members int) int {
	return min(max(members*q.Percent/100, q.Min), q.Max)
}

// Fault is an error answer, in AWS's shape: the JSON body's __type, Message
// and, for a ConstraintViolationException, Reason.
type Fault struct {
	Type    string
	Reason  string
	Message string
	// Status is the HTTP status; 0 for 400.
	Status int
}

// The faults the product handles, with AWS's messages.
var (
	FaultAccountNotFound = Fault{Type: "AccountNotFoundException",
		Message: "You specified an account that doesn't exist."}
	FaultAccountAlreadyClosed = Fault{Type: "AccountAlreadyClosedException",
		Message: "You attempted to close an account that is already closed."}
	FaultCloseQuotaExceeded = Fault{Type: "ConstraintViolationException", Reason: "CLOSE_ACCOUNT_QUOTA_EXCEEDED",
		Message: "You have exceeded close account quota for the past 30 days."}
	FaultCloseRequestsLimitExceeded = Fault{Type: "ConstraintViolationException", Reason: "CLOSE_ACCOUNT_REQUESTS_LIMIT_EXCEEDED",
		Message: "You attempted to exceed the number of accounts that you can close at a time."}
	FaultCannotCloseManagementAccount = Fault{Type: "ConstraintViolationException", Reason: "CANNOT_CLOSE_MANAGEMENT_ACCOUNT",
		Message: "You attempted to close the management account. To close the management account for the organization, you must first either remove or close all member accounts in the organization."}
	FaultTooManyRequests = Fault{Type: "TooManyRequestsException",
		Message: "You have sent too many requests in too short a period of time. The quota helps protect against denial-of-service attacks. Try again later."}
	FaultConcurrentModification = Fault{Type: "ConcurrentModificationException",
		Message: "The target of the operation is currently being modified by a different request. Try again later."}
	FaultAccessDenied = Fault{Type: "AccessDeniedException",
		Message: "You don't have permissions to perform the requested operation."}
	FaultAWSOrganizationsNotInUse = Fault{Type: "AWSOrganizationsNotInUseException",
		Message: "Your account is not a member of an organization."}
	FaultService = Fault{Type: "ServiceException", Status: 500,
		Message: "AWS Organizations can't complete your request because of an internal service error. Try again later."}
)

var (
	accountIDPattern = regexp.MustCompile(`^\d{12}$`)
	orgIDPattern     = regexp.MustCompile(`^o-[a-z0-9]{10,32}$`)
)

// Emulator is the emulated AWS Organizations (and STS). It is an
// http.Handler: serve it with Start, or httptest.NewServer in a test.
type Emulator struct {
	region           string
	closureDelay     time.Duration
	minCloseInterval time.Duration
	maxPending       int
	offset           atomic.Int64 // Advance's, in nanoseconds

	mu            sync.Mutex
	management    string
	orgID         string
	accounts      map[string]*account
	order         []string // ListAccounts' order: management first, then as added
	closures      []time.Time
	lastClose     time.Time
	quota         Quota
	quotaExceeded bool
	denied        map[Op]bool
	faults        []*faultRule
	latency       time.Duration
	opLatency     map[Op]time.Duration
	calls         []Call
	keys          map[string]key
	roles         map[string]string // role ARN to the external ID its trust policy requires
}

type account struct {
	Account
	// closeRequested is when CloseAccount was accepted; the account is
	// SUSPENDED from closeRequested + the closure delay.
	closeRequested time.Time
}

type faultRule struct {
	op        Op
	accountID string
	fault     Fault
	left      int
}

// key is an access key the emulator knows; role is set for the session
// keys AssumeRole issued.
type key struct {
	secret, token, role string
	expires             time.Time
}

// New is an emulator of cfg's organization. It panics on a Config that no
// organization can have (a bad account ID, a duplicate): a programming
// error in a test or the dev command.
func New(cfg Config) *Emulator {
	e := &Emulator{
		region:           cfg.Region,
		closureDelay:     cfg.ClosureDelay,
		minCloseInterval: cfg.MinCloseInterval,
		maxPending:       cfg.MaxPendingClosures,
		management:       cfg.ManagementAccountID,
		orgID:            cfg.OrganizationID,
		accounts:         map[string]*account{},
		quota:            DefaultQuota,
		denied:           map[Op]bool{},
		latency:          cfg.Latency,
		opLatency:        map[Op]time.Duration{},
		keys:             map[string]key{},
		roles:            map[string]string{},
	}
	if e.closureDelay <= 0 {
		e.closureDelay = DefaultClosureDelay
	}
	if e.management == "" {
		e.management = SeedManagementAccountID
	}
	if e.orgID == "" {
		e.orgID = SeedOrganizationID
	}
	if cfg.CloseQuota != (Quota{}) {
		e.quota = cfg.CloseQuota
	}
	if !orgIDPattern.MatchString(e.orgID) {
		panic(fmt.Sprintf("emulator: organization ID %q is not o- and 10 to 32 lowercase letters or digits", e.orgID))
	}
	creds := cfg.Credentials
	if creds == nil {
		creds = map[string]string{AccessKeyID: SecretAccessKey}
	}
	for id, secret := range creds {
		e.keys[id] = key{secret: secret}
	}
	if err := e.AddAccount(Account{ID: e.management, Name: "Management", Email: "aws-management@example.com"}); err != nil {
		panic("emulator: management account: " + err.Error())
	}
	for _, a := range cfg.Accounts {
		if err := e.AddAccount(a); err != nil {
			panic("emulator: " + err.Error())
		}
	}
	return e
}

// ManagementAccountID is the organization's management account.
func (e *Emulator) ManagementAccountID() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.management
}

// AddAccount adds an account to the organization, ACTIVE unless a.State
// says otherwise.
func (e *Emulator) AddAccount(a Account) error {
	if !accountIDPattern.MatchString(a.ID) {
		return fmt.Errorf("account ID %q is not 12 digits", a.ID)
	}
	if a.State == "" {
		a.State = awsorg.StateActive
	}
	if err := checkState(a.State); err != nil {
		return fmt.Errorf("account %s: %w", a.ID, err)
	}
	if a.Name == "" {
		a.Name = "Customer " + a.ID
	}
	if a.Email == "" {
		a.Email = "aws+" + a.ID + "@example.com"
	}
	if a.JoinedAt.IsZero() {
		a.JoinedAt = e.now().UTC().Truncate(time.Second)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.accounts[a.ID]; ok {
		return fmt.Errorf("account %s is already in the organization", a.ID)
	}
	e.accounts[a.ID] = &account{Account: a}
	e.order = append(e.order, a.ID)
	return nil
}

// RemoveAccount takes the account out of the organization, as AWS does 90
// days after its closure: DescribeAccount then answers
// AccountNotFoundException.
func (e *Emulator) RemoveAccount(id string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if id == e.management {
		return errors.New("the management account cannot leave its organization")
	}
	if _, ok := e.accounts[id]; !ok {
		return fmt.Errorf("account %s is not in the organization", id)
	}
	delete(e.accounts, id)
	e.order = slices.DeleteFunc(e.order, func(o string) bool { return o == id })
	return nil
}

// SetState puts the account in a state, as AWS would outside the product:
// ACTIVE is a reopening through AWS Support; SUSPENDED ends a pending
// closure at once. A pending closure is forgotten.
func (e *Emulator) SetState(id string, s awsorg.State) error {
	if err := checkState(s); err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	a, ok := e.accounts[id]
	if !ok {
		return fmt.Errorf("account %s is not in the organization", id)
	}
	a.State, a.closeRequested = s, time.Time{}
	return nil
}

// Account is the account as the emulator holds it now, and whether it is in
// the organization.
func (e *Emulator) Account(id string) (Account, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	a, ok := e.accounts[id]
	if !ok {
		return Account{}, false
	}
	e.advance(a, e.now())
	return a.Account, true
}

// Accounts are the organization's accounts now, the management account
// first.
func (e *Emulator) Accounts() []Account {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.now()
	out := make([]Account, 0, len(e.order))
	for _, id := range e.order {
		a := e.accounts[id]
		e.advance(a, now)
		out = append(out, a.Account)
	}
	return out
}

func checkState(s awsorg.State) error {
	switch s {
	case awsorg.StatePendingActivation, awsorg.StateActive, awsorg.StatePendingClosure, awsorg.StateSuspended, awsorg.StateClosed:
		return nil
	case awsorg.StateNotInOrganization:
		return errors.New("an account not in the organization has no state: use RemoveAccount")
	}
	return fmt.Errorf("state %q is not one AWS reports", s)
}

// FailNext makes the next n calls of op answer f, whatever the account,
// before anything changes. The faults of several calls queue up in order.
func (e *Emulator) FailNext(op Op, f Fault, n int) {
	e.FailNextFor(op, "", f, n)
}

// FailNextFor makes the next n calls of op on the account answer f.
func (e *Emulator) FailNextFor(op Op, accountID string, f Fault, n int) {
	if n <= 0 {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.faults = append(e.faults, &faultRule{op: op, accountID: accountID, fault: f, left: n})
}

// ClearFaults drops every fault FailNext queued that has not been answered.
func (e *Emulator) ClearFaults() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.faults = nil
}

// SetQuotaExceeded makes every CloseAccount of an ACTIVE account answer
// CLOSE_ACCOUNT_QUOTA_EXCEEDED while on, whatever the quota says.
func (e *Emulator) SetQuotaExceeded(on bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.quotaExceeded = on
}

// SetCloseQuota replaces the close quota.
func (e *Emulator) SetCloseQuota(q Quota) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.quota = q
}

// ResetCloseQuota forgets the closures the quota counts, as 30 days passing
// would.
func (e *Emulator) ResetCloseQuota() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.closures = nil
}

// SetDenied makes every call of op answer AccessDeniedException while on,
// as a policy without the permission would.
func (e *Emulator) SetDenied(op Op, on bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.denied[op] = on
}

// SetLatency delays every answer of op by d (0: Config.Latency again).
func (e *Emulator) SetLatency(op Op, d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if d <= 0 {
		delete(e.opLatency, op)
		return
	}
	e.opLatency[op] = d
}

// AddRole lets AssumeRole assume the role, requiring the external ID when
// it is not empty, as the role's trust policy would.
func (e *Emulator) AddRole(roleARN, externalID string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.roles[roleARN] = externalID
}

// AddCredentials makes an access key known.
func (e *Emulator) AddCredentials(accessKeyID, secretAccessKey string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.keys[accessKeyID] = key{secret: secretAccessKey}
}

func (e *Emulator) latencyOf(op Op) time.Duration {
	e.mu.Lock()
	defer e.mu.Unlock()
	if d, ok := e.opLatency[op]; ok {
		return d
	}
	return e.latency
}

// fault takes the next queued fault of the call, if any. e.mu is held.
func (e *Emulator) fault(op Op, accountID string) *Fault {
	for i, r := range e.faults {
		if r.op != op || (r.accountID != "" && r.accountID != accountID) {
			continue
		}
		f := r.fault
		if r.left--; r.left == 0 {
			e.faults = slices.Delete(e.faults, i, i+1)
		}
		return &f
	}
	return nil
}

// advance ends the account's pending closure once its delay has passed.
// e.mu is held.
func (e *Emulator) advance(a *account, now time.Time) {
	if a.State == awsorg.StatePendingClosure && !a.closeRequested.IsZero() && !now.Before(a.closeRequested.Add(e.closureDelay)) {
		a.State, a.closeRequested = awsorg.StateSuspended, time.Time{}
	}
}

// describeAccount is DescribeAccount's logic. e.mu is held.
func (e *Emulator) describeAccount(id string) (Account, *Fault) {
	if f := e.fault(OpDescribeAccount, id); f != nil {
		return Account{}, f
	}
	if e.denied[OpDescribeAccount] {
		return Account{}, &FaultAccessDenied
	}
	a, ok := e.accounts[id]
	if !ok {
		return Account{}, &FaultAccountNotFound
	}
	e.advance(a, e.now())
	return a.Account, nil
}

// closeAccount is CloseAccount's logic, AWS's rules in the order the
// emulator checks them. e.mu is held.
func (e *Emulator) closeAccount(id string) *Fault {
	if f := e.fault(OpCloseAccount, id); f != nil {
		return f
	}
	if e.denied[OpCloseAccount] {
		return &FaultAccessDenied
	}
	a, ok := e.accounts[id]
	if !ok {
		return &FaultAccountNotFound
	}
	if id == e.management {
		return &FaultCannotCloseManagementAccount
	}
	now := e.now()
	e.advance(a, now)
	if a.State != awsorg.StateActive {
		return &FaultAccountAlreadyClosed
	}
	e.closures = slices.DeleteFunc(e.closures, func(t time.Time) bool { return now.Sub(t) >= e.quota.Window })
	if e.quotaExceeded || len(e.closures) >= e.quota.Limit(len(e.accounts)-1) {
		return &FaultCloseQuotaExceeded
	}
	if e.maxPending > 0 {
		pending := 0
		for _, o := range e.accounts {
			e.advance(o, now)
			if o.State == awsorg.StatePendingClosure {
				pending++
			}
		}
		if pending >= e.maxPending {
			return &FaultCloseRequestsLimitExceeded
		}
	}
	if e.minCloseInterval > 0 && !e.lastClose.IsZero() && now.Sub(e.lastClose) < e.minCloseInterval {
		return &FaultTooManyRequests
	}
	a.State, a.closeRequested = awsorg.StatePendingClosure, now
	e.closures = append(e.closures, now)
	e.lastClose = now
	return nil
}

// Advance moves the emulator's clock forward by d, as if d had passed: a
// pending closure ends once its delay has, the close quota forgets closures
// older than its window.
func (e *Emulator) Advance(d time.Duration) { e.offset.Add(int64(d)) }

func (e *Emulator) now() time.Time { return time.Now().Add(time.Duration(e.offset.Load())) }

// sleep waits d, or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
