package emulator

import (
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"math/big"
	"sync"
	"time"
)

// TLS messages, byte for byte as a browser and a server write them.
//
// TCP flows negotiate TLS 1.2 (ECDHE-ECDSA-AES128-GCM-SHA256 with an Ed25519
// certificate chain) after a TLS 1.3-capable, Chrome-shaped ClientHello: the
// server sends ServerHello, Certificate, ServerKeyExchange and
// ServerHelloDone in one record, so every record fits its segment and
// gopacket's TLS decoder (which rejects a plaintext handshake record holding
// only a ServerHello) reads every packet. QUIC flows carry a TLS 1.3
// ClientHello and ServerHello in their Initial packets.

const (
	tlsHandshake  = 22
	tlsCCS        = 20
	tlsAlert      = 21
	tlsAppData    = 23
	tlsRecordHdr  = 5
	tlsGCMNonce   = 8  // explicit nonce of an AES-GCM TLS 1.2 record
	tlsGCMTag     = 16 // AES-GCM tag
	tlsMinAppData = tlsRecordHdr + tlsGCMNonce + tlsGCMTag + 1
)

var (
	cipherSuitesTCP = []uint16{0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8,
		0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035}
	cipherSuitesQUIC = []uint16{0x1301, 0x1302, 0x1303}
	sigAlgs          = []uint16{0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601}
)

// appendU16 / appendU24 append big-endian integers.
func appendU16(b []byte, v int) []byte { return append(b, byte(v>>8), byte(v)) }
func appendU24(b []byte, v int) []byte { return append(b, byte(v>>16), byte(v>>8), byte(v)) }

// putU16 / putU24 back-patch a length at b[at:].
func putU16(b []byte, at, v int) { binary.BigEndian.PutUint16(b[at:], uint16(v)) }
func putU24(b []byte, at, v int) { b[at], b[at+1], b[at+2] = byte(v>>16), byte(v>>8), byte(v) }

// ext starts an extension; the returned index is where its length goes.
func ext(b []byte, typ int) ([]byte, int) {
	b = appendU16(b, typ)
	return append(b, 0, 0), len(b)
}

// endExt back-patches the extension length started by ext.
func endExt(b []byte, at int) []byte {
	putU16(b, at, len(b)-at-2)
	return b
}

// helloParams are the per-connection random parts of a ClientHello.
type helloParams struct {
	sni       []byte
	random    *[32]byte
	sessionID []byte // 32 bytes for TCP (middlebox compatibility), empty for QUIC
	keyShare  *[32]byte
	quicTP    []byte // QUIC transport parameters; nil for TCP
}

