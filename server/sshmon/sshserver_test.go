package sshmon

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"net"
	"os/exec"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/crypto/ssh"
)

// sshServer is a real SSH server (x/crypto/ssh) on loopback that runs the
// commands it is sent with /bin/sh, EDGESTAT_ROOT set to root: a monitored
// host whose /proc is a fixture tree.
type sshServer struct {
	ln       net.Listener
	cfg      *ssh.ServerConfig
	root     string
	conns    atomic.Int64 // connections accepted
	open     atomic.Int64 // connections open now
	wg       sync.WaitGroup
	hostKey  ssh.Signer
	userKey  ssh.PublicKey
	password string
}

func newHostKey(t testing.TB) ssh.Signer {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// startSSHServer listens on addr ("127.0.0.1:0" for any port).
func startSSHServer(t testing.TB, addr, root string, hostKey ssh.Signer, userKey ssh.PublicKey) *sshServer {
	t.Helper()
	s := &sshServer{root: root, hostKey: hostKey, userKey: userKey, password: "secret"}
	s.cfg = &ssh.ServerConfig{
		PasswordCallback: func(c ssh.ConnMetadata, pw []byte) (*ssh.Permissions, error) {
			if c.User() == "mon" && string(pw) == s.password {
				return nil, nil
			}
			return nil, errWrongPassword
		},
		PublicKeyCallback: func(c ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			if s.userKey != nil && c.User() == "mon" && string(key.Marshal()) == string(s.userKey.Marshal()) {
				return nil, nil
			}
			return nil, errWrongPassword
		},
	}
	s.cfg.AddHostKey(hostKey)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	s.ln = ln
	s.wg.Add(1)
	go s.accept()
	t.Cleanup(s.Close)
	return s
}

type sshErr string

func (e sshErr) Error() string { return string(e) }

const errWrongPassword = sshErr("wrong password")

func (s *sshServer) Addr() *net.TCPAddr { return s.ln.Addr().(*net.TCPAddr) }

func (s *sshServer) Close() {
	s.ln.Close()
	s.wg.Wait()
}

func (s *sshServer) accept() {
	defer s.wg.Done()
	var conns sync.WaitGroup
	var mu sync.Mutex
	var open []net.Conn
	defer func() {
		mu.Lock()
		for _, c := range open {
			c.Close()
		}
		mu.Unlock()
		conns.Wait()
	}()
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.conns.Add(1)
		mu.Lock()
		open = append(open, nc)
		mu.Unlock()
		conns.Add(1)
		go func() {
			defer conns.Done()
			s.serve(nc)
		}()
	}
}

func (s *sshServer) serve(nc net.Conn) {
	defer nc.Close()
	sc, chans, reqs, err := ssh.NewServerConn(nc, s.cfg)
	if err != nil {
		return
	}
	s.open.Add(1)
	defer s.open.Add(-1)
	defer sc.Close()
	go ssh.DiscardRequests(reqs)
	var wg sync.WaitGroup
	for nch := range chans {
		if nch.ChannelType() != "session" {
			nch.Reject(ssh.UnknownChannelType, "session only")
			continue
		}
		ch, chReqs, err := nch.Accept()
		if err != nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer ch.Close()
			for req := range chReqs {
				if req.Type != "exec" {
					req.Reply(false, nil)
					continue
				}
				var payload struct{ Command string }
				if err := ssh.Unmarshal(req.Payload, &payload); err != nil {
					req.Reply(false, nil)
					return
				}
				req.Reply(true, nil)
				cmd := exec.Command("/bin/sh", "-c", payload.Command)
				cmd.Env = []string{"EDGESTAT_ROOT=" + s.root, "PATH=/usr/bin:/bin"}
				cmd.Stdout, cmd.Stderr = ch, ch.Stderr()
				code := 0
				if err := cmd.Run(); err != nil {
					code = 1
					if ee, ok := err.(*exec.ExitError); ok {
						code = ee.ExitCode()
					}
				}
				status := make([]byte, 4)
				binary.BigEndian.PutUint32(status, uint32(code))
				ch.SendRequest("exit-status", false, status)
				return
			}
		}()
	}
	wg.Wait()
}
