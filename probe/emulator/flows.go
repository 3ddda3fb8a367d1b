package emulator

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"strconv"
)

// choose picks a service by weight.
func (p *pick) choose(rng *rand.Rand) *service {
	r := rng.IntN(p.cum[len(p.cum)-1])
	for i, c := range p.cum {
		if r < c {
			return p.svcs[i]
		}
	}
	return p.svcs[len(p.svcs)-1]
}

// logUniform returns an integer spread evenly in log scale over [lo, hi].
func logUniform(rng *rand.Rand, lo, hi int) int {
	l, h := math.Log(float64(lo)), math.Log(float64(hi))
	return int(math.Exp(l + float64(rng.Float64()*(h-l)))) // no fused multiply-add: same result everywhere
}

// startSession starts a new conversation of a random kind.
func (e *Emulator) startSession() {
	s := e.free[len(e.free)-1]
	e.free = e.free[:len(e.free)-1]
	s.reset()
	e.active = append(e.active, s)

	r := e.rng.IntN(kindCum[nKinds-1])
	k := kind(0)
	for kindCum[k] <= r {
		k++
	}
	s.kind = k
	s.h = &e.hosts[e.rng.IntN(len(e.hosts))]
	switch k {
	case kHTTPS:
		e.initRemoteTCP(s, pickHTTPS.choose(e.rng), 443)
		s.h2 = e.rng.IntN(10) < 8
		s.reqs = 1 + e.rng.IntN(5)
		if s.svc.bulk == 2 {
			s.reqs = 1 + e.rng.IntN(2)
		}
	case kHTTP:
		e.initRemoteTCP(s, pickHTTP.choose(e.rng), 80)
		s.reqs = 1 + e.rng.IntN(2)
	case kQUIC:
		e.initQUIC(s)
	case kSSH:
		e.initSSH(s)
	case kNTP:
		svc := pickNTP.choose(e.rng)
		e.initRemote(s, svc, 123)
		s.cPort = 123
		if s.h.role == rolePhone || s.h.role == roleLaptop {
			s.cPort = s.h.port(e.rng) // ntpd uses port 123, phones and laptops an ephemeral one
		}
		if e.rng.IntN(2) == 0 {
			e.lookup(s)
		}
	case kDNS:
		e.initDNS(s)
	}
}

// initRemote fills the addresses of a conversation between s.h and svc.
func (e *Emulator) initRemote(s *session, svc *service, port uint16) {
	h := s.h
	s.svc = svc
	s.addrIdx = e.rng.IntN(len(svc.addrs))
	s.cMAC, s.sMAC = h.mac, e.gw.mac
	copy(s.cIP[:], h.ip4[:])
	copy(s.sIP[:], svc.addrs[s.addrIdx])
	s.cTTL, s.sTTL = h.ttl, svc.ttl
	s.cID, s.sID = uint16(e.rng.Uint32()), uint16(e.rng.Uint32())
	s.cPort, s.sPort = h.port(e.rng), port
	s.flow = e.rng.Uint32()
}

// lookup makes the conversation start with a DNS lookup of its service.
func (e *Emulator) lookup(s *session) {
	s.dnsLeft = 2
	if e.rng.IntN(10) < 3 {
		s.dnsAAAA = true
		s.dnsLeft = 4
	}
	s.dns6 = e.rng.IntN(10) < 2
	s.dnsPort = s.h.port(e.rng)
	s.dnsID = uint16(e.rng.Uint32())
	s.qname = s.svc.name
	s.edns = s.h.role == roleLaptop || s.h.role == roleDesktop
}

// initTCP sets the TCP parameters of a conversation.
func (e *Emulator) initTCP(s *session, mss int) {
	s.cSeq, s.sSeq = e.rng.Uint32(), e.rng.Uint32()
	s.cWin, s.sWin = uint16(502+e.rng.IntN(1500)), uint16(260+e.rng.IntN(800))
	s.cTS, s.sTS = s.h.tsOff, e.rng.Uint32()
	if s.v6 {
		mss = min(mss, 1440)
	}
	s.synMSS = mss
	s.sWS = uint8(7 + e.rng.IntN(3))
	seg := mss - 12 // timestamps option
	s.cMSS, s.sMSS = seg, seg
	s.clientCloses = e.rng.IntN(10) < 7
	s.rst = e.rng.IntN(100) < 3
}

