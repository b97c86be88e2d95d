package emulator_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/cloudmarket/termination-orders/awsorg"
	"github.com/cloudmarket/termination-orders/awsorg/emulator"
)

const member = "123456789012"

// raw is a request to the emulator as the SDK would send it, signed for
// service and region with the emulator's keys unless service is empty.
type raw struct {
	op, body        string
	service, region string
	key, secret     string
	tamper          string // replaces the body after signing
}

func (r raw) send(t *testing.T, url string) (int, http.Header, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "AWSOrganizationsV20161128."+r.op)
	if r.service != "" {
		key, secret := r.key, r.secret
		if key == "" {
			key = emulator.AccessKeyID
		}
		if secret == "" {
			secret = emulator.SecretAccessKey
		}
		sum := sha256.Sum256([]byte(r.body))
		creds := aws.Credentials{AccessKeyID: key, SecretAccessKey: secret}
		if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), r.service, r.region, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if r.tamper != "" {
		req.Body = io.NopCloser(strings.NewReader(r.tamper))
		req.ContentLength = int64(len(r.tamper))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, out
}

func serve(t *testing.T, cfg emulator.Config) (*emulator.Emulator, string) {
	t.Helper()
	em := emulator.New(cfg)
	srv := httptest.NewServer(em)
	t.Cleanup(srv.Close)
	return em, srv.URL
}

func TestRequestsWithoutAValidSignatureAreRefused(t *testing.T) {
	body := `{"AccountId":"` + member + `"}`
	tests := []struct {
		name   string
		req    raw
		status int
		typ    string
		msg    string
	}{
		{"unsigned", raw{op: "DescribeAccount", body: body}, 403, "MissingAuthenticationTokenException", "Missing Authentication Token"},
		{"scoped to another service", raw{op: "DescribeAccount", body: body, service: "sts", region: "us-east-1"},
			400, "InvalidSignatureException", "Credential should be scoped to correct service: 'organizations'"},
		{"scoped to another region", raw{op: "DescribeAccount", body: body, service: "organizations", region: "eu-west-1"},
			400, "InvalidSignatureException", "Credential should be scoped to a valid region"},
		{"wrong secret", raw{op: "DescribeAccount", body: body, service: "organizations", region: "us-east-1", secret: "guess"},
			403, "InvalidSignatureException", "does not match the signature you provided"},
		{"body changed after signing", raw{op: "CloseAccount", body: body, service: "organizations", region: "us-east-1",
			tamper: `{"AccountId":"234567890123"}`}, 403, "InvalidSignatureException", "does not match"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := emulator.Seed()
			cfg.Region = "us-east-1"
			em, url := serve(t, cfg)
			status, header, out := tc.req.send(t, url)
			if status != tc.status || out["__type"] != tc.typ || !strings.Contains(out["Message"].(string), tc.msg) {
				t.Errorf("answer %d %v; want %d %s %q", status, out, tc.status, tc.typ, tc.msg)
			}
			if header.Get("Content-Type") != "application/x-amz-json-1.1" || header.Get("X-Amzn-Requestid") == "" {
				t.Errorf("headers = %v", header)
			}
			calls := em.Calls()
			if len(calls) != 1 || calls[0].Error != tc.typ || calls[0].Status != tc.status {
				t.Errorf("call log = %+v", calls)
			}
			for _, a := range em.Accounts() {
				if a.State != awsorg.StateActive {
					t.Errorf("refused request changed account %s to %s", a.ID, a.State)
				}
			}
		})
	}
}

func TestTheEmulatorKnowsTheKeysItIsGiven(t *testing.T) {
	cfg := emulator.Seed()
	cfg.Credentials = map[string]string{"AKIAOTHERFAKEKEY0001": "other-secret"}
	em, url := serve(t, cfg)
	describe := raw{op: "DescribeAccount", body: `{"AccountId":"` + member + `"}`, service: "organizations", region: "us-east-1"}
	if status, _, out := describe.send(t, url); status != 403 || out["__type"] != "UnrecognizedClientException" {
		t.Errorf("the default key, not given = %d %v", status, out)
	}
	other := describe
	other.key, other.secret = "AKIAOTHERFAKEKEY0001", "other-secret"
	if status, _, out := other.send(t, url); status != 200 {
		t.Errorf("a given key = %d %v", status, out)
	}
	em.AddCredentials(emulator.AccessKeyID, emulator.SecretAccessKey)
	if status, _, out := describe.send(t, url); status != 200 {
		t.Errorf("the default key, added = %d %v", status, out)
	}
}

