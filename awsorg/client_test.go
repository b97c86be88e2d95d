package awsorg_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/organizations/types"

	"github.com/cloudmarket/termination-orders/awsorg"
	"github.com/cloudmarket/termination-orders/awsorg/emulator"
	"github.com/cloudmarket/termination-orders/internal/netfault"
)

const member = "123456789012"

// isolateAWS keeps the developer's own AWS settings (profiles, keys,
// endpoints, instance metadata) out of a test.
func isolateAWS(t *testing.T) {
	t.Helper()
	for _, e := range os.Environ() {
		name, _, _ := strings.Cut(e, "=")
		if strings.HasPrefix(name, "AWS_") {
			t.Setenv(name, "")
			os.Unsetenv(name)
		}
	}
	dir := t.TempDir()
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
}

// serve runs an emulator of cfg over HTTP.
func serve(t *testing.T, cfg emulator.Config) (*emulator.Emulator, string) {
	t.Helper()
	isolateAWS(t)
	em := emulator.New(cfg)
	srv := httptest.NewServer(em)
	t.Cleanup(srv.Close)
	return em, srv.URL
}

// emulated is the adapter against an emulator of the seeded organization,
// with the emulator's static keys.
func emulated(t *testing.T, cfg emulator.Config) (*emulator.Emulator, *awsorg.Client) {
	t.Helper()
	em, url := serve(t, cfg)
	c, err := awsorg.New(context.Background(), awsorg.Settings{Endpoint: url}, awsorg.WithCredentials(emulator.StaticCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	return em, c
}

// addMembers adds n member accounts in the state to cfg, their IDs prefix
// (10 digits) and a two-digit number.
func addMembers(cfg *emulator.Config, prefix string, n int, state awsorg.State) {
	for i := range n {
		cfg.Accounts = append(cfg.Accounts, emulator.Account{ID: fmt.Sprintf("%s%02d", prefix, i), State: state})
	}
}

func TestDescribeAccountReportsAWSState(t *testing.T) {
	em, c := emulated(t, emulator.Seed())
	ctx := context.Background()
	for _, tc := range []struct {
		state  awsorg.State
		closed bool
	}{
		{awsorg.StatePendingActivation, false},
		{awsorg.StateActive, false},
		{awsorg.StatePendingClosure, true},
		{awsorg.StateSuspended, true},
		{awsorg.StateClosed, true},
	} {
		if err := em.SetState(member, tc.state); err != nil {
			t.Fatal(err)
		}
		got, err := c.DescribeAccount(ctx, member)
		if err != nil {
			t.Fatalf("%s: %v", tc.state, err)
		}
		if got != tc.state || got.Closed() != tc.closed || !got.Valid() {
			t.Errorf("DescribeAccount = %q (closed %v, valid %v); want %q (closed %v)", got, got.Closed(), got.Valid(), tc.state, tc.closed)
		}
	}
	if got, err := c.DescribeAccount(ctx, emulator.SeedManagementAccountID); err != nil || got != awsorg.StateActive {
		t.Errorf("management account = %q, %v; want ACTIVE", got, err)
	}
}

func TestAccountOutsideTheOrganizationIsNotInOrganization(t *testing.T) {
	em, c := emulated(t, emulator.Seed())
	ctx := context.Background()
	if err := em.RemoveAccount(member); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{member, "000000000001"} {
		got, err := c.DescribeAccount(ctx, id)
		if err != nil || got != awsorg.StateNotInOrganization || !got.Closed() {
			t.Errorf("DescribeAccount(%s) = %q, %v; want NOT_IN_ORGANIZATION, nil", id, got, err)
		}
	}
	if calls := em.Calls().Of(emulator.OpDescribeAccount, member); len(calls) != 1 || calls[0].Error != "AccountNotFoundException" {
		t.Errorf("emulator's log of DescribeAccount = %+v; want one AccountNotFoundException", calls)
	}
}

func TestCloseAccountIsAsynchronous(t *testing.T) {
	cfg := emulator.Seed()
	cfg.ClosureDelay = time.Hour
	em, c := emulated(t, cfg)
	ctx := context.Background()

	if err := c.CloseAccount(ctx, member); err != nil {
		t.Fatal(err)
	}
	if got, err := c.DescribeAccount(ctx, member); err != nil || got != awsorg.StatePendingClosure {
		t.Fatalf("right after CloseAccount: %q, %v; want PENDING_CLOSURE", got, err)
	}
	em.Advance(59 * time.Minute)
	if got, _ := c.DescribeAccount(ctx, member); got != awsorg.StatePendingClosure {
		t.Fatalf("before the closure delay: %q; want PENDING_CLOSURE", got)
	}
	em.Advance(time.Minute)
	if got, err := c.DescribeAccount(ctx, member); err != nil || got != awsorg.StateSuspended {
		t.Fatalf("after the closure delay: %q, %v; want SUSPENDED", got, err)
	}
	closes := em.Calls().Of(emulator.OpCloseAccount, "")
	if len(closes) != 1 || closes[0].AccountID != member || !closes[0].OK() || closes[0].State != awsorg.StatePendingClosure {
		t.Errorf("CloseAccount calls = %+v; want one for %s", closes, member)
	}
	if a, _ := em.Account(member); a.State != awsorg.StateSuspended {
		t.Errorf("emulator holds %q", a.State)
	}
}

func TestCloseAccountErrorsAreClassified(t *testing.T) {
	tests := []struct {
		name    string
		account string
		setup   func(*emulator.Emulator)
		want    error // nil: classified as none of the sentinels
		code    string
		reason  string
	}{
		{"pending closure", member, func(em *emulator.Emulator) { em.SetState(member, awsorg.StatePendingClosure) },
			awsorg.ErrAccountAlreadyClosed, "AccountAlreadyClosedException", ""},
		{"suspended", member, func(em *emulator.Emulator) { em.SetState(member, awsorg.StateSuspended) },
			awsorg.ErrAccountAlreadyClosed, "AccountAlreadyClosedException", ""},
		{"not in the organization", "000000000001", func(*emulator.Emulator) {},
			awsorg.ErrAccountNotFound, "AccountNotFoundException", ""},
		{"management account", emulator.SeedManagementAccountID, func(*emulator.Emulator) {},
			awsorg.ErrManagementAccount, "ConstraintViolationException", "CANNOT_CLOSE_MANAGEMENT_ACCOUNT"},
		{"quota", member, func(em *emulator.Emulator) { em.SetQuotaExceeded(true) },
			awsorg.ErrCloseQuotaExceeded, "ConstraintViolationException", "CLOSE_ACCOUNT_QUOTA_EXCEEDED"},
		{"requests limit", member, func(em *emulator.Emulator) {
			em.FailNext(emulator.OpCloseAccount, emulator.FaultCloseRequestsLimitExceeded, 1)
		}, awsorg.ErrCloseRequestsLimitExceeded, "ConstraintViolationException", "CLOSE_ACCOUNT_REQUESTS_LIMIT_EXCEEDED"},
		{"rate limit", member, func(em *emulator.Emulator) {
			em.FailNext(emulator.OpCloseAccount, emulator.FaultTooManyRequests, 1)
		}, awsorg.ErrTooManyRequests, "TooManyRequestsException", ""},
		{"concurrent modification", member, func(em *emulator.Emulator) {
			em.FailNextFor(emulator.OpCloseAccount, member, emulator.FaultConcurrentModification, 1)
		}, awsorg.ErrConcurrentModification, "ConcurrentModificationException", ""},
		{"access denied", member, func(em *emulator.Emulator) { em.SetDenied(emulator.OpCloseAccount, true) },
			awsorg.ErrAccessDenied, "AccessDeniedException", ""},
		{"no organization", member, func(em *emulator.Emulator) {
			em.FailNext(emulator.OpCloseAccount, emulator.FaultAWSOrganizationsNotInUse, 1)
		}, awsorg.ErrAWSOrganizationsNotInUse, "AWSOrganizationsNotInUseException", ""},
		{"service error", member, func(em *emulator.Emulator) {
			em.FailNext(emulator.OpCloseAccount, emulator.FaultService, 1)
		}, nil, "ServiceException", ""},
	}
	sentinels := []error{awsorg.ErrAccountAlreadyClosed, awsorg.ErrAccountNotFound, awsorg.ErrCloseQuotaExceeded,
		awsorg.ErrCloseRequestsLimitExceeded, awsorg.ErrTooManyRequests, awsorg.ErrConcurrentModification,
		awsorg.ErrManagementAccount, awsorg.ErrAccessDenied, awsorg.ErrAWSOrganizationsNotInUse, awsorg.ErrCredentials}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			em, c := emulated(t, emulator.Seed())
			tc.setup(em)
			before, _ := em.Account(tc.account)
			err := c.CloseAccount(context.Background(), tc.account)
			if err == nil {
				t.Fatal("CloseAccount succeeded")
			}
			for _, s := range sentinels {
				if errors.Is(err, s) != (s == tc.want) {
					t.Errorf("errors.Is(err, %q) = %v", s, errors.Is(err, s))
				}
			}
			if got := awsorg.ErrorCode(err); got != tc.code {
				t.Errorf("ErrorCode = %q; want %q", got, tc.code)
			}
			var e *awsorg.Error
			if !errors.As(err, &e) || e.Op != "CloseAccount" || e.AccountID != tc.account || e.Reason != tc.reason {
				t.Errorf("awsorg.Error = %+v", e)
			}
			for _, part := range []string{"CloseAccount " + tc.account, tc.code, tc.reason} {
				if !strings.Contains(err.Error(), part) {
					t.Errorf("message lacks %q: %v", part, err)
				}
			}
			if strings.Contains(err.Error(), emulator.SecretAccessKey) {
				t.Error("the message shows the secret key")
			}
			if after, _ := em.Account(tc.account); after.State != before.State {
				t.Errorf("the refused CloseAccount changed the account from %q to %q", before.State, after.State)
			}
		})
	}
}

