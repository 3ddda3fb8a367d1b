package emulator

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/hex"
	"math/rand/v2"
	"testing"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestInitialKeysRFC9001 checks key derivation with the test vectors of
// RFC 9001 appendix A.1.
func TestInitialKeysRFC9001(t *testing.T) {
	dcid := unhex(t, "8394c8f03e515708")
	for _, tc := range []struct {
		server      bool
		key, iv, hp string
	}{
		{false, "1f369613dd76d5467730efcbe3b1a22d", "fa044b2f42a3fd3b46fb255c", "9f50449e04a0e810283a1e9933adedd2"},
		{true, "cf3a5331653c364c88f0f379b6067e37", "0ac1493ca1905853b0bba03e", "c206b8d9b9f0f37644430b490eeaa314"},
	} {
		initial := hmacSHA256(quicV1Salt, dcid)
		label := "client in"
		if tc.server {
			label = "server in"
		}
		secret := expandLabel(initial[:], label, 32)
		key := expandLabel(secret[:], "quic key", 16)
		iv := expandLabel(secret[:], "quic iv", 12)
		hp := expandLabel(secret[:], "quic hp", 16)
		if got := hex.EncodeToString(key[:16]); got != tc.key {
			t.Errorf("%s key %s, want %s", label, got, tc.key)
		}
		if got := hex.EncodeToString(iv[:12]); got != tc.iv {
			t.Errorf("%s iv %s, want %s", label, got, tc.iv)
		}
		if got := hex.EncodeToString(hp[:16]); got != tc.hp {
			t.Errorf("%s hp %s, want %s", label, got, tc.hp)
		}
		// and crypto/hkdf agrees
		prk, _ := hkdf.Extract(sha256.New, dcid, quicV1Salt)
		if !bytes.Equal(prk, initial[:]) {
			t.Error("HKDF-Extract differs from crypto/hkdf")
		}
	}
}

func TestAESAndGCMMatchStdlib(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	fill := func(b []byte) {
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
	}
	for i := range 200 {
		key := make([]byte, 16)
		fill(key)
		var a aes128
		a.expand(key)
		std, _ := aes.NewCipher(key)
		src, got, want := make([]byte, 16), make([]byte, 16), make([]byte, 16)
		fill(src)
		a.encrypt(got, src)
		std.Encrypt(want, src)
		if !bytes.Equal(got, want) {
			t.Fatalf("AES block %d: %x, want %x", i, got, want)
		}

		var k initialKey
		k.aead = a
		fill(k.iv[:])
		var h [16]byte
		a.encrypt(h[:], h[:])
		k.gh.init(h[:])
		aad := make([]byte, rng.IntN(60))
		body := make([]byte, rng.IntN(1300))
		fill(aad)
		fill(body)
		gcm, _ := cipher.NewGCM(std)
		wantSealed := gcm.Seal(nil, k.iv[:], body, aad)
		gotSealed := append(bytes.Clone(body), make([]byte, 16)...)
		k.seal(k.iv[:], aad, gotSealed[:len(body)], gotSealed[len(body):])
		if !bytes.Equal(gotSealed, wantSealed) {
			t.Fatalf("GCM seal %d (aad %d, body %d bytes) differs from crypto/cipher", i, len(aad), len(body))
		}
	}
}
