package probe

import (
	"net/netip"
	"slices"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// maxInspect is how many payload packets of a flow the classifier looks
// at before the flow keeps what it has.
const maxInspect = 8

// Capacities of the reused report slices.
const (
	maxFlowRows = 1024
)

// pipeline is the single-threaded per-packet machine: decode, flow lookup,
// classification, per-path and per-host accounting, and the reports. It
// allocates nothing per packet once its tables have warmed up (new paths,
// new hosts and new distinct names allocate once each).
type pipeline struct {
	probe    uint32
	source   string
	period   int64 // ns
	timeouts [numClasses]int64
	local    []localNet

	dec   *decoder
	pkt   packet
	flows *flowTable
	paths *pathTable
	hosts *hostTable
	names *interner
	dns   *dnsCache
	hdrs  [256]struct {
		sig  uint64
		node int32
	}

	sink     Sink
	statRows []StatRow
	flowRows []FlowRow
	hostRows []HostRow

	started   bool
	now       int64 // ns, the latest packet time
	periodEnd int64
	nextCheck int64
	nextID    uint64

	c Counters

	http    httpFields
	nameBuf [maxHostLen + 2]byte
	addrBuf [32]dnsAddr
}

// localNet is a LAN prefix in flowKey's word layout.
type localNet struct {
	ver  uint8
	val  [2]uint64
	mask [2]uint64
}

// defaultLocal are the prefixes taken as LAN: RFC 1918, IPv4 link-local,
// IPv6 unique local and link-local.
var defaultLocal = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("fc00::/7"),
	netip.MustParsePrefix("fe80::/10"),
}

func toLocalNet(p netip.Prefix) localNet {
	p = p.Masked()
	a := p.Addr()
	bits := p.Bits()
	if a.Is4() || a.Is4In6() {
		b := a.Unmap().As4()
		v := uint64(b[0])<<24 | uint64(b[1])<<16 | uint64(b[2])<<8 | uint64(b[3])
		if a.Is4In6() {
			bits -= 96
		}
		m := uint64(0xffffffff) &^ (uint64(1)<<(32-max(bits, 0)) - 1)
		return localNet{ver: 4, val: [2]uint64{v & m, 0}, mask: [2]uint64{m, 0}}
	}
	b := a.As16()
	var w, m [2]uint64
	for i := range 16 {
		w[i/8] = w[i/8]<<8 | uint64(b[i])
	}
	for i := range 2 {
		n := min(max(bits-64*i, 0), 64)
		if n > 0 {
			m[i] = ^uint64(0) << (64 - n)
		}
	}
	return localNet{ver: 6, val: [2]uint64{w[0] & m[0], w[1] & m[1]}, mask: m}
}

func (pl *pipeline) isLocal(ver uint8, a [2]uint64) bool {
	for i := range pl.local {
		n := &pl.local[i]
		if n.ver == ver && a[0]&n.mask[0] == n.val[0] && a[1]&n.mask[1] == n.val[1] {
			return true
		}
	}
	return false
}

func newPipeline(lt layers.LinkType, o *Options) *pipeline {
	pl := &pipeline{
		probe:    o.ID,
		source:   o.Source,
		period:   int64(o.Period),
		dec:      newDecoder(lt),
		paths:    newPathTable(o.MaxPaths),
		hosts:    newHostTable(o.MaxHosts),
		names:    newInterner(8192),
		dns:      &dnsCache{},
		sink:     o.Sink,
		statRows: make([]StatRow, 0, o.MaxPaths),
		flowRows: make([]FlowRow, 0, min(maxFlowRows, o.MaxFlows+1)),
		hostRows: make([]HostRow, 0, o.MaxHosts),
	}
	t := o.Timeouts
	pl.timeouts = [numClasses]int64{int64(t.TCP), int64(t.UDP), int64(t.ICMP), int64(t.DNS), int64(t.Other), int64(t.Closed)}
	pl.flows = newFlowTable(o.MaxFlows, pl.timeouts)
	for _, p := range defaultLocal {
		pl.local = append(pl.local, toLocalNet(p))
	}
	for _, p := range o.LocalNets {
		pl.local = append(pl.local, toLocalNet(p))
	}
	for i := range pl.hdrs {
		pl.hdrs[i].node = -1
	}
	return pl
}

