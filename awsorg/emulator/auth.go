package emulator

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

const (
	sigV4Algorithm = "AWS4-HMAC-SHA256"
	amzDateFormat  = "20060102T150405Z"
)

// The answers to a request whose signature fails, named as AWS's JSON
// services name them (sts.go maps them to STS's names).
var (
	faultMissingToken = Fault{Type: "MissingAuthenticationTokenException", Status: http.StatusForbidden,
		Message: "Missing Authentication Token"}
	faultUnknownKey = Fault{Type: "UnrecognizedClientException", Status: http.StatusForbidden,
		Message: "The security token included in the request is invalid."}
	faultExpiredToken = Fault{Type: "ExpiredTokenException", Status: http.StatusForbidden,
		Message: "The security token included in the request is expired"}
	faultBadSignature = Fault{Type: "InvalidSignatureException", Status: http.StatusForbidden,
		Message: "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."}
)

func incompleteSignature(msg string) *Fault {
	return &Fault{Type: "IncompleteSignatureException", Message: msg}
}

func misScoped(msg string) *Fault {
	return &Fault{Type: "InvalidSignatureException", Message: msg}
}

// sigV4 is a parsed Authorization header.
type sigV4 struct {
	accessKeyID, date, region, service, terminator string
	signedHeaders                                  []string
	signature                                      string
}

// signer is who signed a request.
type signer struct {
	accessKeyID, role string
}

// authenticate checks the request's SigV4 signature, as AWS does: present,
// complete, scoped to the service (and the emulator's region, if it has
// one), made with a known access key and its secret.
func (e *Emulator) authenticate(r *http.Request, body []byte, wantService string) (signer, *Fault) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return signer{}, &faultMissingToken
	}
	sig, f := parseAuthorization(h)
	if f != nil {
		return signer{}, f
	}
	if sig.service != wantService {
		return signer{}, misScoped("Credential should be scoped to correct service: '" + wantService + "'. ")
	}
	if sig.terminator != "aws4_request" {
		return signer{}, misScoped("Credential should be scoped with a valid terminator: 'aws4_request', not '" + sig.terminator + "'. ")
	}
	if sig.region == "" || (e.region != "" && sig.region != e.region) {
		return signer{}, misScoped("Credential should be scoped to a valid region. ")
	}
	amzDate := r.Header.Get("X-Amz-Date")
	if amzDate == "" {
		return signer{}, incompleteSignature("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
	}
	signedAt, err := time.Parse(amzDateFormat, amzDate)
	if err != nil {
		return signer{}, incompleteSignature("X-Amz-Date must be in the ISO8601 basic format YYYYMMDD'T'HHMMSS'Z'.")
	}
	if signedAt.Format("20060102") != sig.date {
		return signer{}, misScoped("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '" + sig.date + "' != '" + signedAt.Format("20060102") + "'. ")
	}
	if !slices.Contains(sig.signedHeaders, "host") {
		return signer{}, misScoped("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
	}

	e.mu.Lock()
	k, known := e.keys[sig.accessKeyID]
	now := e.now()
	e.mu.Unlock()
	if !known || k.token != r.Header.Get("X-Amz-Security-Token") {
		return signer{}, &faultUnknownKey
	}
	if !k.expires.IsZero() && now.After(k.expires) {
		return signer{}, &faultExpiredToken
	}
	if !validSignature(r, body, sig, amzDate, k) {
		return signer{}, &faultBadSignature
	}
	return signer{accessKeyID: sig.accessKeyID, role: k.role}, nil
}

// parseAuthorization reads "AWS4-HMAC-SHA256 Credential=<key>/<date>/<region>/<service>/aws4_request,
// SignedHeaders=<a;b>, Signature=<hex>".
func parseAuthorization(h string) (sigV4, *Fault) {
	var sig sigV4
	params, ok := strings.CutPrefix(h, sigV4Algorithm+" ")
	if !ok {
		return sig, incompleteSignature("Unsupported AWS 'algorithm': the emulator accepts " + sigV4Algorithm + ".")
	}
	var credential, signedHeaders string
	for p := range strings.SplitSeq(params, ",") {
		name, value, _ := strings.Cut(strings.TrimSpace(p), "=")
		switch name {
		case "Credential":
			credential = value
		case "SignedHeaders":
			signedHeaders = value
		case "Signature":
			sig.signature = value
		}
	}
	for name, value := range map[string]string{"Credential": credential, "SignedHeaders": signedHeaders, "Signature": sig.signature} {
		if value == "" {
			return sig, incompleteSignature("Authorization header requires '" + name + "' parameter. Authorization=" + sigV4Algorithm + " Credential=...")
		}
	}
	parts := strings.Split(credential, "/")
	if len(parts) != 5 {
		return sig, incompleteSignature("Credential must be <access key>/<date>/<region>/<service>/aws4_request.")
	}
	sig.accessKeyID, sig.date, sig.region, sig.service, sig.terminator = parts[0], parts[1], parts[2], parts[3], parts[4]
	sig.signedHeaders = strings.Split(signedHeaders, ";")
	return sig, nil
}

// validSignature computes the request's SigV4 signature from the key's
// secret, over the headers the client signed, and compares.
func validSignature(r *http.Request, body []byte, sig sigV4, amzDate string, k key) bool {
	payload := r.Header.Get("X-Amz-Content-Sha256")
	if payload == "" {
		sum := sha256.Sum256(body)
		payload = hex.EncodeToString(sum[:])
	}
	path := r.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	var headers strings.Builder
	for _, name := range sig.signedHeaders {
		var value string
		switch name {
		case "host":
			value = r.Host
		case "content-length":
			value = strconv.FormatInt(r.ContentLength, 10)
		default:
			values := r.Header.Values(name)
			for i, v := range values {
				values[i] = strings.Join(strings.Fields(v), " ")
			}
			value = strings.Join(values, ",")
		}
		headers.WriteString(name + ":" + value + "\n")
	}
	canonical := strings.Join([]string{
		r.Method, path, canonicalQuery(r.URL.Query()), headers.String(), strings.Join(sig.signedHeaders, ";"), payload,
	}, "\n")
	scope := sig.date + "/" + sig.region + "/" + sig.service + "/" + sig.terminator
	hashed := sha256.Sum256([]byte(canonical))
	toSign := sigV4Algorithm + "\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(hashed[:])
	signingKey := []byte("AWS4" + k.secret)
	for _, part := range []string{sig.date, sig.region, sig.service, sig.terminator} {
		signingKey = hmacSHA256(signingKey, part)
	}
	want := hex.EncodeToString(hmacSHA256(signingKey, toSign))
	return hmac.Equal([]byte(want), []byte(sig.signature))
}

func canonicalQuery(q url.Values) string {
	var pairs []string
	for name, values := range q {
		for _, v := range values {
			pairs = append(pairs, awsEscape(name)+"="+awsEscape(v))
		}
	}
	slices.Sort(pairs)
	return strings.Join(pairs, "&")
}

// awsEscape is SigV4's URI encoding: every byte but A-Z a-z 0-9 - _ . ~.
func awsEscape(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}

func hmacSHA256(key []byte, data string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(data))
	return h.Sum(nil)
}
