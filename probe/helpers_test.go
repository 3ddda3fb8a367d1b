package probe

import (
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// t0 is the tests' first packet time, on a 5 s period boundary.
var t0 = time.Unix(1700000000, 0).UTC()

// ep is one end of a conversation.
type ep struct {
	mac  string
	ip   string
	port uint16
}

func mustMAC(s string) net.HardwareAddr {
	m, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

// serialize builds a frame with correct lengths and checksums.
func serialize(tb testing.TB, ls ...gopacket.SerializableLayer) []byte {
	tb.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		tb.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

// ipLayers returns the Ethernet and IP layers from a to b with the next
// protocol proto, and the network layer for checksums.
func ipLayers(a, b ep, proto layers.IPProtocol) (*layers.Ethernet, gopacket.SerializableLayer, gopacket.NetworkLayer) {
	eth := &layers.Ethernet{SrcMAC: mustMAC(a.mac), DstMAC: mustMAC(b.mac)}
	src, dst := net.ParseIP(a.ip), net.ParseIP(b.ip)
	if src.To4() != nil {
		eth.EthernetType = layers.EthernetTypeIPv4
		ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: proto, SrcIP: src.To4(), DstIP: dst.To4(), Flags: layers.IPv4DontFragment}
		return eth, ip, ip
	}
	eth.EthernetType = layers.EthernetTypeIPv6
	ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: proto, SrcIP: src, DstIP: dst}
	return eth, ip, ip
}

func tcpFrame(tb testing.TB, a, b ep, flags uint8, seq, ack uint32, payload []byte) []byte {
	eth, ip, nl := ipLayers(a, b, layers.IPProtocolTCP)
	tcp := &layers.TCP{SrcPort: layers.TCPPort(a.port), DstPort: layers.TCPPort(b.port), Seq: seq, Ack: ack,
		Window: 64240, FIN: flags&tcpFIN != 0, SYN: flags&tcpSYN != 0, RST: flags&tcpRST != 0,
		ACK: flags&tcpACK != 0, PSH: len(payload) > 0}
	tcp.SetNetworkLayerForChecksum(nl)
	return serialize(tb, eth, ip, tcp, gopacket.Payload(payload))
}

func udpFrame(tb testing.TB, a, b ep, payload []byte) []byte {
	eth, ip, nl := ipLayers(a, b, layers.IPProtocolUDP)
	udp := &layers.UDP{SrcPort: layers.UDPPort(a.port), DstPort: layers.UDPPort(b.port)}
	udp.SetNetworkLayerForChecksum(nl)
	return serialize(tb, eth, ip, udp, gopacket.Payload(payload))
}

// tcpConn plays a TCP connection between a client and a server.
type tcpConn struct {
	tb         testing.TB
	c, s       ep
	cseq, sseq uint32
}

func newConn(tb testing.TB, c, s ep) *tcpConn {
	return &tcpConn{tb: tb, c: c, s: s, cseq: 1000, sseq: 5000}
}

func (k *tcpConn) handshake() [][]byte {
	f := [][]byte{
		tcpFrame(k.tb, k.c, k.s, tcpSYN, k.cseq, 0, nil),
		tcpFrame(k.tb, k.s, k.c, tcpSYN|tcpACK, k.sseq, k.cseq+1, nil),
		tcpFrame(k.tb, k.c, k.s, tcpACK, k.cseq+1, k.sseq+1, nil),
	}
	k.cseq++
	k.sseq++
	return f
}

// data sends payload from the client (or the server) with ACK set.
func (k *tcpConn) data(fromClient bool, payload []byte) []byte {
	if fromClient {
		f := tcpFrame(k.tb, k.c, k.s, tcpACK, k.cseq, k.sseq, payload)
		k.cseq += uint32(len(payload))
		return f
	}
	f := tcpFrame(k.tb, k.s, k.c, tcpACK, k.sseq, k.cseq, payload)
	k.sseq += uint32(len(payload))
	return f
}

// ack is a bare ACK.
func (k *tcpConn) ack(fromClient bool) []byte { return k.data(fromClient, nil) }

// close is FIN from the client, FIN/ACK from the server, the last ACK.
func (k *tcpConn) close() [][]byte {
	f := [][]byte{
		tcpFrame(k.tb, k.c, k.s, tcpFIN|tcpACK, k.cseq, k.sseq, nil),
		tcpFrame(k.tb, k.s, k.c, tcpFIN|tcpACK, k.sseq, k.cseq+1, nil),
		tcpFrame(k.tb, k.c, k.s, tcpACK, k.cseq+1, k.sseq+1, nil),
	}
	k.cseq++
	k.sseq++
	return f
}

func httpGet(host string) []byte {
	return []byte("GET /index.html HTTP/1.1\r\nHost: " + host + "\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) Firefox/125.0\r\n" +
		"Referer: http://example.org/start\r\nAccept: */*\r\n\r\n")
}

func httpResponse(ctype string, body int) []byte {
	return append([]byte("HTTP/1.1 200 OK\r\nContent-Type: "+ctype+"\r\nVia: 1.1 varnish\r\nContent-Length: 10\r\n\r\n"),
		bytes.Repeat([]byte{'x'}, body)...)
}

// recordConn records what crypto/tls writes and fails reads.
type recordConn struct {
	net.Conn
	mu  sync.Mutex
	out bytes.Buffer
}

func (c *recordConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.Write(b)
}
func (c *recordConn) Read([]byte) (int, error)         { return 0, io.EOF }
func (c *recordConn) Close() error                     { return nil }
func (c *recordConn) SetDeadline(time.Time) error      { return nil }
func (c *recordConn) SetReadDeadline(time.Time) error  { return nil }
func (c *recordConn) SetWriteDeadline(time.Time) error { return nil }

// clientHello is a real ClientHello from crypto/tls for sni (with Go's
// post-quantum key share it is over 1,200 bytes).
func clientHello(sni string) []byte {
	rc := &recordConn{}
	_ = tls.Client(rc, &tls.Config{ServerName: sni, NextProtos: []string{"h2", "http/1.1"}}).Handshake()
	return rc.out.Bytes()
}

func dnsMsg(tb testing.TB, id uint16, name string, answer net.IP) []byte {
	d := &layers.DNS{ID: id, RD: true, OpCode: layers.DNSOpCodeQuery,
		Questions: []layers.DNSQuestion{{Name: []byte(name), Type: layers.DNSTypeA, Class: layers.DNSClassIN}}}
	if answer != nil {
		d.QR, d.RA = true, true
		d.Answers = []layers.DNSResourceRecord{{Name: []byte(name), Type: layers.DNSTypeA, Class: layers.DNSClassIN, TTL: 300, IP: answer}}
	}
	return serialize(tb, d)
}

func quicInitial() []byte {
	b := []byte{0xc3, 0, 0, 0, 1, 8, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0x44, 0xd0}
	b = append(b, bytes.Repeat([]byte{0x5a}, 1200-len(b))...)
	return b
}

func ntpClient() []byte {
	b := make([]byte, 48)
	b[0] = 0x23 // v4, client
	return b
}

func stunBinding() []byte {
	b := make([]byte, 20)
	binary.BigEndian.PutUint16(b, 1)
	binary.BigEndian.PutUint32(b[4:], 0x2112a442)
	copy(b[8:], "transaction!")
	return b
}

func rtpPacket(seq uint16, ts uint32) []byte {
	b := make([]byte, 12+160)
	b[0], b[1] = 0x80, 0 // v2, PCMU
	binary.BigEndian.PutUint16(b[2:], seq)
	binary.BigEndian.PutUint32(b[4:], ts)
	binary.BigEndian.PutUint32(b[8:], 0xdecafbad)
	return b
}

func nbnsQuery() []byte {
	b := []byte{0x12, 0x34, 0x01, 0x10, 0, 1, 0, 0, 0, 0, 0, 0, 0x20}
	b = append(b, bytes.Repeat([]byte("CA"), 16)...)
	return append(b, 0, 0, 0x20, 0, 1)
}

// frame is a packet and its time.
type frame struct {
	data []byte
	ts   time.Time
}

// memInput replays frames.
type memInput struct {
	frames []frame
	i      int
	lt     layers.LinkType
}

func (m *memInput) ReadPacket() ([]byte, gopacket.CaptureInfo, error) {
	if m.i >= len(m.frames) {
		return nil, gopacket.CaptureInfo{}, io.EOF
	}
	f := m.frames[m.i]
	m.i++
	return f.data, gopacket.CaptureInfo{Timestamp: f.ts, CaptureLength: len(f.data), Length: len(f.data)}, nil
}
func (m *memInput) LinkType() layers.LinkType {
	if m.lt == 0 {
		return layers.LinkTypeEthernet
	}
	return m.lt
}
func (m *memInput) Name() string { return "test0" }
func (m *memInput) Close() error { return nil }

// pcapInput reads a pcap file through pcapgo, as probe/capture does.
type pcapInput struct {
	r    *pcapgo.Reader
	name string
}

func (p *pcapInput) ReadPacket() ([]byte, gopacket.CaptureInfo, error) { return p.r.ReadPacketData() }
func (p *pcapInput) LinkType() layers.LinkType                         { return p.r.LinkType() }
func (p *pcapInput) Name() string                                      { return p.name }
func (p *pcapInput) Close() error                                      { return nil }

// writePcap writes frames as a pcap file.
func writePcap(tb testing.TB, frames []frame) []byte {
	var b bytes.Buffer
	w := pcapgo.NewWriter(&b)
	if err := w.WriteFileHeader(65536, layers.LinkTypeEthernet); err != nil {
		tb.Fatal(err)
	}
	for _, f := range frames {
		if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: f.ts, CaptureLength: len(f.data), Length: len(f.data)}, f.data); err != nil {
			tb.Fatal(err)
		}
	}
	return b.Bytes()
}

