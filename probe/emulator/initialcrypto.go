package emulator

import (
	"crypto/sha256"
	"encoding/binary"
	"math/bits"
)

// QUIC Initial packet protection (RFC 9001 section 5) without allocating.
//
// Initial keys are public by design (derived from the Destination
// Connection ID the client sends in clear), so this is not security code:
// it exists because crypto/aes and crypto/cipher allocate their cipher
// objects, and a fresh connection ID per QUIC connection means fresh keys.
// The tests check it against crypto/hkdf, crypto/aes and crypto/cipher and
// against the test vectors of RFC 9001 appendix A.

// hmacSHA256 computes HMAC-SHA256(key, msg) for keys up to 64 bytes and
// messages up to 64 bytes.
func hmacSHA256(key, msg []byte) [32]byte {
	var buf [128]byte
	var k [64]byte
	copy(k[:], key)
	for i := range k {
		buf[i] = k[i] ^ 0x36
	}
	n := copy(buf[64:], msg)
	inner := sha256.Sum256(buf[:64+n])
	for i := range k {
		buf[i] = k[i] ^ 0x5c
	}
	copy(buf[64:], inner[:])
	return sha256.Sum256(buf[:96])
}

// expandLabel is HKDF-Expand-Label(secret, label, "", n) for n <= 32.
func expandLabel(secret []byte, label string, n int) [32]byte {
	var info [64]byte
	b := info[:0]
	b = append(b, byte(n>>8), byte(n), byte(6+len(label)))
	b = append(b, "tls13 "...)
	b = append(b, label...)
	b = append(b, 0, 1) // empty context, then HKDF's block counter
	return hmacSHA256(secret, b)
}

// initialKey is one direction's Initial packet protection.
type initialKey struct {
	aead aes128
	iv   [12]byte
	hp   aes128
	gh   ghash
}

// derive sets k to the client's (or the server's) Initial keys for
// the client's original Destination Connection ID.
func (k *initialKey) derive(dcid []byte, server bool) {
	initial := hmacSHA256(quicV1Salt, dcid) // HKDF-Extract
	label := "client in"
	if server {
		label = "server in"
	}
	secret := expandLabel(initial[:], label, 32)
	key := expandLabel(secret[:], "quic key", 16)
	iv := expandLabel(secret[:], "quic iv", 12)
	hp := expandLabel(secret[:], "quic hp", 16)
	k.aead.expand(key[:16])
	copy(k.iv[:], iv[:12])
	k.hp.expand(hp[:16])
	var h [16]byte
	k.aead.encrypt(h[:], h[:])
	k.gh.init(h[:])
}

// protect seals an Initial packet in place: pkt holds the header (ending
// with a one-byte packet number at pnOff), the plaintext, and 16 bytes of
// room for the tag. Then it applies header protection.
func (k *initialKey) protect(pkt []byte, pnOff int) {
	hdr := pkt[:pnOff+1]
	body := pkt[pnOff+1 : len(pkt)-16]
	tag := pkt[len(pkt)-16:]
	nonce := k.iv
	nonce[11] ^= pkt[pnOff]
	k.seal(nonce[:], hdr, body, tag)
	var mask [16]byte
	k.hp.encrypt(mask[:], pkt[pnOff+4:pnOff+20])
	pkt[0] ^= mask[0] & 0x0f
	pkt[pnOff] ^= mask[1]
}

// seal is AES-128-GCM with a 96-bit nonce: it encrypts body in place and
// writes the tag.
func (k *initialKey) seal(nonce, aad, body, tag []byte) {
	var ctr, ks, tagMask [16]byte
	copy(ctr[:], nonce)
	ctr[15] = 1
	k.aead.encrypt(tagMask[:], ctr[:])
	for off := 0; off < len(body); off += 16 {
		c := binary.BigEndian.Uint32(ctr[12:]) + 1
		binary.BigEndian.PutUint32(ctr[12:], c)
		k.aead.encrypt(ks[:], ctr[:])
		blk := body[off:min(off+16, len(body))]
		for i := range blk {
			blk[i] ^= ks[i]
		}
	}
	var y [2]uint64
	k.gh.update(&y, aad)
	k.gh.update(&y, body)
	y[0] ^= uint64(len(aad)) * 8
	y[1] ^= uint64(len(body)) * 8
	k.gh.mul(&y)
	binary.BigEndian.PutUint64(tag, y[0])
	binary.BigEndian.PutUint64(tag[8:], y[1])
	for i := range 16 {
		tag[i] ^= tagMask[i]
	}
}

// ---- AES-128 (FIPS 197), table driven ----

func init() { primeAES() }

var (
	aesSbox        [256]byte
	aesTe          [4][256]uint32
	ghashReduction = [16]uint16{
		0x0000, 0x1c20, 0x3840, 0x2460, 0x7080, 0x6ca0, 0x48c0, 0x54e0,
		0xe100, 0xfd20, 0xd940, 0xc560, 0x9180, 0x8da0, 0xa9c0, 0xb5e0,
	}
)

func xtime(b byte) byte {
	if b&0x80 != 0 {
		return b<<1 ^ 0x1b
	}
	return b << 1
}

