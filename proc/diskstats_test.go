package proc

import (
	"errors"
	"testing"
)

func TestParseDiskstatsFixtures(t *testing.T) {
	tests := []struct {
		file  string
		count int
		want  []DiskStat
	}{
		{"x86-desktop-k3.13/proc/diskstats", 29, []DiskStat{ // 11 counters
			{Major: 8, Minor: 0, Name: "sda", ReadIOs: 99973, ReadMerges: 160691, ReadSectors: 4939654, ReadTicks: 1175800,
				WriteIOs: 78238, WriteMerges: 588016, WriteSectors: 6960352, WriteTicks: 13419204,
				InFlight: 0, IOTicks: 780844, TimeInQueue: 14618652, Fields: 11},
			{Major: 11, Minor: 0, Name: "sr0", Fields: 11},
		}},
		{"x86-vm-sosreport/proc/diskstats", 5, []DiskStat{ // 15 counters
			{Major: 8, Minor: 3, Name: "sda3", ReadIOs: 8378, ReadMerges: 2, ReadSectors: 835945, ReadTicks: 2850,
				WriteIOs: 29477, WriteMerges: 21951, WriteSectors: 2253087, WriteTicks: 25722,
				IOTicks: 7725, TimeInQueue: 15119, Fields: 15},
		}},
		{"router-arm-zte-zx279128/proc/diskstats", 13, []DiskStat{
			{Major: 8, Minor: 1, Name: "sda1", ReadIOs: 3117, ReadMerges: 5019, ReadSectors: 8136, ReadTicks: 115240,
				WriteIOs: 12698, WriteMerges: 4381, WriteSectors: 112876, WriteTicks: 10389500,
				IOTicks: 125410, TimeInQueue: 10504730, Fields: 11},
			{Major: 31, Minor: 10, Name: "mtdblock10", Fields: 11},
		}},
		{"misc-prometheus-procfs/proc/diskstats", 52, []DiskStat{ // 11, 15 and 17 counters mixed
			{Major: 8, Minor: 0, Name: "sdb", ReadIOs: 326552, ReadMerges: 841, ReadSectors: 9657779, ReadTicks: 84,
				WriteIOs: 41822, WriteMerges: 2895, WriteSectors: 1972905, WriteTicks: 5007,
				IOTicks: 60730, TimeInQueue: 67070, DiscardIOs: 68851, DiscardSectors: 1925173784, DiscardTicks: 11130, Fields: 15},
			{Major: 8, Minor: 0, Name: "sdc", ReadIOs: 14202, ReadMerges: 71, ReadSectors: 579164, ReadTicks: 21861,
				WriteIOs: 2995, WriteMerges: 1589, WriteSectors: 180500, WriteTicks: 40875,
				IOTicks: 11628, TimeInQueue: 55200, FlushIOs: 127, FlushTicks: 182, Fields: 17},
			{Major: 259, Minor: 2, Name: "nvme0n1p2", ReadIOs: 45914, ReadMerges: 4, ReadSectors: 4631243, ReadTicks: 21626,
				WriteIOs: 1036885, WriteMerges: 43950, WriteSectors: 39451632, WriteTicks: 919480,
				IOTicks: 131580, TimeInQueue: 940970, Fields: 11},
		}},
		{"old-arm-arm720t/proc/diskstats", 44, nil},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			var d Diskstats
			if err := ParseDiskstats(fixture(t, tt.file), &d); err != nil {
				t.Fatal(err)
			}
			if len(d.Disks) != tt.count {
				t.Errorf("%d devices, want %d", len(d.Disks), tt.count)
			}
			for _, want := range tt.want {
				var got *DiskStat
				for i := range d.Disks { // names repeat in the curated procfs file: match major/minor too
					if d.Disks[i].Name == want.Name && d.Disks[i].Major == want.Major && d.Disks[i].Minor == want.Minor {
						got = &d.Disks[i]
					}
				}
				if got == nil || *got != want {
					t.Errorf("%s = %+v\nwant %+v", want.Name, got, want)
				}
			}
		})
	}
}

func TestParseDiskstatsLegacyPartition(t *testing.T) {
	// Before 2.6.25 a partition line had 4 counters.
	in := "   3    0 hda 446216 784926 9550688 4382310 424847 312726 5922052 19310380 0 3376340 23705160\n" +
		"   3    1 hda1 35486 38030 38030 38030\n"
	var d Diskstats
	if err := ParseDiskstats([]byte(in), &d); err != nil {
		t.Fatal(err)
	}
	want := DiskStat{Major: 3, Minor: 1, Name: "hda1", ReadIOs: 35486, ReadSectors: 38030, WriteIOs: 38030, WriteSectors: 38030, Fields: 4}
	if got := d.Find("hda1"); got == nil || *got != want {
		t.Errorf("hda1 = %+v, want %+v", got, want)
	}
	if d.Find("nope") != nil {
		t.Error("Find(nope) != nil")
	}
	if got := d.FindDev(3, 1); got == nil || got.Name != "hda1" {
		t.Errorf("FindDev(3, 1) = %+v", got)
	}
	if d.FindDev(3, 9) != nil {
		t.Error("FindDev(3, 9) != nil")
	}
}

func TestParseDiskstatsBroken(t *testing.T) {
	tests := map[string]string{
		"garbage":            "garbage\n",
		"no name":            "   8    0\n",
		"bad major":          "   x    0 sda 1 2 3 4 5 6 7 8 9 10 11\n",
		"short line":         "   8    0 sda 1 2 3\n",
		"bad counter":        "   8    0 sda 1 2 3 4 5 6 7 8 9 10 1x\n",
		"cut short mid-line": "   8    0 sda 99973 160691 4939654 1175800 78238 588016",
		"12 counters":        "   8    0 sda 1 2 3 4 5 6 7 8 9 10 11 12\n",
		"huge major":         "   99999999999    0 sda 1 2 3 4 5 6 7 8 9 10 11\n",
	}
	for name, in := range tests {
		var d Diskstats
		if err := ParseDiskstats([]byte(in), &d); !errors.Is(err, ErrParse) {
			t.Errorf("%s: err = %v, want ErrParse", name, err)
		}
	}
	var d Diskstats
	if err := ParseDiskstats(nil, &d); err != nil || len(d.Disks) != 0 {
		t.Errorf("empty: %v, %d disks; want no error and no disk", err, len(d.Disks))
	}
}

func TestParseDiskstatsReuse(t *testing.T) {
	data := fixture(t, "misc-prometheus-procfs/proc/diskstats")
	var d Diskstats
	if err := ParseDiskstats(data, &d); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(50, func() {
		if err := ParseDiskstats(data, &d); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("steady-state ParseDiskstats: %v allocs, want 0", allocs)
	}
}

func FuzzParseDiskstats(f *testing.F) {
	for _, b := range fixturesNamed(f, "/proc/diskstats") {
		f.Add(b)
	}
	for _, s := range brokenInputs {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var d Diskstats
		err := ParseDiskstats(data, &d)
		if err != nil {
			if !errors.Is(err, ErrParse) {
				t.Fatalf("error does not wrap ErrParse: %v", err)
			}
			return
		}
		for _, x := range d.Disks {
			if x.Name == "" || (x.Fields != 4 && x.Fields != 11 && x.Fields != 15 && x.Fields != 17) {
				t.Fatalf("got %+v", x)
			}
		}
	})
}

func BenchmarkParseDiskstats(b *testing.B) {
	data := fixture(b, "misc-prometheus-procfs/proc/diskstats")
	var d Diskstats
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if err := ParseDiskstats(data, &d); err != nil {
			b.Fatal(err)
		}
	}
}
