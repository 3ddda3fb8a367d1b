package probe

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
)

// TestTapSeesEveryPacket taps a probe: the tap gets each packet, bytes
// and times intact, until it is removed.
func TestTapSeesEveryPacket(t *testing.T) {
	var frames []frame
	for i := range 100 {
		frames = append(frames, frame{data: bytes.Repeat([]byte{byte(i)}, 60+i), ts: t0.Add(time.Duration(i) * time.Millisecond)})
	}
	p, err := New(&memInput{frames: frames}, Options{ID: 1})
	if err != nil {
		t.Fatal(err)
	}
	var got []frame
	var second int
	var remove func()
	remove = p.Tap(func(data []byte, ci gopacket.CaptureInfo) {
		got = append(got, frame{append([]byte(nil), data...), ci.Timestamp})
		if ci.CaptureLength != len(data) || ci.Length != len(data) {
			t.Errorf("lengths %d %d for %d bytes", ci.CaptureLength, ci.Length, len(data))
		}
		if len(got) == 50 {
			remove()
		}
	})
	removeSecond := p.Tap(func([]byte, gopacket.CaptureInfo) { second++ })
	if err := p.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	removeSecond()
	removeSecond() // twice is harmless
	if len(got) != 50 || second != 100 {
		t.Fatalf("first tap got %d packets, second %d", len(got), second)
	}
	for i, f := range got {
		if !bytes.Equal(f.data, frames[i].data) || !f.ts.Equal(frames[i].ts) {
			t.Fatalf("packet %d differs", i)
		}
	}
	if p.taps.Load() != nil {
		t.Fatal("taps left after removing both")
	}
}
