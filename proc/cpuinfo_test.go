package proc

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
)

// topology renders physical id -> core id -> processors, the tree of
// Argusyes' cpu_info event, as "p0[c0:0,4 c1:1,5] p1[...]".
func topology(ci *CPUInfo) string {
	tree := map[int]map[int][]int{}
	for _, p := range ci.Processors {
		if tree[p.PhysicalID] == nil {
			tree[p.PhysicalID] = map[int][]int{}
		}
		tree[p.PhysicalID][p.CoreID] = append(tree[p.PhysicalID][p.CoreID], p.Processor)
	}
	var out []string
	for _, pid := range sortedKeys(tree) {
		var cores []string
		for _, cid := range sortedKeys(tree[pid]) {
			procs := fmt.Sprint(tree[pid][cid])
			cores = append(cores, fmt.Sprintf("c%d:%s", cid, strings.ReplaceAll(strings.Trim(procs, "[]"), " ", ",")))
		}
		out = append(out, fmt.Sprintf("p%d[%s]", pid, strings.Join(cores, " ")))
	}
	return strings.Join(out, " ")
}

func sortedKeys[V any](m map[int]V) []int {
	keys := make([]int, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	return keys
}

func TestParseCPUInfoX86(t *testing.T) {
	var ci CPUInfo
	if err := ParseCPUInfo(fixture(t, "x86-2socket-xeon-x5675/proc/cpuinfo"), &ci); err != nil {
		t.Fatal(err)
	}
	if len(ci.Processors) != 24 {
		t.Fatalf("%d processors, want 24", len(ci.Processors))
	}
	// Non-contiguous core ids, hyper-threads numbered after all cores.
	want := "p0[c0:0,12 c1:1,13 c2:2,14 c8:3,15 c9:4,16 c10:5,17] p1[c0:6,18 c1:7,19 c2:8,20 c8:9,21 c9:10,22 c10:11,23]"
	if got := topology(&ci); got != want {
		t.Errorf("topology\n got %s\nwant %s", got, want)
	}
	p := ci.Processors[13]
	if p.Processor != 13 || p.VendorID != "GenuineIntel" || p.CPUFamily != "6" || p.Model != "44" ||
		p.ModelName != "Intel(R) Xeon(R) CPU           X5675  @ 3.07GHz" || p.Stepping != "2" ||
		p.MHz != 3068 || p.CacheSize != "12288 KB" || p.PhysicalID != 0 || p.Siblings != 12 ||
		p.CoreID != 1 || p.CPUCores != 6 || !p.FPU || !p.FPUExcept || p.CPUIDLevel != 11 || !p.WP ||
		p.CLFlushSize != 64 || p.CacheAlignment != 64 || p.AddressSizes != "40 bits physical, 48 bits virtual" ||
		!p.HasPhysicalID || !p.HasCoreID || p.BogoMIPS == 0 {
		t.Errorf("processor 13 = %+v", p)
	}
	if len(p.Flags) == 0 || p.Flags[0] != "fpu" || p.Flags[len(p.Flags)-1] != "vpid" {
		t.Errorf("flags = %v", p.Flags)
	}

	tests := []struct {
		file string
		n    int
		topo string
	}{
		{"x86-vm-sosreport/proc/cpuinfo", 2, "p0[c0:0,1]"},
		{"misc-prometheus-procfs/proc/cpuinfo", 8, "p0[c0:0,4 c1:1,5 c2:2,6 c3:3,7]"},
	}
	for _, tt := range tests {
		if err := ParseCPUInfo(fixture(t, tt.file), &ci); err != nil {
			t.Fatal(err)
		}
		if len(ci.Processors) != tt.n || topology(&ci) != tt.topo {
			t.Errorf("%s: %d processors, topology %s; want %d, %s", tt.file, len(ci.Processors), topology(&ci), tt.n, tt.topo)
		}
	}
	p = ci.Processors[7]
	if p.APICID != 7 || p.Microcode != "0xb4" || p.MHz == 0 || len(p.Bugs) != 7 || p.Bugs[6] != "swapgs" {
		t.Errorf("i7-8650U processor 7 = %+v", p)
	}
}

func TestParseCPUInfoBigX86(t *testing.T) {
	tests := []struct {
		file                string
		n, sockets, perCore int
		cores               int // per socket
	}{
		{"x86-2socket-epyc-7451/proc/cpuinfo", 96, 2, 2, 24},
		{"x86-4socket-xeon-x7550/proc/cpuinfo", 64, 4, 2, 8},
	}
	for _, tt := range tests {
		var ci CPUInfo
		if err := ParseCPUInfo(fixture(t, tt.file), &ci); err != nil {
			t.Fatal(err)
		}
		if len(ci.Processors) != tt.n {
			t.Errorf("%s: %d processors", tt.file, len(ci.Processors))
		}
		tree := map[int]map[int]int{}
		for _, p := range ci.Processors {
			if tree[p.PhysicalID] == nil {
				tree[p.PhysicalID] = map[int]int{}
			}
			tree[p.PhysicalID][p.CoreID]++
			if p.CPUCores != tt.cores {
				t.Errorf("%s: processor %d: cpu cores %d", tt.file, p.Processor, p.CPUCores)
			}
		}
		if len(tree) != tt.sockets {
			t.Errorf("%s: %d sockets", tt.file, len(tree))
		}
		for s, cores := range tree {
			if len(cores) != tt.cores {
				t.Errorf("%s: socket %d has %d cores", tt.file, s, len(cores))
			}
			for c, n := range cores {
				if n != tt.perCore {
					t.Errorf("%s: socket %d core %d has %d threads", tt.file, s, c, n)
				}
			}
		}
		// Equal flag lines share one slice.
		if &ci.Processors[0].Flags[0] != &ci.Processors[tt.n-1].Flags[0] {
			t.Errorf("%s: flags not shared", tt.file)
		}
	}
}

func TestParseCPUInfoARM(t *testing.T) {
	tests := []struct {
		file      string
		n         int
		modelName string
		bogo      float64
		features  string
		part      string
		hw, rev   string
		serial    string
		model     string
	}{
		{"rpi4-arm64/proc/cpuinfo", 4, "", 108, "fp asimd evtstrm crc32 cpuid", "0xd08",
			"BCM2835", "b03112", "676974687562004b", "Raspberry Pi 4 Model B Rev 1.2"},
		{"rpi4-arm64-k6.12/proc/cpuinfo", 4, "", 108, "fp asimd evtstrm crc32 cpuid", "0xd08",
			"", "c03111", "10000000a43957f6", "Raspberry Pi 4 Model B Rev 1.1"},
		{"rpi3-armv7/proc/cpuinfo", 4, "ARMv7 Processor rev 4 (v7l)", 76.80,
			"half thumb fastmult vfp edsp neon vfpv3 tls vfpv4 idiva idivt vfpd32 lpae evtstrm crc32", "0xd03",
			"BCM2835", "a02082", "000000008fdf721c", ""},
		{"rpi3-armv7-b/proc/cpuinfo", 4, "ARMv7 Processor rev 4 (v7l)", 0, "", "0xd03", "BCM2835", "a02082", "", "Raspberry Pi 3 Model B Rev 1.2"},
		{"rpi3-armv7-c/proc/cpuinfo", 4, "ARMv7 Processor rev 4 (v7l)", 38.40, "", "0xd03", "BCM2709", "a22082", "0000000002db1491", ""},
		{"rpi-zero-w-armv6/proc/cpuinfo", 1, "ARMv6-compatible processor rev 7 (v6l)", 697.95,
			"half thumb fastmult vfp edsp java tls", "0xb76", "BCM2708", "9000c1", "00000000f15e7d58", ""},
		{"rpi-b-plus-armv6/proc/cpuinfo", 1, "ARMv6-compatible processor rev 7 (v6l)", 697.95,
			"half thumb fastmult vfp edsp java tls", "0xb76", "BCM2835", "0010", "000000004a0abca9", ""},
		{"router-arm-zte-zx279128/proc/cpuinfo", 2, "ARMv7 Processor rev 1 (v7l)", 1594.16,
			"half fastmult edsp tls", "0xc09", "ZTE ZX279128 (Device Tree)", "0000", "0000000000000000", ""},
		// big.LITTLE: checked per cluster below.
		{"arm32-mt8183/proc/cpuinfo", 8, "*", 0, "", "", "MT8183", "0000", "29aa1cf5ba0159c3", ""},
		{"old-arm-arm720t/proc/cpuinfo", 1, "ARM720T rev 2 (v4l)", 43.62, "swp half thumb", "0x720",
			"4020 board", "0000", "0000000000000000", ""},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			var ci CPUInfo
			if err := ParseCPUInfo(fixture(t, tt.file), &ci); err != nil {
				t.Fatal(err)
			}
			if len(ci.Processors) != tt.n {
				t.Fatalf("%d processors, want %d", len(ci.Processors), tt.n)
			}
			if ci.Hardware != tt.hw || ci.Revision != tt.rev || (tt.serial != "" && ci.Serial != tt.serial) || ci.Model != tt.model {
				t.Errorf("machine = %q %q %q %q", ci.Hardware, ci.Revision, ci.Serial, ci.Model)
			}
			for i, p := range ci.Processors {
				// ARM defaults: one socket, one core per processor.
				if p.Processor != i || p.PhysicalID != 0 || p.CoreID != i || p.HasPhysicalID || p.HasCoreID {
					t.Errorf("processor %d topology = %+v", i, p)
				}
				if (tt.modelName != "*" && p.ModelName != tt.modelName) || (tt.bogo != 0 && p.BogoMIPS != tt.bogo) ||
					p.CPUImplementer != "0x41" || (tt.part != "" && p.CPUPart != tt.part) {
					t.Errorf("processor %d = %+v", i, p)
				}
				if tt.features != "" && strings.Join(p.Flags, " ") != tt.features {
					t.Errorf("processor %d features = %q", i, p.Flags)
				}
			}
		})
	}
}