// packet runs one frame through the pipeline. ts is its time in ns since
// the epoch, wire its length on the wire.
func (pl *pipeline) packet(data []byte, ts int64, wire int) {
	if !pl.started {
		pl.start(ts)
	}
	if ts < pl.now {
		ts = pl.now // captures may step back a little; time only moves on
	}
	pl.now = ts
	if ts >= pl.nextCheck {
		pl.tick(ts)
	}
	if wire < len(data) {
		wire = len(data)
	}
	w := uint64(wire)
	pl.c.Packets++
	pl.c.Bytes += w
	p := &pl.pkt
	pl.dec.decode(data, p)
	if p.failed {
		pl.c.DecodeErrors[p.err]++
	}
	if p.n == 0 {
		return
	}
	hdr := pl.headerNode(p)
	if p.l4 && p.ipVer != 0 {
		pl.flowPacket(p, hdr, ts, w)
		return
	}
	pl.account(hdr, p, w, p.n)
	switch {
	case p.ipVer != 0:
		if pl.isLocal(p.ipVer, p.src) {
			if i := pl.hosts.get(hostKey{p.src, p.ipVer}, true, ts); i >= 0 {
				pl.hostOut(i, p, w, ts)
			}
		}
		if pl.isLocal(p.ipVer, p.dst) {
			if i := pl.hosts.get(hostKey{p.dst, p.ipVer}, !p.dstGroup, ts); i >= 0 {
				pl.hostIn(i, p, w)
			}
		}
	case p.isARP:
		a := p.arpSender
		k := hostKey{[2]uint64{uint64(a[0])<<24 | uint64(a[1])<<16 | uint64(a[2])<<8 | uint64(a[3]), 0}, 4}
		if pl.isLocal(4, k.a) {
			if i := pl.hosts.get(k, true, ts); i >= 0 {
				pl.hostOut(i, p, w, ts)
			}
		}
	}
}

func (pl *pipeline) start(ts int64) {
	pl.started = true
	pl.now = ts
	pl.periodEnd = (ts/pl.period + 1) * pl.period
	pl.nextCheck = min(ts+int64(time.Second), pl.periodEnd)
}

// tick closes the periods that ended by ts and expires idle flows; it runs
// at most once per second of packet time.
func (pl *pipeline) tick(ts int64) {
	if ts >= pl.periodEnd {
		pl.expire(pl.periodEnd)
		pl.flush(pl.periodEnd)
		pl.periodEnd = (ts/pl.period + 1) * pl.period
	}
	pl.expire(ts)
	pl.nextCheck = min(ts+int64(time.Second), pl.periodEnd)
}

// idle moves packet time on without a packet (a quiet live capture).
func (pl *pipeline) idle(ts int64) {
	if !pl.started || ts <= pl.now {
		return
	}
	pl.now = ts
	if ts >= pl.nextCheck {
		pl.tick(ts)
	}
}

// finish ends every flow and reports the last, partial period.
func (pl *pipeline) finish() {
	if !pl.started {
		return
	}
	t := pl.flows
	for i := int32(0); i < t.used; i++ {
		if t.pool[i].inUse {
			pl.endFlow(i, pl.now)
		}
	}
	pl.flush(pl.now)
}

func (pl *pipeline) expire(now int64) {
	// A flow ends when it timed out, though packet time may have jumped
	// well past that (a gap in a capture).
	pl.flows.expired(now, pl.endFlow)
}

// headerNode is the path node of the packet's header ids.
func (pl *pipeline) headerNode(p *packet) int32 {
	e := &pl.hdrs[p.sig&uint64(len(pl.hdrs)-1)]
	if e.sig == p.sig && e.node >= 0 {
		return e.node
	}
	node := int32(-1)
	for _, id := range p.ids[:p.n] {
		node = pl.paths.child(node, id)
	}
	e.sig, e.node = p.sig, node
	return node
}