func (e *Emulator) initRemoteTCP(s *session, svc *service, port uint16) {
	e.initRemote(s, svc, port)
	e.initTCP(s, int(svc.mss))
	if e.rng.IntN(10) < 6 {
		e.lookup(s)
	}
}

func (e *Emulator) initQUIC(s *session) {
	svc := pickQUIC.choose(e.rng)
	e.initRemote(s, svc, 443)
	e.fillRandom(s.dcid[:])
	e.fillRandom(s.scid[:])
	s.cMSS, s.sMSS = quicClientDatagram, quicMaxDatagram
	s.reqs = 1 + e.rng.IntN(6)
	if svc.bulk == 2 {
		s.reqs = 1 + e.rng.IntN(2)
	}
	if e.rng.IntN(10) < 6 {
		e.lookup(s)
	}
}

func (e *Emulator) initSSH(s *session) {
	if len(e.laptops) > 0 {
		s.h = e.laptops[e.rng.IntN(len(e.laptops))]
	}
	var nas *host
	for _, n := range e.nas {
		if n != s.h {
			nas = n
			break
		}
	}
	if nas == nil || e.rng.IntN(10) < 3 {
		e.initRemoteTCP(s, svcGitHub, 22)
		s.reqs = 1 + e.rng.IntN(3)
		return
	}
	// interactive session on the NAS, over IPv6 ULA now and then
	h := s.h
	s.peer = nas
	s.v6 = e.rng.IntN(10) < 4
	s.cMAC, s.sMAC = h.mac, nas.mac
	if s.v6 {
		s.cIP, s.sIP = h.ula, nas.ula
	} else {
		copy(s.cIP[:], h.ip4[:])
		copy(s.sIP[:], nas.ip4[:])
	}
	s.cTTL, s.sTTL = h.ttl, nas.ttl
	s.cID, s.sID = uint16(e.rng.Uint32()), uint16(e.rng.Uint32())
	s.cPort, s.sPort = h.port(e.rng), 22
	s.flow = e.rng.Uint32()
	e.initTCP(s, 1460)
	s.reqs = 20 + e.rng.IntN(120)
}

// step makes the next packet of s.
func (e *Emulator) step(s *session) {
	if s.dnsLeft > 0 {
		e.lookupStep(s)
		return
	}
	switch s.kind {
	case kHTTPS, kHTTP, kSSH:
		e.tcpStep(s)
	case kQUIC:
		e.quicStep(s)
	case kNTP:
		e.ntpStep(s)
	case kDHCP:
		e.dhcpStep(s)
	case kARP:
		e.arpStep(s)
	case kMDNS:
		e.mdnsStep(s)
	case kSSDP:
		e.ssdpStep(s)
	case kPing:
		e.pingStep(s)
	case kNDP:
		e.ndpStep(s)
	}
}

// tcpStep walks the TCP lifecycle: handshake, data, close.
func (e *Emulator) tcpStep(s *session) {
	switch s.tst {
	case tcpSYN:
		s.synMS = uint32(e.vt.Milliseconds())
		e.tcpSegment(s, true, fSYN, 0)
		s.tst = tcpSYNACK
	case tcpSYNACK:
		e.tcpSegment(s, false, fSYN|fACK, 0)
		s.tst = tcpACK
	case tcpACK:
		e.tcpSegment(s, true, fACK, 0)
		s.tst = tcpData
	case tcpData:
		if e.dataStep(s) {
			return
		}
		if s.rst {
			e.tcpSegment(s, s.clientCloses, fRST|fACK, 0)
			s.done = true
			return
		}
		e.tcpSegment(s, s.clientCloses, fFIN|fACK, 0)
		s.tst = tcpFIN2
	case tcpFIN2:
		e.tcpSegment(s, !s.clientCloses, fFIN|fACK, 0)
		s.tst = tcpLastACK
	case tcpLastACK:
		e.tcpSegment(s, s.clientCloses, fACK, 0)
		s.done = true
	}
}

