package probe

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"edgestat/probe/emulator"
)

// benchMix is a realistic mix of frames, small and large: TCP handshakes,
// HTTP and TLS connections with 1500-byte data and bare ACKs, DNS, QUIC,
// NTP, ARP, closes. Flows repeat every cycle, so the pipeline sees flow
// creation, classification, close and linger in steady state.
func benchMix(tb testing.TB) [][]byte {
	var out [][]byte
	add := func(fs ...[]byte) { out = append(out, fs...) }
	big := bytes.Repeat([]byte{0xab}, 1448)
	for i := range 8 {
		c := ep{mac: "02:00:00:00:00:0a", ip: fmt.Sprintf("192.168.1.%d", 10+i), port: uint16(40000 + i)}
		// HTTP: handshake, request, 6 full-size segments, ACKs, close.
		k := newConn(tb, c, remote("142.250.1.1", 80))
		add(k.handshake()...)
		add(k.data(true, httpGet("www.google.com")), k.ack(false), k.data(false, httpResponse("text/html", 1300)))
		for range 6 {
			add(k.data(false, big))
			add(k.ack(true))
		}
		add(k.close()...)
		// TLS: handshake, ClientHello, data both ways.
		y := newConn(tb, withPort(c, c.port+100), remote("142.250.1.2", 443))
		add(y.handshake()...)
		add(y.data(true, clientHello("www.youtube.com")), y.data(false, big), y.ack(true))
		for range 8 {
			add(y.data(false, append([]byte{0x17, 3, 3, 5, 0xa0}, big[:1443]...)), y.data(false, big))
			add(y.ack(true))
		}
		add(y.data(true, append([]byte{0x17, 3, 3, 0, 40}, make([]byte, 40)...)))
		add(y.close()...)
		// DNS query and answer.
		d := ep{mac: router.mac, ip: "192.168.1.1", port: 53}
		add(udpFrame(tb, withPort(c, c.port+200), d, dnsMsg(tb, uint16(i), "www.google.com", nil)),
			udpFrame(tb, d, withPort(c, c.port+200), dnsMsg(tb, uint16(i), "www.google.com", net.IP{142, 250, 1, 1})))
		// QUIC: an Initial, then short-header packets both ways.
		q := withPort(c, c.port+300)
		g := remote("142.250.1.3", 443)
		add(udpFrame(tb, q, g, quicInitial()))
		for range 6 {
			add(udpFrame(tb, g, q, append([]byte{0x41}, big[:1250]...)), udpFrame(tb, q, g, append([]byte{0x42}, big[:40]...)))
		}
		// NTP and ARP.
		add(udpFrame(tb, withPort(c, 123), remote("162.159.200.1", 123), ntpClient()))
		add(arpFrameTB(tb, c))
	}
	return out
}

// benchSteady is traffic of established flows only: warm sets them up
// (handshakes, HTTP requests, ClientHellos, QUIC Initials), loop is their
// data, large segments and bare ACKs, with no flow starting or ending.
func benchSteady(tb testing.TB) (warm, loop [][]byte) {
	big := bytes.Repeat([]byte{0xab}, 1448)
	for i := range 16 {
		c := ep{mac: "02:00:00:00:00:0a", ip: fmt.Sprintf("192.168.1.%d", 10+i), port: uint16(40000 + i)}
		k := newConn(tb, c, remote("142.250.1.1", 80))
		warm = append(warm, k.handshake()...)
		warm = append(warm, k.data(true, httpGet("www.google.com")), k.data(false, httpResponse("text/html", 1300)))
		y := newConn(tb, withPort(c, c.port+100), remote("142.250.1.2", 443))
		warm = append(warm, y.handshake()...)
		warm = append(warm, y.data(true, clientHello("www.youtube.com")))
		q, g := withPort(c, c.port+300), remote("142.250.1.3", 443)
		warm = append(warm, udpFrame(tb, q, g, quicInitial()))
		for range 4 {
			loop = append(loop, k.data(false, big), k.ack(true), y.data(false, big), y.ack(true),
				udpFrame(tb, g, q, append([]byte{0x41}, big[:1250]...)), udpFrame(tb, q, g, append([]byte{0x42}, big[:40]...)))
		}
	}
	return warm, loop
}

