package server

import (
	"net"
	"net/netip"
	"sync"
)

// perIP counts open connections per remote address, so one device on the
// LAN cannot take every connection the box can hold. The box's own
// loopback is not counted unless asked (local tools and benchmarks open
// hundreds).
type perIP struct {
	max          int
	capLoopback  bool
	mu           sync.Mutex
	open         map[netip.Addr]int
	refusedTotal uint64
}

// acquire counts c and wraps it so its Close gives the count back; false
// (and c closed) when its address already holds max connections.
func (p *perIP) acquire(c net.Conn) (net.Conn, bool) {
	if p.max <= 0 {
		return c, true
	}
	a := remoteIP(c)
	if !a.IsValid() || (a.IsLoopback() && !p.capLoopback) {
		return c, true
	}
	p.mu.Lock()
	if p.open == nil {
		p.open = make(map[netip.Addr]int)
	}
	if p.open[a] >= p.max {
		p.refusedTotal++
		p.mu.Unlock()
		_ = c.Close()
		return nil, false
	}
	p.open[a]++
	p.mu.Unlock()
	return &limitedConn{Conn: c, release: func() { p.release(a) }}, true
}

func (p *perIP) release(a netip.Addr) {
	p.mu.Lock()
	if p.open[a]--; p.open[a] <= 0 {
		delete(p.open, a) // the map holds only addresses with open connections
	}
	p.mu.Unlock()
}

// refused is how many connections the cap turned away.
func (p *perIP) refused() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.refusedTotal
}

// limitedConn gives its address's count back once, on the first Close.
type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