// appendClientHello appends a ClientHello handshake message (without the
// record header). TCP hellos are padded to 512 bytes as Chrome does.
func appendClientHello(b []byte, p *helloParams) []byte {
	quic := p.quicTP != nil
	start := len(b)
	b = append(b, 1, 0, 0, 0) // type, length
	b = appendU16(b, 0x0303)
	b = append(b, p.random[:]...)
	b = append(b, byte(len(p.sessionID)))
	b = append(b, p.sessionID...)
	cs := cipherSuitesTCP
	if quic {
		cs = cipherSuitesQUIC
	}
	b = appendU16(b, 2*len(cs))
	for _, c := range cs {
		b = appendU16(b, int(c))
	}
	b = append(b, 1, 0) // compression: null
	extStart := len(b)
	b = append(b, 0, 0)

	var at int
	// server_name
	b, at = ext(b, 0x0000)
	b = appendU16(b, len(p.sni)+3)
	b = append(b, 0)
	b = appendU16(b, len(p.sni))
	b = append(b, p.sni...)
	b = endExt(b, at)
	if !quic {
		b, at = ext(b, 0x0017) // extended_master_secret
		b = endExt(b, at)
		b, at = ext(b, 0xff01) // renegotiation_info
		b = append(b, 0)
		b = endExt(b, at)
	}
	b, at = ext(b, 0x000a) // supported_groups: x25519, secp256r1, secp384r1
	b = append(b, 0, 6, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x18)
	b = endExt(b, at)
	if !quic {
		b, at = ext(b, 0x000b) // ec_point_formats: uncompressed
		b = append(b, 1, 0)
		b = endExt(b, at)
		b, at = ext(b, 0x0023) // session_ticket
		b = endExt(b, at)
	}
	b, at = ext(b, 0x0010) // ALPN
	if quic {
		b = append(b, 0, 3, 2, 'h', '3')
	} else {
		b = append(b, 0, 12, 2, 'h', '2', 8, 'h', 't', 't', 'p', '/', '1', '.', '1')
	}
	b = endExt(b, at)
	b, at = ext(b, 0x0005) // status_request (OCSP)
	b = append(b, 1, 0, 0, 0, 0)
	b = endExt(b, at)
	b, at = ext(b, 0x000d) // signature_algorithms
	b = appendU16(b, 2*len(sigAlgs))
	for _, s := range sigAlgs {
		b = appendU16(b, int(s))
	}
	b = endExt(b, at)
	if !quic {
		b, at = ext(b, 0x0012) // signed_certificate_timestamp
		b = endExt(b, at)
	}
	b, at = ext(b, 0x0033) // key_share: x25519
	b = append(b, 0, 36, 0x00, 0x1d, 0, 32)
	b = append(b, p.keyShare[:]...)
	b = endExt(b, at)
	b, at = ext(b, 0x002d) // psk_key_exchange_modes: psk_dhe_ke
	b = append(b, 1, 1)
	b = endExt(b, at)
	b, at = ext(b, 0x002b) // supported_versions
	if quic {
		b = append(b, 2, 0x03, 0x04)
	} else {
		b = append(b, 4, 0x03, 0x04, 0x03, 0x03)
	}
	b = endExt(b, at)
	b, at = ext(b, 0x001b) // compress_certificate: brotli
	b = append(b, 2, 0, 2)
	b = endExt(b, at)
	if quic {
		b, at = ext(b, 0x0039) // quic_transport_parameters
		b = append(b, p.quicTP...)
		b = endExt(b, at)
	} else if n := len(b) - start; n < 512-4 {
		b, at = ext(b, 0x0015) // padding up to 512 bytes
		for range 512 - 4 - n {
			b = append(b, 0)
		}
		b = endExt(b, at)
	}
	putU16(b, extStart, len(b)-extStart-2)
	putU24(b, start+1, len(b)-start-4)
	return b
}

// appendRecordHeader appends a TLS record header with version 1.2.
func appendRecordHeader(b []byte, typ byte, n int) []byte {
	return append(b, typ, 3, 3, byte(n>>8), byte(n))
}

// appendServerFlight12 appends one handshake record holding ServerHello,
// Certificate, ServerKeyExchange and ServerHelloDone (TLS 1.2, ECDHE-ECDSA
// with x25519). random, sessionID and key are the server's per-connection
// values; sig fills the 64-byte signature.
func appendServerFlight12(b []byte, svc *service, random *[32]byte, sessionID []byte, key *[32]byte, sig []byte, h2 bool) []byte {
	rec := len(b)
	b = appendRecordHeader(b, tlsHandshake, 0)
	// ServerHello
	hs := len(b)
	b = append(b, 2, 0, 0, 0)
	b = appendU16(b, 0x0303)
	b = append(b, random[:]...)
	b = append(b, byte(len(sessionID)))
	b = append(b, sessionID...)
	b = appendU16(b, 0xc02b) // TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
	b = append(b, 0)         // null compression
	exts := len(b)
	b = append(b, 0, 0)
	var at int
	b, at = ext(b, 0xff01)
	b = append(b, 0)
	b = endExt(b, at)
	b, at = ext(b, 0x0017)
	b = endExt(b, at)
	b, at = ext(b, 0x000b)
	b = append(b, 1, 0)
	b = endExt(b, at)
	b, at = ext(b, 0x0010)
	if h2 {
		b = append(b, 0, 3, 2, 'h', '2')
	} else {
		b = append(b, 0, 9, 8, 'h', 't', 't', 'p', '/', '1', '.', '1')
	}
	b = endExt(b, at)
	putU16(b, exts, len(b)-exts-2)
	putU24(b, hs+1, len(b)-hs-4)
	// Certificate
	b = append(b, 11)
	b = appendU24(b, svc.chainLen)
	b = appendU24(b, svc.chainLen-3)
	for _, c := range svc.chain {
		b = appendU24(b, len(c))
		b = append(b, c...)
	}
	// ServerKeyExchange: named curve x25519, key, ed25519 signature
	b = append(b, 12)
	b = appendU24(b, 4+32+4+64)
	b = append(b, 3, 0x00, 0x1d, 32)
	b = append(b, key[:]...)
	b = append(b, 0x08, 0x07, 0, 64)
	b = append(b, sig[:64]...)
	// ServerHelloDone
	b = append(b, 14, 0, 0, 0)
	putU16(b, rec+3, len(b)-rec-tlsRecordHdr)
	return b
}

