// Package server is everything that faces the network: one listener that
// tells HTTP from raw Rt-Stat clients, the HTTP routes, and the services
// behind them.
package server

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/julienschmidt/httprouter"

	"edgestat/server/guard"
	"edgestat/server/rtstat"
	"edgestat/server/store"
)

// Config wires a Server.
type Config struct {
	// Addr serves HTTP and raw Rt-Stat on one port. HTTPAddr and RawAddr,
	// when set, serve only that protocol; any of the three may be empty.
	Addr, HTTPAddr, RawAddr string

	Version string
	RtStat  *rtstat.Service
	Store   *store.Store
	// Writes, when set, says whether the box's data is being written (nil)
	// or why not: /healthz answers 503 with the reason.
	Writes func() error
	UI     http.Handler // serves "/" and the assets under it
	Log    *slog.Logger

	// Token, when set, guards every route but /healthz and the login page
	// (the Rt-Stat WebSocket keeps its own auth command).
	Token string
	// Guard counts wrong tokens per source (shared with Rt-Stat's auth::);
	// nil: a limiter of the server's own.
	Guard *guard.Limiter
	// TLS, when set, is spoken by any connection that opens with a TLS
	// ClientHello, on every address: https, wss and TLS raw Rt-Stat.
	TLS *tls.Config
	// MaxConnsPerIP caps the open connections of one remote address (0: no
	// cap); loopback is exempt unless CapLoopback.
	MaxConnsPerIP int
	CapLoopback   bool
	// HeaderTimeout bounds the wait for a request's headers (default 10 s):
	// a client trickling them (slowloris) is closed after it.
	HeaderTimeout time.Duration
}

// Server owns the listeners and the HTTP server.
type Server struct {
	cfg     Config
	started time.Time
	http    *http.Server
	router  *httprouter.Router

	lns     []net.Listener
	httpLn  *chanListener
	wg      sync.WaitGroup
	sniffer chan struct{} // semaphore of connections being classified
	recent  recentHTTP    // addresses that spoke HTTP lately
	perIP   perIP         // open connections per remote address

	undecidedMu sync.Mutex
	undecided   map[net.Conn]struct{} // being sniffed: closed by Shutdown
	stopping    bool
}

// New returns a Server; call Listen, then Serve.
func New(cfg Config) *Server {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	s := &Server{cfg: cfg, started: time.Now(), sniffer: make(chan struct{}, maxSniffing)}
	s.perIP = perIP{max: cfg.MaxConnsPerIP, capLoopback: cfg.CapLoopback}
	if cfg.HeaderTimeout <= 0 {
		cfg.HeaderTimeout = 10 * time.Second
	}
	s.router = httprouter.New()
	s.routes()
	var handler http.Handler = s.router
	if a := newAuth(cfg.Token, cfg.Guard); a != nil {
		handler = a.wrap(handler)
	}
	s.http = &http.Server{
		Handler:           handler,
		ConnContext:       connContext,
		ReadHeaderTimeout: cfg.HeaderTimeout,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(cfg.Log.Handler(), slog.LevelDebug),
	}
	return s
}

func (s *Server) routes() {
	r := s.router
	r.GET("/healthz", s.healthz)
	r.NotFound = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/" && rtstat.IsWebSocket(r) {
			s.cfg.RtStat.ServeHTTP(w, r)
			return
		}
		if s.cfg.UI != nil && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			s.cfg.UI.ServeHTTP(w, r)
			return
		}
		writeError(w, http.StatusNotFound, "not found")
	})
	r.HandleMethodNotAllowed = true
}

// Router lets later packages add their routes before Serve.
func (s *Server) Router() *httprouter.Router { return s.router }

// Listen opens every configured address, so a busy port fails at start.
func (s *Server) Listen() error {
	for _, a := range []struct {
		addr string
		kind Kind
	}{{s.cfg.Addr, KindUndecided}, {s.cfg.HTTPAddr, KindHTTP}, {s.cfg.RawAddr, KindRaw}} {
		if a.addr == "" {
			continue
		}
		ln, err := net.Listen("tcp", a.addr)
		if err != nil {
			s.closeListeners()
			return fmt.Errorf("listen %s: %w", a.addr, err)
		}
		s.lns = append(s.lns, &kindListener{Listener: ln, kind: a.kind})
	}
	if len(s.lns) == 0 {
		return errors.New("no address to listen on")
	}
	s.httpLn = newChanListener(s.lns[0].Addr())
	return nil
}

type kindListener struct {
	net.Listener
	kind Kind
}

func (s *Server) closeListeners() {
	for _, ln := range s.lns {
		_ = ln.Close()
	}
}

// An Endpoint is a bound address and what it serves.
type Endpoint struct {
	Addr      net.Addr
	HTTP, Raw bool
}

// Endpoints are the bound addresses, in the order Addr, HTTPAddr, RawAddr
// (those configured).
func (s *Server) Endpoints() []Endpoint {
	out := make([]Endpoint, len(s.lns))
	for i, ln := range s.lns {
		k := ln.(*kindListener).kind
		out[i] = Endpoint{Addr: ln.Addr(), HTTP: k != KindRaw, Raw: k != KindHTTP}
	}
	return out
}