func openPcap(tb testing.TB, data []byte, name string) *pcapInput {
	r, err := pcapgo.NewReader(bytes.NewReader(data))
	if err != nil {
		tb.Fatal(err)
	}
	return &pcapInput{r: r, name: name}
}

// memSink keeps copies of every report.
type memSink struct {
	stats []StatRow
	flows []FlowRow
	hosts []HostRow
}

func (m *memSink) Stats(r []StatRow) { m.stats = append(m.stats, r...) }
func (m *memSink) Flows(r []FlowRow) { m.flows = append(m.flows, r...) }
func (m *memSink) Hosts(r []HostRow) { m.hosts = append(m.hosts, r...) }

// stat finds the row of path at time t (ms), or nil.
func (m *memSink) stat(path string, t int64) *StatRow {
	for i := range m.stats {
		if r := &m.stats[i]; r.Path == path && r.Time == t {
			return r
		}
	}
	return nil
}

// runFrames runs frames through a probe and returns its reports.
func runFrames(tb testing.TB, frames []frame, opts Options) (*memSink, Counters) {
	tb.Helper()
	s := &memSink{}
	opts.Sink = s
	p, err := New(&memInput{frames: frames}, opts)
	if err != nil {
		tb.Fatal(err)
	}
	if err := p.Run(tb.Context()); err != nil && !errors.Is(err, io.EOF) {
		tb.Fatal(err)
	}
	return s, p.Counters()
}

// seq gives frames times: each frame dt after the previous one.
type timeline struct {
	t      time.Time
	frames []frame
}

func (tl *timeline) at(d time.Duration, data ...[]byte) {
	tl.t = t0.Add(d)
	for _, b := range data {
		tl.frames = append(tl.frames, frame{b, tl.t})
		tl.t = tl.t.Add(time.Millisecond)
	}
}
