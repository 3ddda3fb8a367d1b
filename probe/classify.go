package probe

import (
	"bytes"
	"encoding/binary"
)

// Payload detectors. Each looks at the start of a transport payload and
// returns the MMT id of the application protocol, 0 when it does not
// recognise it. They do not allocate. Ports are used only where a
// signature alone is too weak (NTP, DHCPv6, NetBIOS, banners ...);
// portTCP and portUDP are the fallback when no signature matches.

// detectTCP recognises a TCP payload.
func detectTCP(pl []byte, sport, dport uint16) uint16 {
	if len(pl) == 0 {
		return 0
	}
	switch pl[0] {
	case 0x16, 0x17, 0x15, 0x14:
		if tlsRecord(pl) {
			return idSSL
		}
	case 'S':
		if hasPrefix(pl, "SSH-") {
			return idSSH
		}
		if hasPrefix(pl, "SIP/2.0 ") {
			return idSIP
		}
	case '2':
		if hasPrefix(pl, "220 ") || hasPrefix(pl, "220-") {
			head := pl[:min(len(pl), 128)]
			switch {
			case bytes.Contains(head, []byte("SMTP")) || isPort(sport, dport, 25, 587):
				return idSMTP
			case bytes.Contains(head, []byte("FTP")) || isPort(sport, dport, 21, 21):
				return idFTP
			}
		}
	case '*':
		if hasPrefix(pl, "* OK") {
			return idIMAP
		}
	case '+':
		if hasPrefix(pl, "+OK") {
			return idPOP
		}
	case 'E', 'H':
		if hasPrefix(pl, "EHLO ") || hasPrefix(pl, "HELO ") {
			return idSMTP
		}
	case 'R':
		if hasPrefix(pl, "RFB 00") {
			return idVNC
		}
		if hasPrefix(pl, "RTSP/1.0 ") {
			return idRTSP
		}
	case 0x13:
		if hasPrefix(pl, "\x13BitTorrent protocol") {
			return idBitTorrent
		}
	case 0x03:
		if len(pl) >= 4 && pl[1] == 0 && isPort(sport, dport, 3389, 3389) {
			return idRDP
		}
	case 0x00, 0x81, 0x82, 0x83, 0x84, 0x85:
		if len(pl) >= 8 && hasPrefix(pl[4:], "\xffSMB") || len(pl) >= 8 && hasPrefix(pl[4:], "\xfeSMB") {
			return idSMB
		}
		if isPort(sport, dport, 139, 139) && len(pl) >= 4 && pl[1]&0xfe == 0 &&
			int(binary.BigEndian.Uint16(pl[2:4]))+4 == len(pl) {
			return idNetBIOS
		}
		if pl[0] == 0 && isPort(sport, dport, 53, 53) && dnsMessage(pl[2:], true) {
			return idDNS
		}
	case 0x10:
		if len(pl) >= 8 && bytes.Contains(pl[2:min(len(pl), 10)], []byte("MQTT")) {
			return idMQTT
		}
	case 0xff:
		if len(pl) >= 3 && pl[1] >= 0xfb && pl[1] <= 0xfe && isPort(sport, dport, 23, 23) {
			return idTelnet
		}
	}
	if m := httpMethod(pl); m > 0 {
		if len(pl) > m+5 && hasPrefix(pl[m:], "rtsp:") {
			return idRTSP
		}
		if len(pl) > m+4 && hasPrefix(pl[m:], "sip:") {
			return idSIP
		}
		return idHTTP
	}
	if hasPrefix(pl, "HTTP/1.") {
		return idHTTP
	}
	return 0
}

