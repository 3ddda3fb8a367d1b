package traffic

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/gobwas/ws"

	"edgestat/server/wire"
)

// socket.io v4 clients speak socket.io protocol 5 inside Engine.IO protocol
// 4. Only the websocket transport is served: each WebSocket text frame is
// one Engine.IO packet, a type digit and its data; a message packet ('4')
// carries one socket.io packet:
//
//	<type>[<attachments>-][<namespace>,][<ack id>][<JSON payload>]
//
// so "42["stats_raw",[99,...]]" is an event in namespace "/".

// Engine.IO packet types, the first byte of every packet.
const (
	eioOpen    = '0'
	eioClose   = '1'
	eioPing    = '2'
	eioPong    = '3'
	eioMessage = '4'
	eioUpgrade = '5'
	eioNoop    = '6'
)

// socket.io packet types, the first byte of an Engine.IO message's data.
const (
	sioConnect = iota
	sioDisconnect
	sioEvent
	sioAck
	sioConnectError
	sioBinaryEvent
	sioBinaryAck
)

// Engine.IO error codes of the HTTP handshake, as engine.io answers them.
const (
	eioErrTransportUnknown = 0
	eioErrSessionUnknown   = 1
	eioErrBadMethod        = 2
	eioErrBadRequest       = 3
	eioErrUnsupported      = 5
)

var eioPingFrame = wire.AppendFrame(nil, ws.OpText, []byte{eioPing})

// errSIOPacket is wrapped by every error of parseSIOPacket.
var errSIOPacket = errors.New("traffic: malformed socket.io packet")

// A sioPacket is one client packet. Its slices point into the parsed bytes.
type sioPacket struct {
	EIO  byte   // Engine.IO type, eioOpen to eioNoop
	Data []byte // Engine.IO data: what follows the type

	// For a message (EIO == eioMessage), the socket.io packet in Data;
	// Type is -1 for other Engine.IO packets.
	Type        int8
	Attachments int    // binary events and acks only
	Nsp         []byte // namespace, "/" when absent
	ID          int64  // ack id, -1 when absent
	Payload     []byte // JSON of the kind Type allows, or empty
}

// Bounds of the numbers in a packet: ack ids stay exact in a JS number.
const (
	sioMaxIDDigits          = 15
	sioMaxAttachmentsDigits = 6
)

var sioRoot = []byte("/")

// parseSIOPacket parses one Engine.IO packet from a WebSocket text frame
// and, for a message, the socket.io packet in it, with the rules of
// socket.io-parser's decoder: a namespace starts with '/' and ends at ',',
// an ack id is the digits that follow, and the rest is a JSON payload whose
// kind depends on the type (an object for CONNECT, none for DISCONNECT, an
// array for events and acks, a string or object for CONNECT_ERROR).
func parseSIOPacket(b []byte) (sioPacket, error) {
	p := sioPacket{Type: -1, ID: -1}
	if len(b) == 0 {
		return p, fmt.Errorf("%w: empty", errSIOPacket)
	}
	if b[0] < eioOpen || b[0] > eioNoop {
		return p, fmt.Errorf("%w: unknown Engine.IO type %q", errSIOPacket, b[0])
	}
	p.EIO, p.Data = b[0], b[1:]
	if p.EIO != eioMessage {
		return p, nil
	}
	d := p.Data
	if len(d) == 0 || d[0] < '0' || d[0] > '6' {
		return p, fmt.Errorf("%w: no socket.io type", errSIOPacket)
	}
	p.Type = int8(d[0] - '0')
	i := 1
	if p.Type == sioBinaryEvent || p.Type == sioBinaryAck {
		n, j := sioDigits(d, i)
		if j == i || j-i > sioMaxAttachmentsDigits || j >= len(d) || d[j] != '-' {
			return p, fmt.Errorf("%w: bad attachment count", errSIOPacket)
		}
		p.Attachments, i = int(n), j+1
	}
	p.Nsp = sioRoot
	if i < len(d) && d[i] == '/' {
		j := i
		for j < len(d) && d[j] != ',' {
			j++
		}
		p.Nsp = d[i:j]
		i = j
		if i < len(d) {
			i++ // the comma
		}
	}
	if n, j := sioDigits(d, i); j > i {
		if j-i > sioMaxIDDigits {
			return p, fmt.Errorf("%w: ack id too long", errSIOPacket)
		}
		p.ID, i = n, j
	}
	p.Payload = d[i:]
	if err := sioCheckPayload(p.Type, p.Payload); err != nil {
		return p, err
	}
	return p, nil
}