// The SDK's errors stay reachable under the classification.
func TestClassifiedErrorsKeepTheSDKError(t *testing.T) {
	em, c := emulated(t, emulator.Seed())
	em.SetQuotaExceeded(true)
	err := c.CloseAccount(context.Background(), member)
	var cv *types.ConstraintViolationException
	if !errors.As(err, &cv) || cv.Reason != types.ConstraintViolationExceptionReasonCloseAccountQuotaExceeded {
		t.Fatalf("errors.As ConstraintViolationException: %v", err)
	}
	if !strings.Contains(err.Error(), emulator.FaultCloseQuotaExceeded.Message) {
		t.Errorf("AWS's message is lost: %v", err)
	}
}

func TestDescribeAccountErrorsAreClassified(t *testing.T) {
	em, c := emulated(t, emulator.Seed())
	ctx := context.Background()
	em.FailNext(emulator.OpDescribeAccount, emulator.FaultTooManyRequests, 1)
	if _, err := c.DescribeAccount(ctx, member); !errors.Is(err, awsorg.ErrTooManyRequests) {
		t.Errorf("throttled DescribeAccount: %v", err)
	}
	em.SetDenied(emulator.OpDescribeAccount, true)
	if _, err := c.DescribeAccount(ctx, member); !errors.Is(err, awsorg.ErrAccessDenied) {
		t.Errorf("denied DescribeAccount: %v", err)
	}
	em.SetDenied(emulator.OpDescribeAccount, false)
	if got, err := c.DescribeAccount(ctx, member); err != nil || got != awsorg.StateActive {
		t.Errorf("DescribeAccount once allowed = %q, %v", got, err)
	}
}

