package probe

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
)

func arpFrame(t *testing.T, from ep) []byte { return arpFrameTB(t, from) }

func arpFrameTB(t testing.TB, from ep) []byte {
	a := &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
		Operation: layers.ARPRequest, SourceHwAddress: mustMAC(from.mac), SourceProtAddress: []byte{192, 168, 1, 10},
		DstHwAddress: make([]byte, 6), DstProtAddress: []byte{192, 168, 1, 1}}
	return serialize(t, &layers.Ethernet{SrcMAC: mustMAC(from.mac), DstMAC: mustMAC("ff:ff:ff:ff:ff:ff"), EthernetType: layers.EthernetTypeARP}, a)
}

func sumLen(fs ...[]byte) (n uint64) {
	for _, f := range fs {
		n += uint64(len(f))
	}
	return n
}

// TestFormat99 checks the semantics of format 99 on a hand-built capture:
// cumulative total flows, active flows after close and idle timeouts,
// per-period sums, payload offsets, bare ACKs not counted for HTTP, and
// the application from the HTTP Host and the TLS SNI.
func TestFormat99(t *testing.T) {
	gsrv := remote("142.250.1.1", 80)
	ysrv := remote("142.250.1.2", 443)
	dns := ep{mac: router.mac, ip: "192.168.1.1", port: 53}
	tl := &timeline{}

	// Period 1 [0 s, 5 s): an HTTP flow (closed), a TLS flow, a DNS flow.
	k := newConn(t, lanA, gsrv)
	hs := k.handshake()
	tl.at(0, hs...)
	get, ack1, resp, ack2 := k.data(true, httpGet("www.google.com")), k.ack(false), k.data(false, httpResponse("text/html", 600)), k.ack(true)
	tl.at(time.Second, get, ack1, resp, ack2)
	fin := k.close()
	tl.at(2*time.Second, fin...)
	y := newConn(t, lanB, ysrv)
	yhs := y.handshake()
	tl.at(3*time.Second, yhs...)
	hello, ydata := y.data(true, clientHello("www.youtube.com")), y.data(false, bytes.Repeat([]byte{0x17}, 300))
	tl.at(3*time.Second+100*time.Millisecond, hello, ydata)
	q, r := udpFrame(t, withPort(lanA, 50002), dns, dnsMsg(t, 1, "example.org", nil)), udpFrame(t, dns, withPort(lanA, 50002), dnsMsg(t, 1, "example.org", []byte{93, 184, 216, 34}))
	tl.at(4*time.Second, q, r)
	// Period 2 [5 s, 10 s): one ARP.
	arp := arpFrame(t, lanA)
	tl.at(6*time.Second, arp)
	// Period 3 [10 s, 15 s): a second HTTP flow to Google; the DNS flow
	// times out (10 s).
	k2 := newConn(t, withPort(lanA, 50003), gsrv)
	tl.at(12*time.Second, k2.handshake()...)
	get2, resp2 := k2.data(true, httpGet("www.google.com")), k2.data(false, httpResponse("image/png", 100))
	tl.at(13*time.Second, get2, resp2)
	// Period 4 [15 s, 16 s]: an ARP, then the end of the capture.
	tl.at(16*time.Second, arp)

	s, cn := runFrames(t, tl.frames, Options{ID: 3})
	at := func(d time.Duration) int64 { return ms(t0.Add(d).UnixNano()) }
	type want struct {
		path                   string
		total, active, packets uint64
		bytes, payload         uint64
	}
	httpFrames := append(append(append([][]byte{}, hs...), get, ack1, resp, ack2), fin...)
	tlsFrames := append(append([][]byte{}, yhs...), hello, ydata)
	all := append(append(append([][]byte{}, httpFrames...), tlsFrames...), q, r)
	n := uint64(len(all))
	const ethH, ipH, tcpH, udpH = 14, 20, 20, 8
	check := func(tm int64, ws []want) {
		t.Helper()
		for _, w := range ws {
			got := s.stat(w.path, tm)
			if got == nil {
				t.Errorf("t=%d: no row for %s", tm, w.path)
				continue
			}
			g := want{got.Path, got.TotalFlows, got.ActiveFlows, got.Packets, got.Bytes, got.Payload}
			if g != w {
				t.Errorf("t=%d %s:\n got %+v\nwant %+v", tm, w.path, g, w)
			}
			if want := uint32(0); got.App == want || !strings.HasSuffix(got.Path, "."+itoa(got.App)) && got.Path != itoa(got.App) {
				t.Errorf("app %d does not end path %s", got.App, got.Path)
			}
		}
	}
	allBytes := sumLen(all...)
	tcpBytes := sumLen(httpFrames...) + sumLen(tlsFrames...)
	tcpN := uint64(len(httpFrames) + len(tlsFrames))
	check(at(5*time.Second), []want{
		{"99", 3, 2, n, allBytes, allBytes},
		{"99.178", 3, 2, n, allBytes, allBytes - ethH*n},
		{"99.178.354", 2, 1, tcpN, tcpBytes, tcpBytes - (ethH+ipH)*tcpN},
		// Only the request and the response: handshake, bare ACKs and FINs
		// have no bytes at HTTP's offset (Ethernet padding is not payload).
		{"99.178.354.153", 1, 0, 2, sumLen(get, resp), sumLen(get, resp) - 2*(ethH+ipH+tcpH)},
		{"99.178.354.153.134", 1, 0, 2, sumLen(get, resp), sumLen(get, resp) - 2*(ethH+ipH+tcpH)},
		{"99.178.354.341", 1, 1, 2, sumLen(hello, ydata), sumLen(hello, ydata) - 2*(ethH+ipH+tcpH)},
		{"99.178.354.341.427", 1, 1, 2, sumLen(hello, ydata), sumLen(hello, ydata) - 2*(ethH+ipH+tcpH)},
		{"99.178.376", 1, 1, 2, sumLen(q, r), sumLen(q, r) - 2*(ethH+ipH)},
		{"99.178.376.85", 1, 1, 2, sumLen(q, r), sumLen(q, r) - 2*(ethH+ipH+udpH)},
	})
	if s.stat("99.30", at(5*time.Second)) != nil {
		t.Error("ARP row in a period without ARP")
	}
	check(at(10*time.Second), []want{
		{"99", 3, 2, 1, uint64(len(arp)), uint64(len(arp))},
		{"99.30", 0, 0, 1, uint64(len(arp)), uint64(len(arp) - ethH)},
	})
	if s.stat("99.178.354.153.134", at(10*time.Second)) != nil {
		t.Error("a row for an untouched path")
	}
	p3 := [][]byte{get2, resp2}
	check(at(15*time.Second), []want{
		// The DNS flow timed out at 15 s: active 0, total stays 1.
		{"99.178.376.85", 1, 0, 0, 0, 0},
		{"99.178.354.153.134", 2, 1, 2, sumLen(p3...), sumLen(p3...) - 2*(ethH+ipH+tcpH)},
	})
	// The end of the capture ends every flow.
	check(at(16*time.Second), []want{
		{"99.178.354.153.134", 2, 0, 0, 0, 0},
		{"99.178.354.341.427", 1, 0, 0, 0, 0},
		{"99", 4, 0, 1, uint64(len(arp)), uint64(len(arp))},
	})
	if cn.FlowsTotal != 4 || cn.FlowsActive != 0 || cn.Packets != uint64(len(tl.frames)) {
		t.Errorf("counters %+v", cn)
	}

	// Flow reports: the HTTP flow ended 1 s (the linger) after its close.
	var hf *FlowRow
	for i := range s.flows {
		if s.flows[i].FlowID == 1 {
			hf = &s.flows[i]
		}
	}
	if hf == nil {
		t.Fatal("no HTTP flow report")
	}
	if hf.Time != at(3002*time.Millisecond) || hf.StartTime != at(0) || hf.TCPRTT != 2 || hf.ULPackets != 6 || hf.DLPackets != 4 ||
		hf.ULBytes != sumLen(hs[0], hs[2], get, ack2, fin[0], fin[2]) || hf.ClientAddr.String() != "192.168.1.10" ||
		hf.ServerAddr.String() != "142.250.1.1" || hf.ServerPort != 80 || hf.ClientPort != 50000 || hf.Transport != 6 ||
		hf.Path != "99.178.354.153.134" || hf.ResponseTime != 2 || hf.InteractionTime != 1002 {
		t.Errorf("HTTP flow report %+v", *hf)
	}

	// Host rows of period 1: A sent 7 frames (6 HTTP, 1 DNS query) and
	// received 5; the DNS server (a LAN address) 1 and 1.
	hosts := map[string]HostRow{}
	for _, h := range s.hosts {
		if h.Time == at(5*time.Second) {
			hosts[h.IP.String()] = h
		}
	}
	a := hosts["192.168.1.10"]
	if a.OutPackets != 7 || a.InPackets != 5 || MACString(a.MAC) != lanA.mac ||
		a.OutBytes != sumLen(hs[0], hs[2], get, ack2, fin[0], fin[2], q) {
		t.Errorf("host A %+v", a)
	}
	if d := hosts["192.168.1.1"]; d.OutPackets != 1 || d.InPackets != 1 {
		t.Errorf("host DNS %+v", d)
	}
	if b := hosts["192.168.1.11"]; b.OutPackets != 3 || b.InPackets != 2 {
		t.Errorf("host B %+v", b)
	}
	if _, ok := hosts["142.250.1.1"]; ok {
		t.Error("a remote address is a host")
	}
}

func itoa(v uint32) string { return string(appendUintNoComma(nil, uint64(v))) }

func appendUintNoComma(b []byte, v uint64) []byte {
	b = appendUint(b, v)
	return b[:len(b)-1]
}
