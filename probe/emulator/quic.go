package emulator

import "encoding/binary"

// QUIC version 1 (RFC 9000/9001). Each connection has its own connection
// IDs, and its Initial packets are really protected with the keys derived
// from the client's Destination Connection ID, so a dissector (tshark) or
// a classifier can decrypt them and read the ClientHello's SNI. Handshake
// and 1-RTT packets carry random bytes in place of ciphertext, which no
// observer without the keys can tell apart.

const (
	quicVersion1 = 0x00000001
	quicCIDLen   = 8
	// quicClientDatagram is the size Chrome pads client Initial datagrams to.
	quicClientDatagram = 1250
	// quicMaxDatagram is the largest server datagram (Google: 1350 bytes).
	quicMaxDatagram = 1350
)

var quicV1Salt = []byte{0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17,
	0x9a, 0xe6, 0xa4, 0xc8, 0x0c, 0xad, 0xcc, 0xbb, 0x7f, 0x0a}

// appendVarint appends a QUIC variable-length integer.
func appendVarint(b []byte, v uint64) []byte {
	switch {
	case v < 1<<6:
		return append(b, byte(v))
	case v < 1<<14:
		return append(b, byte(v>>8)|0x40, byte(v))
	case v < 1<<30:
		return append(b, byte(v>>24)|0x80, byte(v>>16), byte(v>>8), byte(v))
	default:
		return binary.BigEndian.AppendUint64(b, v|0xc0<<56)
	}
}

// long packet types
const (
	quicInitial   = 0
	quicHandshake = 2
)

// appendLongHeader appends a long header up to and including a one-byte
// packet number; length (a 2-byte varint) counts the packet number, the
// payload and the tag, and may be patched later at pnOff-2.
func appendLongHeader(b []byte, typ byte, dcid, scid []byte, length int, pn byte) ([]byte, int) {
	b = append(b, 0xc0|typ<<4) // packet number length 1
	b = binary.BigEndian.AppendUint32(b, quicVersion1)
	b = append(b, byte(len(dcid)))
	b = append(b, dcid...)
	b = append(b, byte(len(scid)))
	b = append(b, scid...)
	if typ == quicInitial {
		b = append(b, 0) // no token
	}
	b = append(b, byte(length>>8)|0x40, byte(length))
	pnOff := len(b)
	return append(b, pn), pnOff
}

// appendNoiseLong appends a long-header packet whose protected parts
// (reserved bits, packet number, payload) are random: a Handshake packet
// as seen by an observer without the keys.
func appendNoiseLong(b []byte, typ byte, dcid, scid, noise []byte) []byte {
	start := len(b)
	b, _ = appendLongHeader(b, typ, dcid, scid, len(noise), noise[0])
	b[start] |= noise[1] & 0x0f
	return append(b, noise[1:]...)
}

// quicTP are the client's transport parameters, Chrome's give or take.
var quicTP = func() []byte {
	var b []byte
	param := func(id, v uint64) {
		b = appendVarint(b, id)
		var val []byte
		val = appendVarint(val, v)
		b = appendVarint(b, uint64(len(val)))
		b = append(b, val...)
	}
	param(0x01, 30000)     // max_idle_timeout
	param(0x03, 1472)      // max_udp_payload_size
	param(0x04, 15728640)  // initial_max_data
	param(0x05, 6291456)   // initial_max_stream_data_bidi_local
	param(0x06, 6291456)   // initial_max_stream_data_bidi_remote
	param(0x07, 6291456)   // initial_max_stream_data_uni
	param(0x08, 100)       // initial_max_streams_bidi
	param(0x09, 103)       // initial_max_streams_uni
	param(0x20, 65536)     // max_datagram_frame_size
	b = append(b, 0x0f, 0) // initial_source_connection_id: empty
	b = append(b, 0x0c, 0) // disable_active_migration
	return b
}()

var zero16 [16]byte

