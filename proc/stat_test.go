package proc

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseStatFixtures(t *testing.T) {
	tests := []struct {
		file string
		want Stat
	}{
		{ // 10 columns, 2 vCPUs
			file: "x86-vm-sosreport/proc/stat",
			want: Stat{
				Total: CPUStat{ID: -1, CPUTimes: CPUTimes{12333, 29, 11930, 386965, 126, 4523, 2711, 0, 0, 0}},
				CPUs: []CPUStat{
					{ID: 0, CPUTimes: CPUTimes{6088, 14, 5849, 193612, 93, 2230, 1398, 0, 0, 0}},
					{ID: 1, CPUTimes: CPUTimes{6245, 14, 6081, 193353, 32, 2293, 1312, 0, 0, 0}},
				},
				Interrupts: 1164323, SoftIRQs: 2817870, HasSoftIRQ: true,
				ContextSwitches: 5562073, BootTime: 1569982765, Processes: 5959,
				ProcsRunning: 3, ProcsBlocked: 0,
			},
		},
		{ // old 2.6 ARM: 8 columns and no softirq line
			file: "old-arm-arm720t/proc/stat",
			want: Stat{
				Total: CPUStat{ID: -1, CPUTimes: CPUTimes{96, 0, 2629, 14389, 0, 102, 1007, 0, 0, 0}},
				CPUs: []CPUStat{
					{ID: 0, CPUTimes: CPUTimes{96, 0, 2629, 14389, 0, 102, 1007, 0, 0, 0}},
				},
				Interrupts: 31431, ContextSwitches: 25774, BootTime: 1333319942,
				Processes: 296, ProcsRunning: 1,
			},
		},
		{ // router without a clock at boot: btime 0
			file: "router-arm-zte-zx279128/proc/stat",
			want: Stat{
				Total: CPUStat{ID: -1, CPUTimes: CPUTimes{9293, 0, 18868, 298359, 10970, 0, 536, 0, 0, 0}},
				CPUs: []CPUStat{
					{ID: 0, CPUTimes: CPUTimes{3417, 0, 7771, 152641, 4710, 0, 480, 0, 0, 0}},
					{ID: 1, CPUTimes: CPUTimes{5876, 0, 11097, 145718, 6260, 0, 56, 0, 0, 0}},
				},
				Interrupts: 997320, SoftIRQs: 1260061, HasSoftIRQ: true,
				ContextSwitches: 983753, BootTime: 0, Processes: 1352, ProcsRunning: 4,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			var got Stat
			if err := ParseStat(fixture(t, tt.file), &got); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseStatLargeFixtures(t *testing.T) {
	tests := []struct {
		file      string
		cpus      int
		last      CPUStat
		total     CPUTimes
		ctxt      uint64
		running   uint64
		blocked   uint64
		softirqOK bool
	}{
		{"x86-server-32cpu/proc/stat", 32, // 9 columns: no guest_nice
			CPUStat{ID: 31, CPUTimes: CPUTimes{555117, 0, 64533, 8877661, 2164, 0, 65, 0, 0, 0}},
			CPUTimes{23956681, 86, 2491154, 276930339, 452669, 134, 45846, 0, 0, 0},
			447203878, 8, 0, true},
		{"x86-desktop-k3.13/proc/stat", 8,
			CPUStat{ID: 7, CPUTimes: CPUTimes{42626, 28919, 16473, 36036975, 3175, 0, 0, 0, 0, 0}},
			CPUTimes{713573, 182653, 215417, 287474103, 145673, 2, 51404, 0, 0, 0},
			474806682, 3, 0, true},
		{"misc-prometheus-procfs/proc/stat", 8, // 130 KB intr line
			CPUStat{ID: 7, CPUTimes: CPUTimes{29098, 268, 10164, 1139282, 555, 0, 31, 0, 0, 0}},
			CPUTimes{301854, 612, 111922, 8979004, 3552, 2, 3944, 0, 0, 0},
			38014093, 2, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			var got Stat
			if err := ParseStat(fixture(t, tt.file), &got); err != nil {
				t.Fatal(err)
			}
			if len(got.CPUs) != tt.cpus {
				t.Fatalf("%d CPUs, want %d", len(got.CPUs), tt.cpus)
			}
			for i, c := range got.CPUs {
				if c.ID != i {
					t.Errorf("CPUs[%d].ID = %d", i, c.ID)
				}
			}
			if l := got.CPUs[len(got.CPUs)-1]; l != tt.last {
				t.Errorf("last CPU = %+v, want %+v", l, tt.last)
			}
			if got.Total.CPUTimes != tt.total || got.Total.ID != -1 {
				t.Errorf("total = %+v, want %+v", got.Total, tt.total)
			}
			if got.ContextSwitches != tt.ctxt || got.ProcsRunning != tt.running ||
				got.ProcsBlocked != tt.blocked || got.HasSoftIRQ != tt.softirqOK {
				t.Errorf("got %+v", got)
			}
		})
	}
}

func TestParseStatEdgeCases(t *testing.T) {
	// Sparse CPU numbers (cpu1 offline), 4 columns (2.4), extra columns of a
	// future kernel, CRLF line ends, unknown lines.
	in := "cpu  1 2 3 4\r\ncpu0 1 1 1 1 1 1 1 1 1 1 99 99\r\ncpu2 5 6 7 8 9\r\npage 5 6\r\nswap 0 0\r\n"
	var got Stat
	if err := ParseStat([]byte(in), &got); err != nil {
		t.Fatal(err)
	}
	want := Stat{
		Total: CPUStat{ID: -1, CPUTimes: CPUTimes{User: 1, Nice: 2, System: 3, Idle: 4}},
		CPUs: []CPUStat{
			{ID: 0, CPUTimes: CPUTimes{1, 1, 1, 1, 1, 1, 1, 1, 1, 1}},
			{ID: 2, CPUTimes: CPUTimes{User: 5, Nice: 6, System: 7, Idle: 8, Iowait: 9}},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	if tot := got.CPUs[0].Total(); tot != 8 {
		t.Errorf("Total() = %d, want 8 (guest is inside user)", tot)
	}
}

func TestParseStatBroken(t *testing.T) {
	good := string(fixture(t, "x86-vm-sosreport/proc/stat"))
	tests := map[string]string{
		"empty":              "",
		"garbage":            "garbage\n",
		"no cpu line":        "ctxt 5\nbtime 6\n",
		"short line":         "cpu  1 2 3\n",
		"bad number":         "cpu  1 2 x 4\n",
		"bad cpu name":       "cpu  1 2 3 4\ncpux 1 2 3 4\n",
		"negative":           "cpu  1 2 -3 4\n",
		"bad ctxt":           good + "ctxt many\n",
		"cut short mid-line": good[:strings.Index(good, "cpu1")+12],
		"overflow":           "cpu  1 2 3 99999999999999999999999\n",
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			var got Stat
			err := ParseStat([]byte(in), &got)
			if !errors.Is(err, ErrParse) {
				t.Fatalf("err = %v, want ErrParse", err)
			}
		})
	}
}

func TestParseStatReusesCPUs(t *testing.T) {
	data := fixture(t, "x86-server-32cpu/proc/stat")
	var st Stat
	if err := ParseStat(data, &st); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(50, func() {
		if err := ParseStat(data, &st); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("steady-state ParseStat: %v allocs, want 0", allocs)
	}
}

func FuzzParseStat(f *testing.F) {
	for _, b := range fixturesNamed(f, "/proc/stat") {
		f.Add(b)
	}
	for _, s := range brokenInputs {
		f.Add([]byte(s))
	}
	f.Add([]byte("cpu  1 2 3 4\ncpu0 1 2 3 4 5 6 7 8 9 10 11\nintr\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var st Stat
		if err := ParseStat(data, &st); err != nil {
			if !errors.Is(err, ErrParse) {
				t.Fatalf("error does not wrap ErrParse: %v", err)
			}
			return
		}
		for _, c := range st.CPUs {
			if c.ID < 0 {
				t.Fatalf("numbered CPU with ID %d", c.ID)
			}
		}
		if st.Total.ID != -1 {
			t.Fatalf("total ID %d", st.Total.ID)
		}
	})
}

func BenchmarkParseStat(b *testing.B) {
	for _, file := range []string{"x86-vm-sosreport/proc/stat", "x86-server-32cpu/proc/stat"} {
		b.Run(file, func(b *testing.B) {
			data := fixture(b, file)
			var st Stat
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if err := ParseStat(data, &st); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