func TestParseCPUInfoBigLittle(t *testing.T) {
	// Every block has both "Processor" and "model name"; the clusters differ.
	var ci CPUInfo
	if err := ParseCPUInfo(fixture(t, "arm32-mt8183/proc/cpuinfo"), &ci); err != nil {
		t.Fatal(err)
	}
	for i, p := range ci.Processors {
		name, part, bogo := "ARMv7 Processor rev 4 (v7l)", "0xd03", 42.43 // Cortex-A53
		if i >= 4 {
			name, part, bogo = "ARMv7 Processor rev 2 (v7l)", "0xd09", 29.52 // Cortex-A73
		}
		if p.ModelName != name || p.CPUPart != part || p.BogoMIPS != bogo {
			t.Errorf("processor %d = %q %q %v; want %q %q %v", i, p.ModelName, p.CPUPart, p.BogoMIPS, name, part, bogo)
		}
	}
}

func TestParseCPUInfoOldARMSharedLines(t *testing.T) {
	// ARM kernels around 3.0 print one "Processor" line, processor/BogoMIPS
	// pairs, then the lines common to all cores.
	in := "Processor\t: ARMv7 Processor rev 10 (v7l)\n" +
		"processor\t: 0\nBogoMIPS\t: 790.52\n\n" +
		"processor\t: 1\nBogoMIPS\t: 790.53\n\n" +
		"Features\t: swp half thumb fastmult vfp edsp neon vfpv3 tls\n" +
		"CPU implementer\t: 0x41\nCPU architecture: 7\nCPU variant\t: 0x2\nCPU part\t: 0xc09\nCPU revision\t: 10\n\n" +
		"Hardware\t: Freescale i.MX 6Quad SABRE Smart Device Board\nRevision\t: 63012\nSerial\t\t: 0000000000000000\n"
	var ci CPUInfo
	if err := ParseCPUInfo([]byte(in), &ci); err != nil {
		t.Fatal(err)
	}
	if len(ci.Processors) != 2 {
		t.Fatalf("%d processors", len(ci.Processors))
	}
	for i, p := range ci.Processors {
		if p.ModelName != "ARMv7 Processor rev 10 (v7l)" || p.CPUPart != "0xc09" || len(p.Flags) != 9 || p.CoreID != i {
			t.Errorf("processor %d = %+v", i, p)
		}
	}
	if ci.Processors[1].BogoMIPS != 790.53 {
		t.Errorf("BogoMIPS = %v", ci.Processors[1].BogoMIPS)
	}
}

