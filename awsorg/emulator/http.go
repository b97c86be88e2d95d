package emulator

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/cloudmarket/termination-orders/awsorg"
)

const (
	// targetPrefix is the JSON protocol's service prefix in X-Amz-Target.
	targetPrefix    = "AWSOrganizationsV20161128."
	jsonContentType = "application/x-amz-json-1.1"
	// service is the SigV4 signing name of Organizations.
	service = "organizations"
	// maxBody bounds a request body.
	maxBody = 1 << 20
	// maxListResults is ListAccounts' largest MaxResults.
	maxListResults = 20
)

// ServeHTTP answers an Organizations request, or an STS one (a form body
// without X-Amz-Target).
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := e.now()
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil || len(body) > maxBody {
		http.Error(w, "request body unreadable or over 1 MiB", http.StatusRequestEntityTooLarge)
		return
	}
	if r.Header.Get("X-Amz-Target") == "" && strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		e.serveSTS(w, r, body, start)
		return
	}
	e.serveOrganizations(w, r, body, start)
}

// request is the input of the operations the emulator answers.
type request struct {
	AccountID  *string `json:"AccountId"`
	MaxResults *int    `json:"MaxResults"`
	NextToken  *string `json:"NextToken"`
}

func (e *Emulator) serveOrganizations(w http.ResponseWriter, r *http.Request, body []byte, start time.Time) {
	target := r.Header.Get("X-Amz-Target")
	op, known := strings.CutPrefix(target, targetPrefix)
	call := Call{Op: Op(op), Start: start}
	if !known {
		call.Op = Op(target)
	}
	var in request
	parseErr := json.Unmarshal(body, &in)
	if in.AccountID != nil {
		call.AccountID = *in.AccountID
	}
	answer := func(v any, f *Fault) {
		status := http.StatusOK
		if f != nil {
			status, call.Error, call.Reason = f.status(), f.Type, f.Reason
			v = faultBody(*f)
		}
		b, _ := json.Marshal(v)
		w.Header().Set("Content-Type", jsonContentType)
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		w.Header().Set("X-Amzn-Requestid", uuid.NewString())
		w.WriteHeader(status)
		_, _ = w.Write(b)
		call.Status, call.End = status, e.now()
		e.record(call)
	}

	signer, f := e.authenticate(r, body, service)
	if f != nil {
		answer(nil, f)
		return
	}
	call.AccessKeyID, call.Role = signer.accessKeyID, signer.role
	switch {
	case r.Method != http.MethodPost || !known:
		answer(nil, &Fault{Type: "UnknownOperationException", Message: "Unknown operation " + target})
		return
	case r.Header.Get("Content-Type") != jsonContentType:
		answer(nil, &Fault{Type: "SerializationException", Message: "Content-Type must be " + jsonContentType})
		return
	case parseErr != nil:
		answer(nil, &Fault{Type: "SerializationException", Message: "The request body is not a JSON object: " + parseErr.Error()})
		return
	}
	sleep(r.Context(), e.latencyOf(call.Op))

	switch call.Op {
	case OpDescribeAccount, OpCloseAccount:
		if f := checkAccountID(in.AccountID); f != nil {
			answer(nil, f)
			return
		}
	}
	e.mu.Lock()
	var out any
	switch call.Op {
	case OpDescribeAccount:
		var a Account
		if a, f = e.describeAccount(call.AccountID); f == nil {
			call.State = a.State
			out = map[string]any{"Account": e.accountJSON(a)}
		}
	case OpCloseAccount:
		if f = e.closeAccount(call.AccountID); f == nil {
			call.State = awsorg.StatePendingClosure
			out = struct{}{}
		}
	case OpDescribeOrganization:
		out, f = e.describeOrganization()
	case OpListAccounts:
		out, f = e.listAccounts(in)
	default:
		f = &Fault{Type: "UnknownOperationException", Message: "The emulator does not answer " + op}
	}
	e.mu.Unlock()
	answer(out, f)
}

