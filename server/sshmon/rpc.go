package sshmon

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gobwas/ws"

	"edgestat/server/wire"
)

// An RPCRequest is one JSON-RPC request of /monitor.
type RPCRequest struct {
	ID      json.RawMessage // as sent (a string, a number or null); "null" when it could not be read
	Method  string
	Targets []Target
}

// An RPCError is a request's error; ID is what could be read of its id.
type RPCError struct {
	ID      json.RawMessage
	Message string
}

func (e *RPCError) Error() string { return e.Message }

// maxTargetsPerCall bounds one request's params.
const maxTargetsPerCall = 256

// ParseRPC reads a /monitor request: {"id": ..., "method":
// "ssh.start_monitor" or "ssh.stop_monitor", "params": [{"host": ...,
// "port": 22, "user": ..., "passwd": ..., "key": "PEM"}]}. A port left
// out is 22; a start without passwd and key uses the saved host's. The
// error carries the id whenever the id could be read.
func ParseRPC(msg []byte) (RPCRequest, error) {
	var req RPCRequest
	req.ID = json.RawMessage("null")
	var raw struct {
		ID     json.RawMessage `json:"id"`
		Method *string         `json:"method"`
		Params json.RawMessage `json:"params"`
	}
	if err := json.Unmarshal(msg, &raw); err != nil {
		// The id may still be readable from a body whose params are bad.
		var idOnly struct {
			ID json.RawMessage `json:"id"`
		}
		if json.Unmarshal(msg, &idOnly) == nil && validID(idOnly.ID) {
			req.ID = idOnly.ID
		}
		return req, &RPCError{req.ID, "parse error: " + err.Error()}
	}
	if validID(raw.ID) {
		req.ID = raw.ID
	}
	fail := func(format string, args ...any) (RPCRequest, error) {
		return req, &RPCError{req.ID, fmt.Sprintf(format, args...)}
	}
	switch {
	case raw.Method == nil:
		return fail("missing method")
	case *raw.Method != "ssh.start_monitor" && *raw.Method != "ssh.stop_monitor":
		return fail("unknown method %q (ssh.start_monitor and ssh.stop_monitor are known)", *raw.Method)
	}
	req.Method = *raw.Method
	var params []struct {
		Host   *string `json:"host"`
		Port   *int    `json:"port"`
		User   *string `json:"user"`
		Passwd *string `json:"passwd"`
		Key    *string `json:"key"`
	}
	if len(raw.Params) == 0 {
		return fail("missing params: an array of {host, port, user, passwd}")
	}
	if err := json.Unmarshal(raw.Params, &params); err != nil {
		return fail("params: want an array of {host, port, user, passwd}: %v", err)
	}
	if len(params) == 0 || len(params) > maxTargetsPerCall {
		return fail("params: want 1 to %d targets, got %d", maxTargetsPerCall, len(params))
	}
	for i, p := range params {
		var t Target
		switch {
		case p.Host == nil || *p.Host == "" || len(*p.Host) > 255 || strings.ContainsAny(*p.Host, " /@"):
			return fail("params[%d].host: missing or not a host name or address", i)
		case p.User == nil || *p.User == "" || len(*p.User) > 64 || strings.ContainsAny(*p.User, " @:/"):
			return fail("params[%d].user: missing or not a user name", i)
		case p.Port != nil && (*p.Port < 1 || *p.Port > 65535):
			return fail("params[%d].port: %d is not a port", i, *p.Port)
		}
		t.Host, t.User, t.Port = *p.Host, *p.User, 22
		if p.Port != nil {
			t.Port = *p.Port
		}
		if req.Method == "ssh.start_monitor" {
			if p.Passwd != nil {
				t.Password = *p.Passwd
			}
			if p.Key != nil {
				t.Key = []byte(*p.Key)
			}
			// Without either, the saved host of this user@host:port is used.
		}
		req.Targets = append(req.Targets, t)
	}
	return req, nil
}

func validID(id json.RawMessage) bool {
	id = bytes.TrimSpace(id)
	return len(id) > 0 && (id[0] == '"' || id[0] == '-' || (id[0] >= '0' && id[0] <= '9') || string(id) == "null")
}

