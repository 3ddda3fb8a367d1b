package emulator_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"edgestat/probe"
	"edgestat/probe/emulator"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

var _ probe.Input = (*emulator.Emulator)(nil)

// packet is a copy of one emulated packet.
type packet struct {
	data []byte
	ci   gopacket.CaptureInfo
}

// generate returns n packets of an emulator with opts.
func generate(t testing.TB, opts emulator.Options, n int) []packet {
	t.Helper()
	e := emulator.New(opts)
	defer e.Close()
	out := make([]packet, 0, n)
	for range n {
		data, ci, err := e.ReadPacket()
		if err != nil {
			t.Fatalf("ReadPacket %d: %v", len(out), err)
		}
		out = append(out, packet{bytes.Clone(data), ci})
	}
	return out
}

func TestInputBasics(t *testing.T) {
	e := emulator.New(emulator.Options{})
	defer e.Close()
	if e.LinkType() != layers.LinkTypeEthernet {
		t.Errorf("LinkType = %v", e.LinkType())
	}
	if e.Name() != "emulator" {
		t.Errorf("Name = %q", e.Name())
	}
	if n := emulator.New(emulator.Options{Name: "lab"}).Name(); n != "lab" {
		t.Errorf("Name with Options.Name = %q", n)
	}
	_, ci, err := e.ReadPacket()
	if err != nil || !ci.Timestamp.Equal(emulator.DefaultStart) || ci.CaptureLength != ci.Length {
		t.Errorf("first packet: %+v %v", ci, err)
	}
}

