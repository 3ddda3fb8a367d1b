package traffic

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"

	"edgestat/probe"
	"edgestat/server/wire"
)

// HubConfig bounds a Hub. Zero values take the defaults.
type HubConfig struct {
	MaxClients   int           // live + socket.io clients together; default 256
	QueueLen     int           // messages waiting per client; default 1024; overflow drops that client (wire.ErrSlow)
	WriteWait    time.Duration // one write to a client; default 10s
	PingInterval time.Duration // default 25s (also the socket.io pingInterval)
	PingTimeout  time.Duration // default 20s (socket.io pingTimeout); a client silent for PingInterval+PingTimeout is closed
	MaxMessage   int           // largest client message; default 64 KiB (also the socket.io maxPayload)
	Log          *slog.Logger
}

func (c *HubConfig) setDefaults() {
	if c.MaxClients <= 0 {
		c.MaxClients = 256
	}
	if c.QueueLen <= 0 {
		c.QueueLen = 1024
	}
	if c.WriteWait <= 0 {
		c.WriteWait = 10 * time.Second
	}
	if c.PingInterval <= 0 {
		c.PingInterval = 25 * time.Second
	}
	if c.PingTimeout <= 0 {
		c.PingTimeout = 20 * time.Second
	}
	if c.MaxMessage <= 0 {
		c.MaxMessage = 64 << 10
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
}

// HubStats are a Hub's counters since it started.
type HubStats struct {
	Published uint64 `json:"published"` // rows handed to at least one client
	Sent      uint64 `json:"sent"`      // messages queued for clients (one per event per client)
	Slow      uint64 `json:"slow"`      // clients dropped because their queue overflowed
	Rejected  uint64 `json:"rejected"`  // connections refused over MaxClients
}

// A Hub pushes every report it is given to the WebSocket clients of
// /traffic/live and /socket.io/. Each row is encoded once per event and
// framed once per protocol; every client's wire.Outbox gets the same bytes.
// A client that stops reading overflows its own queue and is closed, so it
// never slows the probe or the other clients.
type Hub struct {
	cfg HubConfig
	log *slog.Logger

	// subs is what Publish reads: nil while no client is connected, so an
	// idle hub costs one atomic load per report.
	subs atomic.Pointer[hubSubscribers]

	mu       sync.Mutex
	clients  map[*hubClient]struct{}
	reserved int // admitted connections, upgrading ones included
	nlive    int // registered clients by protocol
	nsio     int
	closed   bool
	wg       sync.WaitGroup // one per admitted connection

	published atomic.Uint64
	sent      atomic.Uint64
	slow      atomic.Uint64
	rejected  atomic.Uint64
}

// NewHub returns a Hub; call Run for the keep-alive pings and Close at
// shutdown.
func NewHub(cfg HubConfig) *Hub {
	cfg.setDefaults()
	return &Hub{cfg: cfg, log: cfg.Log, clients: make(map[*hubClient]struct{})}
}

// Event kinds a client can ask for (events=...).
const (
	hubEventRaw    uint8 = 1 << iota // stats_raw: the row as its JSON array
	hubEventObject                   // stats: the object form (AppendObject)
	hubEventsAll   = hubEventRaw | hubEventObject
)

// Publishable formats, as bits of hubClient.formats: 99, 0, 1, 2, 3.
const (
	hubFormats    = 5
	hubFormatsAll = 1<<hubFormats - 1
)

// hubFormatIndex maps a format to its bit index, -1 for one not published.
func hubFormatIndex(format int) int {
	switch {
	case format == probe.FormatStats:
		return 0
	case format >= probe.FormatFlow && format <= probe.FormatRTP:
		return 1 + format
	}
	return -1
}

// The four frames of one row: kind = protocol*2 + event bit index.
const (
	hubLiveRaw = iota
	hubLiveObject
	hubSIORaw
	hubSIOObject
	hubKinds
)

// Every message is prefix + row + suffix in one text frame.
var hubWrap = [hubKinds][2]string{
	hubLiveRaw:    {`{"event":"stats_raw","data":`, `}`},
	hubLiveObject: {`{"event":"stats","data":`, `}`},
	hubSIORaw:     {`42["stats_raw",`, `]`},
	hubSIOObject:  {`42["stats",`, `]`},
}

// A hubClient is one WebSocket connection of either protocol.
type hubClient struct {
	conn    net.Conn
	out     *wire.Outbox
	remote  string
	sio     bool
	events  uint8
	formats uint8

	// socket.io only.
	sid       string // Engine.IO session id
	socketID  string // socket.io id in namespace "/"
	malformed int    // packets ignored, logged once
	// mu orders what is queued from several goroutines: nothing after a
	// close frame, and a namespace connect's reply before the first event.
	mu     sync.Mutex
	joined bool // socket.io: connected to "/", receives events
}

// send queues f unless a close frame went before it (the Outbox refuses
// anything after its last frame).
func (c *hubClient) send(f []byte, droppable bool) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sendLocked(f, droppable)
}

