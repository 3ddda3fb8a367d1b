package proc

// DiskStat is one line of /proc/diskstats (Documentation/admin-guide/iostats).
// Sectors are 512 bytes whatever the device's own sector size.
type DiskStat struct {
	Major, Minor uint32
	Name         string
	ReadIOs      uint64 // reads completed
	ReadMerges   uint64
	ReadSectors  uint64
	ReadTicks    uint64 // ms
	WriteIOs     uint64 // writes completed
	WriteMerges  uint64
	WriteSectors uint64
	WriteTicks   uint64 // ms
	InFlight     uint64 // I/Os in progress now
	IOTicks      uint64 // ms spent doing I/O
	TimeInQueue  uint64 // weighted ms
	// Kernel 4.18+.
	DiscardIOs, DiscardMerges, DiscardSectors, DiscardTicks uint64
	// Kernel 5.5+.
	FlushIOs, FlushTicks uint64
	// Fields is how many counters the line had: 4 (partitions before
	// 2.6.25), 11, 15 or 17.
	Fields int
}

// Diskstats is /proc/diskstats in file order.
type Diskstats struct {
	Disks []DiskStat
}

// Find returns the device called name ("sda1", "mmcblk0p2"), or nil.
func (d *Diskstats) Find(name string) *DiskStat {
	for i := range d.Disks {
		if d.Disks[i].Name == name {
			return &d.Disks[i]
		}
	}
	return nil
}

// FindDev returns the device numbered major:minor, or nil.
func (d *Diskstats) FindDev(major, minor uint32) *DiskStat {
	for i := range d.Disks {
		if d.Disks[i].Major == major && d.Disks[i].Minor == minor {
			return &d.Disks[i]
		}
	}
	return nil
}

const diskstatsFile = "/proc/diskstats"

// ParseDiskstats parses /proc/diskstats into dst, reusing dst.Disks and
// their Name strings when the devices come in the same order as last time.
//
// A line is "major minor name" and then 11 counters (2.6.25+), 15 (4.18+,
// discards) or 17 (5.5+, flushes); before 2.6.25 partitions had only 4
// (reads, read sectors, writes, write sectors). Counts in between mean the
// line was cut short and are an error; more than 17 are accepted, so a
// future kernel's new columns do not break the parser. An empty file is
// valid: a box may have no block device at all.
func ParseDiskstats(data []byte, dst *Diskstats) error {
	prev := dst.Disks
	dst.Disks = dst.Disks[:0]
	for n := 1; len(data) > 0; n++ {
		var line []byte
		line, data = nextLine(data)
		if len(trimSpace(line)) == 0 {
			continue
		}
		fMaj, rest := nextField(line)
		fMin, rest := nextField(rest)
		name, rest := nextField(rest)
		maj, ok1 := parseUint(fMaj)
		mnr, ok2 := parseUint(fMin)
		if !ok1 || !ok2 || maj > 1<<32-1 || mnr > 1<<32-1 || len(name) == 0 {
			return lineError(diskstatsFile, n, line, "bad device")
		}
		var vals [17]uint64
		cnt := 0
		for {
			var f []byte
			f, rest = nextField(rest)
			if len(f) == 0 {
				break
			}
			v, ok := parseUint(f)
			if !ok {
				return lineError(diskstatsFile, n, line, "bad counter")
			}
			if cnt < len(vals) {
				vals[cnt] = v
			}
			cnt++
		}
		i := len(dst.Disks)
		var d DiskStat
		if i < len(prev) {
			d.Name = prev[i].Name
		}
		if d.Name != string(name) {
			d.Name = string(name)
		}
		d.Major, d.Minor, d.Fields = uint32(maj), uint32(mnr), min(cnt, len(vals))
		switch {
		case cnt == 4:
			d.ReadIOs, d.ReadSectors, d.WriteIOs, d.WriteSectors = vals[0], vals[1], vals[2], vals[3]
		case cnt == 11 || cnt == 15 || cnt >= 17:
			d.ReadIOs, d.ReadMerges, d.ReadSectors, d.ReadTicks = vals[0], vals[1], vals[2], vals[3]
			d.WriteIOs, d.WriteMerges, d.WriteSectors, d.WriteTicks = vals[4], vals[5], vals[6], vals[7]
			d.InFlight, d.IOTicks, d.TimeInQueue = vals[8], vals[9], vals[10]
			d.DiscardIOs, d.DiscardMerges, d.DiscardSectors, d.DiscardTicks = vals[11], vals[12], vals[13], vals[14]
			d.FlushIOs, d.FlushTicks = vals[15], vals[16]
		default:
			return lineError(diskstatsFile, n, line, "unexpected number of counters")
		}
		dst.Disks = append(dst.Disks, d)
	}
	return nil
}
