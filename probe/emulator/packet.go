package emulator

import (
	"net"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Fixed addresses.
var (
	macBroadcast = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	macZero      = net.HardwareAddr{0, 0, 0, 0, 0, 0}
	macMDNS4     = net.HardwareAddr{0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb}
	macMDNS6     = net.HardwareAddr{0x33, 0x33, 0x00, 0x00, 0x00, 0xfb}
	macSSDP      = net.HardwareAddr{0x01, 0x00, 0x5e, 0x7f, 0xff, 0xfa}
	ipZero       = net.IP{0, 0, 0, 0}
	ipBroadcast  = net.IP{255, 255, 255, 255}
	ipMDNS4      = net.IP{224, 0, 0, 251}
	ipMDNS6      = net.ParseIP("ff02::fb").To16()
	ipSSDP       = net.IP{239, 255, 255, 250}
)

// A netLayer is the IPv4 or IPv6 layer of the packet being built.
type netLayer interface {
	gopacket.SerializableLayer
	gopacket.NetworkLayer
}

// l3 fills the Ethernet and IP layers. src and dst are 4-byte (IPv4) or
// 16-byte (IPv6) addresses.
func (e *Emulator) l3(srcMAC, dstMAC, src, dst []byte, proto layers.IPProtocol, ttl uint8, id uint16, df bool, flow uint32) netLayer {
	e.eth = layers.Ethernet{SrcMAC: srcMAC, DstMAC: dstMAC, EthernetType: layers.EthernetTypeIPv4}
	if len(src) == 16 {
		e.eth.EthernetType = layers.EthernetTypeIPv6
		e.ip6 = layers.IPv6{Version: 6, FlowLabel: flow & 0xfffff, NextHeader: proto, HopLimit: ttl, SrcIP: src, DstIP: dst}
		return &e.ip6
	}
	e.ip4 = layers.IPv4{Version: 4, Id: id, TTL: ttl, Protocol: proto, SrcIP: src, DstIP: dst}
	if df {
		e.ip4.Flags = layers.IPv4DontFragment
	}
	return &e.ip4
}

// udpPacket emits a UDP datagram carrying app (a layer, or &e.payload).
func (e *Emulator) udpPacket(srcMAC, dstMAC, src, dst []byte, ttl uint8, sport, dport uint16, app gopacket.SerializableLayer) {
	nl := e.l3(srcMAC, dstMAC, src, dst, layers.IPProtocolUDP, ttl, uint16(e.rng.Uint32()), false, e.rng.Uint32())
	e.udp = layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
	_ = e.udp.SetNetworkLayerForChecksum(nl)
	e.serialize(&e.eth, nl, &e.udp, app)
}

// setPayload makes e.pay[:n] the payload layer.
func (e *Emulator) setPayload(n int) *gopacket.Payload {
	e.payload = e.pay[:n]
	return &e.payload
}

// TCP flags
const (
	fFIN = 1 << iota
	fSYN
	fRST
	fPSH
	fACK
)

// tcpSegment emits one segment of s from the client (c2s) or the server
// with payload e.pay[:n], and advances that side's sequence number.
func (e *Emulator) tcpSegment(s *session, c2s bool, flags uint8, n int) {
	var srcMAC, dstMAC, src, dst []byte
	var ttl uint8
	var id uint16
	var sport, dport uint16
	var seq, ack uint32
	var win uint16
	alen := 4
	if s.v6 {
		alen = 16
	}
	if c2s {
		srcMAC, dstMAC, src, dst = s.cMAC[:], s.sMAC[:], s.cIP[:alen], s.sIP[:alen]
		ttl, sport, dport, seq, ack, win = s.cTTL, s.cPort, s.sPort, s.cSeq, s.sSeq, s.cWin
		s.cID++
		id = s.cID
	} else {
		srcMAC, dstMAC, src, dst = s.sMAC[:], s.cMAC[:], s.sIP[:alen], s.cIP[:alen]
		ttl, sport, dport, seq, ack, win = s.sTTL, s.sPort, s.cPort, s.sSeq, s.cSeq, s.sWin
		s.sID++
		id = s.sID
	}
	nl := e.l3(srcMAC, dstMAC, src, dst, layers.IPProtocolTCP, ttl, id, true, s.flow)
	e.tcp = layers.TCP{
		SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport),
		Seq: seq, Window: win,
		FIN: flags&fFIN != 0, SYN: flags&fSYN != 0, RST: flags&fRST != 0, PSH: flags&fPSH != 0, ACK: flags&fACK != 0,
	}
	if flags&fACK != 0 {
		e.tcp.Ack = ack
	}
	// options: timestamps everywhere, MSS/SACK/window scale on SYNs
	ms := uint32(e.vt.Milliseconds())
	tsval, tsecr := s.cTS+ms, s.sTS+ms
	if !c2s {
		tsval, tsecr = tsecr, tsval
	}
	if flags&fSYN != 0 && !c2s {
		tsecr = s.cTS + s.synMS
	} else if flags&fSYN != 0 {
		tsecr = 0
	}
	if flags&fRST != 0 {
		e.tcp.Options = nil
	} else {
		od := e.optData[:]
		putU32(od[4:], tsval)
		putU32(od[8:], tsecr)
		ts := layers.TCPOption{OptionType: layers.TCPOptionKindTimestamps, OptionData: od[4:12]}
		nop := layers.TCPOption{OptionType: layers.TCPOptionKindNop}
		if flags&fSYN != 0 {
			mss := 1460
			if c2s && s.v6 {
				mss = 1440
			} else if !c2s {
				mss = s.synMSS
			}
			putU16(od, 0, mss)
			od[2] = 7 // window scale
			if !c2s {
				od[2] = s.sWS
			}
			e.tcpOpt[0] = layers.TCPOption{OptionType: layers.TCPOptionKindMSS, OptionData: od[0:2]}
			e.tcpOpt[1] = layers.TCPOption{OptionType: layers.TCPOptionKindSACKPermitted}
			e.tcpOpt[2] = ts
			e.tcpOpt[3] = nop
			e.tcpOpt[4] = layers.TCPOption{OptionType: layers.TCPOptionKindWindowScale, OptionData: od[2:3]}
			e.tcp.Options = e.tcpOpt[:5]
		} else {
			e.tcpOpt[0], e.tcpOpt[1], e.tcpOpt[2] = nop, nop, ts
			e.tcp.Options = e.tcpOpt[:3]
		}
	}
	_ = e.tcp.SetNetworkLayerForChecksum(nl)
	if n > 0 {
		e.serialize(&e.eth, nl, &e.tcp, e.setPayload(n))
	} else {
		e.serialize(&e.eth, nl, &e.tcp)
	}
	adv := uint32(n)
	if flags&(fSYN|fFIN) != 0 {
		adv++
	}
	if c2s {
		s.cSeq += adv
	} else {
		s.sSeq += adv
	}
}

