package emulator

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

const stsNamespace = "https://sts.amazonaws.com/doc/2011-06-15/"

// stsCodes are STS's names of the signature faults.
var stsCodes = map[string]string{
	faultMissingToken.Type:         "MissingAuthenticationToken",
	faultUnknownKey.Type:           "InvalidClientTokenId",
	faultExpiredToken.Type:         "ExpiredToken",
	faultBadSignature.Type:         "SignatureDoesNotMatch",
	"IncompleteSignatureException": "IncompleteSignature",
}

// serveSTS answers STS's AssumeRole (the query protocol: a form body, an
// XML answer) for the roles AddRole allows, issuing session credentials
// that sign Organizations calls as the role.
func (e *Emulator) serveSTS(w http.ResponseWriter, r *http.Request, body []byte, start time.Time) {
	form, _ := url.ParseQuery(string(body))
	call := Call{Op: Op(form.Get("Action")), Start: start, Role: form.Get("RoleArn")}
	fail := func(f Fault) {
		if f.Type == "InvalidSignatureException" && f.Status == 0 {
			f.Type = "SignatureDoesNotMatch"
		} else if code, ok := stsCodes[f.Type]; ok {
			f.Type = code
		}
		call.Status, call.Error, call.End = f.status(), f.Type, e.now()
		writeXML(w, f.status(), stsError{
			Xmlns: stsNamespace, Error: stsErrorDetail{Type: "Sender", Code: f.Type, Message: f.Message},
			RequestID: uuid.NewString(),
		})
		e.record(call)
	}
	signer, f := e.authenticate(r, body, "sts")
	if f != nil {
		fail(*f)
		return
	}
	call.AccessKeyID = signer.accessKeyID
	if call.Op != OpAssumeRole {
		fail(Fault{Type: "InvalidAction", Message: "Could not find operation " + string(call.Op) + " for version 2011-06-15"})
		return
	}
	roleARN, session, externalID := form.Get("RoleArn"), form.Get("RoleSessionName"), form.Get("ExternalId")
	duration := time.Hour
	if s := form.Get("DurationSeconds"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 900 || n > 43200 {
			fail(Fault{Type: "ValidationError", Message: "1 validation error detected: Value '" + s + "' at 'durationSeconds' failed to satisfy constraint: Member must have value between 900 and 43200"})
			return
		}
		duration = time.Duration(n) * time.Second
	}
	if roleARN == "" || session == "" {
		fail(Fault{Type: "ValidationError", Message: "RoleArn and RoleSessionName are required"})
		return
	}
	sleep(r.Context(), e.latencyOf(OpAssumeRole))

	e.mu.Lock()
	want, allowed := e.roles[roleARN]
	if allowed && want != "" && want != externalID {
		allowed = false
	}
	if !allowed {
		e.mu.Unlock()
		fail(Fault{Type: "AccessDenied", Status: http.StatusForbidden,
			Message: "User: " + signer.accessKeyID + " is not authorized to perform: sts:AssumeRole on resource: " + roleARN})
		return
	}
	k := key{secret: randomString(30), token: randomString(90), role: roleARN, expires: e.now().Add(duration)}
	id := "ASIA" + strings.ToUpper(hex.EncodeToString(randomBytes(8)))
	e.keys[id] = k
	e.mu.Unlock()

	roleName := roleARN[strings.LastIndex(roleARN, "/")+1:]
	account := strings.Split(roleARN, ":")
	accountID := ""
	if len(account) > 4 {
		accountID = account[4]
	}
	var out assumeRoleResponse
	out.Xmlns = stsNamespace
	out.Result.Credentials = stsCredentials{AccessKeyID: id, SecretAccessKey: k.secret, SessionToken: k.token, Expiration: k.expires.UTC().Format(time.RFC3339)}
	out.Result.AssumedRoleUser.Arn = "arn:aws:sts::" + accountID + ":assumed-role/" + roleName + "/" + session
	out.Result.AssumedRoleUser.AssumedRoleID = "AROA" + strings.ToUpper(hex.EncodeToString(randomBytes(8))) + ":" + session
	out.RequestID = uuid.NewString()
	call.Status, call.End = http.StatusOK, e.now()
	writeXML(w, http.StatusOK, out)
	e.record(call)
}

type assumeRoleResponse struct {
	XMLName xml.Name `xml:"AssumeRoleResponse"`
	Xmlns   string   `xml:"xmlns,attr"`
	Result  struct {
		Credentials     stsCredentials `xml:"Credentials"`
		AssumedRoleUser struct {
			AssumedRoleID string `xml:"AssumedRoleId"`
			Arn           string `xml:"Arn"`
		} `xml:"AssumedRoleUser"`
	} `xml:"AssumeRoleResult"`
	RequestID string `xml:"ResponseMetadata>RequestId"`
}

type stsCredentials struct {
	AccessKeyID     string `xml:"AccessKeyId"`
	SecretAccessKey string `xml:"SecretAccessKey"`
	SessionToken    string `xml:"SessionToken"`
	Expiration      string `xml:"Expiration"`
}

type stsError struct {
	XMLName   xml.Name       `xml:"ErrorResponse"`
	Xmlns     string         `xml:"xmlns,attr"`
	Error     stsErrorDetail `xml:"Error"`
	RequestID string         `xml:"RequestId"`
}

type stsErrorDetail struct {
	Type    string `xml:"Type"`
	Code    string `xml:"Code"`
	Message string `xml:"Message"`
}

func writeXML(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(xml.Header))
	_ = xml.NewEncoder(w).Encode(v)
}

// randomString is n random bytes in URL-safe base64: fake secrets.
func randomString(n int) string { return base64.RawURLEncoding.EncodeToString(randomBytes(n)) }

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}
