package rtstat

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"

	"edgestat/server/guard"
	"edgestat/server/wire"
)

// Config sets up a Service.
type Config struct {
	Version    string        // answered to `version` and shown in Welcome
	Token      string        // when set, start/stop/interval need `auth::TOKEN`
	MaxClients int           // 0 = unlimited
	WriteWait  time.Duration // how long one write may take before the client is dropped
	// PingInterval and IdleTimeout keep WebSocket clients honest: pinged
	// every PingInterval, dropped after IdleTimeout without any frame.
	PingInterval, IdleTimeout time.Duration
	Log                       *slog.Logger
	// Guard counts wrong tokens of auth:: per source, shared with the HTTP
	// side; nil: a limiter of the Service's own.
	Guard *guard.Limiter
}

// Service speaks the Rt-Stat protocol to raw TCP and WebSocket clients.
type Service struct {
	hub       *Hub
	version   string
	tokenSet  bool
	tokenHash [32]byte
	max       int
	writeWait time.Duration
	wsPing    time.Duration
	wsIdle    time.Duration
	log       *slog.Logger
	guard     *guard.Limiter

	clients atomic.Int64
	refused atomic.Uint64
	// evictions counts clients that had not started and gave their slot
	// to a newcomer when the service was full.
	evictions atomic.Uint64
	raw, ws   atomic.Int64  // clients by transport, for /metrics
	pushed    atomic.Uint64 // pushes queued for a client
	dropped   atomic.Uint64 // pushes not queued: the client's queue was full, or it was closing
	mu        sync.Mutex
	sessions  map[*conn]struct{}
	closing   bool
	wg        sync.WaitGroup
}

// Limits of one client.
const (
	MaxLine     = 64 << 10 // longest raw line or WebSocket message
	outboxLimit = 16       // queued messages per client
)