// quicStep runs a QUIC connection on the message engine; it ends with a
// CONNECTION_CLOSE from the client or by falling silent (idle timeout).
func (e *Emulator) quicStep(s *session) {
	if e.dataStep(s) {
		return
	}
	s.done = true
	if s.x == 0 {
		// CONNECTION_CLOSE in a short-header packet
		n := e.quicShort(true, s, 30+e.rng.IntN(12))
		e.udpFlowPacket(s, true, n)
	}
}

// dataStep emits one packet of the data phase, or returns false when the
// conversation has nothing more to say (and nothing left to acknowledge).
func (e *Emulator) dataStep(s *session) bool {
	if s.msgOff >= s.msgLen {
		if !e.nextMsg(s) {
			if s.owed > 0 {
				e.ack(s, !s.owedDir)
				return true
			}
			return false
		}
		s.msgOff = 0
	}
	// Before a message the receiver of the last one acknowledges it,
	// unless this message is its immediate answer (which carries the ACK).
	// Within a message the receiver acknowledges every second segment.
	if s.owed > 0 && ((s.msgOff == 0 && (s.dir == s.owedDir || !s.immediate)) || s.owed >= 2) {
		e.ack(s, !s.owedDir)
		return true
	}
	c2s := s.dir
	n := e.fill(s)
	last := s.msgOff >= s.msgLen
	if s.kind == kQUIC {
		e.udpFlowPacket(s, c2s, n)
	} else {
		var fl uint8 = fACK
		if last {
			fl |= fPSH
		}
		e.tcpSegment(s, c2s, fl, n)
	}
	if c2s != s.owedDir {
		s.owed = 0
	}
	s.owedDir = c2s
	if !s.noAck {
		s.owed++
	}
	return true
}

// ack emits an acknowledgement from the client (c2s) or the server.
func (e *Emulator) ack(s *session, c2s bool) {
	s.owed = 0
	if s.kind == kQUIC {
		n := e.quicShort(c2s, s, 28+e.rng.IntN(16))
		e.udpFlowPacket(s, c2s, n)
		return
	}
	e.tcpSegment(s, c2s, fACK, 0)
}

// nextMsg sets up the next message of the conversation.
func (e *Emulator) nextMsg(s *session) bool {
	s.immediate, s.noAck = true, false
	var ok bool
	switch s.kind {
	case kHTTPS:
		ok = e.nextHTTPS(s)
	case kHTTP:
		ok = e.nextHTTP(s)
	case kSSH:
		ok = e.nextSSH(s)
	case kQUIC:
		ok = e.nextQUIC(s)
	}
	s.msgIdx++
	return ok
}

// setHead makes b (built in s.head) the whole next message.
func (s *session) setHead(c2s bool, b []byte) {
	if len(b) > 0 && &b[0] != &s.head[0] {
		panic("emulator: message outgrew its session buffer")
	}
	s.dir, s.mk = c2s, mkHead
	s.headLen, s.msgLen = len(b), len(b)
}