// detectUDP recognises a UDP payload; name learning (DNS) is elsewhere.
func detectUDP(pl []byte, sport, dport uint16) uint16 {
	n := len(pl)
	if n == 0 {
		return 0
	}
	if id := quicVersion(pl); id != 0 {
		return id
	}
	if n >= 20 && pl[0]&0xc0 == 0 && n%4 == 0 && int(binary.BigEndian.Uint16(pl[2:4]))+20 == n &&
		binary.BigEndian.Uint32(pl[4:8]) == 0x2112a442 {
		return idSTUN
	}
	if n >= 240 && (pl[0] == 1 || pl[0] == 2) && pl[1] == 1 && pl[2] == 6 &&
		binary.BigEndian.Uint32(pl[236:240]) == 0x63825363 {
		return idDHCP
	}
	if hasPrefix(pl, "M-SEARCH * HTTP/1.1") || hasPrefix(pl, "NOTIFY * HTTP/1.1") ||
		hasPrefix(pl, "HTTP/1.1 200 OK") && isPort(sport, dport, 1900, 1900) {
		return idSSDP
	}
	if isPort(sport, dport, 123, 123) && n >= 48 {
		if v, mode := pl[0]>>3&7, pl[0]&7; v >= 1 && v <= 4 && mode >= 1 && mode <= 5 {
			return idNTP
		}
	}
	if isPort(sport, dport, 546, 547) && pl[0] >= 1 && pl[0] <= 13 {
		return idDHCPv6
	}
	if isPort(sport, dport, 137, 137) && n >= 12+34 && dnsHeader(pl) && pl[12] == 0x20 {
		return idNetBIOS
	}
	if isPort(sport, dport, 138, 138) && n >= 14 && pl[0] >= 0x10 && pl[0] <= 0x16 {
		return idNetBIOS
	}
	if isPort(sport, dport, 5353, 5353) && dnsMessage(pl, false) {
		return idMDNS
	}
	if isPort(sport, dport, 5355, 5355) && dnsMessage(pl, false) {
		return idLLMNR
	}
	if dnsMessage(pl, !isPort(sport, dport, 53, 53)) {
		return idDNS
	}
	if hasPrefix(pl, "SIP/2.0 ") || sipRequest(pl) {
		return idSIP
	}
	if isPort(sport, dport, 161, 162) && pl[0] == 0x30 {
		return idSNMP
	}
	if isPort(sport, dport, 514, 514) && pl[0] == '<' {
		return idSyslog
	}
	if isPort(sport, dport, 69, 69) && n >= 4 && pl[0] == 0 && pl[1] >= 1 && pl[1] <= 5 {
		return idTFTP
	}
	if hasPrefix(pl, "d1:ad2:id20:") || hasPrefix(pl, "d1:rd2:id20:") {
		return idBitTorrent
	}
	return 0
}

// portTCP is the fallback guess from a well-known TCP port.
func portTCP(port uint16) uint16 {
	switch port {
	case 80, 8080, 8000, 3128:
		return idHTTP
	case 443, 8443, 465, 993, 995, 853:
		return idSSL
	case 22:
		return idSSH
	case 21:
		return idFTP
	case 23:
		return idTelnet
	case 25, 587:
		return idSMTP
	case 53:
		return idDNS
	case 110:
		return idPOP
	case 143:
		return idIMAP
	case 139:
		return idNetBIOS
	case 445:
		return idSMB
	case 554:
		return idRTSP
	case 1883:
		return idMQTT
	case 3306:
		return idMySQL
	case 3389:
		return idRDP
	case 5432:
		return idPostgres
	case 5060:
		return idSIP
	case 5900, 5901:
		return idVNC
	case 6881, 6882, 6883, 6884, 6885, 6886, 6887, 6888, 6889:
		return idBitTorrent
	}
	return 0
}

// portUDP is the fallback guess from a well-known UDP port.
func portUDP(port uint16) uint16 {
	switch port {
	case 53:
		return idDNS
	case 67, 68:
		return idDHCP
	case 69:
		return idTFTP
	case 123:
		return idNTP
	case 137, 138:
		return idNetBIOS
	case 161, 162:
		return idSNMP
	case 443:
		return idQUICIETF
	case 514:
		return idSyslog
	case 546, 547:
		return idDHCPv6
	case 1900:
		return idSSDP
	case 3478:
		return idSTUN
	case 5060:
		return idSIP
	case 5353:
		return idMDNS
	case 5355:
		return idLLMNR
	case 6881:
		return idBitTorrent
	}
	return 0
}

