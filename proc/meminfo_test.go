package proc

import (
	"errors"
	"testing"
)

func TestParseMeminfoFixtures(t *testing.T) {
	type core struct {
		MemTotal, MemFree, MemAvailable uint64
		HasMemAvailable                 bool
		Buffers, Cached, SwapCached     uint64
		SwapTotal, SwapFree             uint64
	}
	tests := []struct {
		file  string
		want  core
		check func(t *testing.T, m *Meminfo)
	}{
		{file: "x86-vm-sosreport/proc/meminfo",
			want: core{8164548, 851960, 1950080, true, 4304, 1235532, 0, 0, 0},
			check: func(t *testing.T, m *Meminfo) {
				if m.Hugepagesize != 2048 || m.HugePagesTotal != 0 || m.Slab != 199948 || m.CommittedAS != 1596188 {
					t.Errorf("got %+v", m)
				}
			}},
		{file: "x86-desktop-k3.13/proc/meminfo", // 3.13: no MemAvailable
			want: core{8131884, 5525628, 0, false, 328328, 1575808, 83212, 8342524, 8241800}},
		{file: "misc-goprocinfo/proc/meminfo",
			want: core{1011048, 92096, 0, false, 44304, 681228, 4, 524284, 524280}},
		{file: "misc-prometheus-procfs/proc/meminfo",
			want: core{15666184, 440324, 0, false, 1020128, 12007640, 0, 0, 0}},
		{file: "router-arm-zte-zx279128/proc/meminfo",
			want: core{94412, 2016, 40016, true, 4456, 28648, 0, 0, 0}},
		{file: "router-mips-lantiq-dwr956/proc/meminfo", // no trailing newline
			want: core{122976, 73424, 0, false, 5000, 15792, 0, 0, 0},
			check: func(t *testing.T, m *Meminfo) {
				if m.PageTables != 372 { // the line just before the unterminated last one
					t.Errorf("PageTables = %d", m.PageTables)
				}
			}},
		{file: "openwrt-mips-mt7621/proc/meminfo", // "SecPageTables:\t" quirk, highmem lines
			want: core{249744, 211088, 187364, true, 0, 8824, 0, 0, 0},
			check: func(t *testing.T, m *Meminfo) {
				if m.LowTotal != 249744 || m.LowFree != 211088 || m.HighTotal != 0 || m.Shmem != 8824 {
					t.Errorf("got %+v", m)
				}
			}},
		{file: "misc-gopsutil/proc/meminfo.issue1002", // 2.4-style header first
			want: core{254472, 121588, 210156, true, 4800, 91860, 0, 0, 0},
			check: func(t *testing.T, m *Meminfo) {
				if m.HighTotal != 131072 || m.LowFree != 55392 {
					t.Errorf("got %+v", m)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			var m Meminfo
			if err := ParseMeminfo(fixture(t, tt.file), &m); err != nil {
				t.Fatal(err)
			}
			got := core{m.MemTotal, m.MemFree, m.MemAvailable, m.HasMemAvailable,
				m.Buffers, m.Cached, m.SwapCached, m.SwapTotal, m.SwapFree}
			if got != tt.want {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
			if tt.check != nil {
				tt.check(t, &m)
			}
		})
	}
}

func TestParseMeminfoLegacyOnly(t *testing.T) {
	// A 2.4 kernel's table alone, in bytes: totals come from it.
	in := "        total:    used:    free:  shared: buffers:  cached:\n" +
		"Mem:  260579328 136073216 124506112        0  4915200 94064640\n" +
		"Swap:  1048576        0  1048576\n"
	var m Meminfo
	if err := ParseMeminfo([]byte(in), &m); err != nil {
		t.Fatal(err)
	}
	if m.MemTotal != 254472 || m.MemFree != 121588 || m.SwapTotal != 1024 || m.SwapFree != 1024 {
		t.Errorf("got %+v", m)
	}
}

func TestParseMeminfoBroken(t *testing.T) {
	tests := map[string]string{
		"empty":              "",
		"garbage":            "garbage\n",
		"no MemTotal":        "MemFree: 5 kB\n",
		"no value":           "MemTotal:\n",
		"bad number":         "MemTotal: 12x kB\n",
		"negative":           "MemTotal: -12 kB\n",
		"unknown unit":       "MemTotal: 12 MB\n",
		"cut short mid-line": "MemTotal:        8164548 kB\nMemFr",
		"indented":           "MemTotal: 1 kB\n  MemFree: 1 kB\n",
		"bad legacy row":     "Mem: 1 2\nMemTotal: 1 kB\n",
		"empty key":          ": 5 kB\n",
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			var m Meminfo
			if err := ParseMeminfo([]byte(in), &m); !errors.Is(err, ErrParse) {
				t.Fatalf("err = %v, want ErrParse", err)
			}
		})
	}
}

func FuzzParseMeminfo(f *testing.F) {
	for _, b := range fixturesNamed(f, "meminfo") {
		f.Add(b)
	}
	for _, b := range fixturesNamed(f, "meminfo.issue1002") {
		f.Add(b)
	}
	for _, s := range brokenInputs {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var m Meminfo
		err := ParseMeminfo(data, &m)
		if err != nil && !errors.Is(err, ErrParse) {
			t.Fatalf("error does not wrap ErrParse: %v", err)
		}
		if err == nil && !m.HasMemAvailable && m.MemAvailable != 0 {
			t.Fatalf("MemAvailable %d without the line", m.MemAvailable)
		}
	})
}

func BenchmarkParseMeminfo(b *testing.B) {
	data := fixture(b, "x86-vm-sosreport/proc/meminfo")
	var m Meminfo
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if err := ParseMeminfo(data, &m); err != nil {
			b.Fatal(err)
		}
	}
}