// account adds a packet to node and its ancestors whose depth is below
// limit; payload runs from each node's header offset to the frame end.
func (pl *pipeline) account(node int32, p *packet, wire uint64, limit int) {
	nodes := pl.paths.nodes
	for node >= 0 {
		n := &nodes[node]
		if d := int(n.depth); d < limit {
			off := uint64(p.payloadOff)
			if d < p.n {
				off = uint64(p.offs[d])
			}
			n.bytes += wire
			n.packets++
			if wire > off {
				n.payload += wire - off
			}
			if !n.touched {
				pl.paths.touch(n, node)
			}
		}
		node = n.parent
	}
}

func (pl *pipeline) flowPacket(p *packet, hdr int32, ts int64, wire uint64) {
	key, lo := makeKey(p)
	h := key.hash()
	t := pl.flows
	idx := t.lookup(&key, h)
	if idx >= 0 && t.pool[idx].class == classClosing && p.tcpFlags&(tcpSYN|tcpACK) == tcpSYN {
		pl.endFlow(idx, ts) // a new connection on the same ports
		idx = -1
	}
	if idx < 0 {
		idx = pl.newFlow(&key, h, p, lo, ts, hdr)
	}
	t.seen(idx, ts)
	f := &t.pool[idx]
	fromClient := lo == f.clientLo
	if fromClient == f.ulClient {
		f.ulPackets++
		f.ulBytes += wire
	} else {
		f.dlPackets++
		f.dlBytes += wire
	}
	retrans := false
	if p.proto == 6 {
		retrans = pl.tcpPacket(idx, f, p, fromClient, ts)
	}
	if hdr != f.hdr {
		f.hdr = hdr
		pl.updatePath(f)
	}
	limit := p.n
	if len(p.payload) > 0 {
		limit = maxDepth
	}
	if len(p.payload) > 0 && !retrans { // a retransmission was seen already
		if !f.final {
			pl.classify(f, p, fromClient, ts)
		}
		switch f.appProto {
		case idHTTP:
			pl.httpPacket(f, p, fromClient, ts)
		case idDNS:
			if !fromClient && p.proto == 17 {
				pl.learnDNS(p.payload)
			}
		case idRTP:
			pl.rtpPacket(f, p, fromClient, ts)
		}
	}
	pl.account(f.leaf, p, wire, limit)
	if f.local != 0 {
		pl.flowHosts(f, p, lo, wire, ts)
	}
}

func (pl *pipeline) newFlow(key *flowKey, h uint64, p *packet, lo bool, ts int64, hdr int32) int32 {
	t := pl.flows
	if t.full() {
		pl.c.FlowsEvicted++
		pl.endFlow(t.oldest(), ts)
	}
	class := uint8(classOther)
	switch p.proto {
	case 6:
		class = classTCP
	case 17:
		class = classUDP
		if isPort(p.sport, p.dport, 53, 53) || isPort(p.sport, p.dport, 5353, 5353) || isPort(p.sport, p.dport, 5355, 5355) {
			class = classDNS
		}
	case 1, 58:
		class = classICMP
	}
	idx := t.insert(key, h, class, ts)
	f := &t.pool[idx]
	pl.nextID++
	f.id = pl.nextID
	f.clientLo, f.proto, f.ipVer = lo, p.proto, p.ipVer
	srcLocal, dstLocal := pl.isLocal(p.ipVer, p.src), pl.isLocal(p.ipVer, p.dst)
	f.ulClient = srcLocal || !dstLocal
	src, dst := uint8(0), uint8(1)
	if !lo {
		src, dst = 1, 0
	}
	if srcLocal {
		f.local |= 1 << src
	}
	if dstLocal {
		f.local |= 1 << dst
	}
	f.hostIdx = [2]int32{-1, -1}
	f.hdr, f.leaf = hdr, -1
	pl.c.FlowsTotal++
	pl.setLeaf(f, hdr)
	return idx
}