func isPort(sport, dport, lo, hi uint16) bool {
	return sport >= lo && sport <= hi || dport >= lo && dport <= hi
}

func hasPrefix(b []byte, s string) bool {
	return len(b) >= len(s) && string(b[:len(s)]) == s
}

// httpMethod returns the length of an HTTP request's method and space
// ("GET " is 4), 0 when b does not start with one.
func httpMethod(b []byte) int {
	if len(b) < 5 {
		return 0
	}
	switch b[0] {
	case 'G':
		if hasPrefix(b, "GET ") {
			return 4
		}
	case 'P':
		switch {
		case hasPrefix(b, "POST "):
			return 5
		case hasPrefix(b, "PUT "):
			return 4
		case hasPrefix(b, "PATCH "):
			return 6
		}
	case 'H':
		if hasPrefix(b, "HEAD ") {
			return 5
		}
	case 'D':
		if hasPrefix(b, "DELETE ") {
			return 7
		}
		if hasPrefix(b, "DESCRIBE ") {
			return 9
		}
	case 'O':
		if hasPrefix(b, "OPTIONS ") {
			return 8
		}
	case 'C':
		if hasPrefix(b, "CONNECT ") {
			return 8
		}
	case 'T':
		if hasPrefix(b, "TRACE ") {
			return 6
		}
	}
	return 0
}

func sipRequest(b []byte) bool {
	return hasPrefix(b, "INVITE sip:") || hasPrefix(b, "REGISTER sip:") ||
		hasPrefix(b, "OPTIONS sip:") || hasPrefix(b, "BYE sip:") || hasPrefix(b, "ACK sip:")
}

// tlsRecord reports whether b starts with a TLS record header.
func tlsRecord(b []byte) bool {
	if len(b) < 5 || b[1] != 3 || b[2] > 4 {
		return false
	}
	n := int(binary.BigEndian.Uint16(b[3:5]))
	if n == 0 || n > 1<<14+2048 {
		return false
	}
	if b[0] == 0x16 {
		// A handshake record: a ClientHello or ServerHello first.
		return len(b) < 6 || b[5] == 1 || b[5] == 2
	}
	return true
}

// quicVersion recognises a QUIC long header packet: 661 QUIC_IETF for
// versions 1 and 2, drafts and version negotiation, 627 QUIC for Google's
// QUIC (Q0xx, T0xx, also in the older public header).
func quicVersion(b []byte) uint16 {
	if len(b) < 14 {
		return 0
	}
	if b[0]&0x80 != 0 {
		v := binary.BigEndian.Uint32(b[1:5])
		dcil := int(b[5])
		if dcil > 20 || 6+dcil >= len(b) {
			return 0
		}
		switch {
		case v == 1 || v == 0x6b3343cf || v>>8 == 0xff0000 || v&0x0f0f0f0f == 0x0a0a0a0a:
			if b[0]&0x40 == 0 {
				return 0
			}
			return idQUICIETF
		case v == 0:
			return idQUICIETF
		case (b[1] == 'Q' || b[1] == 'T') && digit(b[2]) && digit(b[3]) && digit(b[4]):
			return idQUIC
		}
		return 0
	}
	// Google QUIC's public header: flags with the version bit, an 8-byte
	// connection id, then "Q0xx".
	if b[0]&0x09 == 0x09 && b[0]&0x80 == 0 && b[9] == 'Q' && digit(b[10]) && digit(b[11]) && digit(b[12]) {
		return idQUIC
	}
	return 0
}

func digit(c byte) bool { return c >= '0' && c <= '9' }

