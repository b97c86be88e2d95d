package netfault_test

import (
	"bufio"
	"io"
	"net"
	"testing"
	"time"

	"github.com/cloudmarket/termination-orders/internal/netfault"
)

// echoServer answers every line with the same line.
func echoServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
	return l.Addr().String()
}

func roundTrip(c net.Conn, r *bufio.Reader, line string, wait time.Duration) (string, error) {
	if _, err := c.Write([]byte(line + "\n")); err != nil {
		return "", err
	}
	_ = c.SetReadDeadline(time.Now().Add(wait))
	return r.ReadString('\n')
}

func TestProxyForwardsCutsAndBlackHoles(t *testing.T) {
	p, err := netfault.Listen(echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })

	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	if got, err := roundTrip(c, r, "hello", 2*time.Second); err != nil || got != "hello\n" {
		t.Fatalf("forwarding: %q, %v", got, err)
	}

	// Cut: the open connection is closed and new ones are refused.
	if err := p.Set(netfault.Refuse); err != nil {
		t.Fatal(err)
	}
	if got, err := roundTrip(c, r, "during cut", 2*time.Second); err == nil {
		t.Fatalf("a cut connection still answered %q", got)
	}
	if c2, err := net.Dial("tcp", p.Addr()); err == nil {
		c2.Close()
		t.Fatal("a cut proxy accepted a connection")
	}

	// Back: the same address forwards again.
	if err := p.Set(netfault.Forward); err != nil {
		t.Fatal(err)
	}
	c3, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c3.Close()
	r3 := bufio.NewReader(c3)
	if got, err := roundTrip(c3, r3, "again", 2*time.Second); err != nil || got != "again\n" {
		t.Fatalf("after the cut: %q, %v", got, err)
	}

	// Black hole: connections stay open, old and new, and nothing comes back...
	if err := p.Set(netfault.BlackHole); err != nil {
		t.Fatal(err)
	}
	if got, err := roundTrip(c3, r3, "held", 300*time.Millisecond); err == nil {
		t.Fatalf("a black hole answered %q", got)
	}
	c4, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatalf("a black hole refused a connection: %v", err)
	}
	defer c4.Close()
	r4 := bufio.NewReader(c4)
	if got, err := roundTrip(c4, r4, "new", 300*time.Millisecond); err == nil {
		t.Fatalf("a black hole answered a new connection: %q", got)
	}
	// ...until it ends, when what was held back arrives.
	if err := p.Set(netfault.Forward); err != nil {
		t.Fatal(err)
	}
	_ = c3.SetReadDeadline(time.Now().Add(2 * time.Second))
	if got, err := r3.ReadString('\n'); err != nil || got != "held\n" {
		t.Fatalf("held bytes after the black hole: %q, %v", got, err)
	}
	_ = c4.SetReadDeadline(time.Now().Add(2 * time.Second))
	if got, err := r4.ReadString('\n'); err != nil || got != "new\n" {
		t.Fatalf("new connection after the black hole: %q, %v", got, err)
	}
}

// A silent proxy accepts connections and never answers, and cannot be made
// to forward: there is nothing behind it.
func TestSilentAcceptsAndNeverAnswers(t *testing.T) {
	p, err := netfault.Silent()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatalf("a silent proxy refused a connection: %v", err)
	}
	defer c.Close()
	if got, err := roundTrip(c, bufio.NewReader(c), "anyone?", 300*time.Millisecond); err == nil {
		t.Fatalf("a silent proxy answered %q", got)
	}
	if err := p.Set(netfault.Forward); err == nil {
		t.Fatal("a silent proxy agreed to forward to nothing")
	}
	if _, err := netfault.Listen(""); err == nil {
		t.Fatal("Listen without a target started a proxy")
	}
}
