package probe

import (
	"encoding/binary"
	"io"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/gopacket/gopacket/layers"

	"edgestat/probe/emulator"
)

// decodeBoth decodes frame with the fast path allowed and with gopacket
// alone; fast reports whether the fast path took it.
func decodeBoth(frame []byte) (withFast, slow packet, fast bool) {
	d := newDecoder(layers.LinkTypeEthernet)
	d.decode(frame, &withFast)
	d.fast = false
	d.decode(frame, &slow)
	var probe packet
	fast = decodeFast(frame, &probe)
	return withFast, slow, fast
}

// checkSame fails when the fast path's packet differs from gopacket's.
func checkSame(t *testing.T, frame []byte) bool {
	t.Helper()
	got, want, fast := decodeBoth(frame)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("fast path differs on % x\nfast %+v\nslow %+v", frame, got, want)
	}
	return fast
}

func emulated(tb testing.TB, opts emulator.Options, n int) [][]byte {
	e := emulator.New(opts)
	defer e.Close()
	var out [][]byte
	for range n {
		data, _, err := e.ReadPacket()
		if err == io.EOF {
			break
		}
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, append([]byte(nil), data...))
	}
	return out
}

// TestDecodeFastMatchesGopacket decodes the emulator's realistic and
// flow-heavy traffic, the seed frames and damaged copies of all of them
// both ways: the fast path must give the same packet whenever it decodes.
func TestDecodeFastMatchesGopacket(t *testing.T) {
	frames := seedFrames(t)
	frames = append(frames, emulated(t, emulator.Options{Seed: 3, Hosts: 20}, 20000)...)
	frames = append(frames, emulated(t, emulator.Options{Seed: 4, Scan: 0.9}, 20000)...)
	fast := 0
	for _, f := range frames {
		if checkSame(t, f) {
			fast++
		}
	}
	// Nearly all of a LAN's frames take the fast path (ARP, ICMP, IPv6
	// neighbour discovery and the like do not).
	if share := float64(fast) / float64(len(frames)); share < 0.85 {
		t.Errorf("the fast path took %.1f %% of %d frames", 100*share, len(frames))
	}
	r := rand.New(rand.NewPCG(5, 6))
	for _, f := range frames[:5000] {
		g := append([]byte(nil), f...)
		switch r.IntN(4) {
		case 0:
			g = g[:r.IntN(len(g)+1)] // cut anywhere
		case 1:
			g[r.IntN(min(len(g), 60))] = byte(r.Uint32()) // a header byte
		case 2:
			if len(g) > 20 { // an IP length
				binary.BigEndian.PutUint16(g[16:], uint16(r.Uint32()))
			}
		case 3:
			g = append(g, make([]byte, r.IntN(40))...) // a trailer
		}
		checkSame(t, g)
	}
}

// FuzzDecodeFast holds the fast path to the gopacket path on any bytes.
func FuzzDecodeFast(f *testing.F) {
	for _, fr := range seedFrames(f) {
		f.Add(fr)
	}
	for _, fr := range emulated(f, emulator.Options{Seed: 7, Scan: 0.5}, 64) {
		f.Add(fr)
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		checkSame(t, frame)
	})
}