func (c *hubClient) sendLocked(f []byte, droppable bool) bool {
	if wire.IsCloseFrame(f) {
		return c.out.SendLast(f)
	}
	return c.out.Send(f, droppable)
}

// kinds is the set of frames the client takes for rows of a wanted format,
// as bits of 1<<kind.
func (c *hubClient) kinds() uint8 {
	if c.sio {
		return c.events << hubSIORaw
	}
	return c.events << hubLiveRaw
}

// hubSubscribers is an immutable snapshot of the registered clients.
type hubSubscribers struct {
	clients []*hubClient
	want    [hubFormats]uint8 // per format: the union of the clients' kinds
}

// Publish sends r to every client that asked for its format. It never
// blocks and does not keep r; rows published by one goroutine reach every
// client in that order. Only formats 99 and 0 to 3 are published, as
// MMT-Operator did; host rows (format 100) are edgestat's own, have no
// real-time consumer, and are ignored.
func (h *Hub) Publish(r probe.Row) {
	subs := h.subs.Load()
	if subs == nil || r == nil {
		return
	}
	fi := -1
	switch v := r.(type) {
	case *probe.StatRow:
		if v != nil {
			fi = hubFormatIndex(probe.FormatStats)
		}
	case *probe.FlowRow:
		if v != nil {
			fi = hubFormatIndex(int(v.Format))
		}
	case *probe.HostRow:
	default:
		// Another Row type: read it back as one of probe's.
		c, err := probe.ParseRow(r.AppendJSON(nil))
		if err != nil {
			return
		}
		if _, ok := c.(*probe.HostRow); !ok {
			h.Publish(c)
		}
		return
	}
	if fi < 0 || subs.want[fi] == 0 {
		return
	}
	frames := hubEncode(r, subs.want[fi])
	var sent uint64
	for _, c := range subs.clients {
		if c.formats&(1<<fi) != 0 {
			sent += c.deliver(&frames)
		}
	}
	if sent > 0 {
		h.published.Add(1)
		h.sent.Add(sent)
	}
}

// deliver queues the client's frames of a row and counts them. A client
// whose queue overflows is closed by its Outbox; its connection goroutine
// sees that and unregisters it.
func (c *hubClient) deliver(frames *[hubKinds][]byte) (sent uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sio && !c.joined {
		return 0
	}
	kinds := c.kinds()
	for k := range hubKinds {
		if kinds&(1<<k) != 0 && c.sendLocked(frames[k], false) {
			sent++
		}
	}
	return sent
}

// join connects or disconnects the client from namespace "/"; reply, when
// not nil, is queued before any event that follows.
func (c *hubClient) join(joined bool, reply []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if reply != nil {
		c.sendLocked(reply, false)
	}
	c.joined = joined
}

