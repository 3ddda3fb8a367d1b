package proc

import "strings"

// CPUInfo is /proc/cpuinfo: one Processor per logical CPU, plus the
// machine-wide lines that ARM and MIPS print once.
type CPUInfo struct {
	Processors []Processor
	Hardware   string // ARM "Hardware": the SoC ("BCM2835", "ZTE ZX279128 (Device Tree)")
	Revision   string // ARM board revision ("a02082" on a Pi 3)
	Serial     string // ARM "Serial"
	Model      string // ARM "Model" ("Raspberry Pi 4 Model B Rev 1.2"); not x86's per-CPU "model"
	SystemType string // MIPS "system type" ("MediaTek MT7621 ver:1 eco:3")
	Machine    string // MIPS "machine" ("MikroTik RouterBOARD 760iGS")
}

// Processor is one logical CPU of /proc/cpuinfo. The fields cover the x86,
// ARM and MIPS layouts; a field a layout does not print stays zero, except
// PhysicalID and CoreID which always hold a usable topology (see below), so
// a physical id -> core id -> processor tree can be built on any box.
type Processor struct {
	Processor int // "processor"; counted from 0 when the file has none (old ARM)

	// PhysicalID is the socket: x86 "physical id", MIPS "package", else 0.
	// CoreID is the core in the socket: x86 "core id", MIPS "core", else the
	// processor number (one core per processor, as on ARM). The Has fields
	// tell whether the kernel printed them.
	PhysicalID, CoreID       int
	HasPhysicalID, HasCoreID bool

	Siblings      int // x86: logical CPUs in this socket
	CPUCores      int // x86: cores in this socket
	APICID        int // x86 "apicid"
	InitialAPICID int // x86 "initial apicid"

	VendorID  string // x86 "vendor_id" ("GenuineIntel", "AuthenticAMD")
	CPUFamily string // x86 "cpu family", as printed ("6")
	Model     string // x86 "model", as printed ("44")
	// ModelName is x86/ARM "model name", old ARM "Processor" or MIPS
	// "cpu model".
	ModelName  string
	Stepping   string // x86, as printed (some VMs print "unknown")
	Microcode  string
	MHz        float64 // "cpu MHz" (x86, some MIPS)
	CacheSize  string  // "12288 KB"
	CPUIDLevel int
	FPU        bool // "fpu: yes"
	FPUExcept  bool // "fpu_exception: yes"
	WP         bool // "wp: yes"
	// Flags holds x86 "flags" or ARM "Features". Processors with the same
	// flags share one slice: do not modify it.
	Flags          []string
	Bugs           []string
	BogoMIPS       float64 // "bogomips" or "BogoMIPS"
	CLFlushSize    int
	CacheAlignment int
	AddressSizes   string // "40 bits physical, 48 bits virtual"
	PowerMgmt      string

	// ARM identification, as printed ("0x41", "7", "0x0", "0xd03", "4").
	CPUImplementer, CPUArchitecture, CPUVariant, CPUPart, CPURevision string

	// MIPS.
	ISA  string // "isa": "mips1 mips2 mips32r1 mips32r2"
	ASEs string // "ASEs implemented": "mips16 dsp mt"
	VPE  int    // virtual processor within the core (MT7621: 2 per core)
}

const cpuinfoFile = "/proc/cpuinfo"

// ParseCPUInfo parses /proc/cpuinfo into dst in its x86, ARM and MIPS forms.
//
// A "processor" line starts a processor and a blank line ends it. Lines that
// come outside a processor (old ARM kernels print "Processor : ARM720T" with
// no "processor : N" line at all, or one "Processor", then processor/
// BogoMIPS pairs, then shared Features and CPU lines) are common to all:
// they fill what each processor lacks, and make a single processor 0 when
// the file names none. Unknown keys are skipped; a non-blank line without a
// colon or a bad number is an error.
func ParseCPUInfo(data []byte, dst *CPUInfo) error {
	*dst = CPUInfo{Processors: dst.Processors[:0]}
	var common Processor
	commonUsed := false
	var cur *Processor // the processor being read, nil between blocks
	var flags, bugs wordCache

	for n := 1; len(data) > 0; n++ {
		var line []byte
		line, data = nextLine(data)
		if len(trimSpace(line)) == 0 {
			cur = nil
			continue
		}
		k, v, ok := splitKey(line)
		if !ok {
			return lineError(cpuinfoFile, n, line, "no colon")
		}
		switch string(k) {
		case "processor":
			num, ok := parseIntField(v)
			if !ok || num < 0 {
				return lineError(cpuinfoFile, n, line, "bad processor number")
			}
			dst.Processors = append(dst.Processors, Processor{Processor: num})
			cur = &dst.Processors[len(dst.Processors)-1]
			continue
		case "Hardware":
			dst.Hardware = string(v)
			continue
		case "Revision":
			dst.Revision = string(v)
			continue
		case "Serial":
			dst.Serial = string(v)
			continue
		case "Model":
			dst.Model = string(v)
			continue
		case "system type":
			dst.SystemType = string(v)
			continue
		case "machine":
			dst.Machine = string(v)
			continue
		}
		p := cur
		if p == nil {
			p, commonUsed = &common, true
		}
		var prev *Processor
		if i := len(dst.Processors); i >= 2 && cur != nil {
			prev = &dst.Processors[i-2]
		}
		if why := p.set(string(k), v, prev, &flags, &bugs); why != "" {
			return lineError(cpuinfoFile, n, line, why)
		}
	}

	if len(dst.Processors) == 0 {
		if !commonUsed {
			return fileError(cpuinfoFile, "no processor")
		}
		dst.Processors = append(dst.Processors, common)
	} else if commonUsed {
		for i := range dst.Processors {
			dst.Processors[i].fillFrom(&common)
		}
	}
	for i := range dst.Processors {
		p := &dst.Processors[i]
		if !p.HasCoreID {
			p.CoreID = p.Processor
		}
	}
	return nil
}

