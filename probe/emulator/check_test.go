package emulator_test

// Independent checks of emulated packets: checksums recomputed from the
// bytes, protocols recognized from decoded layers and payloads, QUIC
// Initial packets decrypted with the standard library.

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// sum16 is the Internet checksum's one's complement sum of b.
func sum16(b []byte, acc uint32) uint32 {
	for len(b) >= 2 {
		acc += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		acc += uint32(b[0]) << 8
	}
	return acc
}

func fold(acc uint32) uint16 {
	for acc > 0xffff {
		acc = acc>>16 + acc&0xffff
	}
	return uint16(acc)
}

// checkFrame verifies the lengths and checksums of an Ethernet frame by
// hand: IPv4 header, TCP, UDP, ICMP and ICMPv6.
func checkFrame(frame []byte) error {
	if len(frame) < 60 {
		return fmt.Errorf("frame of %d bytes, below the Ethernet minimum of 60", len(frame))
	}
	et := binary.BigEndian.Uint16(frame[12:])
	p := frame[14:]
	var proto byte
	var pseudo uint32
	var l4 []byte
	switch et {
	case 0x0806:
		return nil
	case 0x0800:
		ihl := int(p[0]&0x0f) * 4
		total := int(binary.BigEndian.Uint16(p[2:]))
		if total > len(p) || ihl < 20 {
			return fmt.Errorf("IPv4 total length %d, %d bytes present", total, len(p))
		}
		if fold(sum16(p[:ihl], 0)) != 0xffff {
			return fmt.Errorf("bad IPv4 header checksum %04x", binary.BigEndian.Uint16(p[10:]))
		}
		if total < len(p) && len(frame) != 60 {
			return fmt.Errorf("%d bytes after the IPv4 packet in a %d-byte frame", len(p)-total, len(frame))
		}
		proto = p[9]
		l4 = p[ihl:total]
		pseudo = sum16(p[12:20], 0) + uint32(proto) + uint32(len(l4))
	case 0x86dd:
		plen := int(binary.BigEndian.Uint16(p[4:]))
		if 40+plen > len(p) {
			return fmt.Errorf("IPv6 payload length %d, %d bytes present", plen, len(p)-40)
		}
		proto = p[6]
		l4 = p[40 : 40+plen]
		pseudo = sum16(p[8:40], 0) + uint32(proto) + uint32(len(l4))
	default:
		return fmt.Errorf("unexpected EtherType %04x", et)
	}
	switch proto {
	case 6, 58:
		if fold(sum16(l4, pseudo)) != 0xffff {
			return fmt.Errorf("bad checksum of IP protocol %d", proto)
		}
	case 17:
		if int(binary.BigEndian.Uint16(l4[4:])) != len(l4) {
			return fmt.Errorf("UDP length %d, datagram of %d", binary.BigEndian.Uint16(l4[4:]), len(l4))
		}
		if binary.BigEndian.Uint16(l4[6:]) == 0 || fold(sum16(l4, pseudo)) != 0xffff {
			return fmt.Errorf("bad UDP checksum")
		}
	case 1:
		if fold(sum16(l4, 0)) != 0xffff {
			return fmt.Errorf("bad ICMP checksum")
		}
	default:
		return fmt.Errorf("unexpected IP protocol %d", proto)
	}
	return nil
}

// Protocols, as the tests recognize them.
const (
	pARP       = "ARP"
	pDNS       = "DNS"
	pMDNS      = "mDNS"
	pHTTP      = "HTTP"
	pTLS       = "TLS"
	pQUIC      = "QUIC"
	pNTP       = "NTP"
	pDHCP      = "DHCP"
	pSSH       = "SSH"
	pSSDP      = "SSDP"
	pICMP      = "ICMP"
	pICMPv6    = "ICMPv6"
	pUDPOther  = "other UDP"
	pOtherType = "other"
)

// observation is what one packet showed.
type observation struct {
	proto string
	bare  bool // a TCP segment without payload (handshake, ACK, FIN)
	// details, when the packet has them
	sni       string // TLS ClientHello server name
	quicInit  bool   // long header Initial, version 1, to port 443
	quicFlow  string // its client address and port
	quicPkt   []byte // its UDP payload
	httpReq   bool   // request line and Host header
	httpResp  bool   // status line with Content-Type (or a 204)
	sshBanner bool
	ntpMode   layers.NTPMode
	dhcpMsg   layers.DHCPMsgType
	arpOp     uint16
	mdns      bool // to 224.0.0.251 or ff02::fb, decodes as DNS
	dnsAnswer bool
}