// hubRowBufs holds scratch buffers for the encoded row.
var hubRowBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// hubEncode frames r for the kinds in want. The frames share one
// allocation and are never written again, so every Outbox may hold them.
func hubEncode(r probe.Row, want uint8) (frames [hubKinds][]byte) {
	bp := hubRowBufs.Get().(*[]byte)
	buf := (*bp)[:0]
	if want&(1<<hubLiveRaw|1<<hubSIORaw) != 0 {
		buf = r.AppendJSON(buf)
	}
	split := len(buf)
	if want&(1<<hubLiveObject|1<<hubSIOObject) != 0 {
		buf = AppendObject(buf, r)
	}
	body := [hubKinds][]byte{buf[:split], buf[split:], buf[:split], buf[split:]}

	size := 0
	for k := range hubKinds {
		if want&(1<<k) != 0 {
			size += 10 + len(hubWrap[k][0]) + len(body[k]) + len(hubWrap[k][1])
		}
	}
	slab := make([]byte, 0, size)
	for k := range hubKinds {
		if want&(1<<k) == 0 {
			continue
		}
		start := len(slab)
		slab = hubAppendTextHeader(slab, len(hubWrap[k][0])+len(body[k])+len(hubWrap[k][1]))
		slab = append(slab, hubWrap[k][0]...)
		slab = append(slab, body[k]...)
		slab = append(slab, hubWrap[k][1]...)
		frames[k] = slab[start:len(slab):len(slab)]
	}
	if cap(buf) <= 64<<10 { // a rare huge row must not stay pinned in the pool
		*bp = buf[:0]
		hubRowBufs.Put(bp)
	}
	return frames
}

// hubAppendTextHeader appends the header of an unmasked final text frame
// (RFC 6455 5.2) of n payload bytes. wire.AppendTextFrameHeader writes the
// same bytes but allocates twice through gobwas/ws's io.Writer interface,
// which on this path would be per report.
func hubAppendTextHeader(dst []byte, n int) []byte {
	const finText = 0x80 | byte(ws.OpText)
	switch {
	case n < 126:
		return append(dst, finText, byte(n))
	case n <= 0xffff:
		return append(dst, finText, 126, byte(n>>8), byte(n))
	}
	dst = append(dst, finText, 127)
	for shift := 56; shift >= 0; shift -= 8 {
		dst = append(dst, byte(uint64(n)>>shift))
	}
	return dst
}

// ServeLive serves GET /traffic/live: a plain WebSocket on which every
// report arrives as one text frame, {"event":"stats_raw","data":[...]} or
// {"event":"stats","data":{...}}. Query parameters events= and format=
// choose what is sent. Any Origin is accepted: access control is the
// token's job, in front of this handler.
func (h *Hub) ServeLive(w http.ResponseWriter, r *http.Request) {
	if !wire.IsUpgrade(r) {
		writeCodedError(w, http.StatusBadRequest, hubCodeBadRequest, "GET "+r.URL.Path+" takes a WebSocket upgrade")
		return
	}
	f, err := parseHubFilter(r.URL.Query())
	if err != nil {
		writeCodedError(w, http.StatusBadRequest, hubCodeBadRequest, err.Error())
		return
	}
	h.accept(w, r, &hubClient{events: f.events, formats: f.formats})
}

// accept admits c within MaxClients, upgrades and serves it on a goroutine
// of its own.
func (h *Hub) accept(w http.ResponseWriter, r *http.Request, c *hubClient) {
	if err := h.reserve(); err != nil {
		h.rejected.Add(1)
		writeCodedError(w, http.StatusServiceUnavailable, hubCodeBusy, err.Error())
		return
	}
	u := ws.HTTPUpgrader{Timeout: h.cfg.WriteWait}
	nc, rw, _, err := u.Upgrade(r, w)
	if err != nil {
		h.release()
		h.log.Debug("traffic: websocket upgrade failed", "remote", r.RemoteAddr, "err", err.Error())
		return
	}
	// net/http leaves its deadlines on a hijacked connection.
	_ = nc.SetDeadline(time.Time{})
	var rd io.Reader = nc
	if rw != nil && rw.Reader.Buffered() > 0 {
		rd = io.MultiReader(bufio.NewReader(io.LimitReader(rw.Reader, int64(rw.Reader.Buffered()))), nc)
	}
	c.conn, c.remote = nc, r.RemoteAddr
	c.out = wire.NewOutbox(nc, h.cfg.WriteWait, h.cfg.QueueLen)
	// A fresh goroutine: the handler's stack grew through net/http and
	// would stay that large for the life of the connection.
	go h.serve(c, rd)
}

var errHubClosed = errors.New("server shutting down")

func (h *Hub) reserve() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.closed:
		return errHubClosed
	case h.reserved >= h.cfg.MaxClients:
		return fmt.Errorf("too many clients (limit %d)", h.cfg.MaxClients)
	}
	h.reserved++
	h.wg.Add(1)
	return nil
}