// endFlow reports flow idx and removes it.
func (pl *pipeline) endFlow(idx int32, now int64) {
	f := &pl.flows.pool[idx]
	nodes := pl.paths.nodes
	for n := f.leaf; n >= 0; n = nodes[n].parent {
		nodes[n].active--
		pl.paths.touch(&nodes[n], n)
	}
	pl.flowRow(f, now)
	pl.flows.remove(idx)
}

// updatePath sets the flow's leaf from its header node and classification.
func (pl *pipeline) updatePath(f *flow) {
	leaf := f.hdr
	if f.appProto != 0 && leaf >= 0 {
		leaf = pl.paths.child(leaf, f.appProto)
		if f.app != 0 && f.app != f.appProto {
			leaf = pl.paths.child(leaf, f.app)
		}
	}
	pl.setLeaf(f, leaf)
}

// setLeaf moves a flow to another path: it leaves the active count of its
// old nodes, joins the new ones, and counts in total_flows of the nodes it
// had not been on.
func (pl *pipeline) setLeaf(f *flow, leaf int32) {
	old := f.leaf
	if old == leaf {
		return
	}
	t := pl.paths
	nodes := t.nodes
	for n := old; n >= 0; n = nodes[n].parent {
		nodes[n].active--
		t.touch(&nodes[n], n)
	}
	for n := leaf; n >= 0; n = nodes[n].parent {
		nodes[n].active++
		if old < 0 || !t.onChain(old, n) {
			nodes[n].total++
		}
		t.touch(&nodes[n], n)
	}
	f.leaf = leaf
}

// tcpPacket follows the TCP state; it reports whether the segment's data
// is a retransmission.
func (pl *pipeline) tcpPacket(idx int32, f *flow, p *packet, fromClient bool, ts int64) (retrans bool) {
	fl := p.tcpFlags
	dir := 0
	if !fromClient {
		dir = 1
	}
	switch {
	case fl&(tcpSYN|tcpACK) == tcpSYN:
		if f.synTime == 0 {
			f.synTime = ts
		}
	case fl&(tcpSYN|tcpACK) == tcpSYN|tcpACK:
		f.synAck = true
	case fl&tcpACK != 0 && f.rtt == 0 && f.synAck && f.synTime != 0 && fromClient:
		f.rtt = ts - f.synTime
	}
	if n := len(p.payload); n > 0 {
		end := p.seq + uint32(n)
		if f.seqValid[dir] && int32(end-f.nextSeq[dir]) <= 0 {
			f.retrans++
			retrans = true
		} else {
			f.nextSeq[dir], f.seqValid[dir] = end, true
		}
	}
	if fl&tcpFIN != 0 {
		f.fin |= 1 << dir
	}
	if (fl&tcpRST != 0 || f.fin == 3) && f.class != classClosing {
		pl.flows.setClass(idx, classClosing, ts)
	}
	return retrans
}

// classify looks at one payload packet of a flow not yet classified.
func (pl *pipeline) classify(f *flow, p *packet, fromClient bool, ts int64) {
	b := p.payload
	f.inspected++
	if f.inspected >= maxInspect {
		f.final = true
	}
	if d := pl.flows.detailOf(f); d != nil && d.tls.pending {
		if fromClient && p.proto == 6 {
			if sni := tlsContinue(b, &d.tls); sni != nil {
				pl.setTLSName(f, sni)
				pl.updatePath(f)
			}
			f.final = !d.tls.pending
		}
		return
	}
	var proto uint16
	switch p.proto {
	case 6:
		proto = detectTCP(b, p.sport, p.dport)
	case 17:
		proto = detectUDP(b, p.sport, p.dport)
		if proto == 0 && pl.rtpCandidate(f, p, fromClient, ts) {
			proto = idRTP
		}
	}
	if proto == 0 {
		if f.appProto == 0 {
			srv, cli := p.dport, p.sport
			if !fromClient {
				srv, cli = cli, srv
			}
			g := portGuess(p.proto, srv)
			if g == 0 {
				g = portGuess(p.proto, cli)
			}
			if g != 0 {
				f.appProto, f.guessed = g, true
				pl.appFromDNS(f)
				pl.updatePath(f)
			}
		}
		return
	}
	f.appProto, f.guessed, f.app = proto, false, 0
	f.final = true
	if proto == idSSL && fromClient {
		// Without a detail the name is not kept, nor a ClientHello followed
		// into the next segment; the application still comes from the SNI.
		var st tlsHello
		d := pl.detail(f)
		if d != nil {
			st = d.tls
		}
		if sni := tlsClientHello(b, &st); sni != nil {
			pl.setTLSName(f, sni)
		}
		if d != nil {
			d.tls = st
			f.final = !st.pending
		}
	}
	pl.appFromDNS(f)
	pl.updatePath(f)
}

