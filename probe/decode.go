package probe

import (
	"encoding/binary"
	"strings"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// maxDepth bounds the ids of a path: link, VLAN tags, network, tunnels,
// transport, application protocol and application.
const maxDepth = 12

// DecodeError is a reason a packet could not be fully decoded.
type DecodeError uint8

// Decode error reasons (Counters.DecodeErrors is indexed by them).
const (
	ErrTruncated       DecodeError = iota // shorter than its headers say (snap length, cut frames)
	ErrMalformedLink                      // a bad Ethernet, VLAN, cooked or ARP header
	ErrMalformedIP                        // a bad IPv4/IPv6 header (version, lengths, options, extensions)
	ErrBadHeaderLength                    // IPv4 IHL or TCP data offset below 5 words
	ErrMalformedL4                        // a bad TCP, UDP, SCTP, ICMP, IGMP or GRE header
	ErrUnsupportedLink                    // a link type the probe does not decode
	ErrPanic                              // a decoder panicked (recovered)
	numDecodeErrors
)

var decodeErrorNames = [numDecodeErrors]string{
	"truncated", "malformed_link", "malformed_ip", "bad_header_length",
	"malformed_l4", "unsupported_link", "panic",
}

// String is the reason's name as /metrics would label it.
func (e DecodeError) String() string {
	if e < numDecodeErrors {
		return decodeErrorNames[e]
	}
	return "unknown"
}

// packet is what the decoder learns of one packet; the pipeline reuses one.
type packet struct {
	ids      [maxDepth]uint16 // header path ids (link to transport)
	offs     [maxDepth]uint16 // offset of each id's header in the frame
	n        int              // len of ids
	sig      uint64           // signature of ids, to match a flow's cached node
	srcMAC   [6]byte
	dstMAC   [6]byte
	hasMAC   bool
	dstGroup bool // the destination MAC is a broadcast or multicast one

	ipVer      uint8 // 0: not IP (or not decoded far enough)
	src, dst   [2]uint64
	proto      uint8 // IP protocol of the transport
	l4         bool  // ports (or ICMP/IGMP) are known: the packet has a flow
	sport      uint16
	dport      uint16
	tcpFlags   uint8
	seq        uint32
	payload    []byte // transport payload (bounded by IP and UDP lengths)
	payloadOff int    // offset of payload in the frame
	arpSender  [4]byte
	isARP      bool
	err        DecodeError
	failed     bool
}

// TCP flag bits as in the header.
const (
	tcpFIN = 0x01
	tcpSYN = 0x02
	tcpRST = 0x04
	tcpACK = 0x10
)

// decoder wraps one DecodingLayerParser and its preallocated layers.
type decoder struct {
	link    layers.LinkType
	eth     layers.Ethernet
	sll     layers.LinuxSLL
	loop    layers.Loopback
	dot1q   layers.Dot1Q
	arp     layers.ARP
	ip4     layers.IPv4
	ip6     layers.IPv6
	ip6ext  layers.IPv6ExtensionSkipper
	ip6frag layers.IPv6Fragment
	icmp4   layers.ICMPv4
	icmp6   layers.ICMPv6
	igmp    layers.IGMPv1or2
	tcp     layers.TCP
	udp     layers.UDP
	sctp    layers.SCTP
	gre     layers.GRE

	parser  *gopacket.DecodingLayerParser
	parser6 *gopacket.DecodingLayerParser // raw IP links: the IPv6 parser
	decoded []gopacket.LayerType
	linkID  uint16 // the path's first id, 0 for raw IP
	fast    bool   // Ethernet: decodeFast first
}

// supportedLink reports whether the pipeline decodes a link type.
func supportedLink(lt layers.LinkType) bool {
	switch lt {
	case layers.LinkTypeEthernet, layers.LinkTypeLinuxSLL, layers.LinkTypeRaw,
		layers.LinkTypeIPv4, layers.LinkTypeIPv6, layers.LinkTypeNull, layers.LinkTypeLoop,
		12: // DLT_RAW on some systems (LINKTYPE_RAW is 101)
		return true
	}
	return false
}

func newDecoder(lt layers.LinkType) *decoder {
	d := &decoder{link: lt, decoded: make([]gopacket.LayerType, 0, 16), fast: lt == layers.LinkTypeEthernet}
	first := layers.LayerTypeEthernet
	d.linkID = idEthernet
	switch lt {
	case layers.LinkTypeLinuxSLL:
		first = layers.LayerTypeLinuxSLL
	case layers.LinkTypeNull, layers.LinkTypeLoop:
		first, d.linkID = layers.LayerTypeLoopback, idLoopback
	case layers.LinkTypeRaw, layers.LinkTypeIPv4, 12:
		first, d.linkID = layers.LayerTypeIPv4, 0
	case layers.LinkTypeIPv6:
		first, d.linkID = layers.LayerTypeIPv6, 0
	}
	d.parser = d.newParser(first)
	if d.linkID == 0 {
		d.parser6 = d.newParser(layers.LayerTypeIPv6)
	}
	return d
}

func (d *decoder) newParser(first gopacket.LayerType) *gopacket.DecodingLayerParser {
	p := gopacket.NewDecodingLayerParser(first)
	// A sparse container: decoders indexed by layer type, no map look-ups.
	dlc := gopacket.DecodingLayerContainer(gopacket.DecodingLayerSparse(nil))
	for _, l := range []gopacket.DecodingLayer{
		&d.eth, &d.sll, &d.loop, &d.dot1q, &d.arp, &d.ip4, &d.ip6,
		&d.ip6ext, &d.ip6frag, // the fragment decoder replaces the skipper's
		&d.icmp4, &d.icmp6, &d.igmp, &d.tcp, &d.udp, &d.sctp, &d.gre,
	} {
		dlc = dlc.Put(l)
	}
	p.SetDecodingLayerContainer(dlc)
	p.IgnoreUnsupported = true
	return p
}

// Layer kinds: a table from layer type to kind makes one switch per layer.
const (
	kNone uint8 = iota
	kEth
	kSLL
	kLoop
	kDot1Q
	kARP
	kIP4
	kIP6
	kIP6Ext
	kIP6Frag
	kICMP4
	kICMP6
	kIGMP
	kTCP
	kUDP
	kSCTP
	kGRE
)

var kindOf = func() (k [256]uint8) {
	m := map[gopacket.LayerType]uint8{
		layers.LayerTypeEthernet: kEth, layers.LayerTypeLinuxSLL: kSLL, layers.LayerTypeLoopback: kLoop,
		layers.LayerTypeDot1Q: kDot1Q, layers.LayerTypeARP: kARP, layers.LayerTypeIPv4: kIP4,
		layers.LayerTypeIPv6: kIP6, layers.LayerTypeIPv6HopByHop: kIP6Ext, layers.LayerTypeIPv6Routing: kIP6Ext,
		layers.LayerTypeIPv6Destination: kIP6Ext, layers.LayerTypeIPv6Fragment: kIP6Frag,
		layers.LayerTypeICMPv4: kICMP4, layers.LayerTypeICMPv6: kICMP6, layers.LayerTypeIGMP: kIGMP,
		layers.LayerTypeTCP: kTCP, layers.LayerTypeUDP: kUDP, layers.LayerTypeSCTP: kSCTP, layers.LayerTypeGRE: kGRE,
	}
	for t, v := range m {
		if int(t) >= len(k) {
			panic("probe: layer type beyond the kind table")
		}
		k[t] = v
	}
	return k
}()

func layerKind(t gopacket.LayerType) uint8 {
	if uint64(t) < uint64(len(kindOf)) {
		return kindOf[t]
	}
	return kNone
}

// decode fills p from one frame. It never fails: what could not be decoded
// is recorded in p.failed and p.err, and p holds the layers before it.
func (d *decoder) decode(data []byte, p *packet) {
	if d.fast && decodeFast(data, p) {
		return
	}
	p.n, p.ipVer, p.l4, p.hasMAC, p.isARP, p.failed, p.dstGroup = 0, 0, false, false, false, false, false
	p.tcpFlags, p.payload, p.payloadOff, p.proto, p.sport, p.dport = 0, nil, 0, 0, 0, 0
	parser := d.parser
	if d.linkID == 0 && len(data) > 0 && data[0]>>4 == 6 {
		parser = d.parser6
	}
	err := parser.DecodeLayers(data, &d.decoded)
	prevEnd, lastIP, ok := d.walk(data, p, false)
	if !ok {
		// A tunnel repeats a layer type: the struct holds the inner
		// header, and the outer one's offset comes from the layer before.
		p.n, p.l4, p.isARP, p.hasMAC = 0, false, false, false
		prevEnd, lastIP, _ = d.walk(data, p, true)
	}
	if p.failed {
		return
	}
	switch lastIP {
	case kIP4:
		p.ipVer = 4
		p.src = [2]uint64{uint64(binary.BigEndian.Uint32(d.ip4.SrcIP)), 0}
		p.dst = [2]uint64{uint64(binary.BigEndian.Uint32(d.ip4.DstIP)), 0}
		if !p.l4 {
			p.proto = uint8(d.ip4.Protocol)
		}
	case kIP6:
		p.ipVer = 6
		p.src = [2]uint64{binary.BigEndian.Uint64(d.ip6.SrcIP[:8]), binary.BigEndian.Uint64(d.ip6.SrcIP[8:])}
		p.dst = [2]uint64{binary.BigEndian.Uint64(d.ip6.DstIP[:8]), binary.BigEndian.Uint64(d.ip6.DstIP[8:])}
	}
	if err != nil {
		p.fail(d.reason(err, parser))
		if p.ipVer != 0 && !p.l4 {
			p.proto = 0
		}
		return
	}
	if len(d.decoded) == 0 {
		return
	}
	// What the parser had no decoder for, when the id is known.
	last := d.decoded[len(d.decoded)-1]
	switch layerKind(last) {
	case kEth:
		switch d.eth.EthernetType {
		case layers.EthernetTypeLLC:
			p.add(idLLC, 14)
			if pl := d.eth.Payload; len(pl) >= 3 && pl[0] == 0x42 && pl[1] == 0x42 {
				p.add(idSTP, 14)
			}
		case layers.EthernetTypePPPoEDiscovery, layers.EthernetTypePPPoESession:
			p.add(idPPPoE, 14)
		}
	case kIP4, kIP6, kIP6Ext, kIP6Frag:
		if last == layers.LayerTypeIPv4 && d.ip4.NextLayerType() == gopacket.LayerTypeFragment ||
			last == layers.LayerTypeIPv6Fragment && d.ip6frag.NextLayerType() == gopacket.LayerTypeFragment {
			p.proto = 0 // a fragment: counted at IP, no flow
			return
		}
		var proto layers.IPProtocol
		switch last {
		case layers.LayerTypeIPv4:
			proto = d.ip4.Protocol
		case layers.LayerTypeIPv6:
			proto = d.ip6.NextHeader
			if d.ip6.HopByHop != nil {
				proto = d.ip6.HopByHop.NextHeader
			}
		case layers.LayerTypeIPv6Fragment:
			proto = d.ip6frag.NextHeader
		default:
			proto = d.ip6ext.NextHeader
		}
		p.proto = uint8(proto)
		id := ipProtocolID(uint8(proto))
		if id != 0 {
			p.add(id, prevEnd)
			p.l4 = proto == 1 || proto == 2 || proto == 58 // decoder missing or failed quietly
		}
	}
}

// walk reads the decoded layers into p. Without dup it assumes each layer
// type appears once and returns ok false when one repeats.
func (d *decoder) walk(data []byte, p *packet, dup bool) (prevEnd int, lastIP uint8, ok bool) {
	decoded := d.decoded
	base := cap(data)
	var seen uint32
	if d.linkID != 0 {
		// Also for a runt the link layer failed on: it was a frame, and
		// path 99 counts frames as tshark does.
		p.add(d.linkID, 0)
	}
	for k, t := range decoded {
		kind := layerKind(t)
		last := true
		if dup {
			last = d.lastOf(k, t)
		} else if b := uint32(1) << kind; seen&b != 0 {
			return 0, 0, false
		} else {
			seen |= b
		}
		var c []byte
		var id uint16
		switch kind {
		case kEth:
			c = d.eth.Contents
			if last {
				p.srcMAC, p.dstMAC = [6]byte(d.eth.SrcMAC), [6]byte(d.eth.DstMAC)
				p.hasMAC, p.dstGroup = true, p.dstMAC[0]&1 != 0
			}
		case kSLL:
			c = d.sll.Contents
			if d.sll.AddrLen == 6 {
				copy(p.srcMAC[:], d.sll.Addr)
				p.hasMAC = true
			}
		case kLoop:
			c = d.loop.Contents
		case kDot1Q:
			c, id = d.dot1q.Contents, idVLAN
		case kARP:
			c, id = d.arp.Contents, idARP
			if len(d.arp.SourceProtAddress) == 4 {
				p.isARP = true
				copy(p.arpSender[:], d.arp.SourceProtAddress)
			}
		case kIP4:
			c, id = d.ip4.Contents, idIP
			if last && d.ip4.Version != 4 {
				p.fail(ErrMalformedIP)
				return prevEnd, lastIP, true
			}
			lastIP = kIP4
		case kIP6:
			c, id = d.contents(t), idIPv6
			if last && d.ip6.Version != 6 {
				p.fail(ErrMalformedIP)
				return prevEnd, lastIP, true
			}
			lastIP = kIP6
		case kIP6Ext:
			c = d.ip6ext.Contents
		case kIP6Frag:
			c = d.ip6frag.Contents
		case kICMP4:
			c, id = d.icmp4.Contents, idICMP
			p.l4, p.proto = true, 1
		case kICMP6:
			c, id = d.icmp6.Contents, idICMPv6
			p.l4, p.proto = true, 58
		case kIGMP:
			c, id = d.igmp.Contents, idIGMP
			p.l4, p.proto = true, 2
		case kTCP:
			c, id = d.tcp.Contents, idTCP
			p.l4, p.proto = true, 6
			p.sport, p.dport = uint16(d.tcp.SrcPort), uint16(d.tcp.DstPort)
			if len(c) >= 14 {
				p.tcpFlags = c[13]
			}
			p.seq = d.tcp.Seq
			p.payload = d.tcp.Payload
		case kUDP:
			c, id = d.udp.Contents, idUDP
			p.l4, p.proto = true, 17
			p.sport, p.dport = uint16(d.udp.SrcPort), uint16(d.udp.DstPort)
			p.payload = d.udp.Payload
		case kSCTP:
			c, id = d.sctp.Contents, idSCTP
			p.l4, p.proto = true, 132
			p.sport, p.dport = uint16(d.sctp.SrcPort), uint16(d.sctp.DstPort)
		case kGRE:
			c, id = d.gre.Contents, idGRE
			p.l4 = false // the flow is the tunnelled one, if decoded
		}
		off := prevEnd
		if last {
			if o := base - cap(c); c != nil && o >= prevEnd && o <= len(data) {
				off = o
			}
			prevEnd = off + len(c)
		} else {
			prevEnd = off + d.outerLen(t, data, off)
		}
		if id != 0 {
			p.add(id, off)
		}
		if kind == kTCP || kind == kUDP {
			p.payloadOff = prevEnd
		}
	}
	return prevEnd, lastIP, true
}

// ipProtocolID maps an IP protocol number to its MMT id, 0 when none.
func ipProtocolID(proto uint8) uint16 {
	switch proto {
	case 1:
		return idICMP
	case 2:
		return idIGMP
	case 6:
		return idTCP
	case 17:
		return idUDP
	case 47:
		return idGRE
	case 50:
		return idESP
	case 58:
		return idICMPv6
	case 89:
		return idOSPF
	case 112:
		return idVRRP
	case 132:
		return idSCTP
	}
	return 0
}

func (p *packet) add(id uint16, off int) {
	if p.n == maxDepth {
		return
	}
	if p.n == 0 {
		p.sig = 0x9e3779b97f4a7c15
	}
	p.ids[p.n] = id
	p.offs[p.n] = uint16(min(off, 0xffff))
	p.n++
	p.sig = (p.sig ^ uint64(id)) * 0x100000001b3
}

func (p *packet) fail(e DecodeError) {
	p.failed, p.err, p.l4 = true, e, false
}

// lastOf reports whether decoded[k] is the last layer of type t.
func (d *decoder) lastOf(k int, t gopacket.LayerType) bool {
	for _, u := range d.decoded[k+1:] {
		if u == t {
			return false
		}
	}
	return true
}

// outerLen is the header length of an outer layer whose struct was
// overwritten by an inner one of the same type, read from the frame.
func (d *decoder) outerLen(t gopacket.LayerType, data []byte, off int) int {
	if off >= len(data) {
		return 0
	}
	switch t {
	case layers.LayerTypeIPv4:
		return int(data[off]&0x0f) * 4
	case layers.LayerTypeIPv6:
		return 40
	case layers.LayerTypeDot1Q:
		return 4
	case layers.LayerTypeEthernet:
		return 14
	}
	return 0
}

func (d *decoder) contents(t gopacket.LayerType) []byte {
	switch t {
	case layers.LayerTypeEthernet:
		return d.eth.Contents
	case layers.LayerTypeLinuxSLL:
		return d.sll.Contents
	case layers.LayerTypeLoopback:
		return d.loop.Contents
	case layers.LayerTypeDot1Q:
		return d.dot1q.Contents
	case layers.LayerTypeARP:
		return d.arp.Contents
	case layers.LayerTypeIPv4:
		return d.ip4.Contents
	case layers.LayerTypeIPv6:
		if d.ip6.HopByHop != nil && len(d.ip6.Contents) > 0 {
			// The hop-by-hop header belongs to the IPv6 layer here.
			c := d.ip6.Contents
			return c[: len(c)+d.ip6.HopByHop.ActualLength : cap(c)]
		}
		return d.ip6.Contents
	case layers.LayerTypeIPv6Fragment:
		return d.ip6frag.Contents
	case layers.LayerTypeIPv6HopByHop, layers.LayerTypeIPv6Routing, layers.LayerTypeIPv6Destination:
		return d.ip6ext.Contents
	case layers.LayerTypeICMPv4:
		return d.icmp4.Contents
	case layers.LayerTypeICMPv6:
		return d.icmp6.Contents
	case layers.LayerTypeIGMP:
		return d.igmp.Contents
	case layers.LayerTypeTCP:
		return d.tcp.Contents
	case layers.LayerTypeUDP:
		return d.udp.Contents
	case layers.LayerTypeSCTP:
		return d.sctp.Contents
	case layers.LayerTypeGRE:
		return d.gre.Contents
	}
	return nil
}

// reason classifies a decode error by the layer that failed.
func (d *decoder) reason(err error, parser *gopacket.DecodingLayerParser) DecodeError {
	if strings.HasPrefix(err.Error(), "panic") {
		return ErrPanic
	}
	if parser.Truncated {
		return ErrTruncated
	}
	next := d.firstLayer(parser)
	if n := len(d.decoded); n > 0 {
		next = d.nextOf(d.decoded[n-1])
	}
	switch next {
	case layers.LayerTypeEthernet, layers.LayerTypeLinuxSLL, layers.LayerTypeLoopback:
		return ErrTruncated // their only error is a frame shorter than the header
	case layers.LayerTypeDot1Q, layers.LayerTypeARP:
		return ErrMalformedLink
	case layers.LayerTypeIPv4:
		if d.ip4.IHL < 5 {
			return ErrBadHeaderLength
		}
		return ErrMalformedIP
	case layers.LayerTypeIPv6, layers.LayerTypeIPv6HopByHop, layers.LayerTypeIPv6Routing,
		layers.LayerTypeIPv6Destination, layers.LayerTypeIPv6Fragment:
		return ErrMalformedIP
	case layers.LayerTypeTCP:
		if d.tcp.DataOffset < 5 {
			return ErrBadHeaderLength
		}
	}
	return ErrMalformedL4
}

func (d *decoder) firstLayer(parser *gopacket.DecodingLayerParser) gopacket.LayerType {
	switch {
	case parser == d.parser6:
		return layers.LayerTypeIPv6
	case d.linkID == 0:
		return layers.LayerTypeIPv4
	case d.link == layers.LinkTypeLinuxSLL:
		return layers.LayerTypeLinuxSLL
	case d.linkID == idLoopback:
		return layers.LayerTypeLoopback
	}
	return layers.LayerTypeEthernet
}

func (d *decoder) nextOf(t gopacket.LayerType) gopacket.LayerType {
	switch t {
	case layers.LayerTypeEthernet:
		return d.eth.NextLayerType()
	case layers.LayerTypeLinuxSLL:
		return d.sll.NextLayerType()
	case layers.LayerTypeLoopback:
		return d.loop.NextLayerType()
	case layers.LayerTypeDot1Q:
		return d.dot1q.NextLayerType()
	case layers.LayerTypeIPv4:
		return d.ip4.NextLayerType()
	case layers.LayerTypeIPv6:
		return d.ip6.NextLayerType()
	case layers.LayerTypeIPv6Fragment:
		return d.ip6frag.NextLayerType()
	case layers.LayerTypeIPv6HopByHop, layers.LayerTypeIPv6Routing, layers.LayerTypeIPv6Destination:
		return d.ip6ext.NextLayerType()
	case layers.LayerTypeGRE:
		return d.gre.NextLayerType()
	}
	return gopacket.LayerTypeZero
}