// dnsHeader checks the fixed header of a DNS (or NBNS, mDNS) message.
func dnsHeader(b []byte) bool {
	if len(b) < 12 {
		return false
	}
	opcode := b[2] >> 3 & 0xf
	if opcode > 5 || opcode == 3 {
		return false
	}
	qd := binary.BigEndian.Uint16(b[4:6])
	an := binary.BigEndian.Uint16(b[6:8])
	ns := binary.BigEndian.Uint16(b[8:10])
	ar := binary.BigEndian.Uint16(b[10:12])
	if qd > 16 || an > 256 || ns > 256 || ar > 256 || qd+an+ns+ar == 0 {
		return false
	}
	return true
}

// dnsMessage checks a DNS message: the header and the first record's name
// and type. strict (no DNS port seen) asks for exactly one question.
func dnsMessage(b []byte, strict bool) bool {
	if !dnsHeader(b) {
		return false
	}
	qd := binary.BigEndian.Uint16(b[4:6])
	if strict && (qd != 1 || b[2]&0x80 == 0 && binary.BigEndian.Uint16(b[6:8]) != 0) {
		return false
	}
	end, ok := dnsSkipName(b, 12)
	if !ok || end+4 > len(b) {
		return false
	}
	class := binary.BigEndian.Uint16(b[end+2:end+4]) & 0x7fff
	return class == 1 || class == 3 || class == 4 || class == 255 || !strict
}

// dnsSkipName returns the offset after the name at off.
func dnsSkipName(b []byte, off int) (int, bool) {
	total := 0
	for off < len(b) {
		l := int(b[off])
		switch {
		case l == 0:
			return off + 1, true
		case l&0xc0 == 0xc0:
			if off+2 > len(b) {
				return 0, false
			}
			return off + 2, true
		case l&0xc0 != 0:
			return 0, false
		}
		total += l + 1
		if total > 255 {
			return 0, false
		}
		off += l + 1
	}
	return 0, false
}

// dnsQuestionName writes the first question's name, dotted, into dst and
// returns it; nil when there is none or it is compressed.
func dnsQuestionName(b []byte, dst []byte) []byte {
	if len(b) < 12 || binary.BigEndian.Uint16(b[4:6]) == 0 {
		return nil
	}
	dst = dst[:0]
	off := 12
	for off < len(b) {
		l := int(b[off])
		if l == 0 {
			return dst
		}
		if l&0xc0 != 0 || off+1+l > len(b) || len(dst)+l+1 > cap(dst) {
			return nil
		}
		if len(dst) > 0 {
			dst = append(dst, '.')
		}
		dst = append(dst, b[off+1:off+1+l]...)
		off += l + 1
	}
	return nil
}

// dnsAddr is an address from a DNS answer.
type dnsAddr struct {
	ver  uint8
	addr [2]uint64
}

// dnsAnswers appends the A and AAAA records' addresses of a DNS response
// to out, up to its capacity.
func dnsAnswers(b []byte, out []dnsAddr) []dnsAddr {
	if len(b) < 12 || b[2]&0x80 == 0 {
		return out
	}
	qd := int(binary.BigEndian.Uint16(b[4:6]))
	an := int(binary.BigEndian.Uint16(b[6:8]))
	off := 12
	var ok bool
	for range qd {
		if off, ok = dnsSkipName(b, off); !ok || off+4 > len(b) {
			return out
		}
		off += 4
	}
	for i := 0; i < an && len(out) < cap(out); i++ {
		if off, ok = dnsSkipName(b, off); !ok || off+10 > len(b) {
			return out
		}
		typ := binary.BigEndian.Uint16(b[off:])
		rdlen := int(binary.BigEndian.Uint16(b[off+8:]))
		off += 10
		if off+rdlen > len(b) {
			return out
		}
		switch {
		case typ == 1 && rdlen == 4:
			out = append(out, dnsAddr{4, [2]uint64{uint64(binary.BigEndian.Uint32(b[off:])), 0}})
		case typ == 28 && rdlen == 16:
			out = append(out, dnsAddr{6, [2]uint64{binary.BigEndian.Uint64(b[off:]), binary.BigEndian.Uint64(b[off+8:])}})
		}
		off += rdlen
	}
	return out
}
