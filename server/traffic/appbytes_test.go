package traffic

import (
	"cmp"
	"net/netip"
	"slices"
	"testing"
	"time"

	"edgestat/probe"
)

// TestAppBytesFromAcceptedReports: the store sums format 99 bytecounts by
// probe and the last id of the path, as /traffic/protocols?by=app does;
// host and flow reports add nothing.
func TestAppBytesFromAcceptedReports(t *testing.T) {
	_, s := openStores(t, t.TempDir(), Config{})
	now := time.Now().UnixMilli()
	stat := func(p uint32, path string, app uint32, bytes uint64) *probe.StatRow {
		return &probe.StatRow{Probe: p, Source: "eth0", Time: now, App: app, Path: path, Bytes: bytes, Packets: 1}
	}
	ingest(t, s, []probe.Row{
		stat(1, "99.178.354.341.134", 134, 1000), // GOOGLE over TLS
		stat(1, "99.178.354.341", 341, 1500),     // SSL, GOOGLE's bytes included
		stat(1, "99.178.17.134", 134, 200),       // GOOGLE over UDP
		stat(2, "99.178.354.341.134", 134, 7),
		&probe.HostRow{Probe: 1, Source: "eth0", Time: now, MAC: [6]byte{0x5c, 0xaa, 0xfd, 0xec, 0x34, 0xe4}, IP: netip.MustParseAddr("192.168.1.7"), OutBytes: 99},
	})
	got, overflow := s.AppBytes(nil)
	slices.SortFunc(got, func(a, b AppBytes) int { return cmp.Or(cmp.Compare(a.Probe, b.Probe), cmp.Compare(a.App, b.App)) })
	want := []AppBytes{{1, 134, 1200}, {1, 341, 1500}, {2, 134, 7}}
	if !slices.Equal(got, want) || overflow != 0 {
		t.Errorf("AppBytes = %v, %d; want %v, 0", got, overflow, want)
	}
}

// TestAppBytesBound: past MaxAppSeries pairs, new ones are counted as
// overflow until a sweep, at most every appSweepEvery, drops the pairs
// idle since the previous one.
func TestAppBytesBound(t *testing.T) {
	clock := time.Unix(1_800_000_000, 0)
	now := func() time.Time { return clock }
	var a appBytes
	for i := range MaxAppSeries {
		a.add(&probe.StatRow{Probe: uint32(i / 1000), App: uint32(i % 1000), Bytes: 1}, now)
	}
	// Full: the first sweep finds nothing idle yet.
	a.add(&probe.StatRow{Probe: 99, App: 1, Bytes: 1}, now)
	if len(a.m) != MaxAppSeries || a.overflow != 1 {
		t.Fatalf("%d pairs, overflow %d", len(a.m), a.overflow)
	}
	// Half the pairs report again; the rest go idle.
	for i := 0; i < MaxAppSeries; i += 2 {
		a.add(&probe.StatRow{Probe: uint32(i / 1000), App: uint32(i % 1000), Bytes: 1}, now)
	}
	clock = clock.Add(appSweepEvery / 2)
	a.add(&probe.StatRow{Probe: 99, App: 2, Bytes: 1}, now) // too soon for another sweep
	if a.overflow != 2 {
		t.Fatalf("overflow %d, want 2", a.overflow)
	}
	clock = clock.Add(appSweepEvery)
	a.add(&probe.StatRow{Probe: 99, App: 3, Bytes: 5}, now)
	if len(a.m) != MaxAppSeries/2+1 || a.overflow != 2 {
		t.Fatalf("after the sweep: %d pairs, overflow %d", len(a.m), a.overflow)
	}
	if c := a.m[appKey{0, 0}]; c == nil || c.bytes != 2 {
		t.Errorf("a busy pair was dropped or lost its count: %+v", c)
	}
	if c := a.m[appKey{0, 1}]; c != nil {
		t.Error("an idle pair survived the sweep")
	}
	if c := a.m[appKey{99, 3}]; c == nil || c.bytes != 5 {
		t.Errorf("the new pair: %+v", c)
	}
}