// Serve accepts connections until ctx ends, then returns; call Shutdown to
// end the connections.
func (s *Server) Serve(ctx context.Context) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.http.Serve(s.httpLn); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			s.cfg.Log.Error("http server stopped", "err", err)
		}
	}()
	for _, ln := range s.lns {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.accept(ctx, ln.(*kindListener))
		}()
	}
	<-ctx.Done()
}

func (s *Server) accept(ctx context.Context, ln *kindListener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || ctx.Err() != nil {
				return
			}
			s.cfg.Log.Warn("accept failed", "addr", ln.Addr().String(), "err", err)
			time.Sleep(50 * time.Millisecond) // EMFILE and friends: do not spin
			continue
		}
		c, ok := s.perIP.acquire(c)
		if !ok {
			continue // its address holds too many connections already
		}
		// Without TLS the split ports need no look at the first bytes.
		if s.cfg.TLS == nil && ln.kind == KindHTTP {
			s.httpLn.deliver(c)
			continue
		}
		if s.cfg.TLS == nil && ln.kind == KindRaw {
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.cfg.RtStat.ServeRaw(c)
			}()
			continue
		}
		select {
		case s.sniffer <- struct{}{}:
		default:
			_ = c.Close() // too many undecided connections at once
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			kind, c := s.classify(ctx, c, ln.kind)
			<-s.sniffer
			switch kind {
			case KindHTTP:
				s.httpLn.deliver(c)
			case KindRaw:
				s.cfg.RtStat.ServeRaw(c)
			}
		}()
	}
}

// classify decides what a new connection speaks: TLS first (then what it
// speaks inside), HTTP or raw Rt-Stat. KindUndecided means it is gone.
func (s *Server) classify(ctx context.Context, c net.Conn, listenKind Kind) (Kind, net.Conn) {
	if !s.track(c) {
		return KindUndecided, nil
	}
	orig := c
	defer s.untrack(orig)
	ip := remoteIP(c)
	wait := func() time.Duration { return s.recent.wait(ip, time.Now()) }
	if listenKind == KindHTTP {
		// An HTTP client speaks first; only TLS or not is asked.
		wait = func() time.Duration { return tlsHandshakeWait }
	}
	kind, c := sniff(c, wait)
	if kind == KindTLS && s.cfg.TLS == nil {
		kind = KindRaw // as before TLS existed: garbage for the raw protocol
	}
	if kind == KindTLS {
		tc := tls.Server(c, s.cfg.TLS)
		_ = tc.SetDeadline(time.Now().Add(tlsHandshakeWait))
		if err := tc.HandshakeContext(ctx); err != nil {
			s.cfg.Log.Debug("tls handshake failed", "remote", orig.RemoteAddr().String(), "err", err.Error())
			_ = tc.Close()
			return KindUndecided, nil
		}
		_ = tc.SetDeadline(time.Time{})
		c = tc
		kind = listenKind
		if listenKind == KindUndecided {
			kind, c = sniff(tc, wait)
		}
	}
	switch listenKind {
	case KindHTTP, KindRaw:
		kind = listenKind // a split port serves its one protocol, whatever came
	}
	if kind == KindHTTP {
		s.recent.mark(ip, time.Now())
	}
	return kind, c
}

// track registers a connection being sniffed, so Shutdown need not wait
// for a browser's silent spare; false (and c closed) when shutting down.
func (s *Server) track(c net.Conn) bool {
	s.undecidedMu.Lock()
	defer s.undecidedMu.Unlock()
	if s.stopping {
		_ = c.Close()
		return false
	}
	if s.undecided == nil {
		s.undecided = make(map[net.Conn]struct{})
	}
	s.undecided[c] = struct{}{}
	return true
}

func (s *Server) untrack(c net.Conn) {
	s.undecidedMu.Lock()
	delete(s.undecided, c)
	s.undecidedMu.Unlock()
}

// Shutdown stops accepting, tells Rt-Stat clients the server is going
// away, and waits for HTTP requests to finish, until ctx is done.
func (s *Server) Shutdown(ctx context.Context) error {
	s.closeListeners()
	s.undecidedMu.Lock()
	s.stopping = true
	for c := range s.undecided {
		_ = c.Close() // its sniff ends with an error and serves nobody
	}
	s.undecidedMu.Unlock()
	_ = s.httpLn.Close()
	errRt := s.cfg.RtStat.Shutdown(ctx)
	errHTTP := s.http.Shutdown(ctx)
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
	return errors.Join(errRt, errHTTP)
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	status, code := "ok", http.StatusOK
	storeState := "ok"
	if s.cfg.Store != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := s.cfg.Store.Ping(ctx); err != nil {
			status, storeState, code = "degraded", err.Error(), http.StatusServiceUnavailable
		}
	}
	if s.cfg.Writes != nil && storeState == "ok" {
		if err := s.cfg.Writes(); err != nil {
			status, storeState, code = "degraded", "writes failing: "+err.Error(), http.StatusServiceUnavailable
		}
	}
	writeJSON(w, code, map[string]any{
		"status":         status,
		"version":        s.cfg.Version,
		"uptime_seconds": int64(time.Since(s.started).Seconds()),
		"rtstat_clients": s.cfg.RtStat.Clients(),
		"store":          storeState,
		"auth":           s.cfg.Token != "",
		"tls":            s.cfg.TLS != nil,
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}
