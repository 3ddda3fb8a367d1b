package server

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"sync"
	"time"
)

// sniffWait is how long a new connection may stay silent before it is taken
// for a raw Rt-Stat client (which then gets its Welcome); well inside the
// 300 ms a silent telnet user may wait, while leaving a slow HTTP client
// (a loaded phone, a congested link) as long as we can to speak first.
const sniffWait = 200 * time.Millisecond

// maxSniffing bounds connections whose protocol is still being decided.
const maxSniffing = 1024

// Browsers open spare connections they may use only seconds later
// (Chromium keeps an unused one up to 10 s); one that got the raw Welcome
// meanwhile fails its request with ERR_INVALID_HTTP_RESPONSE. So a silent
// connection from an address that spoke HTTP within browserMemory waits
// browserSniffWait before it is taken for raw: longer than a browser keeps
// a spare. A telnet user on that machine gets the Welcome as soon as they
// type, or after that wait.
const (
	browserMemory    = time.Minute
	browserSniffWait = 12 * time.Second
	maxRecentHTTP    = 4096
)

// recentHTTP remembers the addresses that spoke HTTP lately, bounded.
type recentHTTP struct {
	mu   sync.Mutex
	seen map[netip.Addr]time.Time
}

func (r *recentHTTP) mark(a netip.Addr, now time.Time) {
	if !a.IsValid() {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seen == nil {
		r.seen = make(map[netip.Addr]time.Time)
	}
	if _, ok := r.seen[a]; !ok && len(r.seen) >= maxRecentHTTP {
		for k, t := range r.seen {
			if now.Sub(t) > browserMemory {
				delete(r.seen, k)
			}
		}
		if len(r.seen) >= maxRecentHTTP {
			return // a flood of addresses: they get the short wait
		}
	}
	r.seen[a] = now
}

// wait is how long a new connection from a may stay silent.
func (r *recentHTTP) wait(a netip.Addr, now time.Time) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	if t, ok := r.seen[a]; ok && now.Sub(t) <= browserMemory {
		return browserSniffWait
	}
	return sniffWait
}

// remoteIP is a connection's peer address without its port.
func remoteIP(c net.Conn) netip.Addr {
	if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

var httpMethods = [...][]byte{
	[]byte("GET "), []byte("HEAD "), []byte("POST "), []byte("PUT "), []byte("DELETE "),
	[]byte("OPTIONS "), []byte("PATCH "), []byte("CONNECT "), []byte("TRACE "),
}

// Kind is what a new connection speaks.
type Kind int

// The kinds Classify tells apart.
const (
	KindUndecided Kind = iota // could still become either
	KindHTTP
	KindRaw
	KindTLS // a TLS ClientHello: what it speaks is decided inside
)

// Classify decides from a connection's first bytes whether it speaks HTTP
// or TLS. Anything else is raw Rt-Stat, including telnet's IAC negotiation
// (no text command starts with 0x16, the TLS handshake byte).
func Classify(first []byte) Kind {
	if len(first) > 0 && first[0] == 0x16 { // a TLS handshake record
		return KindTLS
	}
	undecided := false
	for _, m := range httpMethods {
		if bytes.HasPrefix(first, m) {
			return KindHTTP
		}
		if len(first) < len(m) && bytes.HasPrefix(m, first) {
			undecided = true
		}
	}
	if undecided {
		return KindUndecided
	}
	return KindRaw
}

// sniff reads a connection's first bytes and classifies it. A connection
// silent for wait() is raw; wait is asked again when that time passes,
// because the address may have spoken HTTP meanwhile (a browser opens its
// spare connection beside its first request). The bytes read are handed
// back through the returned conn.
func sniff(c net.Conn, wait func() time.Duration) (Kind, net.Conn) {
	var buf [8]byte
	n := 0
	start := time.Now()
	deadline := start.Add(wait())
	_ = c.SetReadDeadline(deadline)
	kind := KindUndecided
	for kind == KindUndecided {
		m, err := c.Read(buf[n:])
		n += m
		kind = Classify(buf[:n])
		if err != nil {
			var ne net.Error
			timeout := errors.As(err, &ne) && ne.Timeout()
			if timeout && n == 0 {
				if d := start.Add(wait()); d.After(deadline) {
					deadline = d
					_ = c.SetReadDeadline(d)
					continue
				}
			}
			if kind == KindUndecided {
				kind = KindRaw // silent (timeout) or gone: a raw client, or nothing
			}
			if !timeout {
				_ = c.Close() // EOF or reset: nobody to serve; the reader will see net.ErrClosed
			}
			break
		}
		if n == len(buf) && kind == KindUndecided {
			kind = KindRaw
		}
	}
	_ = c.SetReadDeadline(time.Time{})
	if n == 0 {
		return kind, c
	}
	return kind, &peekedConn{Conn: c, peeked: append([]byte(nil), buf[:n]...)}
}

// peekedConn replays bytes read while sniffing before reading on.
type peekedConn struct {
	net.Conn
	peeked []byte
}

func (p *peekedConn) Read(b []byte) (int, error) {
	if len(p.peeked) > 0 {
		n := copy(b, p.peeked)
		p.peeked = p.peeked[n:]
		return n, nil
	}
	return p.Conn.Read(b)
}

// chanListener is a net.Listener fed with connections already accepted by
// the shared listener, so net/http can serve the ones that speak HTTP.
type chanListener struct {
	addr net.Addr
	ch   chan net.Conn
	once sync.Once
	done chan struct{}
}

func newChanListener(addr net.Addr) *chanListener {
	return &chanListener{addr: addr, ch: make(chan net.Conn), done: make(chan struct{})}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// deliver hands c to the HTTP server, or closes it if the listener closed.
func (l *chanListener) deliver(c net.Conn) {
	select {
	case l.ch <- c:
	case <-l.done:
		_ = c.Close()
	}
}

func (l *chanListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return l.addr }