func checkAccountID(id *string) *Fault {
	if id == nil {
		return &Fault{Type: "InvalidInputException", Reason: "INPUT_REQUIRED", Message: "You must provide a value for AccountId."}
	}
	if !accountIDPattern.MatchString(*id) {
		return &Fault{Type: "InvalidInputException", Reason: "INVALID_PATTERN", Message: "You provided a value that does not match the required pattern."}
	}
	return nil
}

// describeOrganization is DescribeOrganization's logic. e.mu is held.
func (e *Emulator) describeOrganization() (any, *Fault) {
	if f := e.fault(OpDescribeOrganization, ""); f != nil {
		return nil, f
	}
	if e.denied[OpDescribeOrganization] {
		return nil, &FaultAccessDenied
	}
	m := e.accounts[e.management]
	return map[string]any{"Organization": map[string]any{
		"Id":                 e.orgID,
		"Arn":                "arn:aws:organizations::" + e.management + ":organization/" + e.orgID,
		"FeatureSet":         "ALL",
		"MasterAccountArn":   e.accountARN(e.management),
		"MasterAccountEmail": m.Email,
		"MasterAccountId":    e.management,
		"AvailablePolicyTypes": []map[string]string{
			{"Type": "SERVICE_CONTROL_POLICY", "Status": "ENABLED"},
		},
	}}, nil
}

// listAccounts is ListAccounts' logic: pages of MaxResults (at most 20),
// NextToken opaque. e.mu is held.
func (e *Emulator) listAccounts(in request) (any, *Fault) {
	if f := e.fault(OpListAccounts, ""); f != nil {
		return nil, f
	}
	if e.denied[OpListAccounts] {
		return nil, &FaultAccessDenied
	}
	size := maxListResults
	if in.MaxResults != nil {
		if *in.MaxResults < 1 || *in.MaxResults > maxListResults {
			return nil, &Fault{Type: "InvalidInputException", Reason: "INVALID_INPUT", Message: "MaxResults must be from 1 to 20."}
		}
		size = *in.MaxResults
	}
	from := 0
	if in.NextToken != nil {
		b, err := base64.RawURLEncoding.DecodeString(*in.NextToken)
		n, convErr := strconv.Atoi(strings.TrimPrefix(string(b), "accounts:"))
		if err != nil || convErr != nil || n < 0 || n > len(e.order) {
			return nil, &Fault{Type: "InvalidInputException", Reason: "INVALID_PAGINATION_TOKEN", Message: "The pagination token is not valid."}
		}
		from = n
	}
	now := e.now()
	to := min(from+size, len(e.order))
	page := make([]map[string]any, 0, to-from)
	for _, id := range e.order[from:to] {
		a := e.accounts[id]
		e.advance(a, now)
		page = append(page, e.accountJSON(a.Account))
	}
	out := map[string]any{"Accounts": page}
	if to < len(e.order) {
		out["NextToken"] = base64.RawURLEncoding.EncodeToString([]byte("accounts:" + strconv.Itoa(to)))
	}
	return out, nil
}

func (e *Emulator) accountARN(id string) string {
	return "arn:aws:organizations::" + e.management + ":account/" + e.orgID + "/" + id
}

// accountJSON is the account as AWS's Account structure. e.mu is held.
func (e *Emulator) accountJSON(a Account) map[string]any {
	joined := "INVITED"
	if a.ID == e.management {
		joined = "CREATED"
	}
	m := map[string]any{
		"Id":              a.ID,
		"Arn":             e.accountARN(a.ID),
		"Email":           a.Email,
		"Name":            a.Name,
		"State":           string(a.State),
		"JoinedMethod":    joined,
		"JoinedTimestamp": float64(a.JoinedAt.UnixMilli()) / 1000,
	}
	// Status, which AWS is retiring, has only these values.
	switch a.State {
	case awsorg.StateActive, awsorg.StateSuspended, awsorg.StatePendingClosure:
		m["Status"] = string(a.State)
	}
	return m
}

func (f Fault) status() int {
	if f.Status == 0 {
		return http.StatusBadRequest
	}
	return f.Status
}

// faultBody is the fault as the JSON protocol's error body.
func faultBody(f Fault) map[string]string {
	b := map[string]string{"__type": f.Type, "Message": f.Message}
	if f.Reason != "" {
		b["Reason"] = f.Reason
	}
	return b
}