// fill writes the next segment of the current message into e.pay and
// returns its length.
func (e *Emulator) fill(s *session) int {
	rem := s.msgLen - s.msgOff
	n := min(rem, s.sMSS)
	if s.dir {
		n = min(rem, s.cMSS)
	}
	p := e.pay[:]
	switch s.mk {
	case mkHead:
		copy(p[:n], s.head[s.msgOff:])
	case mkHTTP:
		k := 0
		if s.msgOff < s.headLen {
			k = copy(p[:n], s.head[s.msgOff:s.headLen])
		}
		if k < n {
			if s.body != nil {
				off := s.msgOff + k - s.headLen
				for k < n {
					i := off % len(s.body)
					c := copy(p[k:n], s.body[i:])
					k += c
					off += c
				}
			} else {
				copy(p[k:n], e.noiseBytes(n-k))
			}
		}
	case mkTLS:
		if rest := rem - n; rest > 0 && rest < tlsMinAppData {
			n = rem - tlsMinAppData
		}
		seq := &s.tlsSeqS
		if s.dir {
			seq = &s.tlsSeqC
		}
		*seq++
		p[0], p[1], p[2] = tlsAppData, 3, 3
		putU16(p, 3, n-tlsRecordHdr)
		putU32(p[5:], uint32(*seq>>32))
		putU32(p[9:], uint32(*seq))
		copy(p[13:n], e.noiseBytes(n-13))
	case mkNoise:
		copy(p[:n], e.noiseBytes(n))
	case mkShort:
		if rest := rem - n; rest > 0 && rest < 32 {
			n = rem - 32
		}
		n = e.quicShort(s.dir, s, n)
	}
	s.msgOff += n
	return n
}

// quicShort writes a short-header packet of n bytes into e.pay: first
// byte, the server's connection ID when the client sends, then protected
// bytes.
func (e *Emulator) quicShort(c2s bool, s *session, n int) int {
	p := e.pay[:n]
	p[0] = 0x40 | byte(e.rng.Uint32())&0x3f
	k := 1
	if c2s {
		k += copy(p[1:], s.scid[:])
	}
	copy(p[k:], e.noiseBytes(n-k))
	return n
}

// responseSize draws the size of a response body for a service.
func responseSize(rng *rand.Rand, bulk uint8) int {
	r := rng.IntN(100)
	switch bulk {
	case 0:
		switch {
		case r < 70:
			return logUniform(rng, 200, 6000)
		case r < 95:
			return logUniform(rng, 6000, 60000)
		}
		return logUniform(rng, 60000, 300000)
	case 1:
		switch {
		case r < 45:
			return logUniform(rng, 300, 10000)
		case r < 85:
			return logUniform(rng, 10000, 200000)
		}
		return logUniform(rng, 200000, 800000)
	}
	if r < 20 {
		return logUniform(rng, 500, 20000)
	}
	return logUniform(rng, 200000, 1500000)
}

// nextHTTPS: ClientHello, the server's TLS 1.2 flight, the client's and
// the server's Finished, then requests and responses in application data
// records, and sometimes an encrypted close_notify.
func (e *Emulator) nextHTTPS(s *session) bool {
	var k32 [32]byte
	switch i := s.msgIdx; i {
	case 0:
		var random [32]byte
		e.fillRandom(random[:])
		e.fillRandom(k32[:])
		var sid [32]byte
		e.fillRandom(sid[:])
		b := appendRecordHeader(s.head[:0], tlsHandshake, 0)
		b[2] = 1 // record version 1.0 in the first ClientHello, as browsers do
		b = appendClientHello(b, &helloParams{sni: s.svc.name, random: &random, sessionID: sid[:], keyShare: &k32})
		putU16(b, 3, len(b)-tlsRecordHdr)
		s.setHead(true, b)
		s.immediate = false
	case 1:
		var random, sid [32]byte
		e.fillRandom(random[:])
		e.fillRandom(sid[:])
		e.fillRandom(k32[:])
		b := appendServerFlight12(s.head[:0], s.svc, &random, sid[:], &k32, e.noiseBytes(64), s.h2)
		s.setHead(false, b)
	case 2:
		e.fillRandom(k32[:])
		s.setHead(true, appendClientFinish12(s.head[:0], &k32, e.noiseBytes(32)))
	case 3:
		s.setHead(false, appendFinish12(s.head[:0], e.noiseBytes(32)))
	default:
		j := i - 4
		if j/2 >= s.reqs {
			if s.x == 0 && s.clientCloses && e.rng.IntN(2) == 0 {
				// encrypted close_notify alert
				s.x = 1
				s.tlsSeqC++
				b := appendRecordHeader(s.head[:0], tlsAlert, 26)
				b = append(b, 0, 0, 0, 0, 0, 0, 0, byte(s.tlsSeqC))
				b = append(b, e.noiseBytes(18)...)
				s.setHead(true, b)
				s.immediate = false
				return true
			}
			return false
		}
		s.mk = mkTLS
		if j%2 == 0 {
			s.dir = true
			s.msgLen = logUniform(e.rng, 80, 1200)
			s.immediate = j == 0
		} else {
			s.dir = false
			s.msgLen = responseSize(e.rng, s.svc.bulk) + 40
		}
		s.msgLen = max(s.msgLen, tlsMinAppData+8)
	}
	return true
}