func hashPackets(ps []packet) string {
	h := sha256.New()
	for _, p := range ps {
		fmt.Fprintf(h, "%d %d|", p.ci.Timestamp.UnixNano(), len(p.data))
		h.Write(p.data)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func TestDeterministic(t *testing.T) {
	opts := emulator.Options{Seed: 42, Hosts: 20}
	a := generate(t, opts, 20000)
	b := generate(t, opts, 20000)
	for i := range a {
		if !bytes.Equal(a[i].data, b[i].data) || !a[i].ci.Timestamp.Equal(b[i].ci.Timestamp) {
			t.Fatalf("packet %d differs between two runs with the same options", i)
		}
	}
	opts.Seed = 43
	c := generate(t, opts, 200)
	same := 0
	for i := range c {
		if bytes.Equal(a[i].data, c[i].data) {
			same++
		}
	}
	if same > 0 {
		t.Errorf("%d of 200 packets are equal with seeds 42 and 43", same)
	}
}

// TestDeterministicAcrossProcesses runs this test binary again and compares
// the hash of the packets it makes: nothing may depend on the process
// (map order, addresses, the clock).
func TestDeterministicAcrossProcesses(t *testing.T) {
	if os.Getenv("EMULATOR_HASH_HELPER") == "1" {
		fmt.Printf("hash=%s\n", hashPackets(generate(t, emulator.Options{Seed: 7}, 5000)))
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestDeterministicAcrossProcesses$", "-test.count=1")
	cmd.Env = append(os.Environ(), "EMULATOR_HASH_HELPER=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	want := "hash=" + hashPackets(generate(t, emulator.Options{Seed: 7}, 5000))
	if !strings.Contains(string(out), want) {
		t.Errorf("another process made different packets:\n%s\nwant %s", out, want)
	}
}

func TestTimestamps(t *testing.T) {
	start := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	ps := generate(t, emulator.Options{Rate: 500, Start: start}, 20000)
	if !ps[0].ci.Timestamp.Equal(start) {
		t.Errorf("first timestamp %v, want %v", ps[0].ci.Timestamp, start)
	}
	for i := 1; i < len(ps); i++ {
		if ps[i].ci.Timestamp.Before(ps[i-1].ci.Timestamp) {
			t.Fatalf("timestamp of packet %d goes back", i)
		}
	}
	// 20000 packets at 500 pps: about 40 s (Poisson arrivals)
	span := ps[len(ps)-1].ci.Timestamp.Sub(start).Seconds()
	if span < 38 || span > 42 {
		t.Errorf("20000 packets at 500 pps span %.1f s", span)
	}
}

// TestPacketsDecodeWithValidChecksums decodes every packet with
// gopacket.NewPacket (and again treating TCP streams as datagrams, so that
// TLS records are decoded) and recomputes every checksum by hand, for LANs
// of several sizes.
func TestPacketsDecodeWithValidChecksums(t *testing.T) {
	datagrams := gopacket.DecodeOptions{DecodeStreamsAsDatagrams: true}
	for _, tc := range []struct {
		opts emulator.Options
		n    int
	}{
		{emulator.Options{Seed: 3, Hosts: 30}, 60000},
		{emulator.Options{Seed: 4, Hosts: 1}, 20000},
		{emulator.Options{Seed: 5, Hosts: 250}, 20000},
	} {
		failures := 0
		for i, p := range generate(t, tc.opts, tc.n) {
			for _, opt := range []gopacket.DecodeOptions{gopacket.Default, datagrams} {
				pkt := gopacket.NewPacket(p.data, layers.LinkTypeEthernet, opt)
				if el := pkt.ErrorLayer(); el != nil {
					t.Errorf("%d hosts, packet %d: %v\n%s", tc.opts.Hosts, i, el.Error(), pkt.Dump())
					failures++
				}
			}
			if err := checkFrame(p.data); err != nil {
				t.Errorf("%d hosts, packet %d: %v", tc.opts.Hosts, i, err)
				failures++
			}
			if failures > 10 {
				t.Fatal("too many failures")
			}
		}
	}
}

// TestLAN checks the addresses: hosts and the router in 192.168.1.0/24,
// IPv6 only link-local, unique local and link-scope multicast on the LAN.
func TestLAN(t *testing.T) {
	lan4, lan6, macs := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, p := range generate(t, emulator.Options{Hosts: 5, Seed: 8}, 60000) {
		pkt := gopacket.NewPacket(p.data, layers.LinkTypeEthernet, gopacket.DecodeOptions{Lazy: true, NoCopy: true})
		eth := pkt.LinkLayer().(*layers.Ethernet)
		for _, mac := range []net.HardwareAddr{eth.SrcMAC, eth.DstMAC} {
			if mac[0]&1 == 0 {
				macs[mac.String()] = true
			}
		}
		switch ip := pkt.NetworkLayer().(type) {
		case *layers.IPv4:
			for _, a := range []net.IP{ip.SrcIP, ip.DstIP} {
				if a[0] == 192 && a[1] == 168 {
					if a[2] != 1 || a[3] == 0 || a[3] == 255 {
						t.Fatalf("LAN address %v outside 192.168.1.1-254", a)
					}
					lan4[a.String()] = true
				}
			}
		case *layers.IPv6:
			for _, a := range []net.IP{ip.SrcIP, ip.DstIP} {
				switch {
				case a.IsLinkLocalUnicast(), a[0] == 0xfd, a.IsLinkLocalMulticast():
					lan6[a.String()] = true
				default:
					t.Fatalf("IPv6 address %v is neither link-local, unique local nor link-scope multicast", a)
				}
			}
		}
	}
	t.Logf("%d unicast MACs, %d LAN IPv4 addresses, %d IPv6 addresses", len(macs), len(lan4), len(lan6))
	if len(lan4) != 6 || !lan4["192.168.1.1"] {
		t.Errorf("LAN IPv4 addresses %v, want 5 hosts and the router 192.168.1.1", lan4)
	}
	if len(macs) != 6 {
		t.Errorf("%d unicast MACs, want 6", len(macs))
	}
	if len(lan6) < 6 {
		t.Errorf("IPv6 addresses %v", lan6)
	}
}

type mix struct {
	n        int
	packets  map[string]int
	bytes    map[string]int
	bare     int // TCP segments without payload
	small    int // frames of at most 100 bytes
	large    int // frames of at least 1400 bytes
	sni      map[string]int
	quicSNI  map[string]int
	quicInit int
	quicDCID map[string][]byte // client flow -> first DCID
	httpReq  int
	httpResp int
	banners  int
	ntpModes map[layers.NTPMode]int
	dhcp     map[layers.DHCPMsgType]int
	arp      map[uint16]int
	mdns     int
	dnsAns   int
}

func measure(t *testing.T, ps []packet) mix {
	t.Helper()
	m := mix{n: len(ps), packets: map[string]int{}, bytes: map[string]int{}, sni: map[string]int{},
		quicSNI: map[string]int{}, quicDCID: map[string][]byte{}, ntpModes: map[layers.NTPMode]int{}, dhcp: map[layers.DHCPMsgType]int{}, arp: map[uint16]int{}}
	for i, p := range ps {
		pkt := gopacket.NewPacket(p.data, layers.LinkTypeEthernet, gopacket.DecodeOptions{Lazy: true, NoCopy: true})
		o, err := observe(pkt)
		if err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		m.packets[o.proto]++
		m.bytes[o.proto] += len(p.data)
		if o.bare {
			m.bare++
		}
		if len(p.data) <= 100 {
			m.small++
		}
		if len(p.data) >= 1400 {
			m.large++
		}
		if o.sni != "" {
			m.sni[o.sni]++
		}
		if o.quicInit {
			m.quicInit++
			dcid, ok := m.quicDCID[o.quicFlow]
			if !ok {
				dcid = initialDCID(o.quicPkt)
				m.quicDCID[o.quicFlow] = dcid
			}
			sni, err := decryptInitialSNI(o.quicPkt, dcid)
			if err != nil {
				t.Fatalf("packet %d: %v", i, err)
			}
			if sni != "" {
				m.quicSNI[sni]++
			}
			if !ok && sni == "" {
				t.Fatalf("packet %d: the first Initial of %s has no ClientHello", i, o.quicFlow)
			}
		}
		if o.httpReq {
			m.httpReq++
		}
		if o.httpResp {
			m.httpResp++
		}
		if o.sshBanner {
			m.banners++
		}
		if o.proto == pNTP {
			m.ntpModes[o.ntpMode]++
		}
		if o.proto == pDHCP {
			m.dhcp[o.dhcpMsg]++
		}
		if o.proto == pARP {
			m.arp[o.arpOp]++
		}
		if o.mdns {
			m.mdns++
		}
		if o.dnsAnswer {
			m.dnsAns++
		}
	}
	return m
}

func (m mix) table() string {
	var b strings.Builder
	var names []string
	for k := range m.packets {
		names = append(names, k)
	}
	sort.Slice(names, func(i, j int) bool { return m.packets[names[i]] > m.packets[names[j]] })
	total := 0
	for _, v := range m.bytes {
		total += v
	}
	fmt.Fprintf(&b, "%-8s %8s %7s %7s\n", "protocol", "packets", "pkts %", "bytes %")
	for _, k := range names {
		fmt.Fprintf(&b, "%-8s %8d %6.2f%% %6.2f%%\n", k, m.packets[k],
			100*float64(m.packets[k])/float64(m.n), 100*float64(m.bytes[k])/float64(total))
	}
	fmt.Fprintf(&b, "TCP segments without payload (handshakes, ACKs, FINs), counted above: %.1f%%\n", 100*float64(m.bare)/float64(m.n))
	fmt.Fprintf(&b, "frames <= 100 bytes: %.1f%%, >= 1400 bytes: %.1f%%, between: %.1f%%; mean %d bytes\n",
		100*float64(m.small)/float64(m.n), 100*float64(m.large)/float64(m.n),
		100*float64(m.n-m.small-m.large)/float64(m.n), total/m.n)
	return b.String()
}

// TestProtocolMix checks that a default run holds every protocol the
// emulator promises, recognized independently, and a believable size mix.
func TestProtocolMix(t *testing.T) {
	n := 100000
	if testing.Short() {
		n = 30000
	}
	m := measure(t, generate(t, emulator.Options{}, n))
	t.Logf("protocol mix of %d packets (default options):\n%s", n, m.table())
	for _, p := range []string{pARP, pDNS, pMDNS, pHTTP, pTLS, pQUIC, pNTP, pDHCP, pSSH, pSSDP, pICMP, pICMPv6} {
		if m.packets[p] == 0 {
			t.Errorf("no %s packets", p)
		}
	}
	if m.packets[pUDPOther]+m.packets[pOtherType] > 0 {
		t.Errorf("unrecognized packets: %d UDP, %d other", m.packets[pUDPOther], m.packets[pOtherType])
	}
	for _, name := range []string{"www.google.com", "www.youtube.com", "www.facebook.com", "www.netflix.com", "github.com"} {
		if m.sni[name] == 0 {
			t.Errorf("no TLS ClientHello with SNI %s (saw %v)", name, m.sni)
		}
	}
	if m.quicInit == 0 || len(m.quicSNI) == 0 {
		t.Errorf("QUIC: %d Initial packets, decrypted SNIs %v", m.quicInit, m.quicSNI)
	}
	if m.httpReq == 0 || m.httpResp == 0 {
		t.Errorf("HTTP: %d requests with Host, %d responses with Content-Type", m.httpReq, m.httpResp)
	}
	if m.banners == 0 {
		t.Error("no SSH-2.0-OpenSSH_9.6 banner")
	}
	if m.ntpModes[3] == 0 || m.ntpModes[4] == 0 {
		t.Errorf("NTP modes %v, want client (3) and server (4)", m.ntpModes)
	}
	for _, mt := range []layers.DHCPMsgType{layers.DHCPMsgTypeDiscover, layers.DHCPMsgTypeOffer, layers.DHCPMsgTypeRequest, layers.DHCPMsgTypeAck} {
		if m.dhcp[mt] == 0 {
			t.Errorf("no DHCP %v (saw %v)", mt, m.dhcp)
		}
	}
	if m.arp[layers.ARPRequest] == 0 || m.arp[layers.ARPReply] == 0 {
		t.Errorf("ARP operations %v, want who-has and is-at", m.arp)
	}
	if m.mdns == 0 || m.dnsAns == 0 {
		t.Errorf("%d mDNS packets to the multicast group, %d DNS answers", m.mdns, m.dnsAns)
	}
	small, large := float64(m.small)/float64(n), float64(m.large)/float64(n)
	if small < 0.2 || large < 0.2 || 1-small-large < 0.03 {
		t.Errorf("size mix: %.0f%% small, %.0f%% large frames", 100*small, 100*large)
	}
}

// TestTCPFlows follows every TCP connection: SYN, SYN-ACK, ACK, data both
// ways with each segment starting where the last one of its direction
// ended and acknowledging everything the peer sent, then FIN/ACK, FIN/ACK,
// ACK (or RST).
func TestTCPFlows(t *testing.T) {
	type half struct{ next uint32 }
	type conn struct {
		state    int // 0 SYN seen, 1 SYN-ACK seen, 2 established, 3 one FIN, 4 both FINs, 5 closed
		c, s     half
		client   gopacket.Flow
		finFrom  gopacket.Flow
		data     [2]int
		reset    bool
		segments int
	}
	ps := generate(t, emulator.Options{Seed: 11, Hosts: 16}, 150000)
	conns := map[[2]gopacket.Flow]*conn{}
	completed, resets, withData := 0, 0, 0
	for i, p := range ps {
		pkt := gopacket.NewPacket(p.data, layers.LinkTypeEthernet, gopacket.DecodeOptions{Lazy: true, NoCopy: true})
		tl, ok := pkt.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if !ok {
			continue
		}
		nf, tf := pkt.NetworkLayer().NetworkFlow(), tl.TransportFlow()
		key := [2]gopacket.Flow{nf, tf}
		if nf.Src().LessThan(nf.Dst()) || (nf.Src() == nf.Dst() && tf.Src().LessThan(tf.Dst())) {
			key = [2]gopacket.Flow{nf.Reverse(), tf.Reverse()}
		}
		fail := func(format string, args ...any) {
			t.Fatalf("packet %d (%v %v, flags SYN=%v ACK=%v FIN=%v RST=%v seq=%d ack=%d len=%d): %s",
				i, nf, tf, tl.SYN, tl.ACK, tl.FIN, tl.RST, tl.Seq, tl.Ack, len(tl.Payload), fmt.Sprintf(format, args...))
		}
		c := conns[key]
		if tl.SYN && !tl.ACK {
			if c != nil && c.state != 5 {
				fail("SYN on a connection in state %d", c.state)
			}
			c = &conn{client: nf, c: half{tl.Seq + 1}}
			conns[key] = c
			continue
		}
		if c == nil {
			fail("segment of a connection without SYN")
		}
		fromClient := nf == c.client
		me, peer := &c.s, &c.c
		if fromClient {
			me, peer = &c.c, &c.s
		}
		if tl.SYN {
			if c.state != 0 || fromClient || tl.Ack != c.c.next {
				fail("SYN-ACK in state %d, ack %d want %d", c.state, tl.Ack, c.c.next)
			}
			c.s.next = tl.Seq + 1
			c.state = 1
			continue
		}
		if c.state == 0 {
			fail("segment before the SYN-ACK")
		}
		if c.state == 5 {
			fail("segment after the close")
		}
		if tl.Seq != me.next {
			fail("seq %d, want %d", tl.Seq, me.next)
		}
		if !tl.ACK || tl.Ack != peer.next {
			fail("ack %d, want %d", tl.Ack, peer.next)
		}
		c.segments++
		if c.state == 1 {
			if !fromClient || len(tl.Payload) > 0 {
				fail("the third segment is not the client's ACK")
			}
			c.state = 2
		}
		me.next += uint32(len(tl.Payload))
		if len(tl.Payload) > 0 {
			if fromClient {
				c.data[0]++
			} else {
				c.data[1]++
			}
		}
		switch {
		case tl.RST:
			c.state, c.reset = 5, true
			resets++
		case tl.FIN:
			me.next++
			switch c.state {
			case 2:
				c.state, c.finFrom = 3, nf
			case 3:
				if nf == c.finFrom {
					fail("second FIN from the same side")
				}
				c.state = 4
			default:
				fail("FIN in state %d", c.state)
			}
		case c.state == 4:
			if nf != c.finFrom || len(tl.Payload) > 0 {
				fail("the last ACK is not from the side that closed first")
			}
			c.state = 5
			completed++
			if c.data[0] > 0 && c.data[1] > 0 {
				withData++
			}
		case c.state == 3 && len(tl.Payload) > 0:
			fail("data after a FIN")
		}
	}
	t.Logf("%d TCP connections: %d closed with FIN, %d with RST, %d with data both ways", len(conns), completed, resets, withData)
	if completed < 100 || withData < completed*9/10 || resets == 0 {
		t.Errorf("%d connections closed with FIN (%d with data both ways), %d reset", completed, withData, resets)
	}
}

func TestCountEOF(t *testing.T) {
	e := emulator.New(emulator.Options{Count: 10})
	for i := range 10 {
		if _, _, err := e.ReadPacket(); err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
	}
	for range 2 {
		if _, _, err := e.ReadPacket(); err != io.EOF {
			t.Fatalf("after Count packets: %v, want io.EOF", err)
		}
	}
}

func TestPacedRate(t *testing.T) {
	e := emulator.New(emulator.Options{Rate: 200, Paced: true, Seed: 5})
	defer e.Close()
	start := time.Now()
	n := 0
	var first, last time.Time
	for time.Since(start) < 500*time.Millisecond {
		_, ci, err := e.ReadPacket()
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			first = ci.Timestamp
		}
		last = ci.Timestamp
		n++
	}
	elapsed := time.Since(start)
	t.Logf("%d packets in %v at 200 pps (packet time %v)", n, elapsed, last.Sub(first))
	if n < 60 || n > 140 {
		t.Errorf("%d packets in %v at 200 pps, want about 100", n, elapsed)
	}
	if d := last.Sub(first) - elapsed; d > 100*time.Millisecond || d < -100*time.Millisecond {
		t.Errorf("packet time %v drifts from real time %v", last.Sub(first), elapsed)
	}
}

func TestCloseUnblocksPacedRead(t *testing.T) {
	// 0.01 pps: the second packet is due in about 100 s
	e := emulator.New(emulator.Options{Rate: 0.01, Paced: true, Seed: 1})
	if _, _, err := e.ReadPacket(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, _, err := e.ReadPacket()
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("second packet came at once (%v)", err)
	case <-time.After(50 * time.Millisecond):
	}
	start := time.Now()
	e.Close()
	select {
	case err := <-done:
		if err != io.EOF {
			t.Errorf("blocked ReadPacket after Close: %v, want io.EOF", err)
		}
		if d := time.Since(start); d > 100*time.Millisecond {
			t.Errorf("ReadPacket returned %v after Close", d)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Close did not unblock ReadPacket")
	}
	if _, _, err := e.ReadPacket(); err != io.EOF {
		t.Errorf("ReadPacket after Close: %v", err)
	}
	if err := e.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestNoAllocations counts heap allocations over many packets in steady
// state. Generating a packet allocates nothing; the runtime itself makes a
// handful of allocations in any window (about 6 whatever its length), so
// the bound is one per 20000 packets.
func TestNoAllocations(t *testing.T) {
	e := emulator.New(emulator.Options{Seed: 9})
	defer e.Close()
	for range 20000 {
		if _, _, err := e.ReadPacket(); err != nil {
			t.Fatal(err)
		}
	}
	const n = 400000
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range n {
		if _, _, err := e.ReadPacket(); err != nil {
			t.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	allocs := after.Mallocs - before.Mallocs
	t.Logf("%d allocations (%d bytes) in %d packets", allocs, after.TotalAlloc-before.TotalAlloc, n)
	if allocs > n/20000 {
		t.Errorf("%d allocations (%d bytes) in %d packets", allocs, after.TotalAlloc-before.TotalAlloc, n)
	}
}

func TestWritePcap(t *testing.T) {
	opts := emulator.Options{Count: 3000, Seed: 2}
	var buf bytes.Buffer
	if err := emulator.WritePcap(&buf, opts); err != nil {
		t.Fatal(err)
	}
	r, err := pcapgo.NewReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if r.LinkType() != layers.LinkTypeEthernet || r.Snaplen() != 65535 {
		t.Errorf("link type %v, snaplen %d", r.LinkType(), r.Snaplen())
	}
	want := generate(t, emulator.Options{Seed: 2}, 3000)
	for i := 0; ; i++ {
		data, ci, err := r.ReadPacketData()
		if err == io.EOF {
			if i != 3000 {
				t.Errorf("%d packets in the file, want 3000", i)
			}
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(data, want[i].data) || !ci.Timestamp.Equal(want[i].ci.Timestamp.Truncate(time.Microsecond)) {
			t.Fatalf("packet %d differs from the emulator's", i)
		}
	}
	if err := emulator.WritePcap(io.Discard, emulator.Options{}); err == nil {
		t.Error("WritePcap without Count: no error")
	}
}

// TestTshark checks the emulator's pcap against an independent dissector:
// tshark must read it and see every protocol, decrypt the QUIC Initial
// packets, and find nothing malformed and no TCP anomaly. (Warnings that
// real traffic gives too remain: QUIC Handshake packets cannot be
// decrypted without the session keys, tshark 4.0 does not parse Ed25519
// SSH host signatures, repeated mDNS queries look like retransmissions.)
func TestTshark(t *testing.T) {
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("tshark not installed: CI must install it (apt-get install tshark)")
		}
		t.Skip("tshark not installed: SKIPPING the tshark protocol-hierarchy check of the emulator's pcap " +
			"(apt-get install -y tshark to run it)")
	}
	file := t.TempDir() + "/emulated.pcap"
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := emulator.WritePcap(f, emulator.Options{Count: 10000}); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) string {
		cmd := exec.Command(tshark, append([]string{"-r", file}, args...)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("tshark %v: %v\n%s", args, err, stderr.String())
		}
		return string(out)
	}
	phs := run("-q", "-z", "io,phs")
	t.Logf("tshark -z io,phs:\n%s", phs)
	seen := map[string]bool{}
	for _, line := range strings.Split(phs, "\n") {
		if f := strings.Fields(line); len(f) == 3 && strings.HasPrefix(f[1], "frames:") {
			seen[f[0]] = true
		}
	}
	for _, p := range []string{"eth", "ip", "ipv6", "tcp", "udp", "dns", "http", "tls", "quic", "ntp", "dhcp", "arp", "mdns", "ssh", "ssdp", "icmp", "icmpv6"} {
		if !seen[p] {
			t.Errorf("tshark sees no %s", p)
		}
	}
	if out := run("-Y", "_ws.malformed || _ws.expert.severity == error"); strings.TrimSpace(out) != "" {
		t.Errorf("tshark finds malformed packets:\n%s", out)
	}
	// no retransmission, lost or out-of-order segment, window problem ...
	if out := run("-Y", "tcp.analysis.flags"); strings.TrimSpace(out) != "" {
		t.Errorf("tshark's TCP analysis flags segments:\n%s", out)
	}
	snis := strings.Fields(run("-Y", "quic && tls.handshake.type == 1", "-T", "fields", "-e", "tls.handshake.extensions_server_name"))
	if len(snis) == 0 {
		t.Error("tshark decrypts no QUIC Initial with a ClientHello")
	}
	slices.Sort(snis)
	t.Logf("SNI of the QUIC ClientHellos tshark decrypted: %v", slices.Compact(snis))
}

func TestWritePcapError(t *testing.T) {
	err := emulator.WritePcap(failingWriter{}, emulator.Options{Count: 100})
	if !errors.Is(err, errWrite) {
		t.Errorf("WritePcap to a failing writer: %v", err)
	}
}

var errWrite = errors.New("disk full")

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errWrite }

func BenchmarkGenerate(b *testing.B) {
	e := emulator.New(emulator.Options{Seed: 1})
	defer e.Close()
	for range 10000 {
		e.ReadPacket()
	}
	var bytes int
	var before, after runtime.MemStats
	b.ReportAllocs()
	runtime.ReadMemStats(&before)
	for b.Loop() {
		data, _, err := e.ReadPacket()
		if err != nil {
			b.Fatal(err)
		}
		bytes += len(data)
	}
	runtime.ReadMemStats(&after)
	s := b.Elapsed().Seconds()
	b.ReportMetric(float64(b.N)/s, "pkts/s")
	b.ReportMetric(float64(bytes)/s/1e6, "MB/s")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(b.N), "allocs/pkt")
}

func BenchmarkWritePcap(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if err := emulator.WritePcap(io.Discard, emulator.Options{Count: 10000}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)*10000/b.Elapsed().Seconds(), "pkts/s")
}
