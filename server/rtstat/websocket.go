package rtstat

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/gobwas/ws"

	"edgestat/server/wire"
)

// WebSocket keep-alive defaults: the server pings every wsPing and drops a
// client from which nothing (not even a pong) arrived for wsIdle.
const (
	wsPing      = 30 * time.Second
	wsIdle      = 75 * time.Second
	wsHandshake = 10 * time.Second
)

var pingFrame = wire.AppendFrame(nil, ws.OpPing, nil)

// IsWebSocket reports whether r asks for a WebSocket upgrade.
func IsWebSocket(r *http.Request) bool { return wire.IsUpgrade(r) }

type preauthKey struct{}

// WithPreauthorized marks a request whose upgrade already carried the token
// (a Bearer header, the login cookie or ?token=): its Rt-Stat session starts
// authorized, so the box's own page needs no auth command.
func WithPreauthorized(ctx context.Context) context.Context {
	return context.WithValue(ctx, preauthKey{}, true)
}

// ServeHTTP upgrades the request to a WebSocket and serves Rt-Stat on it.
// Any Origin is accepted: the original monitoring page may be hosted
// anywhere, and the token travels inside the protocol.
func (svc *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	pre, _ := r.Context().Value(preauthKey{}).(bool)
	u := ws.HTTPUpgrader{Timeout: wsHandshake}
	nc, rw, _, err := u.Upgrade(r, w)
	if err != nil {
		svc.log.Debug("rtstat: websocket upgrade failed", "remote", r.RemoteAddr, "err", err.Error())
		return
	}
	// net/http leaves its deadlines on a hijacked connection.
	_ = nc.SetDeadline(time.Time{})
	var rd io.Reader = nc
	if rw != nil && rw.Reader.Buffered() > 0 {
		rd = io.MultiReader(bufio.NewReader(io.LimitReader(rw.Reader, int64(rw.Reader.Buffered()))), nc)
	}
	// A fresh goroutine: the handler's stack grew through net/http and would
	// stay that large for the life of the connection.
	go svc.serveWS(nc, rd, pre)
}

func (svc *Service) serveWS(nc net.Conn, rd io.Reader, preauthorized bool) {
	c := svc.newConn(nc, true)
	c.sess.authorized = preauthorized && svc.tokenSet
	if !svc.admit(c) {
		c.out.SendLast(wire.CloseFrame(ws.StatusCode(1013) /* try again later */, ErrTextTooManyClients))
		c.out.Flush(time.Second)
		return
	}
	defer svc.leave(c)
	defer c.out.Close()

	c.send("Welcome", svc.Welcome())
	alive := func() { _ = nc.SetReadDeadline(time.Now().Add(svc.wsIdle)) }
	fr := wire.FrameReader{R: rd, Limit: MaxLine, Reply: c.reply, OnFrame: alive}
	alive()
	for {
		op, msg, err := fr.ReadMessage()
		if err != nil {
			var ne net.Error
			switch {
			case errors.As(err, &ne) && ne.Timeout():
				// Silent for the idle timeout despite our pings: the peer is gone or
				// stuck; a close frame tells a stuck one why.
				c.out.SendLast(wire.CloseFrame(ws.StatusGoingAway, "idle timeout"))
			case errors.Is(err, wire.ErrFrameTooLarge):
				c.send("Error", ErrTextLineTooLong)
				c.out.SendLast(wire.CloseFrame(ws.StatusMessageTooBig, "message too large"))
			case errors.Is(err, wire.ErrInvalidUTF8):
				c.out.SendLast(wire.CloseFrame(ws.StatusInvalidFramePayloadData, "text message is not UTF-8"))
			case errors.Is(err, wire.ErrPeerClosed):
			case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed), errors.Is(err, io.ErrUnexpectedEOF):
			default:
				svc.log.Debug("rtstat: websocket client gone", "remote", nc.RemoteAddr().String(), "err", err.Error())
				c.out.SendLast(wire.CloseFrame(ws.StatusProtocolError, ""))
			}
			c.out.Flush(time.Second)
			return
		}
		if op != ws.OpText && op != ws.OpBinary {
			continue
		}
		if c.sess.handle(msg) {
			c.out.SendLast(wire.CloseFrame(ws.StatusNormalClosure, ""))
			c.out.Flush(time.Second)
			return
		}
	}
}

// Run pings WebSocket clients until ctx ends, so dead peers are noticed
// (Config.IdleTimeout) and proxies keep the connections open.
func (svc *Service) Run(ctx context.Context) {
	t := time.NewTicker(svc.wsPing)
	defer t.Stop()
	var conns []*conn
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		conns = conns[:0]
		svc.mu.Lock()
		for c := range svc.sessions {
			if c.ws {
				conns = append(conns, c)
			}
		}
		svc.mu.Unlock()
		for _, c := range conns {
			c.out.Send(pingFrame, true)
		}
		clear(conns)
	}
}

// reply answers a control frame; a close reply is the last frame sent.
func (c *conn) reply(frame []byte) {
	if wire.IsCloseFrame(frame) {
		c.out.SendLast(frame)
		return
	}
	c.out.SendWait(frame)
}
