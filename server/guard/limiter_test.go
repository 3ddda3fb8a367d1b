package guard

import (
	"net/netip"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)

func addr4(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
}

func TestLimiterBlocksAfterMaxFails(t *testing.T) {
	var l Limiter
	a, b := addr4(1), addr4(2)
	for i := 1; i <= MaxFails; i++ {
		if got := l.Fail(a, t0); got != (i == MaxFails) {
			t.Fatalf("failure %d: blocked %v", i, got)
		}
	}
	if l.Blocked(a, t0.Add(time.Second)) == 0 {
		t.Error("not blocked after MaxFails")
	}
	if l.Blocked(b, t0) != 0 {
		t.Error("another address is blocked")
	}
	if l.Blocked(a, t0.Add(Window+time.Second)) != 0 {
		t.Error("still blocked after the window")
	}
	// IPv6: one /64 counts as one source; the next /64 is another.
	p := netip.MustParseAddr("fd00:1:2:3::1")
	for i := range MaxFails {
		l.Fail(netip.AddrFrom16([16]byte{0xfd, 0, 0, 1, 0, 2, 0, 3, 0, 0, 0, 0, 0, 0, 1, byte(i)}), t0)
	}
	if l.Blocked(p, t0) == 0 {
		t.Error("addresses of one /64 are not counted together")
	}
	if l.Blocked(netip.MustParseAddr("fd00:1:2:4::1"), t0) != 0 {
		t.Error("the next /64 is blocked")
	}
	if Source(netip.MustParseAddr("::ffff:10.0.0.1")) != netip.MustParseAddr("10.0.0.1") {
		t.Error("an IPv4-mapped address is not its IPv4 address")
	}
}

// Thousands of failing addresses never lock out one that did not fail,
// and the table stays bounded: the oldest sources make room.
func TestLimiterOverflowLocksOutNobody(t *testing.T) {
	var l Limiter
	now := t0
	for i := range 3 * MaxSources {
		now = now.Add(time.Millisecond)
		for range MaxFails {
			l.Fail(addr4(i), now)
		}
		if n := l.Len(); n > MaxSources {
			t.Fatalf("%d sources tracked, bound %d", n, MaxSources)
		}
	}
	if l.Blocked(addr4(3*MaxSources+1), now) != 0 {
		t.Error("a new address is refused after others failed")
	}
	if l.Blocked(addr4(3*MaxSources-1), now) == 0 {
		t.Error("the latest failing address is not refused")
	}
	if len(l.order)-l.head > 2*MaxSources {
		t.Errorf("order holds %d entries", len(l.order)-l.head)
	}
}

// A source whose window restarts is counted from zero and stays in the
// order where its new window starts.
func TestLimiterWindowRestarts(t *testing.T) {
	var l Limiter
	a := addr4(7)
	for range MaxFails - 1 {
		l.Fail(a, t0)
	}
	later := t0.Add(Window + time.Second)
	if l.Fail(a, later) {
		t.Error("blocked by failures of an old window")
	}
	for range MaxFails - 1 {
		l.Fail(a, later)
	}
	if l.Blocked(a, later) == 0 {
		t.Error("not blocked after MaxFails in the new window")
	}
}