func mixStats(frames [][]byte) (small, large int, bytes int) {
	for _, f := range frames {
		if len(f) <= 128 {
			small++
		} else if len(f) >= 1000 {
			large++
		}
		bytes += len(f)
	}
	return
}

// BenchmarkMix compares, on the same frames: the whole pipeline (decode,
// flow lookup, classification, per-path and per-host accounting, reports);
// gopacket.NewPacket with its layers read; a bare DecodingLayerParser.
// ns/op is per packet.
func BenchmarkMix(b *testing.B) {
	frames := benchMix(b)
	small, large, total := mixStats(frames)
	b.Logf("mix: %d frames, %d <= 128 bytes, %d >= 1000 bytes, mean %d bytes", len(frames), small, large, total/len(frames))
	b.Run("pipeline", func(b *testing.B) {
		opts := Options{}
		opts.defaults(&memInput{})
		pl := newPipeline(layers.LinkTypeEthernet, &opts)
		ts := t0.UnixNano()
		// Warm up: paths, hosts, names.
		for _, f := range frames {
			pl.packet(f, ts, len(f))
			ts += int64(time.Microsecond)
		}
		b.ReportAllocs()
		b.SetBytes(int64(total / len(frames)))
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			f := frames[i%len(frames)]
			pl.packet(f, ts, len(f))
			ts += int64(time.Microsecond)
		}
		b.StopTimer()
		if pl.c.DecodeErrors != [NumDecodeErrors]uint64{} {
			b.Fatalf("decode errors %v", pl.c.DecodeErrors)
		}
	})
	b.Run("pipeline-steady", func(b *testing.B) {
		warm, loop := benchSteady(b)
		opts := Options{}
		opts.defaults(&memInput{})
		pl := newPipeline(layers.LinkTypeEthernet, &opts)
		ts := t0.UnixNano()
		for _, f := range warm {
			pl.packet(f, ts, len(f))
			ts += int64(time.Microsecond)
		}
		_, _, tb := mixStats(loop)
		b.ReportAllocs()
		b.SetBytes(int64(tb / len(loop)))
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			f := loop[i%len(loop)]
			pl.packet(f, ts, len(f))
			ts += int64(time.Microsecond)
		}
	})
	b.Run("newpacket", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(total / len(frames)))
		var n int
		for i := 0; i < b.N; i++ {
			p := gopacket.NewPacket(frames[i%len(frames)], layers.LayerTypeEthernet, gopacket.Default)
			n += len(p.Layers())
			if nl := p.NetworkLayer(); nl != nil {
				n += len(nl.NetworkFlow().Src().Raw())
			}
			if tl := p.TransportLayer(); tl != nil {
				n += len(tl.LayerPayload())
			}
		}
		_ = n
	})
	b.Run("dlp", func(b *testing.B) {
		var (
			eth  layers.Ethernet
			arp  layers.ARP
			ip4  layers.IPv4
			ip6  layers.IPv6
			tcp  layers.TCP
			udp  layers.UDP
			dec  = make([]gopacket.LayerType, 0, 8)
			pars = gopacket.NewDecodingLayerParser(layers.LayerTypeEthernet, &eth, &arp, &ip4, &ip6, &tcp, &udp)
		)
		pars.IgnoreUnsupported = true
		b.ReportAllocs()
		b.SetBytes(int64(total / len(frames)))
		for i := 0; i < b.N; i++ {
			_ = pars.DecodeLayers(frames[i%len(frames)], &dec)
		}
	})
}

