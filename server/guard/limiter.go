// Package guard slows down token guessing: every way of presenting this
// box's token (a Bearer header, the login form, ?token= on an upgrade,
// Rt-Stat's auth:: over raw TCP or WebSocket) counts its failures here.
package guard

import (
	"net/netip"
	"sync"
	"time"
)

// Defaults: after MaxFails wrong tokens within Window a source is refused
// until the window has passed, so a token is guessed at 10 a minute from
// one place.
const (
	Window   = time.Minute
	MaxFails = 10
	// MaxSources bounds the table: 16,384 sources (about 1 MB).
	MaxSources = 16384
)

// A Limiter counts wrong tokens per source: an IPv4 address, or an IPv6
// /64 (a LAN hands every host a whole /64, so addresses inside one are
// free for an attacker). It never refuses a source for what other sources
// did: when the table is full, the source whose window started first is
// forgotten to make room, not a shared bucket that would lock out a new
// address with the right token. The zero value is ready to use.
type Limiter struct {
	mu      sync.Mutex
	sources map[netip.Addr]*count
	order   []entry // sources in the order their windows started
	head    int     // order[head:] are live or stale entries
}

type count struct {
	start time.Time
	n     int
}

type entry struct {
	src   netip.Addr
	start time.Time
}

// Source is the key a remote address is counted under.
func Source(a netip.Addr) netip.Addr {
	a = a.Unmap()
	if a.Is6() {
		if p, err := a.Prefix(64); err == nil {
			return p.Addr()
		}
	}
	return a
}

// Fail counts a wrong token from a at now; it reports whether a is now
// refused (this failure reached MaxFails).
func (l *Limiter) Fail(a netip.Addr, now time.Time) (blocked bool) {
	src := Source(a)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.sources == nil {
		l.sources = make(map[netip.Addr]*count)
	}
	c := l.sources[src]
	if c == nil || now.Sub(c.start) > Window {
		if c == nil {
			l.makeRoom(now)
			c = &count{}
			l.sources[src] = c
		}
		c.start, c.n = now, 0
		l.order = append(l.order, entry{src, now})
	}
	c.n++
	return c.n == MaxFails
}

// makeRoom drops sources whose window has passed from the front of the
// order, and the oldest live one when the table is still full; O(1)
// amortized.
func (l *Limiter) makeRoom(now time.Time) {
	for l.head < len(l.order) {
		e := l.order[l.head]
		c := l.sources[e.src]
		stale := c == nil || !c.start.Equal(e.start) // forgotten, or restarted later in the order
		if !stale && now.Sub(c.start) <= Window && len(l.sources) < MaxSources {
			break
		}
		if !stale {
			delete(l.sources, e.src)
		}
		l.order[l.head] = entry{}
		l.head++
	}
	if l.head > len(l.order)/2 && l.head > 64 {
		n := copy(l.order, l.order[l.head:])
		clear(l.order[n:])
		l.order, l.head = l.order[:n], 0
	}
}

// Blocked is how long a is still refused; 0 when it is not.
func (l *Limiter) Blocked(a netip.Addr, now time.Time) time.Duration {
	src := Source(a)
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.sources[src]
	if c == nil || c.n < MaxFails {
		return 0
	}
	if left := Window - now.Sub(c.start); left > 0 {
		return left
	}
	return 0
}

// Len is the number of sources counted now.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.sources)
}