func portGuess(proto uint8, port uint16) uint16 {
	switch proto {
	case 6:
		return portTCP(port)
	case 17:
		return portUDP(port)
	}
	return 0
}

func (pl *pipeline) setTLSName(f *flow, sni []byte) {
	if d := pl.flows.detailOf(f); d != nil {
		d.nameLen = uint8(copyText(d.name[:], sni))
	}
	if app := hostApp(sni); app != 0 {
		f.app = app
	}
	if ProtocolCategory(uint32(f.app)) == 15 {
		f.cdn = 1
	}
}

// appFromDNS names the application of a flow without one from the DNS
// answers seen for its server address.
func (pl *pipeline) appFromDNS(f *flow) {
	if f.app != 0 {
		return
	}
	switch f.appProto {
	case idSSL, idQUIC, idQUICIETF, idHTTP, idHTTP2:
	default:
		return
	}
	s := 0
	if f.clientLo {
		s = 2
	}
	f.app = pl.dns.get(hostKey{[2]uint64{f.key[s], f.key[s+1]}, f.ipVer})
}

// detail is flow f's detail, taken from the pool on first use; nil (and
// counted once per flow) when the pool is exhausted.
func (pl *pipeline) detail(f *flow) *flowDetail {
	if f.noDetail {
		return nil
	}
	d := pl.flows.detail(f)
	if d == nil {
		f.noDetail = true
		pl.c.DetailsMissed++
	}
	return d
}

// copyText copies printable ASCII of b into dst ('?' for other bytes) and
// returns the length.
func copyText(dst, b []byte) int {
	n := min(len(dst), len(b))
	for i := range n {
		c := b[i]
		if c < 0x20 || c > 0x7e {
			c = '?'
		}
		dst[i] = c
	}
	return n
}

func (pl *pipeline) httpPacket(f *flow, p *packet, fromClient bool, ts int64) {
	b := p.payload
	if fromClient {
		if httpMethod(b) == 0 {
			return
		}
		d := pl.detail(f)
		if d == nil {
			// No room for the request's texts: its Host still names the
			// application.
			scanHTTP(b, &pl.http)
			if app := hostApp(pl.http.host); app != 0 && app != f.app {
				f.app = app
				pl.updatePath(f)
			}
			return
		}
		d.transactions++
		if d.reqTime == 0 {
			d.reqTime = ts
		}
		if d.firstReq != 0 {
			return
		}
		d.firstReq = ts
		hf := &pl.http
		scanHTTP(b, hf)
		d.nameLen = uint8(copyText(d.name[:], hf.host))
		d.refererLen = uint8(copyText(d.referer[:], hf.referer))
		d.os = deviceOS(hf.userAgent)
		if app := hostApp(hf.host); app != 0 && app != f.app {
			f.app = app
			pl.updatePath(f)
		}
		if ProtocolCategory(uint32(f.app)) == 15 {
			f.cdn = 1
		}
		return
	}
	if !hasPrefix(b, "HTTP/1.") {
		return
	}
	d := pl.detail(f)
	if d == nil {
		return
	}
	if d.reqTime != 0 {
		d.respSum += ts - d.reqTime
		d.responses++
		d.reqTime = 0
	}
	if d.responses <= 1 && d.mimeLen == 0 {
		hf := &pl.http
		scanHTTP(b, hf)
		m := mimeType(hf.contentType)
		d.mimeLen = uint8(copyText(d.mime[:], m))
		d.contentClass = contentClass(m)
		if hf.cdn && f.cdn == 0 {
			f.cdn = 2
		}
	}
}

