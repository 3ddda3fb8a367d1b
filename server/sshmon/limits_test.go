package sshmon

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

type nopSub struct{}

func (nopSub) Notify([]byte) {}

// --max-monitor-targets holds even when starts race each other: each
// checks the cap before dialling and again before adding its watch.
func TestMonitorTargetCap(t *testing.T) {
	root, _ := filepath.Abs(filepath.Join("testdata", "x86-server"))
	pool := NewPool(PoolConfig{KnownHosts: newKnownHosts(t), DialTimeout: time.Second, HandshakeTimeout: time.Second})
	m := NewMonitor(MonitorConfig{Interval: time.Second, MaxTargets: 2, Pool: pool})
	defer m.Close()
	key := newHostKey(t)
	var targets []Target
	for i := 0; i < 5; i++ {
		targets = append(targets, target(startSSHServer(t, "127.0.0.1:0", root, key, nil)))
	}
	var wg sync.WaitGroup
	errs := make([]error, len(targets))
	for i, tg := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = m.Start(context.Background(), tg, nopSub{})
		}()
	}
	wg.Wait()
	ok, refused := 0, 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, ErrTooManyTargets):
			refused++
		default:
			t.Errorf("start: %v", err)
		}
	}
	if ok != 2 || refused != 3 || len(m.Watching()) != 2 {
		t.Fatalf("%d started, %d refused, %d watched; want 2, 3, 2", ok, refused, len(m.Watching()))
	}
}
