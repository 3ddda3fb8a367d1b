package proc

import "bytes"

// Meminfo holds the fields of /proc/meminfo that edgestat uses, in kB as the
// kernel prints them (the kernel's "kB" is KiB).
type Meminfo struct {
	MemTotal, MemFree  uint64
	MemAvailable       uint64 // only when HasMemAvailable (kernel 3.14+)
	HasMemAvailable    bool
	Buffers, Cached    uint64
	SwapCached         uint64
	Active, Inactive   uint64
	SwapTotal          uint64
	SwapFree           uint64
	Dirty, Writeback   uint64
	AnonPages, Mapped  uint64
	Shmem              uint64
	Slab, SReclaimable uint64
	SUnreclaim         uint64
	PageTables         uint64
	CommitLimit        uint64
	CommittedAS        uint64
	HighTotal          uint64 // 32-bit kernels with highmem
	HighFree           uint64
	LowTotal, LowFree  uint64
	HugePagesTotal     uint64 // a count of pages, not kB
	HugePagesFree      uint64 // a count of pages, not kB
	Hugepagesize       uint64
}

const meminfoFile = "/proc/meminfo"

// ParseMeminfo parses /proc/meminfo into dst. Lines are "Key:   value kB";
// a TAB may follow the colon (6.1-rc "SecPageTables:\t"), the unit is absent
// on page counts, and unknown keys are skipped. The 2.4-style header of some
// embedded kernels ("total: used: free: ..." then "Mem:" and "Swap:" lines in
// bytes) is read too, but only fills totals the kB lines do not give.
// MemTotal is required.
func ParseMeminfo(data []byte, dst *Meminfo) error {
	*dst = Meminfo{}
	var legacyMem, legacySwap [3]uint64 // total used free, bytes
	haveTotal, haveSwap, haveLegacyMem, haveLegacySwap := false, false, false, false
	for n := 1; len(data) > 0; n++ {
		var line []byte
		line, data = nextLine(data)
		if len(trimSpace(line)) == 0 {
			continue
		}
		key, value, ok := splitKey(line)
		if !ok {
			return lineError(meminfoFile, n, line, "no colon")
		}
		if len(key) == 0 {
			return lineError(meminfoFile, n, line, "empty key")
		}
		// Legacy 2.4 table: a header starting with blanks, then rows of bytes.
		if line[0] == ' ' || line[0] == '\t' {
			if bytes.Equal(key, []byte("total")) {
				continue
			}
			return lineError(meminfoFile, n, line, "indented line")
		}
		switch string(key) {
		case "Mem":
			if err := parseLegacyRow(value, legacyMem[:]); err != "" {
				return lineError(meminfoFile, n, line, err)
			}
			haveLegacyMem = true
			continue
		case "Swap":
			if err := parseLegacyRow(value, legacySwap[:]); err != "" {
				return lineError(meminfoFile, n, line, err)
			}
			haveLegacySwap = true
			continue
		}
		f, unit := nextField(value)
		v, ok := parseUint(f)
		if !ok {
			return lineError(meminfoFile, n, line, "bad number")
		}
		if u := trimSpace(unit); len(u) > 0 && !bytes.Equal(u, []byte("kB")) {
			return lineError(meminfoFile, n, line, "unknown unit")
		}
		var p *uint64
		switch string(key) {
		case "MemTotal":
			p, haveTotal = &dst.MemTotal, true
		case "MemFree":
			p = &dst.MemFree
		case "MemAvailable":
			p, dst.HasMemAvailable = &dst.MemAvailable, true
		case "Buffers":
			p = &dst.Buffers
		case "Cached":
			p = &dst.Cached
		case "SwapCached":
			p = &dst.SwapCached
		case "Active":
			p = &dst.Active
		case "Inactive":
			p = &dst.Inactive
		case "SwapTotal":
			p, haveSwap = &dst.SwapTotal, true
		case "SwapFree":
			p = &dst.SwapFree
		case "Dirty":
			p = &dst.Dirty
		case "Writeback":
			p = &dst.Writeback
		case "AnonPages":
			p = &dst.AnonPages
		case "Mapped":
			p = &dst.Mapped
		case "Shmem":
			p = &dst.Shmem
		case "Slab":
			p = &dst.Slab
		case "SReclaimable":
			p = &dst.SReclaimable
		case "SUnreclaim":
			p = &dst.SUnreclaim
		case "PageTables":
			p = &dst.PageTables
		case "CommitLimit":
			p = &dst.CommitLimit
		case "Committed_AS":
			p = &dst.CommittedAS
		case "HighTotal":
			p = &dst.HighTotal
		case "HighFree":
			p = &dst.HighFree
		case "LowTotal":
			p = &dst.LowTotal
		case "LowFree":
			p = &dst.LowFree
		case "HugePages_Total":
			p = &dst.HugePagesTotal
		case "HugePages_Free":
			p = &dst.HugePagesFree
		case "Hugepagesize":
			p = &dst.Hugepagesize
		default:
			continue
		}
		*p = v
	}
	if !haveTotal && haveLegacyMem {
		dst.MemTotal, dst.MemFree = legacyMem[0]/1024, legacyMem[2]/1024
		haveTotal = true
	}
	if !haveSwap && haveLegacySwap {
		dst.SwapTotal, dst.SwapFree = legacySwap[0]/1024, legacySwap[2]/1024
	}
	if !haveTotal {
		return fileError(meminfoFile, "no MemTotal")
	}
	return nil
}

// parseLegacyRow reads the first len(dst) byte counts of a 2.4 "Mem:" or
// "Swap:" row.
func parseLegacyRow(b []byte, dst []uint64) string {
	for i := range dst {
		var f []byte
		f, b = nextField(b)
		v, ok := parseUint(f)
		if !ok {
			return "bad legacy row"
		}
		dst[i] = v
	}
	return ""
}