func TestAnswersHaveAWSShapes(t *testing.T) {
	_, url := serve(t, emulator.Seed())
	sign := raw{service: "organizations", region: "us-east-1"}

	r := sign
	r.op, r.body = "DescribeAccount", `{"AccountId":"`+member+`"}`
	status, _, out := r.send(t, url)
	account, _ := out["Account"].(map[string]any)
	if status != 200 || account["Id"] != member || account["State"] != "ACTIVE" || account["Status"] != "ACTIVE" ||
		!strings.HasPrefix(account["Arn"].(string), "arn:aws:organizations::111122223333:account/o-") {
		t.Errorf("DescribeAccount = %d %v", status, out)
	}

	r.op, r.body = "CloseAccount", `{"AccountId":"`+emulator.SeedManagementAccountID+`"}`
	status, _, out = r.send(t, url)
	if status != 400 || out["__type"] != "ConstraintViolationException" || out["Reason"] != "CANNOT_CLOSE_MANAGEMENT_ACCOUNT" || out["Message"] == "" {
		t.Errorf("closing the management account = %d %v", status, out)
	}

	r.op, r.body = "CloseAccount", `{"AccountId":"12345"}`
	status, _, out = r.send(t, url)
	if status != 400 || out["__type"] != "InvalidInputException" || out["Reason"] != "INVALID_PATTERN" {
		t.Errorf("a malformed account ID = %d %v", status, out)
	}

	r.op, r.body = "DescribeOrganization", `{}`
	status, _, out = r.send(t, url)
	org, _ := out["Organization"].(map[string]any)
	if status != 200 || org["MasterAccountId"] != emulator.SeedManagementAccountID || org["Id"] != emulator.SeedOrganizationID || org["FeatureSet"] != "ALL" {
		t.Errorf("DescribeOrganization = %d %v", status, out)
	}

	r.op, r.body = "CreateAccount", `{}`
	status, _, out = r.send(t, url)
	if status != 400 || out["__type"] != "UnknownOperationException" {
		t.Errorf("an operation the emulator does not answer = %d %v", status, out)
	}
}

func TestCloseAccountRules(t *testing.T) {
	cfg := emulator.Seed()
	cfg.ClosureDelay, cfg.MaxPendingClosures, cfg.MinCloseInterval = time.Hour, 2, time.Minute
	em, url := serve(t, cfg)
	closeAccount := func(id string) string {
		r := raw{op: "CloseAccount", body: `{"AccountId":"` + id + `"}`, service: "organizations", region: "us-east-1"}
		_, _, out := r.send(t, url)
		typ, _ := out["__type"].(string)
		if reason, ok := out["Reason"].(string); ok {
			typ += " " + reason
		}
		return typ
	}
	ids := emulator.SeedMemberAccountIDs
	steps := []struct {
		id, want string
		then     time.Duration
	}{
		{ids[0], "", 0},
		{ids[1], "TooManyRequestsException", time.Minute}, // sooner than MinCloseInterval
		{ids[1], "", time.Minute},
		{ids[2], "ConstraintViolationException CLOSE_ACCOUNT_REQUESTS_LIMIT_EXCEEDED", time.Hour}, // two pending
		{ids[0], "AccountAlreadyClosedException", 0},                                              // now SUSPENDED
		{ids[2], "", 0},
		{"000000000001", "AccountNotFoundException", 0},
	}
	for i, s := range steps {
		if got := closeAccount(s.id); got != s.want {
			t.Fatalf("step %d: CloseAccount(%s) = %q; want %q", i, s.id, got, s.want)
		}
		em.Advance(s.then)
	}
	if a, _ := em.Account(ids[0]); a.State != awsorg.StateSuspended {
		t.Errorf("first closed account is %s", a.State)
	}
	if a, _ := em.Account(ids[2]); a.State != awsorg.StatePendingClosure {
		t.Errorf("last closed account is %s", a.State)
	}
	// Reopened outside the product: ACTIVE again, and closable again.
	if err := em.SetState(ids[0], awsorg.StateActive); err != nil {
		t.Fatal(err)
	}
	em.Advance(time.Hour)
	if got := closeAccount(ids[0]); got != "" {
		t.Errorf("closing the reopened account = %q", got)
	}
}