// The SDK does not retry: every answer, a rate limit included, reaches the
// caller, whose retry policy decides.
func TestTheCallerOwnsRetries(t *testing.T) {
	em, c := emulated(t, emulator.Seed())
	em.FailNext(emulator.OpCloseAccount, emulator.FaultTooManyRequests, 1)
	if err := c.CloseAccount(context.Background(), member); !errors.Is(err, awsorg.ErrTooManyRequests) {
		t.Fatalf("CloseAccount = %v; want the rate limit", err)
	}
	if n := len(em.Calls().Of(emulator.OpCloseAccount, member)); n != 1 {
		t.Errorf("the SDK made %d attempts; want 1", n)
	}
	em.FailNext(emulator.OpDescribeAccount, emulator.FaultService, 1)
	if _, err := c.DescribeAccount(context.Background(), member); awsorg.ErrorCode(err) != "ServiceException" {
		t.Fatalf("DescribeAccount = %v; want AWS's internal error", err)
	}
	if n := len(em.Calls().Of(emulator.OpDescribeAccount, member)); n != 1 {
		t.Errorf("the SDK made %d attempts at an internal error; want 1", n)
	}
	if err := c.CloseAccount(context.Background(), member); err != nil {
		t.Errorf("the next CloseAccount: %v", err)
	}
}

