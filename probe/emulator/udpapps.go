package emulator

import (
	"strconv"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// now is the packet time of the packet being made.
func (e *Emulator) now() time.Time { return e.start.Add(e.vt).UTC() }

// ---- DNS ----

// initDNS sets up a background lookup: a known name (sometimes A and AAAA,
// sometimes over IPv6) or a name that does not exist.
func (e *Emulator) initDNS(s *session) {
	if e.rng.IntN(10) == 0 {
		s.nx = true
		s.qname = nxNames[e.rng.IntN(len(nxNames))]
		s.dnsLeft = 2
		s.dnsPort = s.h.port(e.rng)
		s.dnsID = uint16(e.rng.Uint32())
		s.dns6 = e.rng.IntN(4) == 0
		return
	}
	s.svc = pickAny.choose(e.rng)
	s.addrIdx = e.rng.IntN(len(s.svc.addrs))
	e.lookup(s)
	if e.rng.IntN(10) < 4 && !s.dnsAAAA {
		s.dnsAAAA, s.dnsLeft = true, 4
	}
	s.dns6 = e.rng.IntN(4) == 0
}

// lookupStep emits the next packet of a lookup: the queries (A, then
// AAAA) from the client's resolver port to the router, then the answers.
func (e *Emulator) lookupStep(s *session) {
	total := int8(2)
	if s.dnsAAAA {
		total = 4
	}
	i := total - s.dnsLeft
	s.dnsLeft--
	resp, aaaa := i == 1, false
	if s.dnsAAAA {
		resp, aaaa = i >= 2, i%2 == 1
	}
	qt, id := layers.DNSTypeA, s.dnsID
	if aaaa {
		qt, id = layers.DNSTypeAAAA, s.dnsID+1
	}
	d := &e.dns
	*d = layers.DNS{ID: id, QR: resp, OpCode: layers.DNSOpCodeQuery, RD: true, RA: resp}
	e.dnsQ[0] = layers.DNSQuestion{Name: s.qname, Type: qt, Class: layers.DNSClassIN}
	d.Questions = e.dnsQ[:1]
	rr := e.dnsRR[:0]
	if resp {
		if s.nx {
			d.ResponseCode = layers.DNSResponseCodeNXDomain
		} else {
			rr = e.answers(rr, s.svc, qt, s.addrIdx)
		}
	}
	d.Answers = rr
	if s.edns {
		e.dnsRR[len(rr)] = layers.DNSResourceRecord{Type: layers.DNSTypeOPT, Class: 1232}
		d.Additionals = e.dnsRR[len(rr) : len(rr)+1]
	}
	h, gw := s.h, e.gw
	src, dst := h.ip4[:], gw.ip4[:]
	if s.dns6 {
		src, dst = h.ula[:], gw.ula[:]
	}
	if resp {
		e.udpPacket(gw.mac[:], h.mac[:], dst, src, 64, 53, s.dnsPort, d)
	} else {
		e.udpPacket(h.mac[:], gw.mac[:], src, dst, h.ttl, s.dnsPort, 53, d)
	}
	if s.dnsLeft == 0 && s.kind == kDNS {
		s.done = true
	}
}

// answers appends the CNAME chain and up to four addresses of svc.
func (e *Emulator) answers(rr []layers.DNSResourceRecord, svc *service, qt layers.DNSType, first int) []layers.DNSResourceRecord {
	ttl := uint32(20 + e.rng.IntN(280))
	owner := svc.name
	for _, c := range svc.cnames {
		rr = append(rr, layers.DNSResourceRecord{Name: owner, Type: layers.DNSTypeCNAME, Class: layers.DNSClassIN, TTL: ttl, CNAME: c})
		owner = c
	}
	addrs := svc.addrs
	if qt == layers.DNSTypeAAAA {
		addrs = svc.addrs6
	}
	for i := range min(len(addrs), 4) {
		rr = append(rr, layers.DNSResourceRecord{Name: owner, Type: qt, Class: layers.DNSClassIN, TTL: ttl,
			IP: addrs[(first+i)%len(addrs)]})
	}
	return rr
}

// ---- NTP ----

// ntpTime converts t to an NTP timestamp (seconds since 1900, 32.32).
func ntpTime(t time.Time) layers.NTPTimestamp {
	sec := uint64(t.Unix() + 2208988800)
	frac := uint64(t.Nanosecond()) << 32 / 1e9
	return layers.NTPTimestamp(sec<<32 | frac)
}

// ntpStep: a client request (mode 3), then the server's answer (mode 4).
func (e *Emulator) ntpStep(s *session) {
	now := e.now()
	if s.step == 0 {
		s.ts64 = uint64(ntpTime(now.Add(time.Duration(e.rng.IntN(50_000_000)) - 25*time.Millisecond)))
		e.ntp = layers.NTP{Version: 4, Mode: 3, Poll: 6, Precision: -20, TransmitTimestamp: layers.NTPTimestamp(s.ts64)}
		e.udpPacket(s.cMAC[:], s.sMAC[:], s.cIP[:4], s.sIP[:4], s.cTTL, s.cPort, 123, &e.ntp)
		s.step++
		return
	}
	stratum, ref := layers.NTPStratum(2), layers.NTPReferenceID(0xc0248f82)
	if string(s.svc.name) == "time.google.com" {
		stratum, ref = 1, layers.NTPReferenceID(0x474f4f47) // "GOOG"
	}
	rx := ntpTime(now.Add(-time.Duration(e.rng.IntN(5_000_000))))
	e.ntp = layers.NTP{Version: 4, Mode: 4, Stratum: stratum, Poll: 6, Precision: -25,
		RootDelay: layers.NTPFixed16Seconds(e.rng.IntN(0x400)), RootDispersion: layers.NTPFixed16Seconds(0x10 + e.rng.IntN(0x200)),
		ReferenceID: ref, ReferenceTimestamp: ntpTime(now.Add(-time.Duration(5+e.rng.IntN(900)) * time.Second)),
		OriginTimestamp: layers.NTPTimestamp(s.ts64), ReceiveTimestamp: rx, TransmitTimestamp: rx + layers.NTPTimestamp(e.rng.IntN(1<<18))}
	e.udpPacket(s.sMAC[:], s.cMAC[:], s.sIP[:4], s.cIP[:4], s.sTTL, 123, s.cPort, &e.ntp)
	s.done = true
}

// ---- DHCP ----

// ob returns n bytes of option value storage for the current packet.
func (e *Emulator) obytes(b ...byte) []byte {
	p := e.ob[e.obn : e.obn+len(b)]
	copy(p, b)
	e.obn += len(b)
	return p
}

func (e *Emulator) dhcpOption(t layers.DHCPOpt, data []byte) {
	e.dhcp.Options = append(e.dhcp.Options, layers.NewDHCPOption(t, data))
}

var (
	dhcpParams    = []byte{1, 3, 6, 15, 26, 28, 51, 58, 59, 43, 114, 108, 119, 121}
	dhcpDomain    = []byte("lan")
	dhcpPadding   [64]byte
	dhcpVendorAnd = []byte("android-dhcp-14")
	dhcpVendorWin = []byte("MSFT 5.0")
)

// dhcpStep: DISCOVER, OFFER, REQUEST, ACK (a host joining) or a unicast
// REQUEST/ACK renewal. The router is the server.
func (e *Emulator) dhcpStep(s *session) {
	h, gw := s.h, e.gw
	if s.step == 0 {
		s.xid = e.rng.Uint32()
		s.x = e.rng.IntN(2) // 0: join, 1: renew
		if s.x == 1 {
			s.step = 2
		}
	}
	msg := [...]layers.DHCPMsgType{layers.DHCPMsgTypeDiscover, layers.DHCPMsgTypeOffer, layers.DHCPMsgTypeRequest, layers.DHCPMsgTypeAck}[s.step]
	client := s.step%2 == 0
	renew := s.x == 1
	e.obn = 0
	d := &e.dhcp
	*d = layers.DHCPv4{HardwareType: layers.LinkTypeEthernet, HardwareLen: 6, Xid: s.xid, ClientHWAddr: h.mac[:],
		Options: e.dhcpOpt[:0]}
	e.dhcpOption(layers.DHCPOptMessageType, e.obytes(byte(msg)))
	if client {
		d.Operation = layers.DHCPOpRequest
		if renew {
			d.ClientIP = h.ip4[:]
		}
		e.dhcpOption(layers.DHCPOptClientID, e.obytes(1, h.mac[0], h.mac[1], h.mac[2], h.mac[3], h.mac[4], h.mac[5]))
		if !renew {
			e.dhcpOption(layers.DHCPOptRequestIP, h.ip4[:])
		}
		if msg == layers.DHCPMsgTypeRequest && !renew {
			e.dhcpOption(layers.DHCPOptServerID, gw.ip4[:])
		}
		e.dhcpOption(layers.DHCPOptMaxMessageSize, e.obytes(0x05, 0xdc))
		switch h.role {
		case rolePhone:
			e.dhcpOption(layers.DHCPOptClassID, dhcpVendorAnd)
		case roleDesktop:
			e.dhcpOption(layers.DHCPOptClassID, dhcpVendorWin)
		}
		e.dhcpOption(layers.DHCPOptHostname, h.name)
		e.dhcpOption(layers.DHCPOptParamsRequest, dhcpParams)
	} else {
		d.Operation = layers.DHCPOpReply
		d.YourClientIP = h.ip4[:]
		if renew {
			d.ClientIP = h.ip4[:]
		}
		e.dhcpOption(layers.DHCPOptServerID, gw.ip4[:])
		e.dhcpOption(layers.DHCPOptLeaseTime, e.obytes(0, 1, 0x51, 0x80)) // 86400 s
		e.dhcpOption(layers.DHCPOptT1, e.obytes(0, 0, 0xa8, 0xc0))
		e.dhcpOption(layers.DHCPOptT2, e.obytes(0, 1, 0x27, 0x50))
		e.dhcpOption(layers.DHCPOptSubnetMask, e.obytes(255, 255, 255, 0))
		e.dhcpOption(layers.DHCPOptBroadcastAddr, e.obytes(192, 168, 1, 255))
		e.dhcpOption(layers.DHCPOptRouter, gw.ip4[:])
		e.dhcpOption(layers.DHCPOptDNS, gw.ip4[:])
		e.dhcpOption(layers.DHCPOptDomainName, dhcpDomain)
	}
	// BOOTP messages are at least 300 bytes: zeros after the End option
	pad := max(0, 300-int(d.Len()))
	e.payload = dhcpPadding[:min(pad, len(dhcpPadding))]
	switch {
	case client && !renew: // from 0.0.0.0 to everyone
		e.udpPacket2(h.mac[:], macBroadcast, ipZero, ipBroadcast, 64, 68, 67)
	case client:
		e.udpPacket2(h.mac[:], gw.mac[:], h.ip4[:], gw.ip4[:], 64, 68, 67)
	default:
		e.udpPacket2(gw.mac[:], h.mac[:], gw.ip4[:], h.ip4[:], 64, 67, 68)
	}
	s.step++
	if s.step == 4 {
		s.done = true
	}
}

// udpPacket2 emits a DHCP packet: e.dhcp followed by e.payload (padding).
func (e *Emulator) udpPacket2(srcMAC, dstMAC, src, dst []byte, ttl uint8, sport, dport uint16) {
	nl := e.l3(srcMAC, dstMAC, src, dst, layers.IPProtocolUDP, ttl, uint16(e.rng.Uint32()), false, 0)
	e.udp = layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
	_ = e.udp.SetNetworkLayerForChecksum(nl)
	e.serialize(&e.eth, nl, &e.udp, &e.dhcp, &e.payload)
}

// ---- ARP ----

// arpStep: a host asks for the router's MAC (or the router for a host's)
// and gets the answer; sometimes a host announces itself (gratuitous).
func (e *Emulator) arpStep(s *session) {
	if s.step == 0 {
		s.x = e.rng.IntN(10) // 0-5 host asks, 6-8 router asks, 9 gratuitous
	}
	asker, target := s.h, e.gw
	if s.x >= 6 && s.x < 9 {
		asker, target = e.gw, s.h
	}
	e.eth = layers.Ethernet{EthernetType: layers.EthernetTypeARP}
	e.arp = layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4}
	switch {
	case s.x == 9:
		e.eth.SrcMAC, e.eth.DstMAC = s.h.mac[:], macBroadcast
		e.arp.Operation = layers.ARPRequest
		e.arp.SourceHwAddress, e.arp.SourceProtAddress = s.h.mac[:], s.h.ip4[:]
		e.arp.DstHwAddress, e.arp.DstProtAddress = macZero, s.h.ip4[:]
		s.done = true
	case s.step == 0:
		e.eth.SrcMAC, e.eth.DstMAC = asker.mac[:], macBroadcast
		e.arp.Operation = layers.ARPRequest
		e.arp.SourceHwAddress, e.arp.SourceProtAddress = asker.mac[:], asker.ip4[:]
		e.arp.DstHwAddress, e.arp.DstProtAddress = macZero, target.ip4[:]
	default:
		e.eth.SrcMAC, e.eth.DstMAC = target.mac[:], asker.mac[:]
		e.arp.Operation = layers.ARPReply
		e.arp.SourceHwAddress, e.arp.SourceProtAddress = target.mac[:], target.ip4[:]
		e.arp.DstHwAddress, e.arp.DstProtAddress = asker.mac[:], asker.ip4[:]
		s.done = true
	}
	s.step++
	e.serialize(&e.eth, &e.arp)
}

