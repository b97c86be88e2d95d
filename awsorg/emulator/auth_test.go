package emulator

import (
	"net/http/httptest"
	"testing"
)

// The verifier agrees with AWS's own SigV4 test suite (get-vanilla and
// get-vanilla-query-order-key-case), whatever signer made the request.
func TestSignatureMatchesAWSTestSuite(t *testing.T) {
	const amzDate = "20150830T123600Z"
	k := key{secret: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}
	for _, tc := range []struct {
		target, signature string
	}{
		{"http://example.amazonaws.com/", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
		{"http://example.amazonaws.com/?Param2=value2&Param1=value1", "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"},
	} {
		r := httptest.NewRequest("GET", tc.target, nil)
		r.Header.Set("X-Amz-Date", amzDate)
		sig := sigV4{accessKeyID: "AKIDEXAMPLE", date: "20150830", region: "us-east-1", service: "service", terminator: "aws4_request",
			signedHeaders: []string{"host", "x-amz-date"}, signature: tc.signature}
		if !validSignature(r, nil, sig, amzDate, k) {
			t.Errorf("%s: AWS's signature refused", tc.target)
		}
		sig.signature = "0" + tc.signature[1:]
		if tc.signature[0] == '0' {
			sig.signature = "1" + tc.signature[1:]
		}
		if validSignature(r, nil, sig, amzDate, k) {
			t.Errorf("%s: a wrong signature accepted", tc.target)
		}
	}
}
