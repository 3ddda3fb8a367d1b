package sshmon

import (
	"context"
	"testing"
)

// TestPoolStats: a connection made counts as a dial and open until its
// release; a failed login counts as a failure.
func TestPoolStats(t *testing.T) {
	srv := startSSHServer(t, "127.0.0.1:0", "", newHostKey(t), nil)
	p := NewPool(PoolConfig{KnownHosts: newKnownHosts(t)})
	c, err := p.Acquire(context.Background(), target(srv))
	if err != nil {
		t.Fatal(err)
	}
	if st := p.Stats(); st != (PoolStats{Open: 1, Dials: 1}) {
		t.Fatalf("stats %+v with one connection", st)
	}
	bad := target(srv)
	bad.Password = "wrong"
	if _, err := p.Acquire(context.Background(), bad); err == nil {
		t.Fatal("a wrong password logged in")
	}
	c.Release()
	if st := p.Stats(); st != (PoolStats{Open: 0, Dials: 1, Failures: 1}) {
		t.Fatalf("stats %+v after a failure and the release", st)
	}
}