// set stores one "key: value" line. prev is the processor before (or nil),
// whose equal strings are shared instead of copied again.
func (p *Processor) set(key string, v []byte, prev *Processor, flags, bugs *wordCache) string {
	if prev == nil {
		prev = &noProcessor
	}
	var ok bool
	switch key {
	case "physical id", "package":
		p.PhysicalID, ok = parseIntField(v)
		p.HasPhysicalID = true
	case "core id", "core":
		p.CoreID, ok = parseIntField(v)
		p.HasCoreID = true
	case "siblings":
		p.Siblings, ok = parseIntField(v)
	case "cpu cores":
		p.CPUCores, ok = parseIntField(v)
	case "apicid":
		p.APICID, ok = parseIntField(v)
	case "initial apicid":
		p.InitialAPICID, ok = parseIntField(v)
	case "cpuid level":
		p.CPUIDLevel, ok = parseIntField(v)
	case "clflush size":
		p.CLFlushSize, ok = parseIntField(v)
	case "cache_alignment":
		p.CacheAlignment, ok = parseIntField(v)
	case "VPE":
		p.VPE, ok = parseIntField(v)
	case "cpu MHz":
		p.MHz, ok = parseFloat(v)
	case "bogomips", "BogoMIPS":
		p.BogoMIPS, ok = parseFloat(v)
	case "fpu":
		p.FPU, ok = yesNo(v)
	case "fpu_exception":
		p.FPUExcept, ok = yesNo(v)
	case "wp":
		p.WP, ok = yesNo(v)
	case "vendor_id":
		p.VendorID, ok = intern(prev.VendorID, v), true
	case "cpu family":
		p.CPUFamily, ok = intern(prev.CPUFamily, v), true
	case "model":
		p.Model, ok = intern(prev.Model, v), true
	case "model name", "cpu model":
		p.ModelName, ok = intern(prev.ModelName, v), true
	case "Processor":
		// Old ARM name line; "model name", when also present, wins.
		if p.ModelName == "" {
			p.ModelName = intern(prev.ModelName, v)
		}
		ok = true
	case "stepping":
		p.Stepping, ok = intern(prev.Stepping, v), true
	case "microcode":
		p.Microcode, ok = intern(prev.Microcode, v), true
	case "cache size":
		p.CacheSize, ok = intern(prev.CacheSize, v), true
	case "address sizes":
		p.AddressSizes, ok = intern(prev.AddressSizes, v), true
	case "power management":
		p.PowerMgmt, ok = intern(prev.PowerMgmt, v), true
	case "flags", "Features":
		p.Flags, ok = flags.split(v), true
	case "bugs":
		p.Bugs, ok = bugs.split(v), true
	case "CPU implementer":
		p.CPUImplementer, ok = intern(prev.CPUImplementer, v), true
	case "CPU architecture":
		p.CPUArchitecture, ok = intern(prev.CPUArchitecture, v), true
	case "CPU variant":
		p.CPUVariant, ok = intern(prev.CPUVariant, v), true
	case "CPU part":
		p.CPUPart, ok = intern(prev.CPUPart, v), true
	case "CPU revision":
		p.CPURevision, ok = intern(prev.CPURevision, v), true
	case "isa":
		p.ISA, ok = intern(prev.ISA, v), true
	case "ASEs implemented":
		p.ASEs, ok = intern(prev.ASEs, v), true
	default:
		return ""
	}
	if !ok {
		return "bad value for " + key
	}
	return ""
}

// noProcessor stands for "no previous processor" in set.
var noProcessor Processor

// intern returns prev when it already holds v, else a new string of v.
func intern(prev string, v []byte) string {
	if prev == string(v) {
		return prev
	}
	return string(v)
}

// wordCache splits flags lines, handing out the same slice again while the
// line repeats (a 96-CPU EPYC prints the same 100 flags 96 times).
type wordCache struct {
	raw   string
	words []string
}

func (c *wordCache) split(v []byte) []string {
	if c.words == nil || c.raw != string(v) {
		c.raw = string(v)
		c.words = strings.Fields(c.raw)
		if c.words == nil {
			c.words = []string{}
		}
	}
	return c.words
}

// yesNo parses the "yes"/"no" values of x86 fpu, fpu_exception and wp.
func yesNo(v []byte) (bool, bool) {
	switch string(v) {
	case "yes":
		return true, true
	case "no":
		return false, true
	}
	return false, false
}

// fillFrom copies into p what p lacks from the lines common to all
// processors (old ARM layouts).
func (p *Processor) fillFrom(c *Processor) {
	fill := func(dst *string, src string) {
		if *dst == "" {
			*dst = src
		}
	}
	fill(&p.ModelName, c.ModelName)
	fill(&p.VendorID, c.VendorID)
	fill(&p.CPUImplementer, c.CPUImplementer)
	fill(&p.CPUArchitecture, c.CPUArchitecture)
	fill(&p.CPUVariant, c.CPUVariant)
	fill(&p.CPUPart, c.CPUPart)
	fill(&p.CPURevision, c.CPURevision)
	fill(&p.ISA, c.ISA)
	fill(&p.ASEs, c.ASEs)
	if p.Flags == nil {
		p.Flags = c.Flags
	}
	if p.BogoMIPS == 0 {
		p.BogoMIPS = c.BogoMIPS
	}
	if p.MHz == 0 {
		p.MHz = c.MHz
	}
}
