package proc

import "time"

// Samplers keep the previous sample of kernel counters and turn the next one
// into shares of the interval or per-second rates. A sampler is not safe for
// concurrent use; give each consumer its own.

// CPUUsage is how a CPU spent an interval, as fractions of it (0..1).
type CPUUsage struct {
	ID int // as CPUStat.ID: N of "cpuN", -1 for the total
	// Usage is the share not idle: 1 - idle/total. iowait counts as busy,
	// as in Rt-Stat's original plugin, so Usage = User + System + Iowait +
	// Steal and the stacked user/system/iowait bar of its page adds up to
	// the percentage printed beside it.
	Usage  float64
	User   float64 // user + nice (guest time is inside these)
	System float64 // system + irq + softirq
	Iowait float64
	Steal  float64 // taken by the hypervisor for other guests
	Idle   float64
}

// UsageBetween returns how the CPU spent the interval from prev to cur.
// Pass a zero prev for the share since boot. A counter that went backwards
// (iowait and idle do on some NO_HZ kernels, and a hot-plugged CPU starts
// again from 0) adds nothing instead of wrapping to a huge delta, and an
// interval with no ticks at all is all zeros, never NaN.
func UsageBetween(prev, cur CPUTimes) CPUUsage {
	d := func(a, b uint64) float64 {
		if b < a {
			return 0
		}
		return float64(b - a)
	}
	user := d(prev.User, cur.User) + d(prev.Nice, cur.Nice)
	system := d(prev.System, cur.System) + d(prev.IRQ, cur.IRQ) + d(prev.SoftIRQ, cur.SoftIRQ)
	iowait := d(prev.Iowait, cur.Iowait)
	steal := d(prev.Steal, cur.Steal)
	idle := d(prev.Idle, cur.Idle)
	total := user + system + iowait + steal + idle
	if total <= 0 {
		return CPUUsage{}
	}
	return CPUUsage{
		Usage:  (total - idle) / total,
		User:   user / total,
		System: system / total,
		Iowait: iowait / total,
		Steal:  steal / total,
		Idle:   idle / total,
	}
}

// CPUSampler turns successive /proc/stat samples into [CPUUsage].
type CPUSampler struct {
	prev      []CPUStat
	prevTotal CPUTimes
}

// Sample appends to dst the usage of each numbered CPU of cur since the
// previous Sample (since boot on the first call, and for a CPU that came
// online since), returns it with the usage of the total line, and keeps cur
// as the next reference.
func (s *CPUSampler) Sample(cur *Stat, dst []CPUUsage) (total CPUUsage, perCPU []CPUUsage) {
	for i := range cur.CPUs {
		c := &cur.CPUs[i]
		var prev CPUTimes
		if i < len(s.prev) && s.prev[i].ID == c.ID {
			prev = s.prev[i].CPUTimes
		} else {
			for j := range s.prev {
				if s.prev[j].ID == c.ID {
					prev = s.prev[j].CPUTimes
					break
				}
			}
		}
		u := UsageBetween(prev, c.CPUTimes)
		u.ID = c.ID
		dst = append(dst, u)
	}
	total = UsageBetween(s.prevTotal, cur.Total.CPUTimes)
	total.ID = -1
	s.prev = append(s.prev[:0], cur.CPUs...)
	s.prevTotal = cur.Total.CPUTimes
	return total, dst
}

// rate is the per-second rate of a counter going from a to b in dt seconds:
// 0 when the counter went backwards (wrap of a 32-bit kernel counter, an
// interface re-created, a driver reset), never a huge number.
func rate(a, b uint64, dt float64) float64 {
	if b < a || dt <= 0 {
		return 0
	}
	return float64(b-a) / dt
}

// NetRate is the traffic of one interface, per second.
type NetRate struct {
	Name                 string
	RxBytes, TxBytes     float64
	RxPackets, TxPackets float64
}

// NetSampler turns successive /proc/net/dev samples into [NetRate].
type NetSampler struct {
	prev   []NetDevLine
	when   time.Time
	primed bool
}

// Sample appends to dst the rate of every interface of cur since the
// previous Sample at now, and keeps cur. The first call, an interface that
// is new, and an interval that is not positive give 0.
func (s *NetSampler) Sample(cur *NetDev, now time.Time, dst []NetRate) []NetRate {
	dt := now.Sub(s.when).Seconds()
	for i := range cur.Ifaces {
		c := &cur.Ifaces[i]
		r := NetRate{Name: c.Name}
		if p := findByName(s.prev, i, c.Name, netName); s.primed && p != nil {
			r.RxBytes = rate(p.RxBytes, c.RxBytes, dt)
			r.TxBytes = rate(p.TxBytes, c.TxBytes, dt)
			r.RxPackets = rate(p.RxPackets, c.RxPackets, dt)
			r.TxPackets = rate(p.TxPackets, c.TxPackets, dt)
		}
		dst = append(dst, r)
	}
	s.prev = append(s.prev[:0], cur.Ifaces...)
	s.when, s.primed = now, true
	return dst
}

// findByName looks for the entry called name at index i first: the order
// of interfaces and disks rarely changes between samples.
func findByName[T any](l []T, i int, name string, nameOf func(*T) string) *T {
	if i < len(l) && nameOf(&l[i]) == name {
		return &l[i]
	}
	for j := range l {
		if nameOf(&l[j]) == name {
			return &l[j]
		}
	}
	return nil
}

func netName(l *NetDevLine) string { return l.Name }
func diskName(d *DiskStat) string  { return d.Name }

// DiskRate is the I/O of one block device, per second.
type DiskRate struct {
	Name                  string
	ReadBytes, WriteBytes float64
	ReadOps, WriteOps     float64
}

// SectorSize is the unit of the sector counters of /proc/diskstats, whatever
// the device's real sector size.
const SectorSize = 512

// DiskSampler turns successive /proc/diskstats samples into [DiskRate].
type DiskSampler struct {
	prev   []DiskStat
	when   time.Time
	primed bool
}

// Sample appends to dst the rate of every device of cur since the previous
// Sample at now, and keeps cur. The first call, a device that is new, and an
// interval that is not positive give 0.
func (s *DiskSampler) Sample(cur *Diskstats, now time.Time, dst []DiskRate) []DiskRate {
	dt := now.Sub(s.when).Seconds()
	for i := range cur.Disks {
		c := &cur.Disks[i]
		r := DiskRate{Name: c.Name}
		if p := findByName(s.prev, i, c.Name, diskName); s.primed && p != nil {
			r.ReadBytes = rate(p.ReadSectors, c.ReadSectors, dt) * SectorSize
			r.WriteBytes = rate(p.WriteSectors, c.WriteSectors, dt) * SectorSize
			r.ReadOps = rate(p.ReadIOs, c.ReadIOs, dt)
			r.WriteOps = rate(p.WriteIOs, c.WriteIOs, dt)
		}
		dst = append(dst, r)
	}
	s.prev = append(s.prev[:0], cur.Disks...)
	s.when, s.primed = now, true
	return dst
}