func TestParseCPUInfoMIPS(t *testing.T) {
	var ci CPUInfo
	if err := ParseCPUInfo(fixture(t, "openwrt-mips-mt7621/proc/cpuinfo"), &ci); err != nil {
		t.Fatal(err)
	}
	if ci.SystemType != "MediaTek MT7621 ver:1 eco:3" || ci.Machine != "MikroTik RouterBOARD 760iGS" {
		t.Errorf("machine = %q, %q", ci.SystemType, ci.Machine)
	}
	// 2 cores x 2 VPEs.
	if got, want := topology(&ci), "p0[c0:0,1 c1:2,3]"; got != want {
		t.Errorf("topology %s, want %s", got, want)
	}
	p := ci.Processors[3]
	if p.ModelName != "MIPS 1004Kc V2.15" || p.BogoMIPS != 586.13 || p.VPE != 1 || p.ISA != "mips1 mips2 mips32r1 mips32r2" ||
		p.ASEs != "mips16 dsp mt" || !p.HasPhysicalID || !p.HasCoreID {
		t.Errorf("processor 3 = %+v", p)
	}

	if err := ParseCPUInfo(fixture(t, "router-mips-lantiq-dwr956/proc/cpuinfo"), &ci); err != nil {
		t.Fatal(err)
	}
	if ci.SystemType != "AR10" || len(ci.Processors) != 1 || ci.Processors[0].ModelName != "MIPS 34Kc V5.6" ||
		ci.Processors[0].BogoMIPS != 399.76 || topology(&ci) != "p0[c0:0]" {
		t.Errorf("dwr956 = %+v", ci)
	}

	if err := ParseCPUInfo(fixture(t, "stb-mips-bcm7425/proc/cpuinfo"), &ci); err != nil {
		t.Fatal(err)
	}
	if len(ci.Processors) != 2 || ci.Processors[0].MHz != 1305.099 || ci.Processors[1].BogoMIPS != 651.26 ||
		ci.Processors[0].ASEs != "" || ci.Processors[0].ModelName != "Broadcom BMIPS5000 V1.1  FPU V0.1" ||
		topology(&ci) != "p0[c0:0,1]" {
		t.Errorf("bcm7425 = %+v", ci)
	}
}

