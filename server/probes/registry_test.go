package probes

import (
	"context"
	"testing"
	"time"

	"edgestat/probe"
	"edgestat/probe/emulator"
)

func TestRegistry(t *testing.T) {
	r := New()
	p, err := probe.New(emulator.New(emulator.Options{Count: 3000, Seed: 1}), probe.Options{ID: 9})
	if err != nil {
		t.Fatal(err)
	}
	e := r.Add(p, "emulator", "")
	if !r.Used(9) || r.Used(10) {
		t.Fatal("Used")
	}
	if src, ok := r.Source(9); !ok || src.ID() != 9 {
		t.Fatal("Source of a running probe")
	}
	if err := p.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	st, ok := r.Get(9)
	if !ok || st.Kind != "emulator" || st.State != Running || st.Packets != 3000 || st.Source != p.Source() || st.FlowsTotal == 0 {
		t.Fatalf("status %+v", st)
	}
	e.End()
	if _, ok := r.Source(9); ok {
		t.Fatal("an ended probe is offered to sessions")
	}
	list := r.List()
	if len(list) != 1 || list[0].State != Ended || list[0].PPS != 0 {
		t.Fatalf("list %+v", list)
	}
	// Rates are over the time between looks a second apart.
	e.prevAt = time.Now().Add(-2 * time.Second)
	e.prev.Packets = 1000
	e.state = Running
	if st, _ := r.Get(9); st.PPS < 900 || st.PPS > 1100 {
		t.Fatalf("pps %v, want about 1000", st.PPS)
	}
	e.Remove()
	if _, ok := r.Get(9); ok || len(r.List()) != 0 {
		t.Fatal("removed probe still listed")
	}
}

// TestSnapshotKeepsRates: a /metrics scrape reads the counters without
// moving the reference the UI's rates are computed from.
func TestSnapshotKeepsRates(t *testing.T) {
	r := New()
	p, err := probe.New(emulator.New(emulator.Options{Count: 500, Seed: 1}), probe.Options{ID: 3})
	if err != nil {
		t.Fatal(err)
	}
	e := r.Add(p, "replay", "")
	if err := p.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	prevAt := time.Now().Add(-2 * time.Second)
	e.prevAt = prevAt
	snap := r.Snapshot(nil)
	if len(snap) != 1 || snap[0].ID != 3 || snap[0].Kind != "replay" || snap[0].Packets != 500 {
		t.Fatalf("snapshot %+v", snap)
	}
	if !e.prevAt.Equal(prevAt) || e.prev.Packets != 0 {
		t.Fatal("Snapshot moved the rates' reference")
	}
}
