package emulator

import (
	"github.com/gopacket/gopacket/layers"
)

// Flow-heavy traffic: with Options.Scan a share of the packets each open a
// new flow, as a port scan, a torrent client or a DDoS looks to a probe.
// The shapes, in shares of those packets:
//
//	45 % TCP SYN from a LAN host to a random public IPv4 address and port
//	20 % TCP SYN from a random public IPv4 address to a LAN host
//	20 % UDP from a LAN host to a random public address and port, 20-120
//	     random bytes (a DHT lookup)
//	10 % TCP SYN over IPv6, from a host's ULA to a random global address
//	 5 % ICMP echo request to a random public address (a ping sweep)
//
// Ports and peers are drawn uniformly, so nearly every such packet is a
// flow of its own; the realistic traffic goes on in between.

// scanStep emits one flow-opening packet.
func (e *Emulator) scanStep() {
	h := &e.hosts[e.rng.IntN(len(e.hosts))]
	gw := e.gw
	sport := uint16(1024 + e.rng.IntN(64512))
	dport := uint16(1 + e.rng.IntN(65535))
	switch r := e.rng.IntN(100); {
	case r < 45:
		peer := e.publicIPv4()
		e.scanSYN(h.mac[:], gw.mac[:], h.ip4[:], peer, h.ttl, sport, dport)
	case r < 65:
		peer := e.publicIPv4()
		e.scanSYN(gw.mac[:], h.mac[:], peer, h.ip4[:], 52, sport, dport)
	case r < 85:
		peer := e.publicIPv4()
		n := 20 + e.rng.IntN(101)
		copy(e.pay[:n], e.noiseBytes(n))
		e.udpPacket(h.mac[:], gw.mac[:], h.ip4[:], peer, h.ttl, sport, dport, e.setPayload(n))
	case r < 95:
		e.scanSYN(h.mac[:], gw.mac[:], h.ula[:], e.publicIPv6(), h.ttl, sport, dport)
	default:
		peer := e.publicIPv4()
		nl := e.l3(h.mac[:], gw.mac[:], h.ip4[:], peer, layers.IPProtocolICMPv4, h.ttl, uint16(e.rng.Uint32()), false, 0)
		e.icmp4 = layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0), Id: sport, Seq: 1}
		e.serialize(&e.eth, nl, &e.icmp4, e.setPayload(56))
	}
}

// scanSYN emits a bare SYN with an MSS option.
func (e *Emulator) scanSYN(srcMAC, dstMAC, src, dst []byte, ttl uint8, sport, dport uint16) {
	nl := e.l3(srcMAC, dstMAC, src, dst, layers.IPProtocolTCP, ttl, uint16(e.rng.Uint32()), true, e.rng.Uint32())
	putU16(e.optData[:], 0, 1460)
	e.tcpOpt[0] = layers.TCPOption{OptionType: layers.TCPOptionKindMSS, OptionData: e.optData[0:2]}
	e.tcp = layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport),
		Seq: e.rng.Uint32(), Window: 64240, SYN: true, Options: e.tcpOpt[:1]}
	_ = e.tcp.SetNetworkLayerForChecksum(nl)
	e.serialize(&e.eth, nl, &e.tcp)
}

// publicIPv4 draws an address outside the private, loopback, link-local,
// multicast and reserved ranges, so the probe takes it for a remote peer.
func (e *Emulator) publicIPv4() []byte {
	for {
		v := e.rng.Uint32()
		a, b := byte(v>>24), byte(v>>16)
		switch {
		case a == 0, a == 10, a == 127, a >= 224,
			a == 169 && b == 254, a == 172 && b&0xf0 == 16, a == 192 && b == 168,
			a == 100 && b&0xc0 == 64: // carrier-grade NAT
			continue
		}
		e.scanIP = [16]byte{a, b, byte(v >> 8), byte(v)}
		return e.scanIP[:4]
	}
}

// publicIPv6 draws a global unicast address in 2000::/3.
func (e *Emulator) publicIPv6() []byte {
	hi, lo := e.rng.Uint64(), e.rng.Uint64()
	hi = hi&^(7<<61) | 1<<61
	for i := range 8 {
		e.scanIP[i] = byte(hi >> (56 - 8*i))
		e.scanIP[8+i] = byte(lo >> (56 - 8*i))
	}
	return e.scanIP[:]
}
