package api

import "testing"

// The last line against an address in an answer: every form Go's net
// package and the drivers print.
func TestWithoutAddressesRemovesEveryNetworkAddress(t *testing.T) {
	for in, want := range map[string]string{
		`dial tcp 127.0.0.1:28299: connect: connection refused`:                                    `dial tcp: connect: connection refused`,
		`read tcp 127.0.0.1:8234->127.0.0.1:51234: i/o timeout`:                                    `read tcp: i/o timeout`,
		`write tcp [::1]:8234->[::1]:40000: broken pipe`:                                           `write tcp: broken pipe`,
		`dial tcp: lookup postgres.internal on 10.0.0.2:53: no such host`:                          `dial tcp: lookup (address): no such host`,
		"failed to connect to `user=postgres database=test`: 10.1.2.3:5432 (10.1.2.3): dial error": "failed to connect to `user=postgres database=test`: (address) ((address)): dial error",
		`transport: Error while dialing: dial tcp [fe80::1%eth0]:7233: i/o timeout`:                `transport: Error while dialing: dial tcp: i/o timeout`,
		`order ORD-1.2.3.4 was not found`:                                                          `order ORD-1.2.3.4 was not found`,
	} {
		if got := withoutAddresses(in); got != want {
			t.Errorf("withoutAddresses(%q)\n = %q\nwant %q", in, got, want)
		}
	}
}
