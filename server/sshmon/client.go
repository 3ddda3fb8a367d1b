package sshmon

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/julienschmidt/httprouter"
	"golang.org/x/crypto/ssh"
)

// A Target is a host to monitor and how to log in. Password and Key are
// secrets: never logged, never echoed.
type Target struct {
	User     string
	Host     string
	Port     int
	Password string
	Key      []byte // a private key in PEM (OpenSSH or PKCS#8), unencrypted
}

// SSHKey names a target as the notifications do: "user@host:port".
func (t Target) SSHKey() string {
	return t.User + "@" + net.JoinHostPort(t.Host, strconv.Itoa(t.Port))
}

func (t Target) addr() string { return net.JoinHostPort(t.Host, strconv.Itoa(t.Port)) }

// ErrHostKeyChanged is returned when a host shows a key other than the one
// pinned for it.
var ErrHostKeyChanged = errors.New("sshmon: the host's key changed")

// KnownHosts pins host keys in SQLite on first use.
type KnownHosts struct{ db *sql.DB }

// NewKnownHosts keeps host keys in db's ssh_host_keys table.
func NewKnownHosts(db *sql.DB) *KnownHosts { return &KnownHosts{db: db} }

// check is an ssh.HostKeyCallback: the first key of a host is stored, a
// later different one refused.
func (k *KnownHosts) check(hostport string, _ net.Addr, key ssh.PublicKey) error {
	var stored []byte
	var fp string
	err := k.db.QueryRow(`SELECT key, fingerprint FROM ssh_host_keys WHERE host = ?`, hostport).Scan(&stored, &fp)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if _, err := k.db.Exec(`INSERT INTO ssh_host_keys(host, key_type, key, fingerprint, first_seen) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT(host) DO NOTHING`, hostport, key.Type(), key.Marshal(), ssh.FingerprintSHA256(key), time.Now().UnixMilli()); err != nil {
			return fmt.Errorf("sshmon: pin the host key of %s: %w", hostport, err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("sshmon: read the host key of %s: %w", hostport, err)
	case bytes.Equal(stored, key.Marshal()):
		return nil
	}
	return fmt.Errorf("%w: %s showed %s, pinned %s; if the host was reinstalled, accept the new key (DELETE /monitor/hostkeys/%s)",
		ErrHostKeyChanged, hostport, ssh.FingerprintSHA256(key), fp, hostport)
}

// Forget drops a host's pinned key, so that the next connection pins the
// key it shows: the deliberate acceptance of a new key.
func (k *KnownHosts) Forget(hostport string) (bool, error) {
	res, err := k.db.Exec(`DELETE FROM ssh_host_keys WHERE host = ?`, hostport)
	if err != nil {
		return false, fmt.Errorf("sshmon: forget the host key of %s: %w", hostport, err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// PoolConfig configures a Pool.
type PoolConfig struct {
	DialTimeout      time.Duration // default 5s
	HandshakeTimeout time.Duration // default 10s
	RunTimeout       time.Duration // a script's whole run; default 10s
	MaxOutput        int           // bytes a script may print; default 8 MiB
	KnownHosts       *KnownHosts
	Log              *slog.Logger
}

// Pool shares one SSH connection per target among the clients watching
// it, and closes it when the last one leaves.
type Pool struct {
	cfg PoolConfig

	mu    sync.Mutex
	conns map[string]*Conn
	dials uint64 // connections made, for the tests and /metrics
	fails uint64 // dials or logins that failed, for /metrics
}

// A Conn is a shared SSH connection.
type Conn struct {
	p      *Pool
	key    string
	creds  [32]byte // SHA-256 of the credentials that opened it
	client *ssh.Client
	refs   int
}

// credsOf hashes a target's secrets, so that a later watcher of the same
// user@host:port shares the connection only with the same secrets.
func credsOf(t Target) [32]byte {
	h := sha256.New()
	h.Write([]byte(t.Password))
	h.Write([]byte{0})
	h.Write(t.Key)
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}

// NewPool returns a Pool.
func NewPool(cfg PoolConfig) *Pool {
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 5 * time.Second
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = 10 * time.Second
	}
	if cfg.RunTimeout <= 0 {
		cfg.RunTimeout = 10 * time.Second
	}
	if cfg.MaxOutput <= 0 {
		cfg.MaxOutput = 8 << 20
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &Pool{cfg: cfg, conns: map[string]*Conn{}}
}

// Dials counts the SSH connections the Pool made.
func (p *Pool) Dials() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.dials
}

// PoolStats are a Pool's figures for /metrics.
type PoolStats struct {
	Open     int    // SSH connections open now
	Dials    uint64 // connections made since start
	Failures uint64 // connections that failed (network, login, host key) since start
}

// Stats returns the Pool's figures.
func (p *Pool) Stats() PoolStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return PoolStats{Open: len(p.conns), Dials: p.dials, Failures: p.fails}
}

// Acquire returns the target's connection, dialing it when there is none.
// A watcher of a host already connected shares its connection only when
// it gives the same secrets; other secrets must log in once on their own
// first (the host decides, not the first watcher). Release it when done.
func (p *Pool) Acquire(ctx context.Context, t Target) (*Conn, error) {
	key, creds := t.SSHKey(), credsOf(t)
	p.mu.Lock()
	if c, ok := p.conns[key]; ok && subtle.ConstantTimeCompare(c.creds[:], creds[:]) == 1 {
		c.refs++
		p.mu.Unlock()
		return c, nil
	}
	p.mu.Unlock()
	client, err := p.dial(ctx, t)
	if err != nil {
		p.mu.Lock()
		p.fails++
		p.mu.Unlock()
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.dials++
	if c, ok := p.conns[key]; ok { // already connected (or another dial won the race): these secrets work too
		c.refs++
		go client.Close()
		return c, nil
	}
	c := &Conn{p: p, key: key, creds: creds, client: client, refs: 1}
	p.conns[key] = c
	return c, nil
}

func (p *Pool) dial(ctx context.Context, t Target) (*ssh.Client, error) {
	var auth []ssh.AuthMethod
	if len(t.Key) > 0 {
		signer, err := ssh.ParsePrivateKey(t.Key)
		if err != nil {
			return nil, fmt.Errorf("sshmon: %s: the private key: %w", t.SSHKey(), err)
		}
		auth = append(auth, ssh.PublicKeys(signer))
	}
	if t.Password != "" {
		pw := t.Password
		auth = append(auth, ssh.Password(pw), ssh.KeyboardInteractive(func(_, _ string, qs []string, _ []bool) ([]string, error) {
			answers := make([]string, len(qs))
			for i := range answers {
				answers[i] = pw
			}
			return answers, nil
		}))
	}
	if len(auth) == 0 {
		return nil, fmt.Errorf("sshmon: %s: no password and no key", t.SSHKey())
	}
	hostKey := ssh.InsecureIgnoreHostKey() // only without a KnownHosts, in tests
	if p.cfg.KnownHosts != nil {
		hostKey = p.cfg.KnownHosts.check
	}
	cc := &ssh.ClientConfig{User: t.User, Auth: auth, HostKeyCallback: hostKey, Timeout: p.cfg.DialTimeout}
	d := net.Dialer{Timeout: p.cfg.DialTimeout}
	nc, err := d.DialContext(ctx, "tcp", t.addr())
	if err != nil {
		return nil, fmt.Errorf("sshmon: %s: %w", t.SSHKey(), err)
	}
	// The handshake has its own deadline: a server that accepts and says
	// nothing must not hold the dial.
	_ = nc.SetDeadline(time.Now().Add(p.cfg.HandshakeTimeout))
	sc, chans, reqs, err := ssh.NewClientConn(nc, t.addr(), cc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("sshmon: %s: %w", t.SSHKey(), err)
	}
	_ = nc.SetDeadline(time.Time{})
	return ssh.NewClient(sc, chans, reqs), nil
}

// Release gives the connection back; the last release closes it.
func (c *Conn) Release() {
	p := c.p
	p.mu.Lock()
	c.refs--
	last := c.refs == 0
	if last && p.conns[c.key] == c {
		delete(p.conns, c.key)
	}
	p.mu.Unlock()
	if last {
		c.client.Close()
	}
}

// Broken drops a connection that failed, so that the next Acquire dials
// again; its holders still Release it.
func (c *Conn) Broken() {
	p := c.p
	p.mu.Lock()
	if p.conns[c.key] == c {
		delete(p.conns, c.key)
	}
	p.mu.Unlock()
	c.client.Close()
}

// Run runs a command in a new session and returns what it printed on
// standard output, bounded by MaxOutput. One round trip per tick.
func (c *Conn) Run(ctx context.Context, command string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.p.cfg.RunTimeout)
	defer cancel()
	s, err := c.client.NewSession()
	if err != nil {
		return nil, fmt.Errorf("sshmon: %s: new session: %w", c.key, err)
	}
	defer s.Close()
	stop := context.AfterFunc(ctx, func() { s.Close() })
	defer stop()
	out, err := s.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("sshmon: %s: %w", c.key, err)
	}
	if err := s.Start(command); err != nil {
		return nil, fmt.Errorf("sshmon: %s: start: %w", c.key, err)
	}
	b, rerr := io.ReadAll(io.LimitReader(out, int64(c.p.cfg.MaxOutput)+1))
	werr := s.Wait()
	switch {
	case ctx.Err() != nil:
		return nil, fmt.Errorf("sshmon: %s: the command took over %v: %w", c.key, c.p.cfg.RunTimeout, ctx.Err())
	case rerr != nil:
		return nil, fmt.Errorf("sshmon: %s: read: %w", c.key, rerr)
	case len(b) > c.p.cfg.MaxOutput:
		return nil, fmt.Errorf("sshmon: %s: the command printed over %d bytes", c.key, c.p.cfg.MaxOutput)
	}
	var exit *ssh.ExitError
	if werr != nil && !errors.As(werr, &exit) {
		return nil, fmt.Errorf("sshmon: %s: %w", c.key, werr)
	}
	// A non-zero exit (a file that a `cat` did not find) still printed the rest.
	return b, nil
}

// PinnedKey is one row of ssh_host_keys.
type PinnedKey struct {
	Host        string `json:"host"`
	KeyType     string `json:"key_type"`
	Fingerprint string `json:"fingerprint"`
	FirstSeen   int64  `json:"first_seen"` // ms
}

// List returns the pinned host keys.
func (k *KnownHosts) List() ([]PinnedKey, error) {
	rows, err := k.db.Query(`SELECT host, key_type, fingerprint, first_seen FROM ssh_host_keys ORDER BY host`)
	if err != nil {
		return nil, fmt.Errorf("sshmon: list host keys: %w", err)
	}
	defer rows.Close()
	out := []PinnedKey{}
	for rows.Next() {
		var p PinnedKey
		if err := rows.Scan(&p.Host, &p.KeyType, &p.Fingerprint, &p.FirstSeen); err != nil {
			return nil, fmt.Errorf("sshmon: list host keys: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// HostKeyRoutes serves GET /monitor/hostkeys (the pinned keys) and
// DELETE /monitor/hostkeys/HOST:PORT (accept the key the host shows next).
func HostKeyRoutes(r *httprouter.Router, k *KnownHosts) {
	r.GET("/monitor/hostkeys", func(w http.ResponseWriter, _ *http.Request, _ httprouter.Params) {
		keys, err := k.List()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(keys)
	})
	r.DELETE("/monitor/hostkeys/:host", func(w http.ResponseWriter, _ *http.Request, ps httprouter.Params) {
		ok, err := k.Forget(ps.ByName("host"))
		switch {
		case err != nil:
			http.Error(w, err.Error(), http.StatusInternalServerError)
		case !ok:
			http.Error(w, "no key pinned for "+ps.ByName("host"), http.StatusNotFound)
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	})
}
