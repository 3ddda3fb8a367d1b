package wire

import (
	"bytes"
	"errors"
	"testing"

	"github.com/gobwas/ws"
)

func clientFrame(t testing.TB, fin bool, op ws.OpCode, payload string) []byte {
	t.Helper()
	var b bytes.Buffer
	f := ws.NewFrame(op, fin, []byte(payload))
	if err := ws.WriteFrame(&b, ws.MaskFrame(f)); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestFrameReader(t *testing.T) {
	var stream []byte
	stream = append(stream, clientFrame(t, true, ws.OpText, "start::")...)
	stream = append(stream, clientFrame(t, false, ws.OpText, "inter")...)
	stream = append(stream, clientFrame(t, true, ws.OpPing, "hi")...) // control frames may interleave
	stream = append(stream, clientFrame(t, true, ws.OpContinuation, "val::1.5")...)
	stream = append(stream, clientFrame(t, true, ws.OpClose, "")...)

	var replies [][]byte
	fr := FrameReader{R: bytes.NewReader(stream), Limit: 64, Reply: func(f []byte) { replies = append(replies, f) }}
	for _, want := range []string{"start::", "interval::1.5"} {
		op, msg, err := fr.ReadMessage()
		if err != nil || op != ws.OpText || string(msg) != want {
			t.Fatalf("got %v %q %v, want text %q", op, msg, err, want)
		}
	}
	if _, _, err := fr.ReadMessage(); !errors.Is(err, ErrPeerClosed) {
		t.Fatalf("err = %v, want ErrPeerClosed", err)
	}
	if len(replies) != 2 || !bytes.Equal(replies[0], AppendFrame(nil, ws.OpPong, []byte("hi"))) {
		t.Fatalf("replies = %q, want a pong then a close", replies)
	}
}

func TestFrameReaderRefuses(t *testing.T) {
	unmasked := AppendFrame(nil, ws.OpText, []byte("x"))
	tooBig := clientFrame(t, true, ws.OpText, string(make([]byte, 65)))
	frags := append(clientFrame(t, false, ws.OpText, string(make([]byte, 40))), clientFrame(t, true, ws.OpContinuation, string(make([]byte, 40)))...)
	orphan := clientFrame(t, true, ws.OpContinuation, "x")
	for name, in := range map[string][]byte{"unmasked": unmasked, "too big": tooBig, "fragments too big": frags, "orphan continuation": orphan, "cut short": tooBig[:10]} {
		fr := FrameReader{R: bytes.NewReader(in), Limit: 64, Reply: func([]byte) {}}
		if _, _, err := fr.ReadMessage(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func FuzzFrameReader(f *testing.F) {
	f.Add(clientFrame(f, true, ws.OpText, "start::"))
	f.Add(append(clientFrame(f, false, ws.OpBinary, "ab"), clientFrame(f, true, ws.OpContinuation, "cd")...))
	f.Add(clientFrame(f, true, ws.OpPing, "p"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fr := FrameReader{R: bytes.NewReader(data), Limit: 1024, Reply: func([]byte) {}}
		for i := 0; i < 100; i++ {
			_, msg, err := fr.ReadMessage()
			if err != nil {
				return
			}
			if len(msg) > 1024 {
				t.Fatalf("message of %d bytes over the limit", len(msg))
			}
		}
	})
}