// fillRandom fills p from the generator: values that must not repeat
// across connections (randoms, keys, connection IDs), unlike noiseBytes.
func (e *Emulator) fillRandom(p []byte) {
	for len(p) >= 8 {
		binary.LittleEndian.PutUint64(p, e.rng.Uint64())
		p = p[8:]
	}
	if len(p) > 0 {
		v := e.rng.Uint64()
		for i := range p {
			p[i] = byte(v >> (8 * i))
		}
	}
}

const httpDate = "Mon, 02 Jan 2006 15:04:05 GMT"

// nextHTTP: a GET with Host, then a response with Content-Type and
// Content-Length, one or two rounds on a keep-alive connection.
func (e *Emulator) nextHTTP(s *session) bool {
	j := s.msgIdx
	if j/2 >= s.reqs {
		return false
	}
	svc := s.svc
	if j%2 == 0 {
		s.x = e.rng.IntN(len(svc.paths))
		b := append(s.head[:0], "GET "...)
		b = append(b, svc.paths[s.x]...)
		b = append(b, " HTTP/1.1\r\nHost: "...)
		b = append(b, svc.name...)
		b = append(b, "\r\nUser-Agent: "...)
		b = append(b, s.h.ua...)
		b = append(b, "\r\nAccept: */*\r\nAccept-Encoding: identity\r\nConnection: keep-alive\r\n\r\n"...)
		s.setHead(true, b)
		s.immediate = j == 0
		return true
	}
	ctype := svc.ctypes[s.x]
	body := 0
	var b []byte
	if svc.status == 204 {
		b = append(s.head[:0], "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nDate: "...)
		b = e.now().AppendFormat(b, httpDate)
		b = append(b, "\r\n\r\n"...)
		s.setHead(false, b)
		return true
	}
	body, s.body = bodySize(e.rng, ctype)
	b = append(s.head[:0], "HTTP/1.1 200 OK\r\nDate: "...)
	b = e.now().AppendFormat(b, httpDate)
	b = append(b, "\r\nServer: "...)
	b = append(b, svc.server...)
	b = append(b, "\r\nContent-Type: "...)
	b = append(b, ctype...)
	b = append(b, "\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(body), 10)
	b = append(b, "\r\nCache-Control: max-age=3600\r\nAccept-Ranges: bytes\r\nConnection: keep-alive\r\n\r\n"...)
	s.setHead(false, b)
	s.mk = mkHTTP
	s.msgLen = len(b) + body
	return true
}

// bodySize draws a body size that suits the Content-Type, and gives the
// bytes to repeat (nil for compressed media: random bytes).
func bodySize(rng *rand.Rand, ctype []byte) (int, []byte) {
	switch string(ctype) {
	case "text/plain":
		return logUniform(rng, 8, 4000), htmlBody
	case "text/html":
		return logUniform(rng, 69, 40000), htmlBody
	case "application/javascript":
		return logUniform(rng, 20000, 400000), htmlBody
	case "application/ocsp-response":
		return len(ocspResponse), ocspResponse
	case "image/webp", "image/avif":
		return logUniform(rng, 20000, 400000), nil
	case "application/vnd.ms-cab-compressed":
		return logUniform(rng, 60000, 300000), nil
	}
	return logUniform(rng, 200000, 1500000), nil
}

// nextSSH: banners, the cleartext key exchange, then encrypted packets:
// an interactive shell on the NAS, or git fetches from github.com.
func (e *Emulator) nextSSH(s *session) bool {
	i := s.msgIdx
	switch i {
	case 0:
		s.setHead(false, append(s.head[:0], sshServerBanner...))
		s.immediate = false
		return true
	case 1:
		s.setHead(true, append(s.head[:0], sshClientBanner...))
		return true
	case 2:
		b := append(s.head[:0], sshKexinitClient...)
		e.fillRandom(b[sshCookieOff : sshCookieOff+16])
		s.setHead(true, b)
		return true
	case 3:
		b := append(s.head[:0], sshKexinitServer...)
		e.fillRandom(b[sshCookieOff : sshCookieOff+16])
		s.setHead(false, b)
		return true
	case 4:
		b := append(s.head[:0], sshECDHInit...)
		e.fillRandom(b[sshInitKeyOff : sshInitKeyOff+32])
		s.setHead(true, b)
		return true
	case 5:
		b := append(s.head[:0], sshECDHReply...)
		e.fillRandom(b[sshReplyKeyOff : sshReplyKeyOff+32])
		e.fillRandom(b[sshReplySigOff : sshReplySigOff+64])
		s.setHead(false, b)
		return true
	case 6:
		s.setHead(true, append(s.head[:0], sshNewkeys...))
		return true
	}
	// encrypted: authentication, then the session
	j := i - 7
	s.mk = mkNoise
	s.dir = j%2 == 0
	if j < 6 {
		// service request/accept, publickey auth, channel open
		sizes := [...]int{sshEncLen(17), sshEncLen(17), sshEncLen(420), sshEncLen(350), sshEncLen(24), sshEncLen(16)}
		s.msgLen = sizes[j]
		return true
	}
	round := (j - 6) / 2
	if round >= s.reqs {
		return false
	}
	if s.peer == nil {
		// git over SSH: a request, then a pack
		if s.dir {
			s.msgLen = sshEncLen(logUniform(e.rng, 60, 400))
			s.immediate = round == 0
		} else {
			s.msgLen = logUniform(e.rng, 2000, 400000)
		}
		return true
	}
	// interactive: a keystroke and its echo, sometimes a screenful
	if s.dir {
		s.msgLen = sshEncLen(10)
		s.immediate = e.rng.IntN(2) == 0
	} else if e.rng.IntN(10) == 0 {
		s.msgLen = sshEncLen(logUniform(e.rng, 100, 6000))
	} else {
		s.msgLen = sshEncLen(10)
	}
	return true
}

// nextQUIC: the handshake datagrams of the connection's template, then
// requests and responses in short-header packets.
func (e *Emulator) nextQUIC(s *session) bool {
	i := s.msgIdx
	switch i {
	case 0:
		s.setHead(true, e.quicClientInitial(s.head[:0], s))
		s.noAck, s.immediate = true, false
		return true
	case 1:
		s.setHead(false, e.quicServerInitial(s.head[:0], s))
		s.noAck = true
		return true
	case 2:
		// second server datagram: the rest of the certificate chain
		s.setHead(false, appendNoiseLong(s.head[:0], quicHandshake, nil, s.scid[:], e.noiseBytes(400+e.rng.IntN(800))))
		s.noAck = true
		return true
	case 3:
		s.setHead(true, e.quicClientFinish(s.head[:0], s))
		s.noAck = true
		return true
	}
	j := i - 4
	if j/2 >= s.reqs {
		if e.rng.IntN(2) == 0 {
			s.x = 1 // falls silent
		}
		return false
	}
	s.mk = mkShort
	if j%2 == 0 {
		s.dir = true
		s.msgLen = logUniform(e.rng, 50, 600)
		s.immediate = j == 0
	} else {
		s.dir = false
		s.msgLen = responseSize(e.rng, s.svc.bulk) + 60
	}
	return true
}
