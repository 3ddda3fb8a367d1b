package emulator

import (
	"crypto/sha256"
	"encoding/binary"
)

// SSH transport (RFC 4253) as OpenSSH 9.6 speaks it: version banners, the
// cleartext key exchange (KEXINIT, curve25519 ECDH, NEWKEYS), then
// chacha20-poly1305 packets: 4 bytes of encrypted length, a payload padded
// to 8 bytes, a 16-byte tag.

var (
	sshClientBanner = []byte("SSH-2.0-OpenSSH_9.6\r\n")
	sshServerBanner = []byte("SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13.5\r\n")
)

const (
	sshMsgKexinit  = 20
	sshMsgNewkeys  = 21
	sshMsgECDHInit = 30
	sshMsgECDHRep  = 31
	sshCookieOff   = 6 // offset of the 16-byte cookie in a KEXINIT packet
	// offsets of the random parts of the ECDH packets
	sshInitKeyOff  = 10  // client key in ECDH init
	sshReplyKeyOff = 65  // server key in ECDH reply
	sshReplySigOff = 120 // signature in ECDH reply
)

var (
	sshKexClient = "curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256,ecdh-sha2-nistp384," +
		"ecdh-sha2-nistp521,diffie-hellman-group-exchange-sha256,diffie-hellman-group16-sha512," +
		"diffie-hellman-group18-sha512,diffie-hellman-group14-sha256,ext-info-c,kex-strict-c-v00@openssh.com"
	sshKexServer = "curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256,ecdh-sha2-nistp384," +
		"ecdh-sha2-nistp521,diffie-hellman-group-exchange-sha256,diffie-hellman-group16-sha512," +
		"diffie-hellman-group18-sha512,diffie-hellman-group14-sha256,kex-strict-s-v00@openssh.com"
	sshHostKeyClient = "ssh-ed25519-cert-v01@openssh.com,ecdsa-sha2-nistp256-cert-v01@openssh.com," +
		"rsa-sha2-512-cert-v01@openssh.com,rsa-sha2-256-cert-v01@openssh.com,ssh-ed25519," +
		"ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,rsa-sha2-512,rsa-sha2-256"
	sshHostKeyServer = "rsa-sha2-512,rsa-sha2-256,ecdsa-sha2-nistp256,ssh-ed25519"
	sshCiphers       = "chacha20-poly1305@openssh.com,aes128-ctr,aes192-ctr,aes256-ctr,aes128-gcm@openssh.com,aes256-gcm@openssh.com"
	sshMACs          = "umac-64-etm@openssh.com,umac-128-etm@openssh.com,hmac-sha2-256-etm@openssh.com," +
		"hmac-sha2-512-etm@openssh.com,hmac-sha1-etm@openssh.com,umac-64@openssh.com,umac-128@openssh.com," +
		"hmac-sha2-256,hmac-sha2-512,hmac-sha1"
	sshCompClient = "none,zlib@openssh.com"
	sshCompServer = "none,zlib@openssh.com"
)

// sshPacket wraps payload in a cleartext binary packet: length, padding
// length, payload, zero padding to a multiple of 8 (at least 4 bytes).
func sshPacket(payload []byte) []byte {
	pad := 8 - (5+len(payload))%8
	if pad < 4 {
		pad += 8
	}
	b := binary.BigEndian.AppendUint32(nil, uint32(1+len(payload)+pad))
	b = append(b, byte(pad))
	b = append(b, payload...)
	return append(b, make([]byte, pad)...)
}

func sshString(b []byte, s []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

func sshKexinit(kex, hostKey, comp string) []byte {
	p := []byte{sshMsgKexinit}
	p = append(p, make([]byte, 16)...) // cookie, filled per connection
	for _, l := range []string{kex, hostKey, sshCiphers, sshCiphers, sshMACs, sshMACs, comp, comp, "", ""} {
		p = sshString(p, []byte(l))
	}
	p = append(p, 0, 0, 0, 0, 0) // first_kex_packet_follows, reserved
	return sshPacket(p)
}

var (
	sshKexinitClient = sshKexinit(sshKexClient, sshHostKeyClient, sshCompClient)
	sshKexinitServer = sshKexinit(sshKexServer, sshHostKeyServer, sshCompServer)
	// ECDH init: the client's curve25519 key (key bytes at offset 10).
	sshECDHInit = sshPacket(sshString([]byte{sshMsgECDHInit}, make([]byte, 32)))
	// ECDH reply: host key blob, server key, signature; then NEWKEYS.
	sshECDHReply = func() []byte {
		pub := sha256.Sum256([]byte("edgestat emulator ssh host key"))
		hostKey := sshString(sshString(nil, []byte("ssh-ed25519")), pub[:])
		sig := sshString(sshString(nil, []byte("ssh-ed25519")), make([]byte, 64))
		p := []byte{sshMsgECDHRep}
		p = sshString(p, hostKey)
		p = sshString(p, make([]byte, 32))
		p = sshString(p, sig)
		return append(sshPacket(p), sshNewkeys...)
	}()
	sshNewkeys = sshPacket([]byte{sshMsgNewkeys})
)

// sshEncLen is the wire size of an encrypted chacha20-poly1305 packet
// carrying n payload bytes (the length field is outside the alignment).
func sshEncLen(n int) int {
	pad := 8 - (1+n)%8
	if pad < 4 {
		pad += 8
	}
	return 4 + 1 + n + pad + 16
}
