package ports_test

import (
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/cloudmarket/termination-orders/internal/ports"
)

// The port or address it names can be listened on.
func TestFreeCanBeListenedOn(t *testing.T) {
	port, err := ports.Free("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if port <= 0 || port > 65535 {
		t.Fatalf("Free = %d; want a TCP port", port)
	}
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatalf("port %d is not free: %v", port, err)
	}
	l.Close()

	port = ports.FreeForTest(t)
	l, err = net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatalf("port %d is not free: %v", port, err)
	}
	l.Close()

	addr, err := ports.FreeAddress("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	l, err = net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("address %s is not free: %v", addr, err)
	}
	l.Close()
}

// An address that is not this host's fails, naming it.
func TestFreeNamesTheAddressItCannotUse(t *testing.T) {
	if _, err := ports.Free("192.0.2.1"); err == nil || !strings.Contains(err.Error(), "192.0.2.1") {
		t.Fatalf("Free(192.0.2.1) = %v; want an error naming the address", err)
	}
}
