package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// tlsHandshakeWait bounds a TLS handshake: a client that opens TLS and then
// stalls holds a sniffing slot no longer than this.
const tlsHandshakeWait = 10 * time.Second

// TLSConfig is the server side of TLS for every protocol on the port:
// HTTP/1.1 only (the WebSocket upgrade and our sniffing need it).
func TLSConfig(cert tls.Certificate) *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"http/1.1"},
	}
}

// LoadCert reads a PEM certificate (chain) and key.
func LoadCert(certFile, keyFile string) (tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("tls: %w", err)
	}
	return cert, nil
}

// AutoCert returns the self-signed certificate kept in dir, making it the
// first time: ECDSA P-256, for ten years, naming hosts (names and
// addresses). The same certificate every start, so a browser or a client
// told to trust it once keeps trusting it.
func AutoCert(dir string, hosts []string) (tls.Certificate, error) {
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if _, err := os.Stat(certFile); err == nil {
		if fi, err := os.Stat(keyFile); err == nil && fi.Mode().Perm()&0o077 != 0 {
			return tls.Certificate{}, fmt.Errorf("tls: %s is readable by others (mode %v): chmod 600 it", keyFile, fi.Mode().Perm())
		}
		return LoadCert(certFile, keyFile)
	} else if !errors.Is(err, os.ErrNotExist) {
		return tls.Certificate{}, fmt.Errorf("tls: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("tls: key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("tls: serial: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "edgestat", Organization: []string{"edgestat appliance"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(10, 0, 0),
		// Its own CA, so "trust this certificate" works in browsers and
		// system stores alike.
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("tls: certificate: %w", err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("tls: key: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return tls.Certificate{}, fmt.Errorf("tls: %w", err)
	}
	// The key first: a cert.pem without its key would be loaded next time.
	if err := writeFileAtomic(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return tls.Certificate{}, err
	}
	if err := writeFileAtomic(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return tls.Certificate{}, err
	}
	return LoadCert(certFile, keyFile)
}

func writeFileAtomic(name string, data []byte, perm os.FileMode) error {
	tmp := name + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, name)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("tls: write %s: %w", name, err)
	}
	return nil
}

// Fingerprint is the SHA-256 of a certificate, as browsers show it.
func Fingerprint(cert tls.Certificate) string {
	if len(cert.Certificate) == 0 {
		return ""
	}
	sum := sha256.Sum256(cert.Certificate[0])
	return hex.EncodeToString(sum[:])
}

// tlsConnKey marks, in a request's context, a connection that came over
// TLS (net/http sets r.TLS only for connections it accepted as *tls.Conn
// itself; ours arrive wrapped, after sniffing).
type tlsConnKey struct{}

// isTLS reports whether the request came over TLS.
func isTLS(r *http.Request) bool {
	v, _ := r.Context().Value(tlsConnKey{}).(bool)
	return v || r.TLS != nil
}

// connContext is the http.Server's ConnContext: it notes TLS connections.
func connContext(ctx context.Context, c net.Conn) context.Context {
	if isTLSConn(c) {
		return context.WithValue(ctx, tlsConnKey{}, true)
	}
	return ctx
}

// isTLSConn looks through the wrappers the listener puts around a conn.
func isTLSConn(c net.Conn) bool {
	for {
		switch v := c.(type) {
		case *tls.Conn:
			return true
		case *peekedConn:
			c = v.Conn
		case *limitedConn:
			c = v.Conn
		default:
			return false
		}
	}
}