// learnDNS remembers the addresses a DNS response gives for a known name.
func (pl *pipeline) learnDNS(b []byte) {
	if len(b) < 12 || b[2]&0x80 == 0 || b[7] == 0 && b[6] == 0 {
		return
	}
	name := dnsQuestionName(b, pl.nameBuf[:0])
	if name == nil {
		return
	}
	app := hostApp(name)
	if app == 0 {
		return
	}
	for _, a := range dnsAnswers(b, pl.addrBuf[:0]) {
		pl.dns.put(hostKey{a.addr, a.ver}, app)
	}
}

// rtpCandidate feeds a UDP payload to the RTP detector: two packets of one
// direction with the same SSRC and close sequence numbers make RTP.
func (pl *pipeline) rtpCandidate(f *flow, p *packet, fromClient bool, ts int64) bool {
	pt, seq, rts, ssrc, ok := rtpHeader(p.payload)
	c := &f.rtpCand
	if !ok {
		c.dir = 0xff
		return false
	}
	dir := uint8(0)
	if !fromClient {
		dir = 1
	}
	if c.dir == dir && c.ssrc == ssrc && c.pt == pt {
		if d := seq - c.seq; d >= 1 && d <= 16 && rts-c.ts < 1<<24 {
			// The stream starts at the candidate; flowPacket counts this
			// packet in it.
			if d := pl.detail(f); d != nil {
				d.rtp = rtpStats{ssrc: ssrc, dir: dir, pt: pt, baseSeq: c.seq, maxSeq: c.seq,
					received: 1, firstTS: c.ts, lastTS: c.ts, firstArr: c.arrival, lastArr: c.arrival, clock: rtpClock(pt)}
			}
			return true
		}
	}
	*c = rtpCandidate{arrival: ts, ssrc: ssrc, ts: rts, seq: seq, pt: pt, dir: dir}
	return false
}

// rtpPacket updates the stream statistics (RFC 3550 A.1 and A.8).
func (pl *pipeline) rtpPacket(f *flow, p *packet, fromClient bool, ts int64) {
	d := pl.flows.detailOf(f)
	if d == nil {
		return
	}
	_, seq, rts, ssrc, ok := rtpHeader(p.payload)
	r := &d.rtp
	if !ok || ssrc != r.ssrc || fromClient != (r.dir == 0) {
		return
	}
	r.received++
	if d := int16(seq - r.maxSeq); d > 0 {
		if seq < r.maxSeq {
			r.cycles++
		}
		if d > 1 {
			r.lossEvents++
			r.lostInGaps += uint64(d - 1)
		}
		r.maxSeq = seq
	} else {
		r.outOfOrder++
	}
	if r.clock == 0 && r.received >= 10 && ts-r.firstArr >= int64(200*time.Millisecond) {
		est := float64(rts-r.firstTS) / (float64(ts-r.firstArr) / 1e9)
		r.clock = 90000
		for _, c := range [...]float64{8000, 16000, 32000, 44100, 48000} {
			if est < c*1.25 {
				r.clock = c
				break
			}
		}
	}
	if r.clock > 0 {
		d := float64(ts-r.lastArr)/1e9*r.clock - float64(int32(rts-r.lastTS))
		if d < 0 {
			d = -d
		}
		r.jitter += (d - r.jitter) / 16
		r.maxJitter = max(r.maxJitter, r.jitter/r.clock*1000)
	}
	r.lastTS, r.lastArr = rts, ts
}

