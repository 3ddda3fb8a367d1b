package sshmon

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/julienschmidt/httprouter"
	"golang.org/x/crypto/ssh"

	"edgestat/server/store"
)

func realSchema(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "schema.sql"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func newKnownHosts(t *testing.T) *KnownHosts {
	t.Helper()
	st, err := store.Open(context.Background(), t.TempDir(), realSchema(t), "test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return NewKnownHosts(st.DB())
}

func target(s *sshServer) Target {
	return Target{User: "mon", Host: "127.0.0.1", Port: s.Addr().Port, Password: "secret"}
}

func TestPoolRunsCommands(t *testing.T) {
	srv := startSSHServer(t, "127.0.0.1:0", "/x", newHostKey(t), nil)
	p := NewPool(PoolConfig{KnownHosts: newKnownHosts(t)})
	c, err := p.Acquire(context.Background(), target(srv))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Release()
	out, err := c.Run(context.Background(), `echo "root=$EDGESTAT_ROOT"; echo two`)
	if err != nil || string(out) != "root=/x\ntwo\n" {
		t.Fatalf("Run = %q, %v", out, err)
	}
	// A failing command still gives what it printed.
	if out, err := c.Run(context.Background(), `echo partial; cat /nonexistent 2>/dev/null`); err != nil || string(out) != "partial\n" {
		t.Fatalf("Run = %q, %v", out, err)
	}
}

func TestPoolKeyAuth(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sshPub, _ := ssh.NewPublicKey(pub)
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	srv := startSSHServer(t, "127.0.0.1:0", "", newHostKey(t), sshPub)
	p := NewPool(PoolConfig{KnownHosts: newKnownHosts(t)})
	tg := target(srv)
	tg.Password, tg.Key = "", pem.EncodeToMemory(block)
	c, err := p.Acquire(context.Background(), tg)
	if err != nil {
		t.Fatal(err)
	}
	c.Release()
	tg.Key = []byte("not a key")
	if _, err := p.Acquire(context.Background(), tg); err == nil || !strings.Contains(err.Error(), "private key") {
		t.Fatalf("bad key: %v", err)
	}
}

func TestPoolWrongPasswordIsNotEchoed(t *testing.T) {
	srv := startSSHServer(t, "127.0.0.1:0", "", newHostKey(t), nil)
	p := NewPool(PoolConfig{KnownHosts: newKnownHosts(t)})
	tg := target(srv)
	tg.Password = "hunter2-wrong"
	_, err := p.Acquire(context.Background(), tg)
	if err == nil || !strings.Contains(err.Error(), "unable to authenticate") || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("wrong password: %v", err)
	}
}

// TestHostKeyPinned: the first key is pinned, another one on the same
// address is refused until it is forgotten on purpose.
func TestHostKeyPinned(t *testing.T) {
	kh := newKnownHosts(t)
	srv := startSSHServer(t, "127.0.0.1:0", "", newHostKey(t), nil)
	addr := srv.Addr().String()
	p := NewPool(PoolConfig{KnownHosts: kh})
	c, err := p.Acquire(context.Background(), target(srv))
	if err != nil {
		t.Fatal(err)
	}
	c.Release()
	srv.Close()
	srv2 := startSSHServer(t, addr, "", newHostKey(t), nil) // reinstalled: a new key
	_, err = p.Acquire(context.Background(), target(srv2))
	if !errors.Is(err, ErrHostKeyChanged) || !strings.Contains(err.Error(), "SHA256:") {
		t.Fatalf("changed key: %v", err)
	}
	// Accepting the new key deliberately, over HTTP.
	if keys, err := kh.List(); err != nil || len(keys) != 1 || keys[0].Host != addr || !strings.HasPrefix(keys[0].Fingerprint, "SHA256:") {
		t.Fatalf("List = %+v, %v", keys, err)
	}
	r := httprouter.New()
	HostKeyRoutes(r, kh)
	hs := httptest.NewServer(r)
	defer hs.Close()
	req, _ := http.NewRequest(http.MethodDelete, hs.URL+"/monitor/hostkeys/"+addr, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE: %v %v", resp, err)
	}
	resp.Body.Close()
	c, err = p.Acquire(context.Background(), target(srv2))
	if err != nil {
		t.Fatalf("after accepting the new key: %v", err)
	}
	c.Release()
}

// TestPoolSharesOneConnection: 20 watchers of one host make one SSH
// connection, closed when the last leaves.
func TestPoolSharesOneConnection(t *testing.T) {
	srv := startSSHServer(t, "127.0.0.1:0", "", newHostKey(t), nil)
	p := NewPool(PoolConfig{KnownHosts: newKnownHosts(t)})
	var conns []*Conn
	var mu sync.Mutex
	var wg sync.WaitGroup
	first, err := p.Acquire(context.Background(), target(srv))
	if err != nil {
		t.Fatal(err)
	}
	for range 19 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := p.Acquire(context.Background(), target(srv))
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if srv.conns.Load() != 1 || p.Dials() != 1 {
		t.Fatalf("%d connections for 20 watchers", srv.conns.Load())
	}
	// The server counts the connection once its side of the handshake
	// returns, a moment after the client's.
	for deadline := time.Now().Add(5 * time.Second); srv.open.Load() != 1; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections open on the server", srv.open.Load())
		}
	}
	for _, c := range conns {
		c.Release()
	}
	time.Sleep(50 * time.Millisecond) // a close would reach the server by now
	if srv.open.Load() != 1 {
		t.Fatal("closed while a watcher remains")
	}
	first.Release()
	deadline := time.Now().Add(5 * time.Second)
	for srv.open.Load() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("connection left open after the last watcher")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestPoolTimeoutsAndBounds(t *testing.T) {
	// A server that accepts and never speaks.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	p := NewPool(PoolConfig{HandshakeTimeout: 200 * time.Millisecond, RunTimeout: 300 * time.Millisecond, MaxOutput: 1000, KnownHosts: newKnownHosts(t)})
	start := time.Now()
	_, err = p.Acquire(context.Background(), Target{User: "mon", Host: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port, Password: "x"})
	if err == nil || time.Since(start) > 5*time.Second {
		t.Fatalf("silent server: %v after %v", err, time.Since(start))
	}
	srv := startSSHServer(t, "127.0.0.1:0", "", newHostKey(t), nil)
	c, err := p.Acquire(context.Background(), target(srv))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Release()
	if _, err := c.Run(context.Background(), `head -c 5000 /dev/zero`); err == nil || !strings.Contains(err.Error(), "over 1000 bytes") {
		t.Fatalf("large output: %v", err)
	}
	if _, err := c.Run(context.Background(), `sleep 1`); err == nil || !strings.Contains(err.Error(), "took over") {
		t.Fatalf("slow command: %v", err)
	}
}
