package proc

import "bytes"

// CPUTimes are the counters of one "cpu" line of /proc/stat, in USER_HZ
// ticks (1/100 s on every Linux architecture) since boot. Columns a kernel
// does not print stay 0: 2.6.0 has 7, 2.6.11 adds steal (8), 2.6.24 guest
// (9), 2.6.33 guest_nice (10).
type CPUTimes struct {
	User, Nice, System, Idle, Iowait, IRQ, SoftIRQ, Steal uint64
	// Guest and GuestNice are already counted in User and Nice.
	Guest, GuestNice uint64
}

// Total is the sum of every counter of the line that is not counted twice:
// the kernel adds guest time into user (and guest_nice into nice) as well.
func (t CPUTimes) Total() uint64 {
	return t.User + t.Nice + t.System + t.Idle + t.Iowait + t.IRQ + t.SoftIRQ + t.Steal
}

// CPUStat is one line of /proc/stat: the total "cpu" line or a "cpuN" line.
type CPUStat struct {
	ID int // N of "cpuN", -1 for the total line
	CPUTimes
}

// Stat is the content of /proc/stat that edgestat uses.
type Stat struct {
	Total CPUStat   // the "cpu" line, summed over CPUs
	CPUs  []CPUStat // the "cpuN" lines in file order; offline CPUs are absent
	// Interrupts and SoftIRQs are the totals of the intr and softirq lines.
	// HasSoftIRQ is false on kernels before 2.6.31, which print no softirq line.
	Interrupts, SoftIRQs uint64
	HasSoftIRQ           bool
	ContextSwitches      uint64 // ctxt
	BootTime             uint64 // btime, seconds since the epoch (0 on a box with no clock at boot)
	Processes            uint64 // forks since boot
	ProcsRunning         uint64
	ProcsBlocked         uint64
}

const statFile = "/proc/stat"

// ParseStat parses /proc/stat into dst, reusing dst.CPUs. A cpu line needs
// at least the 4 columns every kernel prints (user nice system idle); lines
// the parser does not know (intr details, page, swap on 2.4) are skipped.
func ParseStat(data []byte, dst *Stat) error {
	// On error dst is partly filled; dst.CPUs keeps its storage either way.
	*dst = Stat{Total: CPUStat{ID: -1}, CPUs: dst.CPUs[:0]}
	sawTotal := false
	for n := 1; len(data) > 0; n++ {
		var line []byte
		line, data = nextLine(data)
		key, rest := nextField(line)
		if len(key) == 0 {
			continue
		}
		if bytes.HasPrefix(key, []byte("cpu")) {
			var c CPUStat
			if len(key) == 3 {
				c.ID = -1
			} else {
				id, ok := parseUint(key[3:])
				if !ok || id > 1<<20 {
					return lineError(statFile, n, line, "bad cpu name")
				}
				c.ID = int(id)
			}
			if err := parseCPUTimes(rest, &c.CPUTimes); err != "" {
				return lineError(statFile, n, line, err)
			}
			if c.ID < 0 {
				dst.Total, sawTotal = c, true
			} else {
				dst.CPUs = append(dst.CPUs, c)
			}
			continue
		}
		var p *uint64
		switch string(key) {
		case "intr":
			p = &dst.Interrupts
		case "softirq":
			p = &dst.SoftIRQs
			dst.HasSoftIRQ = true
		case "ctxt":
			p = &dst.ContextSwitches
		case "btime":
			p = &dst.BootTime
		case "processes":
			p = &dst.Processes
		case "procs_running":
			p = &dst.ProcsRunning
		case "procs_blocked":
			p = &dst.ProcsBlocked
		default:
			continue
		}
		f, _ := nextField(rest)
		v, ok := parseUint(f)
		if !ok {
			return lineError(statFile, n, line, "bad number")
		}
		*p = v
	}
	if !sawTotal && len(dst.CPUs) == 0 {
		return fileError(statFile, "no cpu line")
	}
	return nil
}

// parseCPUTimes reads the columns of a cpu line. It returns a reason when
// the line is bad, "" when it is good.
func parseCPUTimes(b []byte, t *CPUTimes) string {
	cols := [...]*uint64{&t.User, &t.Nice, &t.System, &t.Idle, &t.Iowait,
		&t.IRQ, &t.SoftIRQ, &t.Steal, &t.Guest, &t.GuestNice}
	n := 0
	for {
		var f []byte
		f, b = nextField(b)
		if len(f) == 0 {
			break
		}
		if n < len(cols) { // later kernels may add columns: ignore them
			v, ok := parseUint(f)
			if !ok {
				return "bad number"
			}
			*cols[n] = v
		}
		n++
	}
	if n < 4 {
		return "too few columns"
	}
	return ""
}
