package capture

import (
	"context"
	"errors"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"edgestat/probe"
	"edgestat/probe/emulator"
)

// The whole live path: the emulator's LAN traffic is sent through a veth
// pair and the probe on the other end counts every packet that arrived, or
// reports exactly how many the kernel dropped.
func TestLiveProbeCountsEmulatedTraffic(t *testing.T) {
	const n = 5000
	for _, mode := range liveModes {
		t.Run(mode.name, func(t *testing.T) {
			v := newVeth(t)
			opts := mode.opts
			opts.Promiscuous = true // the emulator's frames are addressed to its own hosts
			in := openIn(t, v.nsB, v.ifB, opts)
			p, err := probe.New(in, probe.Options{ID: 7})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- p.Run(ctx) }()
			defer func() {
				cancel()
				if err := <-done; err != nil {
					t.Errorf("Run: %v", err)
				}
			}()

			s := newSender(t, v)
			em := emulator.New(emulator.Options{Count: n, Seed: 3})
			rx0, _, _ := ifStats(t, v.nsB, v.ifB)
			_, _, vdrop0 := ifStats(t, v.nsA, v.ifA)
			sent := 0
			for {
				frame, _, err := em.ReadPacket()
				if err != nil {
					break
				}
				for {
					_, err := unix.Write(s.fd, frame)
					if err == nil {
						sent++
						break
					}
					if !errors.Is(err, unix.ENOBUFS) && !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EINTR) {
						t.Fatalf("send: %v", err)
					}
					time.Sleep(time.Millisecond)
				}
			}
			rx1, _, _ := ifStats(t, v.nsB, v.ifB)
			_, _, vdrop1 := ifStats(t, v.nsA, v.ifA)
			arrived, vethDrops := rx1-rx0, vdrop1-vdrop0
			if sent != n || arrived+vethDrops != uint64(sent) {
				t.Fatalf("sent %d of %d; %d arrived and the veth dropped %d", sent, n, arrived, vethDrops)
			}

			var c probe.Counters
			last, still := uint64(0), time.Now()
			for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
				c = p.Counters()
				got := c.Packets + c.Drops
				if got >= arrived {
					break
				}
				if got != last {
					last, still = got, time.Now()
				} else if time.Since(still) > 2*time.Second {
					break
				}
			}
			t.Logf("sent %d, veth dropped %d, arrived %d: the probe counted %d packets, the kernel dropped %d; %d flows, decode errors %v",
				sent, vethDrops, arrived, c.Packets, c.Drops, c.FlowsTotal, c.DecodeErrors)
			if c.Packets+c.Drops != arrived {
				t.Errorf("probe counted %d + kernel dropped %d = %d, want the %d that arrived", c.Packets, c.Drops, c.Packets+c.Drops, arrived)
			}
			if c.DecodeErrors != [probe.NumDecodeErrors]uint64{} {
				t.Errorf("decode errors on the emulator's traffic: %v", c.DecodeErrors)
			}
			if c.FlowsTotal == 0 || c.Paths < 10 {
				t.Errorf("flows %d, paths %d: the traffic was not classified", c.FlowsTotal, c.Paths)
			}
		})
	}
}
