// Package netfault is a TCP proxy for tests and tools that need a server to
// fail without stopping it. In front of a real server (PostgreSQL, say) it
// forwards; set to Refuse it refuses connections and closes the open ones, as
// a server that went down; set to BlackHole it keeps accepting connections
// but passes nothing either way, as a hung server or a network path that
// silently drops packets.
package netfault

import (
	"errors"
	"net"
	"sync"
)

// Mode is what the proxy does with connections.
type Mode int

const (
	// Forward passes bytes both ways.
	Forward Mode = iota
	// Refuse refuses connections on the proxy's address and closes every
	// open one, as when the server goes down.
	Refuse
	// BlackHole accepts connections and keeps them open but passes nothing
	// either way. When it ends, what was held back flows again, as TCP
	// delivers what it retransmitted once a path comes back.
	BlackHole
)

// Proxy forwards connections on its own address to a target.
type Proxy struct {
	addr   string // where it listens
	target string // "" for a proxy that is a black hole for good

	mu       sync.Mutex
	mode     Mode
	listener net.Listener
	conns    map[net.Conn]struct{}
	open     chan struct{} // closed while bytes may flow
	wg       sync.WaitGroup
	closed   bool
}

// Listen starts a proxy on a free port of 127.0.0.1 forwarding to target
// (host:port).
func Listen(target string) (*Proxy, error) {
	if target == "" {
		return nil, errors.New("netfault: a forwarding proxy needs a target host:port")
	}
	return listen(target, Forward)
}

// Silent starts a proxy with nothing behind it: a server that accepts
// connections and never answers.
func Silent() (*Proxy, error) { return listen("", BlackHole) }

func listen(target string, mode Mode) (*Proxy, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{addr: l.Addr().String(), target: target, mode: mode, listener: l, conns: map[net.Conn]struct{}{}, open: make(chan struct{})}
	if mode == Forward {
		close(p.open)
	}
	p.wg.Add(1)
	go p.accept(l)
	return p, nil
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.addr }

// Set changes the mode. Leaving Refuse listens on the same address again,
// which fails if something else took the port meanwhile.
func (p *Proxy) Set(mode Mode) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || mode == p.mode {
		return nil
	}
	if mode == Forward && p.target == "" {
		return errors.New("netfault: a silent proxy has no target to forward to")
	}
	if p.mode == Refuse {
		l, err := net.Listen("tcp", p.addr)
		if err != nil {
			return err
		}
		p.listener = l
		p.wg.Add(1)
		go p.accept(l)
	}
	if mode == Refuse {
		_ = p.listener.Close()
		for c := range p.conns {
			_ = c.Close()
		}
	}
	wasForward := p.mode == Forward
	p.mode = mode
	switch {
	case mode == Forward:
		close(p.open)
	case wasForward:
		p.open = make(chan struct{})
	case mode == Refuse:
		// Bytes held in a black hole meet closed connections and are dropped.
		close(p.open)
		p.open = make(chan struct{})
	}
	return nil
}

// Close stops the proxy and closes every connection through it.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	err := p.listener.Close()
	if p.mode == Refuse {
		err = nil // closed already, by Set
	}
	for c := range p.conns {
		_ = c.Close()
	}
	if p.mode != Forward {
		close(p.open)
	}
	p.mu.Unlock()
	p.wg.Wait()
	return err
}

func (p *Proxy) accept(l net.Listener) {
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

func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.mode == Refuse {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		delete(p.conns, c)
		_ = c.Close()
	}
}

// gate returns a channel that is closed while bytes may flow.
func (p *Proxy) gate() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.open
}

func (p *Proxy) serve(client net.Conn) {
	defer p.wg.Done()
	<-p.gate() // a connection made while black-holed reaches nothing until it ends
	if p.target == "" {
		p.untrack(client)
		return
	}
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
func (p *Proxy) pipe(dst, src net.Conn) {
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