// ---- mDNS ----

// mdnsStep: a host asks for a service type on 224.0.0.251 (or ff02::fb)
// and the device offering it answers with PTR, SRV, TXT and address
// records; sometimes a device just announces itself.
func (e *Emulator) mdnsStep(s *session) {
	if s.step == 0 {
		s.v6 = e.rng.IntN(10) < 3
		if len(e.responders) > 0 {
			s.peer = e.responders[e.rng.IntN(len(e.responders))]
		} else {
			s.peer = e.gw
		}
		if s.h == s.peer {
			s.h = e.gw
		}
		if e.rng.IntN(10) < 3 {
			s.step = 1 // unsolicited announcement
		}
	}
	r := s.peer
	d := &e.dns
	*d = layers.DNS{}
	if s.step == 0 {
		e.dnsQ[0] = layers.DNSQuestion{Name: r.mdnsType, Type: layers.DNSTypePTR, Class: layers.DNSClassIN}
		d.Questions = e.dnsQ[:1]
		e.mdnsSend(s.h, s.v6, d)
		s.step++
		return
	}
	const cacheFlush = layers.DNSClass(0x8001)
	d.QR, d.AA = true, true
	rr := e.dnsRR[:0]
	rr = append(rr, layers.DNSResourceRecord{Name: r.mdnsType, Type: layers.DNSTypePTR, Class: layers.DNSClassIN, TTL: 4500, PTR: r.instance})
	d.Answers = rr
	rr = append(rr,
		layers.DNSResourceRecord{Name: r.instance, Type: layers.DNSTypeSRV, Class: cacheFlush, TTL: 120,
			SRV: layers.DNSSRV{Port: r.mdnsPort, Name: r.local}},
		layers.DNSResourceRecord{Name: r.instance, Type: layers.DNSTypeTXT, Class: cacheFlush, TTL: 4500, TXTs: r.txt},
		layers.DNSResourceRecord{Name: r.local, Type: layers.DNSTypeA, Class: cacheFlush, TTL: 120, IP: r.ip4[:]},
		layers.DNSResourceRecord{Name: r.local, Type: layers.DNSTypeAAAA, Class: cacheFlush, TTL: 120, IP: r.ll6[:]},
	)
	d.Additionals = rr[1:]
	e.mdnsSend(r, s.v6, d)
	s.done = true
}