func (h *Hub) release() {
	h.mu.Lock()
	h.reserved--
	h.mu.Unlock()
	h.wg.Done()
}

// register makes c visible to Publish and Run; false once the hub closed.
func (h *Hub) register(c *hubClient) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	h.clients[c] = struct{}{}
	if c.sio {
		h.nsio++
	} else {
		h.nlive++
	}
	h.publishLocked()
	return true
}

func (h *Hub) unregister(c *hubClient) {
	h.mu.Lock()
	if _, ok := h.clients[c]; ok {
		delete(h.clients, c)
		if c.sio {
			h.nsio--
		} else {
			h.nlive--
		}
		h.publishLocked()
	}
	h.mu.Unlock()
}

// publishLocked replaces the snapshot Publish reads.
func (h *Hub) publishLocked() {
	if len(h.clients) == 0 || h.closed {
		h.subs.Store(nil)
		return
	}
	s := &hubSubscribers{clients: make([]*hubClient, 0, len(h.clients))}
	for c := range h.clients {
		s.clients = append(s.clients, c)
		for fi := range hubFormats {
			if c.formats&(1<<fi) != 0 {
				s.want[fi] |= c.kinds()
			}
		}
	}
	h.subs.Store(s)
}

var (
	hubPingFrame  = wire.AppendFrame(nil, ws.OpPing, nil)
	hubCloseFrame = wire.CloseFrame(ws.StatusGoingAway, errHubClosed.Error())
)

// serve reads the client's messages until it goes, keeping it registered
// meanwhile. It owns c and releases its admission.
func (h *Hub) serve(c *hubClient, rd io.Reader) {
	defer h.release()
	closeWait := min(h.cfg.WriteWait, time.Second)
	if c.sio {
		c.sid, c.socketID = hubNewID(), hubNewID()
		c.send(h.sioOpenFrame(c.sid), false) // before any event
	}
	if !h.register(c) {
		c.send(hubCloseFrame, false)
		c.out.Flush(closeWait)
		return
	}
	defer h.unregister(c)

	idle := h.cfg.PingInterval + h.cfg.PingTimeout
	alive := func() { _ = c.conn.SetReadDeadline(time.Now().Add(idle)) }
	fr := wire.FrameReader{R: rd, Limit: h.cfg.MaxMessage, Reply: func(f []byte) { c.send(f, false) }, OnFrame: alive}
	alive()
	for {
		op, msg, err := fr.ReadMessage()
		if err != nil {
			h.readFailed(c, err)
			c.out.Flush(closeWait)
			return
		}
		if !c.sio || op != ws.OpText {
			continue // live clients have nothing to say; socket.io binary attachments are not used
		}
		if h.sioHandle(c, msg) {
			c.send(wire.CloseFrame(ws.StatusNormalClosure, ""), false)
			c.out.Flush(closeWait)
			return
		}
	}
}

// readFailed tells the client why it is being closed, when it can still
// hear it, and counts a slow client.
func (h *Hub) readFailed(c *hubClient, err error) {
	if errors.Is(c.out.Err(), wire.ErrSlow) {
		h.slow.Add(1)
		h.log.Info("traffic: client too slow, dropped", "remote", c.remote, "socketio", c.sio, "queue", h.cfg.QueueLen)
		return
	}
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		// Nothing, not even a pong, for PingInterval+PingTimeout.
		c.send(wire.CloseFrame(ws.StatusGoingAway, "idle timeout"), false)
	case errors.Is(err, wire.ErrFrameTooLarge):
		c.send(wire.CloseFrame(ws.StatusMessageTooBig, "message too large"), false)
	case errors.Is(err, wire.ErrInvalidUTF8):
		c.send(wire.CloseFrame(ws.StatusInvalidFramePayloadData, "text message is not UTF-8"), false)
	case errors.Is(err, wire.ErrPeerClosed):
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
	default:
		h.log.Debug("traffic: websocket client gone", "remote", c.remote, "err", err.Error())
		c.send(wire.CloseFrame(ws.StatusProtocolError, ""), false)
	}
	if c.malformed > 1 {
		h.log.Debug("traffic: socket.io packets ignored", "remote", c.remote, "count", c.malformed)
	}
}