func (pl *pipeline) flowHosts(f *flow, p *packet, lo bool, wire uint64, ts int64) {
	src, dst := 0, 1
	if !lo {
		src, dst = 1, 0
	}
	if f.local&(1<<src) != 0 {
		if i := pl.flowHost(f, src, true, ts); i >= 0 {
			pl.hostOut(i, p, wire, ts)
		}
	}
	if f.local&(1<<dst) != 0 {
		if i := pl.flowHost(f, dst, !p.dstGroup, ts); i >= 0 {
			pl.hostIn(i, p, wire)
		}
	}
}

// flowHost is the host table index of key side s of a flow, cached in the
// flow while the host entry lives.
func (pl *pipeline) flowHost(f *flow, s int, create bool, ts int64) int32 {
	hs := pl.hosts.hosts
	if i := f.hostIdx[s]; i >= 0 && hs[i].gen == f.hostGen[s] {
		return i
	}
	i := pl.hosts.get(hostKey{[2]uint64{f.key[2*s], f.key[2*s+1]}, f.ipVer}, create, ts)
	if i >= 0 {
		f.hostIdx[s], f.hostGen[s] = i, pl.hosts.hosts[i].gen
	}
	return i
}

func (pl *pipeline) hostOut(i int32, p *packet, wire uint64, ts int64) {
	h := &pl.hosts.hosts[i]
	h.outBytes += wire
	h.outPackets++
	h.last = ts
	if p.hasMAC {
		h.mac = p.srcMAC
	}
	if !h.touched {
		pl.hosts.touch(h, i)
	}
}

func (pl *pipeline) hostIn(i int32, p *packet, wire uint64) {
	h := &pl.hosts.hosts[i]
	if h.mac == ([6]byte{}) && p.hasMAC {
		h.mac = p.dstMAC // until the host sends: the MAC it was sent to
	}
	h.inBytes += wire
	h.inPackets++
	if !h.touched {
		pl.hosts.touch(h, i)
	}
}

func ms(ns int64) int64 { return ns / int64(time.Millisecond) }

func nsToMS(ns int64) float64 { return float64(ns) / 1e6 }

// flowRow queues the report of a flow that ends at now.
func (pl *pipeline) flowRow(f *flow, now int64) {
	cs, ss := 0, 1
	if !f.clientLo {
		cs, ss = 1, 0
	}
	ports := [2]uint16{uint16(f.key[4] >> 48), uint16(f.key[4] >> 32)}
	pl.flowRows = append(pl.flowRows, FlowRow{})
	r := &pl.flowRows[len(pl.flowRows)-1]
	r.Probe, r.Source, r.Time = pl.probe, pl.source, ms(now)
	r.FlowID, r.StartTime, r.IPVersion = f.id, ms(f.first), f.ipVer
	r.ServerAddr = makeAddr(f.ipVer, [2]uint64{f.key[2*ss], f.key[2*ss+1]})
	r.ClientAddr = makeAddr(f.ipVer, [2]uint64{f.key[2*cs], f.key[2*cs+1]})
	r.ServerPort, r.ClientPort, r.Transport = ports[ss], ports[cs], f.proto
	r.ULPackets, r.DLPackets, r.ULBytes, r.DLBytes = f.ulPackets, f.dlPackets, f.ulBytes, f.dlBytes
	r.TCPRTT, r.Retransmissions = nsToMS(f.rtt), f.retrans
	if f.leaf >= 0 {
		n := &pl.paths.nodes[f.leaf]
		r.Path, r.App = n.path, uint32(n.id)
		r.AppFamily = ProtocolCategory(r.App)
	}
	d := pl.flows.detailOf(f)
	if d == nil {
		d = &noDetail
	}
	r.ContentClass = d.contentClass
	switch f.appProto {
	case idHTTP:
		r.Format = FormatHTTP
		if d.responses > 0 {
			r.ResponseTime = nsToMS(d.respSum) / float64(d.responses)
		}
		r.Transactions = d.transactions
		if d.firstReq != 0 {
			r.InteractionTime = nsToMS(f.last - d.firstReq)
		}
		r.Hostname = pl.names.str(d.name[:d.nameLen])
		r.MIME = pl.names.str(d.mime[:d.mimeLen])
		r.Referer = pl.names.str(d.referer[:d.refererLen])
		r.DeviceOS, r.CDN = osName(d.os), f.cdn
	case idSSL:
		r.Format = FormatTLS
		r.ServerName, r.CDN = pl.names.str(d.name[:d.nameLen]), f.cdn
	case idRTP:
		r.Format = FormatRTP
		if d == &noDetail {
			break
		}
		rs := &d.rtp
		expected := uint64(rs.cycles)<<16 + uint64(rs.maxSeq) - uint64(rs.baseSeq) + 1
		if expected > rs.received {
			r.LossRate = float64(expected-rs.received) / float64(expected)
		}
		if rs.lossEvents > 0 {
			r.LossBurstiness = float64(rs.lostInGaps) / float64(rs.lossEvents)
		}
		r.MaxJitter = rs.maxJitter
		if rs.received > 0 {
			r.OrderErrorRate = float64(rs.outOfOrder) / float64(rs.received)
		}
	}
	if len(pl.flowRows) == cap(pl.flowRows) {
		pl.flushFlows()
	}
}