// RPCConfig configures the /monitor endpoint.
type RPCConfig struct {
	Hosts        *Hosts        // saved hosts: their secrets complete targets given without one
	MaxClients   int           // default 64
	QueueLen     int           // messages waiting per client; default 1024
	WriteWait    time.Duration // default 10s
	PingInterval time.Duration // default 30s; a client silent for 2.5x this is closed
	Log          *slog.Logger
}

// RPC serves the WebSocket /monitor.
type RPC struct {
	m   *Monitor
	cfg RPCConfig
	log *slog.Logger

	mu      sync.Mutex
	clients map[*rpcClient]bool
	wg      sync.WaitGroup
}

// NewRPC serves m.
func NewRPC(m *Monitor, cfg RPCConfig) *RPC {
	if cfg.MaxClients <= 0 {
		cfg.MaxClients = 64
	}
	if cfg.QueueLen <= 0 {
		cfg.QueueLen = 1024
	}
	if cfg.WriteWait <= 0 {
		cfg.WriteWait = 10 * time.Second
	}
	if cfg.PingInterval <= 0 {
		cfg.PingInterval = 30 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &RPC{m: m, cfg: cfg, log: cfg.Log, clients: map[*rpcClient]bool{}}
}

// Stats are the SSH monitor's figures for /metrics.
type Stats struct {
	PoolStats
	Targets int // hosts monitored now
	Clients int // /monitor WebSocket clients now
}

// Stats returns the monitor's figures: a few counts under short locks.
func (r *RPC) Stats() Stats {
	r.mu.Lock()
	clients := len(r.clients)
	r.mu.Unlock()
	st := Stats{Targets: r.m.Targets(), Clients: clients}
	if r.m.cfg.Pool != nil {
		st.PoolStats = r.m.cfg.Pool.Stats()
	}
	return st
}

type rpcClient struct {
	out *wire.Outbox
}

// Notify implements Subscriber: a client that does not keep up is closed.
func (c *rpcClient) Notify(msg []byte) {
	c.out.Send(wire.AppendFrame(nil, ws.OpText, msg), false)
}

func (c *rpcClient) reply(id json.RawMessage, errText string) {
	var e any
	if errText != "" {
		e = errText
	}
	b, _ := json.Marshal(struct {
		ID     json.RawMessage `json:"id"`
		Result any             `json:"result"`
		Error  any             `json:"error"`
	}{id, nil, e})
	c.out.Send(wire.AppendFrame(nil, ws.OpText, b), false)
}

// ServeHTTP upgrades GET /monitor to a WebSocket. Any Origin is accepted
// for now (issue 8 adds auth).
func (r *RPC) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	full := len(r.clients) >= r.cfg.MaxClients
	r.mu.Unlock()
	if full {
		http.Error(w, fmt.Sprintf("too many /monitor clients (%d)", r.cfg.MaxClients), http.StatusServiceUnavailable)
		return
	}
	if !wire.IsUpgrade(req) {
		w.Header().Set("Upgrade", "websocket")
		http.Error(w, "GET /monitor takes a WebSocket upgrade", http.StatusUpgradeRequired)
		return
	}
	u := ws.HTTPUpgrader{Timeout: 10 * time.Second}
	nc, rw, _, err := u.Upgrade(req, w)
	if err != nil {
		r.log.Debug("sshmon: websocket upgrade failed", "remote", req.RemoteAddr, "err", err.Error())
		return
	}
	_ = nc.SetDeadline(time.Time{})
	var rd io.Reader = nc
	if rw != nil && rw.Reader.Buffered() > 0 {
		rd = io.MultiReader(bufio.NewReader(io.LimitReader(rw.Reader, int64(rw.Reader.Buffered()))), nc)
	}
	c := &rpcClient{out: wire.NewOutbox(nc, r.cfg.WriteWait, r.cfg.QueueLen)}
	r.mu.Lock()
	r.clients[c] = true
	r.wg.Add(1)
	r.mu.Unlock()
	go r.serve(c, nc, rd)
}