// A call that AWS never answered is an error of no code and no class.
func TestUnansweredCallIsUnclassified(t *testing.T) {
	em, url := serve(t, emulator.Seed())
	proxy, err := netfault.Listen(strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	if err := proxy.Set(netfault.Refuse); err != nil {
		t.Fatal(err)
	}
	c, err := awsorg.New(context.Background(), awsorg.Settings{Endpoint: "http://" + proxy.Addr(), MaxAttempts: 1},
		awsorg.WithCredentials(emulator.StaticCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	err = c.CloseAccount(context.Background(), member)
	var e *awsorg.Error
	if !errors.As(err, &e) || e.Code != "" || e.Kind != nil || awsorg.ErrorCode(err) != "" {
		t.Fatalf("CloseAccount through a refusing proxy = %v; want an unclassified error", err)
	}
	if n := len(em.Calls()); n != 0 {
		t.Errorf("the emulator saw %d calls", n)
	}
}

func TestCloseQuotaIsARollingWindow(t *testing.T) {
	cfg := emulator.Seed()
	addMembers(&cfg, "5000000000", 20, awsorg.StateActive)
	em, c := emulated(t, cfg)
	ctx := context.Background()
	members := len(cfg.Accounts)
	limit := emulator.DefaultQuota.Limit(members)
	if limit != 10 {
		t.Fatalf("quota of %d members = %d; want AWS's minimum, 10", members, limit)
	}
	for i := range limit {
		if err := c.CloseAccount(ctx, cfg.Accounts[i].ID); err != nil {
			t.Fatalf("closure %d: %v", i+1, err)
		}
		em.Advance(24 * time.Hour)
	}
	next := cfg.Accounts[limit].ID
	if err := c.CloseAccount(ctx, next); !errors.Is(err, awsorg.ErrCloseQuotaExceeded) {
		t.Fatalf("closure %d = %v; want the quota", limit+1, err)
	}
	if a, _ := em.Account(next); a.State != awsorg.StateActive {
		t.Fatalf("refused account is %q", a.State)
	}
	// 30 days after the first closure, one closure is free again.
	em.Advance(30*24*time.Hour - time.Duration(limit)*24*time.Hour)
	if err := c.CloseAccount(ctx, next); err != nil {
		t.Fatalf("30 days after the first closure: %v", err)
	}
	if err := c.CloseAccount(ctx, cfg.Accounts[limit+1].ID); !errors.Is(err, awsorg.ErrCloseQuotaExceeded) {
		t.Fatalf("the closure after = %v; want the quota again", err)
	}
}

func TestManagementAccountIDIsAskedOnce(t *testing.T) {
	em, c := emulated(t, emulator.Seed())
	ctx := context.Background()
	em.FailNext(emulator.OpDescribeOrganization, emulator.FaultAWSOrganizationsNotInUse, 1)
	if _, err := c.ManagementAccountID(ctx); !errors.Is(err, awsorg.ErrAWSOrganizationsNotInUse) {
		t.Fatalf("first ManagementAccountID = %v", err)
	}
	for range 3 {
		id, err := c.ManagementAccountID(ctx)
		if err != nil || id != emulator.SeedManagementAccountID {
			t.Fatalf("ManagementAccountID = %q, %v", id, err)
		}
	}
	if calls := em.Calls().Of(emulator.OpDescribeOrganization, "").Succeeded(); len(calls) != 1 {
		t.Errorf("DescribeOrganization succeeded %d times; want once", len(calls))
	}
}

func TestListAccountsReadsEveryPage(t *testing.T) {
	cfg := emulator.Seed()
	addMembers(&cfg, "6000000000", 25, awsorg.StateSuspended)
	em, c := emulated(t, cfg)
	accounts, err := c.ListAccounts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(accounts) != 1+len(cfg.Accounts) {
		t.Fatalf("%d accounts; want %d", len(accounts), 1+len(cfg.Accounts))
	}
	if accounts[0].ID != emulator.SeedManagementAccountID || accounts[1].ID != member || accounts[1].State != awsorg.StateActive {
		t.Errorf("first accounts = %+v", accounts[:2])
	}
	if last := accounts[len(accounts)-1]; last.ID != "600000000024" || last.State != awsorg.StateSuspended || last.Email == "" {
		t.Errorf("last account = %+v", last)
	}
	if pages := len(em.Calls().Of(emulator.OpListAccounts, "")); pages != 2 {
		t.Errorf("%d pages; want 2 of at most 20", pages)
	}
}

// A CA bundle for the SDK (AWS_CA_BUNDLE, as behind a proxy that inspects
// TLS) leaves the adapter working.
func TestCABundleIsHonoured(t *testing.T) {
	em, url := serve(t, emulator.Seed())
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, IsCA: true,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	bundle := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(bundle, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_CA_BUNDLE", bundle)
	c, err := awsorg.New(context.Background(), awsorg.Settings{Endpoint: url}, awsorg.WithCredentials(emulator.StaticCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := c.DescribeAccount(context.Background(), member); err != nil || got != awsorg.StateActive {
		t.Fatalf("DescribeAccount = %q, %v", got, err)
	}
	if n := len(em.Calls()); n != 1 {
		t.Errorf("%d calls", n)
	}
}

// An answer that comes before the SDK's transport has finished with the
// request is read whole: without the adapter's copy of the request body,
// some of these calls failed with "use of closed network connection".
func TestQuickAnswersAreRead(t *testing.T) {
	cfg := emulator.Seed()
	addMembers(&cfg, "6000000000", 25, awsorg.StateActive)
	em, url := serve(t, cfg)
	c, err := awsorg.New(context.Background(), awsorg.Settings{Endpoint: url, MaxAttempts: 1}, awsorg.WithCredentials(emulator.StaticCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	const lists = 300
	for i := range lists {
		if _, err := c.ListAccounts(context.Background()); err != nil {
			t.Fatalf("list %d: %v", i+1, err)
		}
	}
	if n := len(em.Calls()); n != 2*lists {
		t.Errorf("%d calls; want %d", n, 2*lists)
	}
}

func TestRefusedCredentialsAreClassified(t *testing.T) {
	_, url := serve(t, emulator.Seed())
	ctx := context.Background()
	for _, tc := range []struct {
		name, key, secret, code string
	}{
		{"wrong secret", emulator.AccessKeyID, "not-the-secret", "InvalidSignatureException"},
		{"unknown key", "AKIAUNKNOWNKEY000000", emulator.SecretAccessKey, "UnrecognizedClientException"},
	} {
		c, err := awsorg.New(ctx, awsorg.Settings{Endpoint: url},
			awsorg.WithCredentials(credentials.NewStaticCredentialsProvider(tc.key, tc.secret, "")))
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.DescribeAccount(ctx, member)
		if !errors.Is(err, awsorg.ErrCredentials) || awsorg.ErrorCode(err) != tc.code {
			t.Errorf("%s: %v; want %s", tc.name, err, tc.code)
		}
		if strings.Contains(err.Error(), tc.secret) {
			t.Errorf("%s: the message shows the secret", tc.name)
		}
	}
}

// Without WithCredentials, the SDK's default chain signs: here, the
// environment's keys.
func TestDefaultCredentialChain(t *testing.T) {
	em, url := serve(t, emulator.Seed())
	t.Setenv("AWS_ACCESS_KEY_ID", emulator.AccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", emulator.SecretAccessKey)
	c, err := awsorg.New(context.Background(), awsorg.Settings{Endpoint: url, Region: "eu-west-1"})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := c.DescribeAccount(context.Background(), member); err != nil || got != awsorg.StateActive {
		t.Fatalf("DescribeAccount = %q, %v", got, err)
	}
	if calls := em.Calls(); len(calls) != 1 || calls[0].AccessKeyID != emulator.AccessKeyID {
		t.Errorf("calls = %+v", calls)
	}
}

func TestRoleIsAssumed(t *testing.T) {
	const role = "arn:aws:iam::111122223333:role/termination-orders"
	em, url := serve(t, emulator.Seed())
	em.AddRole(role, "ext-4821")
	ctx := context.Background()
	settings := awsorg.Settings{Endpoint: url, STSEndpoint: url, RoleARN: role, ExternalID: "ext-4821"}
	c, err := awsorg.New(ctx, settings, awsorg.WithCredentials(emulator.StaticCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	if len(em.Calls()) != 0 {
		t.Fatal("New called AWS")
	}
	for range 2 {
		if got, err := c.DescribeAccount(ctx, member); err != nil || got != awsorg.StateActive {
			t.Fatalf("DescribeAccount as the role = %q, %v", got, err)
		}
	}
	assumed := em.Calls().Of(emulator.OpAssumeRole, "")
	if len(assumed) != 1 || !assumed[0].OK() || assumed[0].Role != role || assumed[0].AccessKeyID != emulator.AccessKeyID {
		t.Errorf("AssumeRole calls = %+v; want one, with the base keys, cached after", assumed)
	}
	for _, call := range em.Calls().Of(emulator.OpDescribeAccount, member) {
		if call.Role != role || !strings.HasPrefix(call.AccessKeyID, "ASIA") {
			t.Errorf("DescribeAccount signed by %s as %q; want the role's session", call.AccessKeyID, call.Role)
		}
	}

	settings.ExternalID = "wrong"
	c, err = awsorg.New(ctx, settings, awsorg.WithCredentials(emulator.StaticCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.DescribeAccount(ctx, member); !errors.Is(err, awsorg.ErrAccessDenied) || awsorg.ErrorCode(err) != "AccessDenied" {
		t.Errorf("DescribeAccount with a wrong external ID = %v; want STS's AccessDenied", err)
	}
}

// New builds the role's path without calling AWS: credentials are fetched
// at the first call.
func TestNewWithARoleCallsNothing(t *testing.T) {
	isolateAWS(t)
	c, err := awsorg.New(context.Background(), awsorg.Settings{RoleARN: "arn:aws:iam::111122223333:role/termination-orders", ExternalID: "x"})
	if err != nil || c == nil {
		t.Fatalf("New = %v, %v", c, err)
	}
}

func TestConcurrentCallsAreSafe(t *testing.T) {
	cfg := emulator.Seed()
	cfg.CloseQuota = emulator.NoQuota
	addMembers(&cfg, "7000000000", 30, awsorg.StateActive)
	em, c := emulated(t, cfg)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 90)
	for i := range 30 {
		id := fmt.Sprintf("7000000000%02d", i)
		wg.Go(func() {
			if err := c.CloseAccount(ctx, id); err != nil {
				errs <- err
			}
			if _, err := c.DescribeAccount(ctx, id); err != nil {
				errs <- err
			}
			if _, err := c.ManagementAccountID(ctx); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := len(em.Calls().Of(emulator.OpCloseAccount, "").Succeeded()); n != 30 {
		t.Errorf("%d closures; want 30", n)
	}
}