func (e *Emulator) mdnsSend(from *host, v6 bool, d *layers.DNS) {
	if v6 {
		e.udpPacket(from.mac[:], macMDNS6, from.ll6[:], ipMDNS6, 255, 5353, 5353, d)
	} else {
		e.udpPacket(from.mac[:], macMDNS4, from.ip4[:], ipMDNS4, 255, 5353, 5353, d)
	}
}

// ---- SSDP ----

var ssdpST = []byte("urn:dial-multiscreen-org:service:dial:1")

// ssdpStep: an M-SEARCH to 239.255.255.250:1900, then unicast answers
// from the router and (if there is one) a TV.
func (e *Emulator) ssdpStep(s *session) {
	p := e.pay[:0]
	switch s.step {
	case 0:
		s.cPort = s.h.port(e.rng)
		for i := range e.hosts {
			if e.hosts[i].role == roleTV && &e.hosts[i] != s.h {
				s.peer = &e.hosts[i]
				break
			}
		}
		p = append(p, "M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: \"ssdp:discover\"\r\nMX: 1\r\nST: "...)
		p = append(p, ssdpST...)
		p = append(p, "\r\nUSER-AGENT: Google Chrome/124.0.6367.82 Linux\r\n\r\n"...)
		e.udpPacket(s.h.mac[:], macSSDP, s.h.ip4[:], ipSSDP, 4, s.cPort, 1900, e.setPayload(len(p)))
	default:
		r := e.gw
		if s.step == 2 {
			r = s.peer
		}
		p = append(p, "HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=1800\r\nDATE: "...)
		p = e.now().AppendFormat(p, httpDate)
		p = append(p, "\r\nEXT:\r\nLOCATION: http://"...)
		for i, o := range r.ip4 {
			if i > 0 {
				p = append(p, '.')
			}
			p = strconv.AppendUint(p, uint64(o), 10)
		}
		p = append(p, ":8008/ssdp/device-desc.xml\r\nSERVER: Linux/4.9, UPnP/1.0, Portable SDK for UPnP devices/1.14.13\r\nST: "...)
		p = append(p, ssdpST...)
		p = append(p, "\r\nUSN: uuid:2f402f80-da50-11e1-9b23-"...) // time-based UUID with the MAC as node
		for _, b := range r.mac {
			p = append(p, "0123456789abcdef"[b>>4], "0123456789abcdef"[b&15])
		}
		p = append(p, "::"...)
		p = append(p, ssdpST...)
		p = append(p, "\r\n\r\n"...)
		e.udpPacket(r.mac[:], s.h.mac[:], r.ip4[:], s.h.ip4[:], 64, 1900, s.cPort, e.setPayload(len(p)))
	}
	s.step++
	if s.step == 3 || (s.step == 2 && s.peer == nil) {
		s.done = true
	}
}

