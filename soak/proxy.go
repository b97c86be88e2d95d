package soak

import (
	"net"
	"sync"
)

// proxyMode is what the proxy in front of the status store does.
type proxyMode int

const (
	// forward: bytes flow both ways.
	forward proxyMode = iota
	// cut: the port refuses connections and every open one is closed, as
	// when the database goes down.
	cut
	// blackHole: connections are accepted and kept open but nothing is
	// forwarded either way, as when the network path silently drops packets.
	// When it ends, what was held back flows again.
	blackHole
)

// proxy is a TCP proxy between the workers and the status store's PostgreSQL.
type proxy struct {
	addr   string // where it listens: the workers' DSN points here
	target string

	mu       sync.Mutex
	mode     proxyMode
	listener net.Listener
	conns    map[net.Conn]struct{}
	open     chan struct{} // closed while bytes may flow
	wg       sync.WaitGroup
	closed   bool
}

func newProxy(target string) (*proxy, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &proxy{addr: l.Addr().String(), target: target, listener: l, conns: map[net.Conn]struct{}{}, open: make(chan struct{})}
	close(p.open)
	p.wg.Add(1)
	go p.accept(l)
	return p, nil
}

// set changes the mode.
func (p *proxy) set(mode proxyMode) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || mode == p.mode {
		return nil
	}
	if p.mode == cut {
		l, err := net.Listen("tcp", p.addr)
		if err != nil {
			return err
		}
		p.listener = l
		p.wg.Add(1)
		go p.accept(l)
	}
	if mode == cut {
		_ = p.listener.Close()
		for c := range p.conns {
			_ = c.Close()
		}
	}
	wasForward := p.mode == forward
	p.mode = mode
	switch {
	case mode == forward:
		close(p.open)
	case wasForward:
		p.open = make(chan struct{})
	case mode == cut:
		// Bytes held in a black hole meet closed connections and are dropped.
		close(p.open)
		p.open = make(chan struct{})
	}
	return nil
}

func (p *proxy) close() {
	p.mu.Lock()
	p.closed = true
	_ = p.listener.Close()
	for c := range p.conns {
		_ = c.Close()
	}
	if p.mode != forward {
		close(p.open)
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *proxy) accept(l net.Listener) {
	defer p.wg.Done()
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		if !p.track(c) {
			_ = c.Close()
			continue
		}
		p.wg.Add(1)
		go p.serve(c)
	}
}

func (p *proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.mode == cut {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *proxy) untrack(cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		delete(p.conns, c)
		_ = c.Close()
	}
}

// gate returns a channel that is closed while bytes may flow.
func (p *proxy) gate() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.open
}

func (p *proxy) serve(client net.Conn) {
	defer p.wg.Done()
	<-p.gate() // a connection made while black-holed reaches nothing until it ends
	upstream, err := net.Dial("tcp", p.target)
	if err != nil || !p.track(upstream) {
		if upstream != nil {
			_ = upstream.Close()
		}
		p.untrack(client)
		return
	}
	var once sync.Once
	done := func() { once.Do(func() { p.untrack(client, upstream) }) }
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.pipe(upstream, client)
		done()
	}()
	p.pipe(client, upstream)
	done()
}

// pipe copies src to dst chunk by chunk, each chunk waiting for the gate.
func (p *proxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			<-p.gate()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