func TestFaultsAreAnsweredInTurn(t *testing.T) {
	em, url := serve(t, emulator.Seed())
	em.FailNext(emulator.OpCloseAccount, emulator.FaultTooManyRequests, 2)
	em.FailNextFor(emulator.OpCloseAccount, "234567890123", emulator.FaultConcurrentModification, 1)
	em.FailNext(emulator.OpDescribeAccount, emulator.FaultService, 1)
	send := func(op, id string) (int, string) {
		r := raw{op: op, body: `{"AccountId":"` + id + `"}`, service: "organizations", region: "us-east-1"}
		status, _, out := r.send(t, url)
		typ, _ := out["__type"].(string)
		return status, typ
	}
	for i, want := range []string{"TooManyRequestsException", "TooManyRequestsException", ""} {
		if _, got := send("CloseAccount", member); got != want {
			t.Errorf("CloseAccount %d = %q; want %q", i+1, got, want)
		}
	}
	if _, got := send("CloseAccount", "234567890123"); got != "ConcurrentModificationException" {
		t.Errorf("the account's fault = %q", got)
	}
	if status, got := send("DescribeAccount", member); status != 500 || got != "ServiceException" {
		t.Errorf("DescribeAccount = %d %q", status, got)
	}
	em.FailNext(emulator.OpCloseAccount, emulator.FaultTooManyRequests, 5)
	em.ClearFaults()
	if _, got := send("CloseAccount", "345678901234"); got != "" {
		t.Errorf("after ClearFaults = %q", got)
	}
}

func TestQuotaLimit(t *testing.T) {
	for members, want := range map[int]int{0: 10, 99: 10, 150: 15, 9999: 999, 20000: 1000} {
		if got := emulator.DefaultQuota.Limit(members); got != want {
			t.Errorf("Limit(%d) = %d; want %d", members, got, want)
		}
	}
}

func TestCallLogFindsOverlapsAndGaps(t *testing.T) {
	at := func(s float64) time.Time {
		return time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC).Add(time.Duration(s * float64(time.Second)))
	}
	spaced := emulator.CallLog{
		{Op: emulator.OpCloseAccount, Start: at(0), End: at(1)},
		{Op: emulator.OpCloseAccount, Start: at(4), End: at(5)},
		{Op: emulator.OpCloseAccount, Start: at(2), End: at(3)},
	}
	if _, _, ok := spaced.Overlapping(); ok {
		t.Error("spaced calls overlap")
	}
	if g := spaced.MinGap(); g != 2*time.Second {
		t.Errorf("MinGap = %v; want 2s", g)
	}
	long := append(spaced, emulator.Call{Op: emulator.OpCloseAccount, AccountID: "long", Start: at(0.5), End: at(10)})
	if a, b, ok := long.Overlapping(); !ok || (a.AccountID != "long" && b.AccountID != "long") {
		t.Errorf("Overlapping = %+v %+v %v; want the long call", a, b, ok)
	}
	if g := (emulator.CallLog{}).MinGap(); g != 0 {
		t.Errorf("MinGap of none = %v", g)
	}
}

func TestLatencyDelaysTheAnswer(t *testing.T) {
	em, url := serve(t, emulator.Seed())
	em.SetLatency(emulator.OpDescribeAccount, 30*time.Millisecond)
	r := raw{op: "DescribeAccount", body: `{"AccountId":"` + member + `"}`, service: "organizations", region: "us-east-1"}
	r.send(t, url)
	c := em.Calls()[0]
	if took := c.End.Sub(c.Start); took < 30*time.Millisecond {
		t.Errorf("answered in %v; want at least the 30ms latency", took)
	}
}

func TestStartServesOverTCP(t *testing.T) {
	srv, err := emulator.Start("127.0.0.1:0", emulator.Seed())
	if err != nil {
		t.Fatal(err)
	}
	r := raw{op: "DescribeAccount", body: `{"AccountId":"999999999999"}`, service: "organizations", region: "us-east-1"}
	if status, _, out := r.send(t, srv.URL); status != 200 {
		t.Errorf("DescribeAccount = %d %v", status, out)
	}
	if err := srv.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestOrganizationChanges(t *testing.T) {
	em := emulator.New(emulator.Config{})
	if len(em.Accounts()) != 1 || em.ManagementAccountID() != emulator.SeedManagementAccountID {
		t.Fatalf("empty organization = %+v", em.Accounts())
	}
	for _, bad := range []emulator.Account{{ID: "12345"}, {ID: emulator.SeedManagementAccountID}, {ID: member, State: "GONE"}} {
		if err := em.AddAccount(bad); err == nil {
			t.Errorf("AddAccount(%+v) accepted", bad)
		}
	}
	if err := em.AddAccount(emulator.Account{ID: member}); err != nil {
		t.Fatal(err)
	}
	if err := em.SetState(member, awsorg.StateNotInOrganization); err == nil {
		t.Error("SetState NOT_IN_ORGANIZATION accepted")
	}
	if err := em.RemoveAccount(emulator.SeedManagementAccountID); err == nil {
		t.Error("the management account left")
	}
	if err := em.RemoveAccount(member); err != nil {
		t.Fatal(err)
	}
	if _, ok := em.Account(member); ok {
		t.Error("removed account still there")
	}
}