func TestParseCPUInfoAllFixtures(t *testing.T) {
	for name, data := range fixturesNamed(t, "/proc/cpuinfo") {
		var ci CPUInfo
		if err := ParseCPUInfo(data, &ci); err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		seen := map[int]bool{}
		for _, p := range ci.Processors {
			if seen[p.Processor] {
				t.Errorf("%s: processor %d twice", name, p.Processor)
			}
			seen[p.Processor] = true
			if p.ModelName == "" && !strings.HasPrefix(name, "rpi4") {
				t.Errorf("%s: processor %d has no model name", name, p.Processor)
			}
			if p.BogoMIPS <= 0 {
				t.Errorf("%s: processor %d has no BogoMIPS", name, p.Processor)
			}
		}
	}
}

func TestParseCPUInfoBroken(t *testing.T) {
	tests := map[string]string{
		"empty":              "",
		"blank":              "\n\n",
		"garbage":            "garbage\n",
		"bad processor":      "processor\t: x\n",
		"negative processor": "processor\t: -1\n",
		"bad MHz":            "processor\t: 0\ncpu MHz\t\t: fast\n",
		"bad fpu":            "processor\t: 0\nfpu\t\t: maybe\n",
		"bad core id":        "processor\t: 0\ncore id\t\t: 1.5\n",
		"cut short mid-line": "processor\t: 0\nvendor_id\t: GenuineIntel\ncpu fam",
		"only machine lines": "Hardware\t: BCM2835\nRevision\t: a02082\n",
	}
	for name, in := range tests {
		var ci CPUInfo
		if err := ParseCPUInfo([]byte(in), &ci); !errors.Is(err, ErrParse) {
			t.Errorf("%s: err = %v, want ErrParse", name, err)
		}
	}
}

func FuzzParseCPUInfo(f *testing.F) {
	for _, b := range fixturesNamed(f, "/proc/cpuinfo") {
		if len(b) < 16<<10 {
			f.Add(b)
		}
	}
	for _, s := range brokenInputs {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var ci CPUInfo
		err := ParseCPUInfo(data, &ci)
		if err != nil {
			if !errors.Is(err, ErrParse) {
				t.Fatalf("error does not wrap ErrParse: %v", err)
			}
			return
		}
		if len(ci.Processors) == 0 {
			t.Fatal("no processor without error")
		}
		for _, p := range ci.Processors {
			if p.Processor < 0 || (!p.HasCoreID && p.CoreID != p.Processor) || (!p.HasPhysicalID && p.PhysicalID != 0) {
				t.Fatalf("bad topology defaults: %+v", p)
			}
		}
	})
}

func BenchmarkParseCPUInfo(b *testing.B) {
	for _, file := range []string{"rpi4-arm64/proc/cpuinfo", "x86-2socket-xeon-x5675/proc/cpuinfo"} {
		b.Run(file, func(b *testing.B) {
			data := fixture(b, file)
			var ci CPUInfo
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if err := ParseCPUInfo(data, &ci); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
