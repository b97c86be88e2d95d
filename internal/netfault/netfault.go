// Package netfault is a TCP proxy for tests that need a server to stop
// answering without stopping it: in front of a real PostgreSQL it forwards,
// and when silenced it keeps accepting connections and reading from them but
// answers nothing, as a hung database or a dropped network path does.
package netfault

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
)

// Proxy forwards connections on its own address to a target.
type Proxy struct {
	listener net.Listener
	target   string
	silent   atomic.Bool

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// Listen starts a proxy on 127.0.0.1 forwarding to target (host:port). With
// an empty target it is silent for good: it accepts and never answers.
func Listen(target string) (*Proxy, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{listener: l, target: target, conns: map[net.Conn]struct{}{}}
	p.silent.Store(target == "")
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.listener.Addr().String() }

// Silence makes the proxy stop answering: bytes in either direction are
// dropped, on the connections open now and on new ones.
func (p *Proxy) Silence() { p.silent.Store(true) }

// Restore forwards again. The connections that lived through the silence
// lost bytes, so they are closed; clients reconnect.
func (p *Proxy) Restore() {
	if p.target == "" {
		return
	}
	p.closeConns()
	p.silent.Store(false)
}

// Close stops the proxy and closes every connection through it.
func (p *Proxy) Close() error {
	err := p.listener.Close()
	p.closeConns()
	p.wg.Wait()
	return err
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.listener.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go p.serve(c)
	}
}

func (p *Proxy) serve(client net.Conn) {
	defer p.wg.Done()
	p.track(client)
	defer p.untrack(client)
	if p.silent.Load() {
		p.drain(client)
		return
	}
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	p.track(server)
	defer p.untrack(server)
	done := make(chan struct{}, 2)
	go func() { p.pipe(server, client); done <- struct{}{} }()
	go func() { p.pipe(client, server); done <- struct{}{} }()
	<-done
	// One side ended: end the other too.
	_ = client.Close()
	_ = server.Close()
	<-done
}

// pipe copies src to dst while the proxy is not silent, dropping what it
// reads while it is.
func (p *Proxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !p.silent.Load() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// drain reads and drops everything until the connection ends.
func (p *Proxy) drain(c net.Conn) {
	buf := make([]byte, 4<<10)
	for {
		if _, err := c.Read(buf); err != nil {
			if !errors.Is(err, net.ErrClosed) {
				_ = c.Close()
			}
			return
		}
	}
}

func (p *Proxy) track(c net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.conns[c] = struct{}{}
}

func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.conns, c)
	_ = c.Close()
}

func (p *Proxy) closeConns() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		_ = c.Close()
	}
}