// flowHeavy is a flow-heavy capture of the emulator's (--scan: 90 % of the
// packets open a flow) kept in one buffer, made once for the benchmarks.
var flowHeavy struct {
	once sync.Once
	buf  []byte
	off  []int   // frame i is buf[off[i]:off[i+1]]
	ts   []int64 // its time
	span int64   // from the first frame to one past the last
}

const flowHeavyFrames = 1_000_000

// flowHeavySkip is where every run starts in the capture: past the
// emulator's start-up, when all its hosts open their first DNS, TLS and
// QUIC sessions at once, so that every size measures the same traffic.
const flowHeavySkip = 100_000

func loadFlowHeavy(tb testing.TB) {
	flowHeavy.once.Do(func() {
		e := emulator.New(emulator.Options{Seed: 1, Scan: 0.9, Count: flowHeavyFrames})
		defer e.Close()
		buf := make([]byte, 0, 180<<20)
		off := make([]int, 0, flowHeavyFrames+1)
		ts := make([]int64, 0, flowHeavyFrames)
		for {
			data, ci, err := e.ReadPacket()
			if err == io.EOF {
				break
			}
			if err != nil {
				tb.Fatal(err)
			}
			off = append(off, len(buf))
			buf = append(buf, data...)
			ts = append(ts, ci.Timestamp.UnixNano())
		}
		off = append(off, len(buf))
		flowHeavy.buf, flowHeavy.off, flowHeavy.ts = buf, off, ts
		flowHeavy.span = ts[len(ts)-1] - ts[0] + int64(time.Millisecond)
	})
}

// BenchmarkFlowHeavy runs the pipeline, with its reports written as CSV to
// io.Discard, over 100k, 1M and 5M packets of flow-heavy traffic: the
// default flow table (32,768) fills within the first 40,000 packets and
// then every new flow evicts one. Past 1M the capture repeats, later in
// time: its flows were evicted long before, so they are new again. The
// figure is ns per packet; it must not grow with the packet count.
func BenchmarkFlowHeavy(b *testing.B) {
	loadFlowHeavy(b)
	fh := &flowHeavy
	for _, n := range []int{100_000, 1_000_000, 5_000_000} {
		b.Run(fmt.Sprintf("packets=%s", shortCount(n)), func(b *testing.B) {
			b.ReportAllocs()
			var c Counters
			for b.Loop() {
				// The pipeline's construction is not per-packet work: a
				// 100k run would carry it 50 times more than a 5M one.
				b.StopTimer()
				opts := Options{Sink: NewCSVSink(io.Discard)}
				opts.defaults(&memInput{})
				pl := newPipeline(layers.LinkTypeEthernet, &opts)
				touchTables(pl)
				b.StartTimer()
				for i := range n {
					k, cycle := (i+flowHeavySkip)%flowHeavyFrames, int64((i+flowHeavySkip)/flowHeavyFrames)
					f := fh.buf[fh.off[k]:fh.off[k+1]]
					pl.packet(f, fh.ts[k]+cycle*fh.span, len(f))
				}
				pl.finish()
				c = pl.counters()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/packet")
			b.ReportMetric(float64(c.FlowsEvicted)/float64(n), "evicted/packet")
		})
	}
}

// touchTables writes a byte in every page of the flow table's pool and
// slots. The first write to a page of a fresh mapping costs about 10 µs in
// this VM: 7.5 MB at the default bound, about 15 ms once in a probe's life,
// which would weigh 150 ns a packet on a 100k run and 3 on a 5M one.
// BENCH.md gives that cost apart.
func touchTables(pl *pipeline) {
	t := pl.flows
	for i := 0; i < len(t.pool); i += 4096 / int(unsafe.Sizeof(flow{})) {
		t.pool[i].hash = 0
	}
	for i := 0; i < len(t.slots); i += 4096 / int(unsafe.Sizeof(flowSlot{})) {
		t.slots[i].hash = 0
	}
}

func shortCount(n int) string {
	if n >= 1_000_000 {
		return fmt.Sprintf("%dM", n/1_000_000)
	}
	return fmt.Sprintf("%dk", n/1000)
}
