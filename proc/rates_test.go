package proc

import (
	"math"
	"testing"
	"time"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestUsageBetween(t *testing.T) {
	// cpu0 of the KVM guest, since boot.
	cur := CPUTimes{User: 6088, Nice: 14, System: 5849, Idle: 193612, Iowait: 93, IRQ: 2230, SoftIRQ: 1398}
	u := UsageBetween(CPUTimes{}, cur)
	total := 6088.0 + 14 + 5849 + 193612 + 93 + 2230 + 1398
	want := CPUUsage{
		Usage:  (total - 193612) / total,
		User:   (6088 + 14) / total,
		System: (5849 + 2230 + 1398) / total,
		Iowait: 93 / total,
		Idle:   193612 / total,
	}
	if !near(u.Usage, want.Usage) || !near(u.User, want.User) || !near(u.System, want.System) ||
		!near(u.Iowait, want.Iowait) || !near(u.Idle, want.Idle) || u.Steal != 0 {
		t.Errorf("got %+v, want %+v", u, want)
	}
	if !near(u.Usage, u.User+u.System+u.Iowait+u.Steal) {
		t.Errorf("usage %v is not user+system+iowait+steal", u.Usage)
	}

	// Guest time is inside user: adding it must not change the shares.
	g := cur
	g.Guest, g.GuestNice = 1000, 10
	if UsageBetween(CPUTimes{}, g) != u {
		t.Error("guest time counted twice")
	}

	// One interval: 100 ticks, 25 user, 10 nice, 5 system, 5 irq, 5 softirq, 10 iowait, 10 steal, 30 idle.
	next := cur
	next.User += 25
	next.Nice += 10
	next.System += 5
	next.IRQ += 5
	next.SoftIRQ += 5
	next.Iowait += 10
	next.Steal += 10
	next.Idle += 30
	u = UsageBetween(cur, next)
	want = CPUUsage{Usage: 0.70, User: 0.35, System: 0.15, Iowait: 0.10, Steal: 0.10, Idle: 0.30}
	if !near(u.Usage, want.Usage) || !near(u.User, want.User) || !near(u.System, want.System) ||
		!near(u.Iowait, want.Iowait) || !near(u.Steal, want.Steal) || !near(u.Idle, want.Idle) {
		t.Errorf("got %+v, want %+v", u, want)
	}

	// No tick elapsed: zeros, not NaN.
	if u := UsageBetween(cur, cur); u != (CPUUsage{}) {
		t.Errorf("zero interval: %+v", u)
	}
	// iowait stepping back (NO_HZ) adds nothing; the rest still counts.
	back := cur
	back.Iowait -= 5
	back.Idle += 50
	back.User += 50
	u = UsageBetween(cur, back)
	if !near(u.Usage, 0.5) || !near(u.User, 0.5) || u.Iowait != 0 || math.IsNaN(u.Usage) {
		t.Errorf("counter backwards: %+v", u)
	}
	// Everything reset (much lower): all zero deltas, no NaN.
	if u := UsageBetween(cur, CPUTimes{User: 1}); u != (CPUUsage{}) {
		t.Errorf("reset: %+v", u)
	}
}

func TestCPUSampler(t *testing.T) {
	var s CPUSampler
	st := Stat{
		Total: CPUStat{ID: -1, CPUTimes: CPUTimes{User: 100, Idle: 300}},
		CPUs: []CPUStat{
			{ID: 0, CPUTimes: CPUTimes{User: 50, Idle: 150}},
			{ID: 1, CPUTimes: CPUTimes{User: 50, Idle: 150}},
		},
	}
	total, per := s.Sample(&st, nil)
	if len(per) != 2 || !near(per[0].Usage, 0.25) || per[1].ID != 1 || !near(total.Usage, 0.25) || total.ID != -1 {
		t.Fatalf("first sample (since boot): %+v %+v", total, per)
	}

	// cpu1 goes offline, cpu2 appears; cpu0 busy for the interval.
	st2 := Stat{
		Total: CPUStat{ID: -1, CPUTimes: CPUTimes{User: 200, Idle: 300}},
		CPUs: []CPUStat{
			{ID: 0, CPUTimes: CPUTimes{User: 150, Idle: 150}},
			{ID: 2, CPUTimes: CPUTimes{User: 10, Idle: 30}},
		},
	}
	total, per = s.Sample(&st2, per[:0])
	if len(per) != 2 || per[0].ID != 0 || per[0].Usage != 1 || per[1].ID != 2 || !near(per[1].Usage, 0.25) || total.Usage != 1 {
		t.Fatalf("second sample: %+v %+v", total, per)
	}

	// cpu1 back: compared with its last known counters if they are still
	// remembered, here gone, so since boot.
	st3 := Stat{
		Total: st2.Total,
		CPUs:  []CPUStat{{ID: 0, CPUTimes: st2.CPUs[0].CPUTimes}, {ID: 1, CPUTimes: CPUTimes{User: 60, Idle: 180}}},
	}
	_, per = s.Sample(&st3, per[:0])
	if per[0].Usage != 0 || !near(per[1].Usage, 0.25) {
		t.Fatalf("third sample: %+v", per)
	}

	allocs := testing.AllocsPerRun(20, func() { _, per = s.Sample(&st3, per[:0]) })
	if allocs != 0 {
		t.Errorf("steady-state Sample: %v allocs", allocs)
	}
}

func TestNetSampler(t *testing.T) {
	var s NetSampler
	t0 := time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)
	d := NetDev{Ifaces: []NetDevLine{
		{Name: "lo", RxBytes: 1000, TxBytes: 1000, RxPackets: 10, TxPackets: 10},
		{Name: "eth0", RxBytes: 1 << 40, TxBytes: 5000, RxPackets: 100, TxPackets: 50},
	}}
	r := s.Sample(&d, t0, nil)
	if len(r) != 2 || r[0] != (NetRate{Name: "lo"}) || r[1] != (NetRate{Name: "eth0"}) {
		t.Fatalf("first sample must be zeros: %+v", r)
	}

	d2 := NetDev{Ifaces: []NetDevLine{
		{Name: "eth0", RxBytes: 1<<40 + 3000, TxBytes: 4000, RxPackets: 130, TxPackets: 60}, // tx reset
		{Name: "lo", RxBytes: 1200, TxBytes: 1200, RxPackets: 12, TxPackets: 12},
		{Name: "wlan0", RxBytes: 99999, TxBytes: 99999}, // new
	}}
	r = s.Sample(&d2, t0.Add(2*time.Second), r[:0])
	want := []NetRate{
		{Name: "eth0", RxBytes: 1500, TxBytes: 0, RxPackets: 15, TxPackets: 5},
		{Name: "lo", RxBytes: 100, TxBytes: 100, RxPackets: 1, TxPackets: 1},
		{Name: "wlan0"},
	}
	for i := range want {
		if r[i] != want[i] {
			t.Errorf("rate[%d] = %+v, want %+v", i, r[i], want[i])
		}
	}

	// The clock did not move (or went back): zeros.
	r = s.Sample(&d2, t0.Add(time.Second), r[:0])
	for _, x := range r {
		if x.RxBytes != 0 || x.TxBytes != 0 {
			t.Errorf("clock back: %+v", x)
		}
	}
	allocs := testing.AllocsPerRun(20, func() { r = s.Sample(&d2, t0.Add(5*time.Second), r[:0]) })
	if allocs != 0 {
		t.Errorf("steady-state Sample: %v allocs", allocs)
	}
}

func TestDiskSampler(t *testing.T) {
	var s DiskSampler
	t0 := time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)
	d := Diskstats{Disks: []DiskStat{{Name: "sda1", ReadSectors: 100, WriteSectors: 100, ReadIOs: 1, WriteIOs: 1}}}
	r := s.Sample(&d, t0, nil)
	if len(r) != 1 || r[0] != (DiskRate{Name: "sda1"}) {
		t.Fatalf("first sample: %+v", r)
	}
	d.Disks[0].ReadSectors += 2048 // 1 MiB
	d.Disks[0].WriteSectors = 50   // reset
	d.Disks[0].ReadIOs += 8
	r = s.Sample(&d, t0.Add(4*time.Second), r[:0])
	want := DiskRate{Name: "sda1", ReadBytes: 262144, WriteBytes: 0, ReadOps: 2}
	if r[0] != want {
		t.Errorf("got %+v, want %+v", r[0], want)
	}
}