// Run pings every client each PingInterval until ctx ends: WebSocket pings
// on /traffic/live, Engine.IO pings ("2") on socket.io. Without it clients
// that send nothing are closed after PingInterval+PingTimeout.
func (h *Hub) Run(ctx context.Context) {
	t := time.NewTicker(h.cfg.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		subs := h.subs.Load()
		if subs == nil {
			continue
		}
		for _, c := range subs.clients {
			// Droppable: a client with a full queue is dropped by the
			// next report anyway.
			if c.sio {
				c.send(eioPingFrame, true)
			} else {
				c.send(hubPingFrame, true)
			}
		}
	}
}

// Close tells every client the server is going away (close 1001), closes
// them, refuses new ones and waits for their goroutines to end.
func (h *Hub) Close() {
	h.mu.Lock()
	h.closed = true
	h.publishLocked()
	clients := make([]*hubClient, 0, len(h.clients))
	for c := range h.clients {
		clients = append(clients, c)
	}
	h.mu.Unlock()

	closeWait := min(h.cfg.WriteWait, time.Second)
	var wg sync.WaitGroup
	for _, c := range clients {
		c.send(hubCloseFrame, false)
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.out.Flush(closeWait)
		}()
	}
	wg.Wait()
	h.wg.Wait()
}

// Clients counts the connected clients by protocol.
func (h *Hub) Clients() (live, socketio int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.nlive, h.nsio
}

// Stats returns the hub's counters.
func (h *Hub) Stats() HubStats {
	return HubStats{
		Published: h.published.Load(),
		Sent:      h.sent.Load(),
		Slow:      h.slow.Load(),
		Rejected:  h.rejected.Load(),
	}
}

// hubFilter is what a client asked for with events= and format=.
type hubFilter struct{ events, formats uint8 }

// parseHubFilter reads events=stats_raw,stats and format=99,0 (default:
// everything). Lists arrive comma-separated, repeated (format=99&format=0),
// with brackets (format[]=99) or as a JSON array (format=[99,0]), like the
// filters of GET /traffic/data.
func parseHubFilter(q url.Values) (hubFilter, error) {
	f := hubFilter{events: hubEventsAll, formats: hubFormatsAll}
	events, err := hubList(q, "events")
	if err != nil {
		return f, err
	}
	if events != nil {
		f.events = 0
		for _, v := range events {
			switch v {
			case "stats_raw":
				f.events |= hubEventRaw
			case "stats":
				f.events |= hubEventObject
			default:
				return f, fmt.Errorf("parameter events: %q is neither stats_raw nor stats", v)
			}
		}
	}
	formats, err := hubList(q, "format")
	if err != nil {
		return f, err
	}
	if formats != nil {
		f.formats = 0
		for _, v := range formats {
			n, err := strconv.Atoi(v)
			fi := hubFormatIndex(n)
			if err != nil || fi < 0 {
				return f, fmt.Errorf("parameter format: %q is not one of 99, 0, 1, 2, 3", v)
			}
			f.formats |= 1 << fi
		}
	}
	return f, nil
}

// hubList returns the items of a list parameter, nil when it is absent.
func hubList(q url.Values, name string) ([]string, error) {
	vals := append(append([]string(nil), q[name]...), q[name+"[]"]...)
	if len(vals) == 0 {
		return nil, nil
	}
	var out []string
	for _, v := range vals {
		v = strings.TrimSpace(v)
		if strings.HasPrefix(v, "[") {
			var items []json.RawMessage
			if err := json.Unmarshal([]byte(v), &items); err != nil {
				return nil, fmt.Errorf("parameter %s: not a JSON array: %w", name, err)
			}
			for _, it := range items {
				var s string
				if json.Unmarshal(it, &s) != nil {
					s = string(it) // a number
				}
				out = append(out, s)
			}
			continue
		}
		for item := range strings.SplitSeq(v, ",") {
			out = append(out, strings.TrimSpace(item))
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("parameter %s: empty list", name)
	}
	return out, nil
}

// Error codes of the JSON errors, MMT-Operator's {"error":{"message","code"}}.
const (
	hubCodeBadRequest = 1102 // the original's code for a bad request parameter
	hubCodeBusy       = 1103 // over MaxClients, or shutting down
)

// hubNewID returns 20 random URL-safe characters, like Engine.IO's ids.
func hubNewID() string {
	var b [15]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
