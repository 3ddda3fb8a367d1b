package wire

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/gobwas/ws"
)

// ErrFrameTooLarge is returned for a message over the reader's limit.
var ErrFrameTooLarge = errors.New("wire: websocket message too large")

// ErrPeerClosed is returned when the peer sent a close frame.
var ErrPeerClosed = errors.New("wire: websocket closed by peer")

// ErrInvalidUTF8 is a text message that is not UTF-8: RFC 6455 (8.1) has
// the endpoint close the connection with 1007.
var ErrInvalidUTF8 = errors.New("wire: websocket text message is not UTF-8")

// appender lets gobwas/ws write a header straight into a byte slice.
type appender struct{ b []byte }

func (a *appender) Write(p []byte) (int, error) { a.b = append(a.b, p...); return len(p), nil }

// AppendFrame appends a whole unmasked (server to client) frame to dst.
func AppendFrame(dst []byte, op ws.OpCode, payload []byte) []byte {
	a := appender{b: dst}
	_ = ws.WriteHeader(&a, ws.Header{Fin: true, OpCode: op, Length: int64(len(payload))})
	return append(a.b, payload...)
}

// AppendTextFrameHeader appends the header of an unmasked text frame whose
// payload of n bytes the caller appends next.
func AppendTextFrameHeader(dst []byte, n int) []byte {
	a := appender{b: dst}
	_ = ws.WriteHeader(&a, ws.Header{Fin: true, OpCode: ws.OpText, Length: int64(n)})
	return a.b
}

// CloseFrame returns a close frame with a status code and reason.
func CloseFrame(code ws.StatusCode, reason string) []byte {
	return AppendFrame(nil, ws.OpClose, ws.NewCloseFrameBody(code, reason))
}

// IsCloseFrame reports whether frame, as built by AppendFrame, is a close.
func IsCloseFrame(frame []byte) bool {
	return len(frame) > 0 && ws.OpCode(frame[0]&0x0f) == ws.OpClose
}

// A FrameReader reads client messages from a WebSocket connection, with a
// bound on the size of one message (fragments included). Control frames are
// answered through the reply function: pings get pongs and a close gets a
// close before ErrPeerClosed is returned.
type FrameReader struct {
	R     io.Reader
	Limit int
	Reply func(frame []byte)
	// OnFrame, when set, is called after every whole frame, control frames
	// included: a peer that only answers pings is alive, and this is where
	// its idle deadline moves.
	OnFrame func()
	buf     []byte
}

// ReadMessage returns the next text or binary message. The returned slice
// is valid until the next call.
func (fr *FrameReader) ReadMessage() (ws.OpCode, []byte, error) {
	if cap(fr.buf) > 4096 {
		fr.buf = nil // a rare large message must not pin its buffer
	}
	fr.buf = fr.buf[:0]
	var op ws.OpCode
	for {
		h, err := ws.ReadHeader(fr.R)
		if err != nil {
			return 0, nil, fmt.Errorf("read frame header: %w", err)
		}
		if !h.Masked {
			return 0, nil, fmt.Errorf("%w: client frame not masked", ws.ErrProtocolMaskRequired)
		}
		if h.OpCode.IsControl() {
			if h.Length > 125 || !h.Fin {
				return 0, nil, ws.ErrProtocolControlPayloadOverflow
			}
			var small [125]byte
			p := small[:h.Length]
			if _, err := io.ReadFull(fr.R, p); err != nil {
				return 0, nil, fmt.Errorf("read control frame: %w", err)
			}
			ws.Cipher(p, h.Mask, 0)
			fr.frameDone()
			switch h.OpCode {
			case ws.OpPing:
				fr.Reply(AppendFrame(nil, ws.OpPong, p))
			case ws.OpClose:
				fr.Reply(CloseFrame(ws.StatusNormalClosure, ""))
				return 0, nil, ErrPeerClosed
			}
			continue
		}
		switch {
		case h.OpCode == ws.OpContinuation && op == 0:
			return 0, nil, fmt.Errorf("%w: continuation without a first frame", ws.ErrProtocolContinuationUnexpected)
		case h.OpCode != ws.OpContinuation && op != 0:
			return 0, nil, fmt.Errorf("%w: new message inside a fragmented one", ws.ErrProtocolContinuationExpected)
		case h.OpCode != ws.OpContinuation:
			op = h.OpCode
		}
		if h.Length < 0 || int64(len(fr.buf))+h.Length > int64(fr.Limit) {
			return 0, nil, ErrFrameTooLarge
		}
		start := len(fr.buf)
		fr.buf = append(fr.buf, make([]byte, h.Length)...)
		if _, err := io.ReadFull(fr.R, fr.buf[start:]); err != nil {
			return 0, nil, fmt.Errorf("read frame payload: %w", err)
		}
		ws.Cipher(fr.buf[start:], h.Mask, 0)
		fr.frameDone()
		if h.Fin {
			if op == ws.OpText && !utf8.Valid(fr.buf) {
				return 0, nil, ErrInvalidUTF8
			}
			return op, fr.buf, nil
		}
	}
}

func (fr *FrameReader) frameDone() {
	if fr.OnFrame != nil {
		fr.OnFrame()
	}
}

// IsUpgrade reports whether r asks for a WebSocket upgrade. A handler
// checks it before upgrading: gobwas's upgrader answers a plain request on
// the raw connection, which leaves a keep-alive client waiting.
func IsUpgrade(r *http.Request) bool {
	return r.Method == http.MethodGet && headerHas(r.Header, "Connection", "upgrade") &&
		headerHas(r.Header, "Upgrade", "websocket")
}

func headerHas(h http.Header, key, token string) bool {
	for _, v := range h.Values(key) {
		for part := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(part), token) {
				return true
			}
		}
	}
	return false
}