// ---- ICMP echo ----

var pingTargets = []struct {
	ip  [4]byte
	ttl uint8
}{{[4]byte{8, 8, 8, 8}, 117}, {[4]byte{1, 1, 1, 1}, 57}, {[4]byte{192, 168, 1, 1}, 64}}

var winPing = []byte("abcdefghijklmnopqrstuvwabcdefghi")

// pingStep: four echo requests and replies, Linux or Windows style.
func (e *Emulator) pingStep(s *session) {
	h := s.h
	if s.step == 0 {
		t := pingTargets[e.rng.IntN(len(pingTargets))]
		copy(s.sIP[:], t.ip[:])
		s.sTTL = t.ttl
		s.cPort = uint16(e.rng.Uint32()) // identifier
		s.cID = uint16(e.rng.Uint32())
	}
	seq := uint16(s.step/2 + 1)
	if h.role == roleDesktop {
		seq = s.cID + uint16(s.step/2) // Windows counts globally
	}
	var n int
	if h.role == roleDesktop {
		n = copy(e.pay[:], winPing)
	} else {
		// struct timeval, then 0x10, 0x11, ...
		now := e.now()
		p := e.pay[:56]
		clear(p[:16])
		putU32(p[4:], uint32(now.Unix()))
		putU32(p[12:], uint32(now.Nanosecond()/1000))
		for i := 16; i < 56; i++ {
			p[i] = byte(i)
		}
		n = 56
	}
	pl := e.setPayload(n)
	if s.step%2 == 0 {
		nl := e.l3(h.mac[:], e.gw.mac[:], h.ip4[:], s.sIP[:4], layers.IPProtocolICMPv4, h.ttl, uint16(e.rng.Uint32()), true, 0)
		e.icmp4 = layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0), Id: s.cPort, Seq: seq}
		e.serialize(&e.eth, nl, &e.icmp4, pl)
	} else {
		nl := e.l3(e.gw.mac[:], h.mac[:], s.sIP[:4], h.ip4[:], layers.IPProtocolICMPv4, s.sTTL, uint16(e.rng.Uint32()), false, 0)
		e.icmp4 = layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoReply, 0), Id: s.cPort, Seq: seq}
		e.serialize(&e.eth, nl, &e.icmp4, pl)
	}
	s.step++
	if s.step == 8 {
		s.done = true
	}
}