// NewService returns a Service pushing what hub collects.
func NewService(hub *Hub, cfg Config) *Service {
	if cfg.WriteWait == 0 {
		cfg.WriteWait = 10 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.PingInterval == 0 {
		cfg.PingInterval = wsPing
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = wsIdle
	}
	if cfg.Guard == nil {
		cfg.Guard = &guard.Limiter{}
	}
	return &Service{
		hub:       hub,
		version:   cfg.Version,
		tokenSet:  cfg.Token != "",
		tokenHash: tokenHash(cfg.Token),
		max:       cfg.MaxClients,
		writeWait: cfg.WriteWait,
		wsPing:    cfg.PingInterval,
		wsIdle:    cfg.IdleTimeout,
		log:       cfg.Log,
		guard:     cfg.Guard,
		sessions:  make(map[*conn]struct{}),
	}
}

// Welcome is the greeting every client gets on connect.
func (svc *Service) Welcome() string { return "Rt-Stat compatible edgestat v" + svc.version }

// Clients is the number of connected Rt-Stat clients.
func (svc *Service) Clients() int { return int(svc.clients.Load()) }

// Refused counts clients closed because of --max-clients.
func (svc *Service) Refused() uint64 { return svc.refused.Load() }

// Stats are the Service's figures for /metrics.
type Stats struct {
	Raw, WebSocket int    // clients connected now
	Refused        uint64 // clients closed because of --max-clients
	Displaced      uint64 // clients that had not started and gave their slot to a newcomer
	Pushes         uint64 // pushes queued for a client
	PushesDropped  uint64 // pushes a client missed: its queue was full (it reads too slowly) or it was closing
	Intervals      int    // distinct intervals being collected
	Collections    uint64 // collections since start, over every interval
	PluginErrors   uint64 // plugin failures since start
}

// Stats returns the Service's figures; it costs a few atomic loads and
// the hub's lock.
func (svc *Service) Stats() Stats {
	return Stats{
		Raw: int(svc.raw.Load()), WebSocket: int(svc.ws.Load()), Refused: svc.refused.Load(), Displaced: svc.evictions.Load(),
		Pushes: svc.pushed.Load(), PushesDropped: svc.dropped.Load(),
		Intervals: svc.hub.Groups(), Collections: svc.hub.Ticks(), PluginErrors: svc.hub.CollectErrors(),
	}
}

// conn is one client on either transport.
type conn struct {
	svc  *Service
	c    net.Conn
	out  *wire.Outbox
	ws   bool
	sess session

	admitted time.Time   // when it took its slot
	pushing  atomic.Bool // started: its slot is its own until it leaves
	evicted  bool        // its slot was given to a newcomer (under svc.mu)
}

func (c *conn) send(command string, args ...string) {
	// Called by the connection's own reader: waiting for room paces a client
	// that pipelines requests to its reading of the answers.
	c.out.SendWait(c.message(command, args...))
}

// sendNow queues a message without waiting, for senders other than the
// connection's reader (a shutdown must not wait on a slow client).
func (c *conn) sendNow(command string, args ...string) {
	c.out.Send(c.message(command, args...), false)
}

func (c *conn) message(command string, args ...string) []byte {
	msg := AppendMessage(make([]byte, 0, 64), command, args...)
	if c.ws {
		return wire.AppendFrame(nil, 1, msg)
	}
	return append(msg, '\n')
}

func (c *conn) sendFrame(f *Frame) {
	b := f.Raw
	if c.ws {
		b = f.WS
	}
	if c.out.Send(b, true) {
		c.svc.pushed.Add(1)
	} else {
		c.svc.dropped.Add(1)
	}
}

// admit registers a new client, or reports false when the service is full
// or shutting down.
func (svc *Service) admit(c *conn) bool {
	svc.mu.Lock()
	defer svc.mu.Unlock()
	if svc.closing {
		return false
	}
	if svc.max > 0 && len(svc.sessions) >= svc.max && !svc.evictIdleLocked() {
		svc.refused.Add(1)
		return false
	}
	c.admitted = time.Now()
	svc.sessions[c] = struct{}{}
	svc.clients.Store(int64(len(svc.sessions)))
	svc.transport(c).Add(1)
	svc.wg.Add(1)
	return true
}

// evictIdleLocked gives the slot of the client that has waited longest
// without starting (so, with a token, without authorizing) to a newcomer:
// a slot held by a client that does nothing, idle or sending a byte at a
// time, lasts only until someone else needs it. Real clients start right
// after the Welcome, and a started one is never displaced. It reports
// whether a slot was freed.
func (svc *Service) evictIdleLocked() bool {
	var victim *conn
	for c := range svc.sessions {
		if !c.pushing.Load() && (victim == nil || c.admitted.Before(victim.admitted)) {
			victim = c
		}
	}
	if victim == nil {
		return false
	}
	svc.dropLocked(victim)
	victim.evicted = true
	svc.evictions.Add(1)
	victim.sendNow("Error", ErrTextTooManyClients)
	if victim.ws {
		victim.out.SendLast(wire.CloseFrame(ws.StatusCode(1013), ErrTextTooManyClients))
	}
	// Closing the connection ends its reader, which then leaves.
	go func() {
		victim.out.Flush(time.Second)
		victim.c.Close()
	}()
	return true
}

// dropLocked takes c out of the counted sessions.
func (svc *Service) dropLocked(c *conn) {
	delete(svc.sessions, c)
	svc.clients.Store(int64(len(svc.sessions)))
	svc.transport(c).Add(-1)
}

func (svc *Service) leave(c *conn) {
	c.sess.stop()
	svc.mu.Lock()
	if !c.evicted {
		svc.dropLocked(c)
	}
	svc.mu.Unlock()
	svc.wg.Done()
}

// transport is the client count of c's transport.
func (svc *Service) transport(c *conn) *atomic.Int64 {
	if c.ws {
		return &svc.ws
	}
	return &svc.raw
}

func (svc *Service) newConn(nc net.Conn, ws bool) *conn {
	c := &conn{svc: svc, c: nc, ws: ws, out: wire.NewOutbox(nc, svc.writeWait, outboxLimit)}
	c.sess = session{svc: svc, t: c, remote: remoteIP(nc.RemoteAddr()), ws: ws}
	return c
}

// remoteIP is the address of a peer, the zero Addr when it has none (a pipe).
func remoteIP(a net.Addr) netip.Addr {
	if a == nil {
		return netip.Addr{}
	}
	if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

// Shutdown tells every client the server is going away, closes them and
// waits until their goroutines end or ctx is done.
func (svc *Service) Shutdown(ctx context.Context) error {
	svc.mu.Lock()
	svc.closing = true
	conns := make([]*conn, 0, len(svc.sessions))
	for c := range svc.sessions {
		conns = append(conns, c)
	}
	svc.mu.Unlock()
	for _, c := range conns {
		c.sendNow("Error", ErrTextShuttingDown)
		if c.ws {
			c.out.Send(wire.CloseFrame(1001, "server shutting down"), false)
		}
		go c.out.Flush(time.Second)
	}
	done := make(chan struct{})
	go func() { svc.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		for _, c := range conns {
			c.out.Close()
		}
		return ctx.Err()
	}
}

func (c *conn) setPushing(on bool) { c.pushing.Store(on) }
