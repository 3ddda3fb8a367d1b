package probe

import (
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

func TestDecodeErrors(t *testing.T) {
	good := tcpFrame(t, lanA, remote("203.0.113.1", 80), tcpACK, 1, 1, httpGet("example.org"))
	mod := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	for _, c := range []struct {
		name  string
		frame []byte
		want  DecodeError
		path  string // deepest path counted
	}{
		{"short ethernet", good[:10], ErrTruncated, "99"}, // a runt is a frame, as tshark counts it
		{"empty frame", good[:0], ErrTruncated, "99"},
		{"cut in ip header", good[:24], ErrTruncated, "99"},
		{"cut in tcp header", good[:40], ErrTruncated, "99.178"},
		{"ihl 3", mod(func(b []byte) []byte { b[14] = 0x43; return b }), ErrBadHeaderLength, "99"},
		{"ip version 6 in an ipv4 frame", mod(func(b []byte) []byte { b[14] = 0x65; return b }), ErrMalformedIP, "99"},
		{"ip total length 10", mod(func(b []byte) []byte { b[16], b[17] = 0, 10; return b }), ErrMalformedIP, "99"},
		{"tcp data offset 2", mod(func(b []byte) []byte { b[46] = 0x20; return b }), ErrBadHeaderLength, "99.178"},
		{"udp length 3", udpLen3(t), ErrMalformedL4, "99.178"},
		{"vlan cut", append(append([]byte(nil), good[:12]...), 0x81, 0, 0), ErrTruncated, "99"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, cn := runFrames(t, []frame{{c.frame, t0}}, Options{})
			for i, n := range cn.DecodeErrors {
				want := uint64(0)
				if DecodeError(i) == c.want {
					want = 1
				}
				if n != want {
					t.Errorf("%v errors: %d, want %d", DecodeError(i), n, want)
				}
			}
			deepest := ""
			for _, r := range s.stats {
				if r.Packets > 0 && len(r.Path) > len(deepest) {
					deepest = r.Path
				}
			}
			if deepest != c.path {
				t.Errorf("deepest path %q, want %q", deepest, c.path)
			}
		})
	}
}

func udpLen3(t *testing.T) []byte {
	b := udpFrame(t, lanA, remote("203.0.113.1", 53), []byte("xxxxxxxxxx"))
	b[38], b[39] = 0, 3
	return b
}

type linkInput struct {
	memInput
	lt layers.LinkType
}

func (l *linkInput) LinkType() layers.LinkType { return l.lt }

func TestLinkTypes(t *testing.T) {
	if _, err := New(&linkInput{lt: layers.LinkTypeIEEE802_11}, Options{}); !errors.Is(err, ErrLinkType) {
		t.Errorf("802.11: %v, want ErrLinkType", err)
	}
	eth := tcpFrame(t, lanA, remote("142.250.1.1", 80), tcpACK, 1, 1, httpGet("www.google.com"))
	sll := append([]byte{0, 4, 0, 1, 0, 6, 2, 0, 0, 0, 0, 0xa, 0, 0, 8, 0}, eth[14:]...)
	loop := append([]byte{2, 0, 0, 0}, eth[14:]...)
	for _, c := range []struct {
		lt    layers.LinkType
		frame []byte
		want  string
	}{
		{layers.LinkTypeLinuxSLL, sll, "99.178.354.153.134"},
		{layers.LinkTypeRaw, eth[14:], "178.354.153.134"},
		{layers.LinkTypeIPv4, eth[14:], "178.354.153.134"},
		{layers.LinkTypeNull, loop, "636.178.354.153.134"},
	} {
		s := &memSink{}
		in := &linkInput{memInput: memInput{frames: []frame{{c.frame, t0}}}, lt: c.lt}
		p, err := New(in, Options{Sink: s})
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Run(t.Context()); err != nil {
			t.Fatal(err)
		}
		if flowWith(s, c.want) == nil {
			t.Errorf("link %v: no flow on %s: %+v", c.lt, c.want, s.stats)
		}
	}
	// Raw IPv6.
	f6 := udpFrame(t, ep{mac: lanA.mac, ip: "fd00::10", port: 5000}, ep{mac: router.mac, ip: "fd00::1", port: 53}, dnsMsg(t, 1, "example.org", nil))
	s := &memSink{}
	p, _ := New(&linkInput{memInput: memInput{frames: []frame{{f6[14:], t0}}}, lt: layers.LinkTypeRaw}, Options{Sink: s})
	if err := p.Run(t.Context()); err != nil || flowWith(s, "182.376.85") == nil {
		t.Errorf("raw IPv6: %v %+v", err, s.flows)
	}
}