// observe recognizes the protocol of a decoded packet.
func observe(pkt gopacket.Packet) (observation, error) {
	var o observation
	if l := pkt.Layer(layers.LayerTypeARP); l != nil {
		o.proto, o.arpOp = pARP, l.(*layers.ARP).Operation
		return o, nil
	}
	if pkt.Layer(layers.LayerTypeICMPv4) != nil {
		o.proto = pICMP
		return o, nil
	}
	if pkt.Layer(layers.LayerTypeICMPv6) != nil {
		o.proto = pICMPv6
		return o, nil
	}
	if l := pkt.Layer(layers.LayerTypeTCP); l != nil {
		tcp := l.(*layers.TCP)
		pl := tcp.Payload
		sp, dp := tcp.SrcPort, tcp.DstPort
		o.bare = len(pl) == 0
		switch {
		case o.bare && (sp == 443 || dp == 443):
			o.proto = pTLS
		case o.bare && (sp == 80 || dp == 80):
			o.proto = pHTTP
		case o.bare && (sp == 22 || dp == 22):
			o.proto = pSSH
		case sp == 443 || dp == 443:
			o.proto = pTLS
			if pl[0] != 0x14 && pl[0] != 0x15 && pl[0] != 0x16 && pl[0] != 0x17 {
				return o, fmt.Errorf("TLS segment starting with %#x", pl[0])
			}
			if pl[0] == 0x16 && len(pl) > 5 && pl[5] == 1 {
				sni, err := parseClientHelloSNI(pl[5:])
				if err != nil {
					return o, err
				}
				o.sni = sni
			}
		case sp == 80 || dp == 80:
			o.proto = pHTTP
			s := string(pl)
			o.httpReq = strings.HasPrefix(s, "GET ") && strings.Contains(s, " HTTP/1.1\r\nHost: ")
			o.httpResp = strings.HasPrefix(s, "HTTP/1.1 ") &&
				(strings.Contains(s, "\r\nContent-Type: ") || strings.HasPrefix(s, "HTTP/1.1 204 "))
		case sp == 22 || dp == 22:
			o.proto = pSSH
			o.sshBanner = bytes.HasPrefix(pl, []byte("SSH-2.0-OpenSSH_9.6"))
		default:
			return o, fmt.Errorf("TCP ports %d -> %d", sp, dp)
		}
		return o, nil
	}
	l := pkt.Layer(layers.LayerTypeUDP)
	if l == nil {
		o.proto = pOtherType
		return o, nil
	}
	udp := l.(*layers.UDP)
	pl := udp.Payload
	sp, dp := udp.SrcPort, udp.DstPort
	switch {
	case sp == 53 || dp == 53:
		o.proto = pDNS
		d, ok := pkt.Layer(layers.LayerTypeDNS).(*layers.DNS)
		if !ok || len(d.Questions) != 1 {
			return o, fmt.Errorf("DNS on port 53 without a question")
		}
		o.dnsAnswer = d.QR && len(d.Answers) > 0
	case sp == 5353 && dp == 5353:
		o.proto = pMDNS
		dst := pkt.NetworkLayer().NetworkFlow().Dst().String()
		var d layers.DNS
		if err := d.DecodeFromBytes(pl, gopacket.NilDecodeFeedback); err != nil {
			return o, fmt.Errorf("mDNS payload: %v", err)
		}
		o.mdns = dst == "224.0.0.251" || dst == "ff02::fb"
	case dp == 443 || sp == 443:
		o.proto = pQUIC
		if dp == 443 && len(pl) > 5 && pl[0]&0xb0 == 0x80 && binary.BigEndian.Uint32(pl[1:]) == 1 {
			o.quicInit = true
			o.quicFlow = pkt.NetworkLayer().NetworkFlow().Src().String() + ":" + sp.String()
			o.quicPkt = pl
		}
	case sp == 123 || dp == 123:
		o.proto = pNTP
		n, ok := pkt.Layer(layers.LayerTypeNTP).(*layers.NTP)
		if !ok {
			return o, fmt.Errorf("NTP on port 123 does not decode")
		}
		o.ntpMode = n.Mode
	case sp == 67 || sp == 68:
		o.proto = pDHCP
		d, ok := pkt.Layer(layers.LayerTypeDHCPv4).(*layers.DHCPv4)
		if !ok {
			return o, fmt.Errorf("DHCP does not decode")
		}
		for _, opt := range d.Options {
			if opt.Type == layers.DHCPOptMessageType && len(opt.Data) == 1 {
				o.dhcpMsg = layers.DHCPMsgType(opt.Data[0])
			}
		}
	case sp == 1900 || dp == 1900:
		o.proto = pSSDP
	default:
		o.proto = pUDPOther
	}
	return o, nil
}