// primeAES computes the S-box (multiplicative inverse in GF(2^8), then the
// affine map) and the round tables.
func primeAES() {
	p, q := byte(1), byte(1)
	for {
		p ^= xtime(p) // p *= 3
		// q /= 3
		q ^= q << 1
		q ^= q << 2
		q ^= q << 4
		if q&0x80 != 0 {
			q ^= 0x09
		}
		aesSbox[p] = q ^ bits.RotateLeft8(q, 1) ^ bits.RotateLeft8(q, 2) ^ bits.RotateLeft8(q, 3) ^ bits.RotateLeft8(q, 4) ^ 0x63
		if p == 1 {
			break
		}
	}
	aesSbox[0] = 0x63
	for i := range 256 {
		s := aesSbox[i]
		w := uint32(xtime(s))<<24 | uint32(s)<<16 | uint32(s)<<8 | uint32(xtime(s)^s)
		for t := range 4 {
			aesTe[t][i] = bits.RotateLeft32(w, -8*t)
		}
	}
}

type aes128 struct{ rk [44]uint32 }

func subWord(w uint32) uint32 {
	return uint32(aesSbox[w>>24])<<24 | uint32(aesSbox[w>>16&0xff])<<16 | uint32(aesSbox[w>>8&0xff])<<8 | uint32(aesSbox[w&0xff])
}

func (a *aes128) expand(key []byte) {
	for i := range 4 {
		a.rk[i] = binary.BigEndian.Uint32(key[4*i:])
	}
	rcon := byte(1)
	for i := 4; i < 44; i++ {
		t := a.rk[i-1]
		if i%4 == 0 {
			t = subWord(bits.RotateLeft32(t, 8)) ^ uint32(rcon)<<24
			rcon = xtime(rcon)
		}
		a.rk[i] = a.rk[i-4] ^ t
	}
}

func (a *aes128) encrypt(dst, src []byte) {
	te0, te1, te2, te3 := &aesTe[0], &aesTe[1], &aesTe[2], &aesTe[3]
	s0 := binary.BigEndian.Uint32(src[0:]) ^ a.rk[0]
	s1 := binary.BigEndian.Uint32(src[4:]) ^ a.rk[1]
	s2 := binary.BigEndian.Uint32(src[8:]) ^ a.rk[2]
	s3 := binary.BigEndian.Uint32(src[12:]) ^ a.rk[3]
	for r := 1; r < 10; r++ {
		k := a.rk[4*r : 4*r+4]
		t0 := te0[s0>>24] ^ te1[s1>>16&0xff] ^ te2[s2>>8&0xff] ^ te3[s3&0xff] ^ k[0]
		t1 := te0[s1>>24] ^ te1[s2>>16&0xff] ^ te2[s3>>8&0xff] ^ te3[s0&0xff] ^ k[1]
		t2 := te0[s2>>24] ^ te1[s3>>16&0xff] ^ te2[s0>>8&0xff] ^ te3[s1&0xff] ^ k[2]
		t3 := te0[s3>>24] ^ te1[s0>>16&0xff] ^ te2[s1>>8&0xff] ^ te3[s2&0xff] ^ k[3]
		s0, s1, s2, s3 = t0, t1, t2, t3
	}
	sb := &aesSbox
	f := func(a, b, c, d uint32) uint32 {
		return uint32(sb[a>>24])<<24 | uint32(sb[b>>16&0xff])<<16 | uint32(sb[c>>8&0xff])<<8 | uint32(sb[d&0xff])
	}
	binary.BigEndian.PutUint32(dst[0:], f(s0, s1, s2, s3)^a.rk[40])
	binary.BigEndian.PutUint32(dst[4:], f(s1, s2, s3, s0)^a.rk[41])
	binary.BigEndian.PutUint32(dst[8:], f(s2, s3, s0, s1)^a.rk[42])
	binary.BigEndian.PutUint32(dst[12:], f(s3, s0, s1, s2)^a.rk[43])
}

// ---- GHASH (NIST SP 800-38D) with a 4-bit table ----

// ghash holds the multiples of H; element [0] is the first 8 bytes of a
// block as a big-endian integer, [1] the last 8.
type ghash struct{ table [16][2]uint64 }

func reverse4(i int) int {
	i = (i<<2)&0xc | (i>>2)&0x3
	return (i<<1)&0xa | (i>>1)&0x5
}

func ghashDouble(x [2]uint64) [2]uint64 {
	msb := x[1]&1 == 1
	d := [2]uint64{x[0] >> 1, x[1]>>1 | x[0]<<63}
	if msb {
		d[0] ^= 0xe100000000000000
	}
	return d
}

func (g *ghash) init(h []byte) {
	x := [2]uint64{binary.BigEndian.Uint64(h), binary.BigEndian.Uint64(h[8:])}
	g.table[0] = [2]uint64{}
	g.table[reverse4(1)] = x
	for i := 2; i < 16; i += 2 {
		g.table[reverse4(i)] = ghashDouble(g.table[reverse4(i/2)])
		t := g.table[reverse4(i)]
		g.table[reverse4(i+1)] = [2]uint64{t[0] ^ x[0], t[1] ^ x[1]}
	}
}

// mul sets y to y*H.
func (g *ghash) mul(y *[2]uint64) {
	var z [2]uint64
	for i := range 2 {
		word := y[1-i]
		for j := 0; j < 64; j += 4 {
			msw := z[1] & 0xf
			z[1] = z[1]>>4 | z[0]<<60
			z[0] = z[0]>>4 ^ uint64(ghashReduction[msw])<<48
			t := &g.table[word&0xf]
			z[0] ^= t[0]
			z[1] ^= t[1]
			word >>= 4
		}
	}
	*y = z
}

// update absorbs data, zero-padded to whole blocks.
func (g *ghash) update(y *[2]uint64, data []byte) {
	for len(data) > 0 {
		var blk [16]byte
		n := copy(blk[:], data)
		data = data[n:]
		y[0] ^= binary.BigEndian.Uint64(blk[:])
		y[1] ^= binary.BigEndian.Uint64(blk[8:])
		g.mul(y)
	}
}