// appendClientFinish12 appends ClientKeyExchange, ChangeCipherSpec and the
// encrypted Finished (explicit nonce 0, as the first record of an epoch).
func appendClientFinish12(b []byte, key *[32]byte, enc []byte) []byte {
	b = appendRecordHeader(b, tlsHandshake, 4+1+32)
	b = append(b, 16, 0, 0, 33, 32)
	b = append(b, key[:]...)
	return appendFinish12(b, enc)
}

// appendFinish12 appends ChangeCipherSpec and an encrypted Finished record:
// 8 zero bytes of explicit nonce then 32 bytes of ciphertext and tag.
func appendFinish12(b []byte, enc []byte) []byte {
	b = appendRecordHeader(b, tlsCCS, 1)
	b = append(b, 1)
	b = appendRecordHeader(b, tlsHandshake, 40)
	b = append(b, 0, 0, 0, 0, 0, 0, 0, 0)
	return append(b, enc[:32]...)
}

// certsOnce builds an Ed25519 certificate chain (leaf + CA) for every
// service. Ed25519 signatures are deterministic, so are the certificates.
var certsOnce sync.Once

func buildCerts() {
	certsOnce.Do(func() {
		for _, s := range services {
			if s.protos&(pHTTPS|pQUIC) == 0 {
				continue
			}
			s.chain = certChain(string(s.name))
			s.chainLen = 3
			for _, c := range s.chain {
				s.chainLen += 3 + len(c)
			}
		}
	})
}

var certEpoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// caCert is the emulator's CA: its key and DER certificate.
var caCert = sync.OnceValues(func() (ed25519.PrivateKey, *x509.Certificate) {
	seed := sha256.Sum256([]byte("edgestat emulator CA"))
	key := ed25519.NewKeyFromSeed(seed[:])
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(0x2025),
		Subject:               pkix.Name{Country: []string{"US"}, Organization: []string{"edgestat"}, CommonName: "edgestat emulator CA"},
		NotBefore:             certEpoch,
		NotAfter:              certEpoch.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(nil, tmpl, tmpl, key.Public(), key)
	if err != nil {
		panic("emulator: CA certificate: " + err.Error())
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		panic("emulator: CA certificate: " + err.Error())
	}
	return key, cert
})

// certChain returns [leaf, CA] DER certificates for name.
func certChain(name string) [][]byte {
	caKey, ca := caCert()
	seed := sha256.Sum256([]byte("edgestat emulator leaf " + name))
	key := ed25519.NewKeyFromSeed(seed[:])
	serial := new(big.Int).SetBytes(seed[:12])
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: name},
		DNSNames:     []string{name},
		NotBefore:    certEpoch,
		NotAfter:     certEpoch.AddDate(1, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(nil, tmpl, ca, key.Public(), caKey)
	if err != nil {
		panic("emulator: leaf certificate: " + err.Error())
	}
	return [][]byte{der, ca.Raw}
}