func (r *RPC) serve(c *rpcClient, nc net.Conn, rd io.Reader) {
	defer r.wg.Done()
	defer func() {
		r.m.Leave(c)
		r.mu.Lock()
		delete(r.clients, c)
		r.mu.Unlock()
		c.out.Close()
	}()
	alive := func() { _ = nc.SetReadDeadline(time.Now().Add(r.cfg.PingInterval * 5 / 2)) }
	fr := wire.FrameReader{R: rd, Limit: 64 << 10, Reply: func(f []byte) {
		if wire.IsCloseFrame(f) {
			c.out.SendLast(f)
			return
		}
		c.out.Send(f, false)
	}, OnFrame: alive}
	alive()
	for {
		op, msg, err := fr.ReadMessage()
		if err != nil {
			switch {
			case errors.Is(err, wire.ErrFrameTooLarge):
				c.out.SendLast(wire.CloseFrame(ws.StatusMessageTooBig, "message too large"))
			case errors.Is(err, wire.ErrInvalidUTF8):
				c.out.SendLast(wire.CloseFrame(ws.StatusInvalidFramePayloadData, "text message is not UTF-8"))
			case errors.Is(err, wire.ErrPeerClosed):
			default:
				c.out.SendLast(wire.CloseFrame(ws.StatusGoingAway, ""))
			}
			c.out.Flush(time.Second)
			return
		}
		if op != ws.OpText && op != ws.OpBinary {
			continue
		}
		r.handle(c, msg)
	}
}

// handle answers one request. Targets are handled one by one: the ones
// that succeed are monitored (or stopped) even when others fail, and the
// error names each one that failed.
func (r *RPC) handle(c *rpcClient, msg []byte) {
	req, err := ParseRPC(msg)
	if err != nil {
		var re *RPCError
		errors.As(err, &re)
		c.reply(re.ID, re.Message)
		return
	}
	var fails []string
	for _, t := range req.Targets {
		switch req.Method {
		case "ssh.start_monitor":
			if t.Password == "" && len(t.Key) == 0 {
				found := false
				var err error
				if r.cfg.Hosts != nil {
					found, err = r.cfg.Hosts.Fill(&t)
				}
				if err != nil || !found {
					msg := "passwd: missing, and no saved host for it"
					if err != nil {
						msg = err.Error()
					}
					fails = append(fails, t.SSHKey()+": "+msg)
					continue
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			err := r.m.Start(ctx, t, c)
			cancel()
			if err != nil {
				msg := err.Error()
				if !strings.Contains(msg, t.SSHKey()) { // the pool's errors name it already
					msg = t.SSHKey() + ": " + msg
				}
				fails = append(fails, msg)
			}
		case "ssh.stop_monitor":
			if !r.m.Stop(t, c) {
				fails = append(fails, t.SSHKey()+": not monitored by this connection")
			}
		}
	}
	if len(fails) > 0 {
		c.reply(req.ID, fmt.Sprintf("%d of %d targets failed: %s", len(fails), len(req.Targets), strings.Join(fails, "; ")))
		return
	}
	c.reply(req.ID, "")
}

var pingFrame = wire.AppendFrame(nil, ws.OpPing, nil)

// Run pings the clients until ctx ends, then closes them and the monitor.
func (r *RPC) Run(ctx context.Context) {
	t := time.NewTicker(r.cfg.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			r.mu.Lock()
			cs := make([]*rpcClient, 0, len(r.clients))
			for c := range r.clients {
				cs = append(cs, c)
			}
			r.mu.Unlock()
			var flushing sync.WaitGroup
			for _, c := range cs {
				c.out.SendLast(wire.CloseFrame(ws.StatusGoingAway, "server shutting down"))
				flushing.Add(1)
				go func() { defer flushing.Done(); c.out.Flush(time.Second) }()
			}
			flushing.Wait()
			r.wg.Wait()
			r.m.Close()
			return
		case <-t.C:
			r.mu.Lock()
			for c := range r.clients {
				c.out.Send(pingFrame, true)
			}
			r.mu.Unlock()
		}
	}
}
