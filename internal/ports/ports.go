// Package ports finds free TCP ports, for the tools and tests that start
// servers of their own (the dev server, the bench, the soak).
package ports

import (
	"fmt"
	"net"
	"strconv"
)

// Free returns a TCP port on ip that nothing listens on now. It is free when
// asked, not reserved: start the server on it soon.
func Free(ip string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		return 0, fmt.Errorf("find a free port on %s: %w", ip, err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// FreeAddress is ip:port for a port from Free.
func FreeAddress(ip string) (string, error) {
	port, err := Free(ip)
	if err != nil {
		return "", err
	}
	return net.JoinHostPort(ip, strconv.Itoa(port)), nil
}

// T is what FreeForTest needs of a *testing.T; an interface, so that the
// tools using this package do not link package testing.
type T interface {
	Helper()
	Fatal(args ...any)
}

// FreeForTest is a free port of 127.0.0.1 for a test; the test fails when
// there is none.
func FreeForTest(t T) int {
	t.Helper()
	port, err := Free("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	return port
}