// parseClientHelloSNI reads the server_name extension of a handshake
// message that is a ClientHello.
func parseClientHelloSNI(hs []byte) (string, error) {
	bad := func(what string) (string, error) { return "", fmt.Errorf("ClientHello: %s", what) }
	if len(hs) < 4 || hs[0] != 1 {
		return bad("not a ClientHello")
	}
	n := int(hs[1])<<16 | int(hs[2])<<8 | int(hs[3])
	if len(hs) < 4+n {
		return bad("truncated")
	}
	b := hs[4 : 4+n]
	if len(b) < 35 {
		return bad("short")
	}
	b = b[34:] // version, random
	sid := int(b[0])
	if len(b) < 1+sid+2 {
		return bad("session id")
	}
	b = b[1+sid:]
	cs := int(binary.BigEndian.Uint16(b))
	if len(b) < 2+cs+1 {
		return bad("cipher suites")
	}
	b = b[2+cs:]
	cm := int(b[0])
	if len(b) < 1+cm+2 {
		return bad("compression")
	}
	b = b[1+cm:]
	el := int(binary.BigEndian.Uint16(b))
	if len(b) != 2+el {
		return bad("extensions length")
	}
	b = b[2:]
	sni := ""
	for len(b) > 0 {
		if len(b) < 4 {
			return bad("extension header")
		}
		typ, l := binary.BigEndian.Uint16(b), int(binary.BigEndian.Uint16(b[2:]))
		if len(b) < 4+l {
			return bad("extension body")
		}
		if typ == 0 {
			v := b[4 : 4+l]
			if len(v) < 5 || v[2] != 0 || int(binary.BigEndian.Uint16(v))+2 != len(v) {
				return bad("server_name")
			}
			sni = string(v[5 : 5+int(binary.BigEndian.Uint16(v[3:]))])
		}
		b = b[4+l:]
	}
	if sni == "" {
		return bad("no server_name")
	}
	return sni, nil
}

// stdExpandLabel is HKDF-Expand-Label with crypto/hkdf.
func stdExpandLabel(secret []byte, label string, n int) []byte {
	info := []byte{byte(n >> 8), byte(n), byte(6 + len(label))}
	info = append(info, "tls13 "+label...)
	info = append(info, 0)
	out, err := hkdf.Expand(sha256.New, secret, string(info), n)
	if err != nil {
		panic(err)
	}
	return out
}

var initialSalt = []byte{0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17,
	0x9a, 0xe6, 0xa4, 0xc8, 0x0c, 0xad, 0xcc, 0xbb, 0x7f, 0x0a}

// stdInitialKeys derives Initial keys with the standard library.
func stdInitialKeys(dcid []byte, label string) (key, iv, hp []byte) {
	initial, err := hkdf.Extract(sha256.New, dcid, initialSalt)
	if err != nil {
		panic(err)
	}
	secret := stdExpandLabel(initial, label, 32)
	return stdExpandLabel(secret, "quic key", 16), stdExpandLabel(secret, "quic iv", 12), stdExpandLabel(secret, "quic hp", 16)
}

// decryptInitialSNI removes the protection of a client Initial packet with
// crypto/aes and crypto/cipher (keys from origDCID, the connection's first
// Destination Connection ID, or from the packet's own when nil) and returns
// the SNI of its ClientHello, or "" when it carries none.
func decryptInitialSNI(pkt, origDCID []byte) (string, error) {
	p := bytes.Clone(pkt)
	off := 5
	dcid := p[off+1 : off+1+int(p[off])]
	if origDCID != nil {
		dcid = origDCID
	}
	off += 1 + int(p[off])
	off += 1 + int(p[off]) // scid
	tok := int(p[off])     // token length (< 64)
	off += 1 + tok
	if p[off]&0xc0 != 0x40 {
		return "", fmt.Errorf("QUIC length is not a 2-byte varint")
	}
	length := int(binary.BigEndian.Uint16(p[off:]) & 0x3fff)
	off += 2
	pnOff := off
	key, iv, hpKey := stdInitialKeys(dcid, "client in")
	hp, _ := aes.NewCipher(hpKey)
	mask := make([]byte, 16)
	hp.Encrypt(mask, p[pnOff+4:pnOff+20])
	p[0] ^= mask[0] & 0x0f
	pnLen := int(p[0]&3) + 1
	var pn uint64
	for i := range pnLen {
		p[pnOff+i] ^= mask[1+i]
		pn = pn<<8 | uint64(p[pnOff+i])
	}
	if p[0]&0x0c != 0 {
		return "", fmt.Errorf("QUIC reserved bits set after header protection removal")
	}
	block, _ := aes.NewCipher(key)
	aead, _ := cipher.NewGCM(block)
	nonce := bytes.Clone(iv)
	for i := range 8 {
		nonce[11-i] ^= byte(pn >> (8 * i))
	}
	end := pnOff + length
	if end > len(p) {
		return "", fmt.Errorf("QUIC length %d beyond the datagram", length)
	}
	plain, err := aead.Open(nil, nonce, p[pnOff+pnLen:end], p[:pnOff+pnLen])
	if err != nil {
		return "", fmt.Errorf("QUIC Initial does not decrypt: %v", err)
	}
	// frames: CRYPTO at offset 0 with the ClientHello, or ACK and PADDING
	switch plain[0] {
	case 0x06:
		if plain[1] != 0 || plain[2]&0xc0 != 0x40 {
			return "", fmt.Errorf("unexpected CRYPTO frame encoding")
		}
		n := int(binary.BigEndian.Uint16(plain[2:]) & 0x3fff)
		return parseClientHelloSNI(plain[4 : 4+n])
	case 0x02:
		return "", nil
	}
	return "", fmt.Errorf("unexpected frame type %#x in a client Initial", plain[0])
}

// initialDCID returns the Destination Connection ID of a long header.
func initialDCID(pkt []byte) []byte { return bytes.Clone(pkt[6 : 6+int(pkt[5])]) }