// sioDigits reads decimal digits from d[i:], returning the value (of the
// first 18 digits at most) and the index after them.
func sioDigits(d []byte, i int) (int64, int) {
	var n int64
	j := i
	for j < len(d) && d[j] >= '0' && d[j] <= '9' {
		if j-i < 18 {
			n = n*10 + int64(d[j]-'0')
		}
		j++
	}
	return n, j
}

func sioCheckPayload(t int8, payload []byte) error {
	if len(payload) == 0 {
		return nil
	}
	kind := sioJSONKind(payload)
	if kind == 0 {
		return fmt.Errorf("%w: payload is not JSON", errSIOPacket)
	}
	ok := false
	switch t {
	case sioConnect:
		ok = kind == '{'
	case sioConnectError:
		ok = kind == '{' || kind == '"'
	case sioEvent, sioBinaryEvent:
		// An event name (string) or, from old clients, a number.
		ok = kind == '[' && sioFirstElementNamesEvent(payload)
	case sioAck, sioBinaryAck:
		ok = kind == '['
	}
	if !ok {
		return fmt.Errorf("%w: payload not allowed for type %d", errSIOPacket, t)
	}
	return nil
}

// sioJSONKind returns the first byte of valid JSON ('{', '[', '"', 'n'
// for null ...), 0 when b is not JSON.
func sioJSONKind(b []byte) byte {
	if !json.Valid(b) {
		return 0
	}
	i := sioSkipSpace(b, 0)
	if c := b[i]; c == '-' || (c >= '0' && c <= '9') {
		return '0'
	}
	return b[i]
}

func sioSkipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	return i
}

// sioFirstElementNamesEvent reports whether the first element of a valid
// JSON array is a string or a number.
func sioFirstElementNamesEvent(b []byte) bool {
	i := sioSkipSpace(b, 0) + 1 // after '['
	i = sioSkipSpace(b, i)
	c := b[i]
	return c == '"' || c == '-' || (c >= '0' && c <= '9')
}

// appendSIOPacket encodes p as parseSIOPacket reads it.
func appendSIOPacket(dst []byte, p sioPacket) []byte {
	dst = append(dst, p.EIO)
	if p.EIO != eioMessage || p.Type < 0 {
		return append(dst, p.Data...)
	}
	dst = append(dst, byte('0'+p.Type))
	if p.Type == sioBinaryEvent || p.Type == sioBinaryAck {
		dst = strconv.AppendInt(dst, int64(p.Attachments), 10)
		dst = append(dst, '-')
	}
	if len(p.Nsp) > 0 && string(p.Nsp) != "/" {
		dst = append(dst, p.Nsp...)
		dst = append(dst, ',')
	}
	if p.ID >= 0 {
		dst = strconv.AppendInt(dst, p.ID, 10)
	}
	return append(dst, p.Payload...)
}