// sealInitial finishes an Initial packet started at b[start:] whose packet
// number is at pnOff: it reserves the tag, patches the length and
// protects the packet with the client's or the server's keys.
func (e *Emulator) sealInitial(b []byte, start, pnOff int, s *session, server bool) []byte {
	b = append(b, zero16[:]...)
	l := len(b) - pnOff
	b[pnOff-2], b[pnOff-1] = byte(l>>8)|0x40, byte(l)
	e.ik.derive(s.dcid[:], server)
	e.ik.protect(b[start:], pnOff-start)
	return b
}

// appendCrypto appends a CRYPTO frame at offset 0 whose data is appended
// by fn; the length is a 2-byte varint patched afterwards.
func appendCrypto(b []byte, fn func([]byte) []byte) []byte {
	b = append(b, 0x06, 0, 0x40, 0)
	at := len(b)
	b = fn(b)
	n := len(b) - at
	b[at-2], b[at-1] = byte(n>>8)|0x40, byte(n)
	return b
}

// quicClientInitial appends the client's first datagram: an Initial
// packet with CRYPTO(ClientHello), padded to 1250 bytes.
func (e *Emulator) quicClientInitial(b []byte, s *session) []byte {
	start := len(b)
	b, pnOff := appendLongHeader(b, quicInitial, s.dcid[:], nil, 0, 0)
	var random, key [32]byte
	e.fillRandom(random[:])
	e.fillRandom(key[:])
	b = appendCrypto(b, func(b []byte) []byte {
		return appendClientHello(b, &helloParams{sni: s.svc.name, random: &random, keyShare: &key, quicTP: quicTP})
	})
	for len(b)-start < quicClientDatagram-16 {
		b = append(b, 0) // PADDING frames
	}
	return e.sealInitial(b, start, pnOff, s, false)
}

// quicServerInitial appends the server's first datagram: an Initial with
// ACK and CRYPTO(ServerHello), then a Handshake packet (encrypted
// extensions, certificate ...) filling the datagram.
func (e *Emulator) quicServerInitial(b []byte, s *session) []byte {
	start := len(b)
	b, pnOff := appendLongHeader(b, quicInitial, nil, s.scid[:], 0, 0)
	b = append(b, 0x02, 0, byte(e.rng.IntN(40)), 0, 0) // ACK of packet 0
	var rnd [64]byte
	e.fillRandom(rnd[:])
	b = appendCrypto(b, func(b []byte) []byte {
		hs := len(b)
		b = append(b, 2, 0, 0, 0, 0x03, 0x03)
		b = append(b, rnd[:32]...)
		b = append(b, 0, 0x13, 0x01, 0) // no session id, TLS_AES_128_GCM_SHA256, null compression
		b = append(b, 0, 46)
		b = append(b, 0x00, 0x2b, 0, 2, 0x03, 0x04)         // supported_versions: TLS 1.3
		b = append(b, 0x00, 0x33, 0, 36, 0x00, 0x1d, 0, 32) // key_share: x25519
		b = append(b, rnd[32:]...)
		putU24(b, hs+1, len(b)-hs-4)
		return b
	})
	b = e.sealInitial(b, start, pnOff, s, true)
	hdr := 1 + 4 + 1 + 1 + quicCIDLen + 2 + 1
	return appendNoiseLong(b, quicHandshake, nil, s.scid[:], e.noiseBytes(quicClientDatagram-(len(b)-start)-hdr+1))
}

// quicClientFinish appends the client's second datagram: an Initial with
// the ACK of the server's Initial (padded), then a Handshake packet with
// its Finished.
func (e *Emulator) quicClientFinish(b []byte, s *session) []byte {
	start := len(b)
	b, pnOff := appendLongHeader(b, quicInitial, s.scid[:], nil, 0, 1)
	b = append(b, 0x02, 0, byte(e.rng.IntN(40)), 0, 0)
	const hs = 1 + 4 + 1 + quicCIDLen + 1 + 2 + 58
	for len(b)-start < quicClientDatagram-16-hs {
		b = append(b, 0)
	}
	b = e.sealInitial(b, start, pnOff, s, false)
	return appendNoiseLong(b, quicHandshake, s.scid[:], nil, e.noiseBytes(58))
}