// seedFrames are real-looking frames of every kind the pipeline knows.
func seedFrames(tb testing.TB) [][]byte {
	out := benchMix(tb)
	eth, ip, _ := ipLayers(lanA, remote("203.0.113.60", 0), layers.IPProtocolGRE)
	inner := tcpFrame(tb, ep{mac: lanA.mac, ip: "10.9.0.1", port: 40000}, ep{mac: router.mac, ip: "10.9.0.2", port: 80}, tcpACK, 1, 1, httpGet("example.org"))
	out = append(out, serialize(tb, eth, ip, &layers.GRE{Protocol: layers.EthernetTypeIPv4}, gopacket.Payload(inner[14:])))
	f := tcpFrame(tb, lanA, remote("203.0.113.70", 80), tcpACK, 1, 1, httpGet("example.org"))
	out = append(out, append(append(append([]byte{}, f[:12]...), 0x81, 0, 0, 10), f[12:]...))
	out = append(out, udpFrame(tb, ep{mac: lanA.mac, ip: "fd00::10", port: 40000}, ep{mac: router.mac, ip: "fd00::1", port: 53}, dnsMsg(tb, 3, "example.org", nil)))
	out = append(out, udpFrame(tb, lanA, remote("74.125.250.129", 19302), stunBinding()))
	out = append(out, udpFrame(tb, withPort(lanA, 40000), remote("203.0.113.40", 40002), rtpPacket(1, 160)))
	out = append(out, udpFrame(tb, withPort(lanA, 137), ep{mac: "ff:ff:ff:ff:ff:ff", ip: "192.168.1.255", port: 137}, nbnsQuery()))
	k := newConn(tb, lanA, remote("203.0.113.20", 22))
	out = append(out, k.data(false, []byte("SSH-2.0-OpenSSH_9.6\r\n")))
	return out
}

// FuzzPipeline feeds frames to decode and classify on every link type:
// nothing may panic, and the reports stay consistent.
func FuzzPipeline(f *testing.F) {
	for i, fr := range seedFrames(f) {
		f.Add(fr, uint8(i%2), fr)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 16 {
		b := make([]byte, r.IntN(200))
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		f.Add(b, uint8(r.IntN(4)), b)
	}
	lts := []layers.LinkType{layers.LinkTypeEthernet, layers.LinkTypeEthernet, layers.LinkTypeLinuxSLL, layers.LinkTypeRaw, layers.LinkTypeNull}
	f.Fuzz(func(t *testing.T, a []byte, lt uint8, b []byte) {
		s := &memSink{}
		in := &linkInput{lt: lts[int(lt)%len(lts)], memInput: memInput{frames: []frame{
			{a, t0}, {b, t0.Add(time.Millisecond)}, {a, t0.Add(2 * time.Second)}, {b, t0.Add(20 * time.Second)},
		}}}
		p, err := New(in, Options{Sink: s, MaxFlows: 2, MaxPaths: 32, MaxHosts: 2})
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Run(t.Context()); err != nil {
			t.Fatal(err)
		}
		c := p.Counters()
		if c.Packets != 4 || c.FlowsActive != 0 {
			t.Fatalf("counters %+v", c)
		}
		for i := range s.stats {
			if _, err := ParseRow(s.stats[i].AppendCSV(nil)); err != nil {
				t.Fatal(err)
			}
		}
		for i := range s.flows {
			if _, err := ParseRow(s.flows[i].AppendJSON(nil)); err != nil {
				t.Fatal(err)
			}
		}
	})
}

func TestNoAllocsPerPacket(t *testing.T) {
	frames := benchMix(t)
	opts := Options{}
	opts.defaults(&memInput{})
	pl := newPipeline(layers.LinkTypeEthernet, &opts)
	ts := t0.UnixNano()
	run := func() {
		for _, f := range frames {
			pl.packet(f, ts, len(f))
			ts += int64(10 * time.Millisecond) // periods and expiry run too
		}
	}
	run()
	if n := testing.AllocsPerRun(20, run); n != 0 {
		t.Errorf("%v allocations per run of %d packets", n, len(frames))
	}
}
