package api

import "regexp"

// Network addresses of this deployment (Temporal's frontend, the database,
// the identity provider, the API's own sockets) stay in the logs: an answer
// never carries one. The routes' own details are written without them; this
// is the last line, for an error text of a library that a detail quotes.
var (
	// opAddress is the address part of a net.OpError: "dial tcp
	// 127.0.0.1:7233: ..." or "read tcp 10.0.0.5:41234->10.0.0.9:5432: ...".
	opAddress = regexp.MustCompile(`\b(dial|read|write|accept|listen) (tcp[46]?|udp[46]?|unix|ip[46]?) \S+: `)
	// lookupAddress is a DNS lookup's: "lookup db.internal on 10.0.0.2:53".
	lookupAddress = regexp.MustCompile(`\blookup \S+ on [\w.:\[\]%-]*[\w\]]`)
	// ipAddress is any other IP address, with or without its port, that
	// does not continue a word (an order ID such as ORD-1.2.3.4 is none).
	ipAddress = regexp.MustCompile(`(^|[^\w.-])(\[[0-9A-Fa-f:.]+(?:%[\w.-]+)?\]|(?:\d{1,3}\.){3}\d{1,3})(:\d{1,5})?\b`)
)

// withoutAddresses is text with every network address replaced.
func withoutAddresses(s string) string {
	s = opAddress.ReplaceAllString(s, "$1 $2: ")
	s = lookupAddress.ReplaceAllString(s, "lookup (address)")
	return ipAddress.ReplaceAllString(s, "${1}(address)")
}

// sealed is the problem as it may leave this service: its detail without
// network addresses.
func (p *Problem) sealed() *Problem {
	p.Detail = withoutAddresses(p.Detail)
	return p
}