// ---- NDP ----

// ndpStep: a neighbor solicitation to the solicited-node multicast address
// and the advertisement in answer, between a host and the router.
func (e *Emulator) ndpStep(s *session) {
	asker, target := s.h, e.gw
	if s.step == 0 {
		s.x = e.rng.IntN(3)
	}
	if s.x == 0 {
		asker, target = e.gw, s.h
	}
	if s.step == 0 {
		// ff02::1:ffXX:XXXX and 33:33:ff:XX:XX:XX
		s.sIP = [16]byte{0xff, 0x02, 11: 0x01, 12: 0xff, 13: target.ll6[13], 14: target.ll6[14], 15: target.ll6[15]}
		s.sMAC = [6]byte{0x33, 0x33, 0xff, target.ll6[13], target.ll6[14], target.ll6[15]}
		nl := e.l3(asker.mac[:], s.sMAC[:], asker.ll6[:], s.sIP[:], layers.IPProtocolICMPv6, 255, 0, false, 0)
		e.icmp6 = layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeNeighborSolicitation, 0)}
		e.ndpOpt[0] = layers.ICMPv6Option{Type: layers.ICMPv6OptSourceAddress, Data: asker.mac[:]}
		e.ns = layers.ICMPv6NeighborSolicitation{TargetAddress: target.ll6[:], Options: e.ndpOpt[:1]}
		_ = e.icmp6.SetNetworkLayerForChecksum(nl)
		e.serialize(&e.eth, nl, &e.icmp6, &e.ns)
		s.step++
		return
	}
	nl := e.l3(target.mac[:], asker.mac[:], target.ll6[:], asker.ll6[:], layers.IPProtocolICMPv6, 255, 0, false, 0)
	e.icmp6 = layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeNeighborAdvertisement, 0)}
	e.ndpOpt[0] = layers.ICMPv6Option{Type: layers.ICMPv6OptTargetAddress, Data: target.mac[:]}
	flags := uint8(0x60) // solicited, override
	if target == e.gw {
		flags |= 0x80 // router
	}
	e.na = layers.ICMPv6NeighborAdvertisement{Flags: flags, TargetAddress: target.ll6[:], Options: e.ndpOpt[:1]}
	_ = e.icmp6.SetNetworkLayerForChecksum(nl)
	e.serialize(&e.eth, nl, &e.icmp6, &e.na)
	s.done = true
}