// noDetail reports a flow that had no detail: no texts, no timings.
var noDetail flowDetail

func (pl *pipeline) flushFlows() {
	if len(pl.flowRows) > 0 {
		pl.c.FlowRows += uint64(len(pl.flowRows))
		if pl.sink != nil {
			pl.sink.Flows(pl.flowRows)
		}
		clear(pl.flowRows)
		pl.flowRows = pl.flowRows[:0]
	}
}

// flush delivers the reports of the period ending at now.
func (pl *pipeline) flush(now int64) {
	pl.flushFlows()
	t := ms(now)
	rows := pl.statRows[:0]
	// Node indices grow with creation, parents first: rows go from the
	// link layer down, in a stable order.
	slices.Sort(pl.paths.touched)
	for _, i := range pl.paths.touched {
		n := &pl.paths.nodes[i]
		rows = append(rows, StatRow{
			Probe: pl.probe, Source: pl.source, Time: t, App: uint32(n.id), Path: n.path,
			TotalFlows: n.total, ActiveFlows: uint64(max(n.active, 0)),
			Bytes: n.bytes, Payload: n.payload, Packets: n.packets,
		})
		n.bytes, n.payload, n.packets, n.touched = 0, 0, 0, false
	}
	pl.paths.touched = pl.paths.touched[:0]
	if len(rows) > 0 {
		pl.c.StatRows += uint64(len(rows))
		if pl.sink != nil {
			pl.sink.Stats(rows)
		}
	}
	pl.statRows = rows
	hrows := pl.hostRows[:0]
	for _, i := range pl.hosts.touched {
		h := &pl.hosts.hosts[i]
		hrows = append(hrows, HostRow{
			Probe: pl.probe, Source: pl.source, Time: t, MAC: h.mac, IP: h.key.addr(),
			OutBytes: h.outBytes, InBytes: h.inBytes, OutPackets: h.outPackets, InPackets: h.inPackets,
		})
		h.outBytes, h.inBytes, h.outPackets, h.inPackets, h.touched = 0, 0, 0, 0, false
	}
	pl.hosts.touched = pl.hosts.touched[:0]
	if len(hrows) > 0 {
		pl.c.HostRows += uint64(len(hrows))
		if pl.sink != nil {
			pl.sink.Hosts(hrows)
		}
	}
	pl.hostRows = hrows
}

// counters returns the pipeline's counters with the table gauges.
func (pl *pipeline) counters() Counters {
	c := pl.c
	c.FlowsActive = uint64(pl.flows.active)
	c.Details = uint64(pl.flows.detailsOut)
	c.Paths = uint64(len(pl.paths.nodes))
	c.PathsOverflow = pl.paths.overflow
	c.Hosts = uint64(len(pl.hosts.index))
	c.HostsEvicted = pl.hosts.evicted
	if pl.started {
		c.PacketTime = time.Unix(0, pl.now)
	}
	return c
}