// udpFlowPacket emits a datagram of a UDP flow (QUIC) with payload e.pay[:n].
func (e *Emulator) udpFlowPacket(s *session, c2s bool, n int) {
	alen := 4
	if s.v6 {
		alen = 16
	}
	if c2s {
		s.cID++
		nl := e.l3(s.cMAC[:], s.sMAC[:], s.cIP[:alen], s.sIP[:alen], layers.IPProtocolUDP, s.cTTL, s.cID, true, s.flow)
		e.udp = layers.UDP{SrcPort: layers.UDPPort(s.cPort), DstPort: layers.UDPPort(s.sPort)}
		_ = e.udp.SetNetworkLayerForChecksum(nl)
		e.serialize(&e.eth, nl, &e.udp, e.setPayload(n))
		return
	}
	s.sID++
	nl := e.l3(s.sMAC[:], s.cMAC[:], s.sIP[:alen], s.cIP[:alen], layers.IPProtocolUDP, s.sTTL, s.sID, true, s.flow)
	e.udp = layers.UDP{SrcPort: layers.UDPPort(s.sPort), DstPort: layers.UDPPort(s.cPort)}
	_ = e.udp.SetNetworkLayerForChecksum(nl)
	e.serialize(&e.eth, nl, &e.udp, e.setPayload(n))
}

func putU32(b []byte, v uint32) {
	b[0], b[1], b[2], b[3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
}