// ServeSocketIO serves GET /socket.io/?EIO=4&transport=websocket for
// socket.io v4 clients (io(url, {transports: ["websocket"]})). After the
// client connects to namespace "/" it receives the events stats_raw (the
// row array) and stats (the object form); events= and format= choose as
// on /traffic/live.
func (h *Hub) ServeSocketIO(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	// The checks and answers of engine.io's own handshake, in its order.
	switch {
	case q.Get("transport") != "websocket":
		// Long-polling is not served: a client must ask for the websocket
		// transport.
		eioError(w, eioErrTransportUnknown, "Transport unknown")
		return
	case q.Get("sid") != "":
		// An upgrade of a polling session, which cannot exist here.
		eioError(w, eioErrSessionUnknown, "Session ID unknown")
		return
	case r.Method != http.MethodGet:
		eioError(w, eioErrBadMethod, "Bad handshake method")
		return
	case !wire.IsUpgrade(r):
		eioError(w, eioErrBadRequest, "Bad request")
		return
	case q.Get("EIO") != "4":
		eioError(w, eioErrUnsupported, "Unsupported protocol version")
		return
	}
	f, err := parseHubFilter(q)
	if err != nil {
		writeCodedError(w, http.StatusBadRequest, hubCodeBadRequest, err.Error())
		return
	}
	h.accept(w, r, &hubClient{sio: true, events: f.events, formats: f.formats})
}

// eioError answers a refused handshake as engine.io does.
func eioError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, nil, http.StatusBadRequest, struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}{code, msg})
}

// sioOpenFrame is the Engine.IO open packet of a new session. No upgrades:
// the session starts on the websocket transport.
func (h *Hub) sioOpenFrame(sid string) []byte {
	b := append([]byte{eioOpen}, `{"sid":"`...)
	b = append(b, sid...)
	b = append(b, `","upgrades":[],"pingInterval":`...)
	b = strconv.AppendInt(b, h.cfg.PingInterval.Milliseconds(), 10)
	b = append(b, `,"pingTimeout":`...)
	b = strconv.AppendInt(b, h.cfg.PingTimeout.Milliseconds(), 10)
	b = append(b, `,"maxPayload":`...)
	b = strconv.AppendInt(b, int64(h.cfg.MaxMessage), 10)
	b = append(b, '}')
	return wire.AppendFrame(nil, ws.OpText, b)
}

// sioHandle acts on one client packet; true means close the connection.
// A malformed or unexpected packet is ignored: a client bug must not cost
// the client its stream.
func (h *Hub) sioHandle(c *hubClient, msg []byte) bool {
	p, err := parseSIOPacket(msg)
	if err != nil {
		h.sioIgnore(c, err.Error(), msg)
		return false
	}
	switch p.EIO {
	case eioClose:
		return true
	case eioPong, eioNoop:
		// The frame itself moved the idle deadline.
	case eioMessage:
		switch p.Type {
		case sioConnect:
			if string(p.Nsp) != "/" {
				reply := append([]byte{eioMessage, '0' + sioConnectError}, p.Nsp...)
				reply = append(reply, `,{"message":"Invalid namespace"}`...)
				c.send(wire.AppendFrame(nil, ws.OpText, reply), false)
				return false
			}
			// Any auth payload is ignored: the token check comes later.
			reply := append([]byte{eioMessage, '0' + sioConnect}, `{"sid":"`...)
			reply = append(append(reply, c.socketID...), `"}`...)
			c.join(true, wire.AppendFrame(nil, ws.OpText, reply))
		case sioDisconnect:
			if string(p.Nsp) == "/" {
				c.join(false, nil) // the connection stays, silent
			}
		default:
			// Events and acks from the client: nothing listens to them.
		}
	default:
		// Open, upgrade, or a ping (a client never pings in Engine.IO 4).
		h.sioIgnore(c, "unexpected Engine.IO packet", msg)
	}
	return false
}

// sioIgnore logs the first ignored packet of a connection; readFailed
// logs how many there were.
func (h *Hub) sioIgnore(c *hubClient, why string, msg []byte) {
	c.malformed++
	if c.malformed == 1 {
		if len(msg) > 64 {
			msg = msg[:64]
		}
		h.log.Debug("traffic: socket.io packet ignored", "remote", c.remote, "why", why, "packet", string(msg))
	}
}
