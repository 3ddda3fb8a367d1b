package proc

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParsePIDStatFixtures(t *testing.T) {
	type want struct {
		pid, ppid     int
		comm          string
		state         byte
		utime, stime  uint64
		prio, nice    int64
		threads       int64
		start, vsize  uint64
		rss           int64
		processor     int
		tpgid, ttyNr  int
		minflt, flags uint64
	}
	tests := []struct {
		file string
		want want
	}{
		{"router-arm-zte-zx279128/proc/1/stat", // 32-bit init
			want{1, 0, "init", 'S', 2, 509, 20, 0, 1, 9, 1949696, 135, 0, -1, 0, 34, 4194560}},
		{"x86-desktop-k3.13/proc/4325/task/4329/stat", // space in comm
			want{4329, 1, "dconf worker", 'S', 0, 0, 20, 0, 4, 26731473, 345661440, 1345, 0, -1, 0, 107, 4218944}},
		{"x86-desktop-k3.13/proc/4413/task/4420/stat", // trailing space, negative priority and nice
			want{4420, 4360, "alsa-sink-HDMI ", 'S', 0, 0, -6, -11, 4, 26731502, 434712576, 1471, 4, -1, 0, 29, 4218944}},
		{"x86-desktop-k3.13/proc/727/task/732/stat", // space and colons
			want{732, 1, "rs:main Q:Reg", 'S', 8, 10, 20, 0, 4, 1532, 321560576, 481, 2, -1, 0, 97, 1077960768}},
		{"misc-goprocinfo/proc/4854/stat", // parentheses in comm, no trailing newline
			want{4854, 4853, "(sd-pam)", 'S', 0, 0, 20, 0, 1, 4912, 83931136, 405, 7, -1, 0, 21, 1077944640}},
		{"misc-goprocinfo/proc/884/stat",
			want{884, 1, "rs:main Q:Reg", 'S', 68, 132, 20, 0, 4, 2161, 255451136, 409, 1, -1, 0, 561, 4202816}},
		{"misc-gopsutil/proc/68927/stat", // "test(cmd).sh"
			want{68927, 68044, "test(cmd).sh", 'S', 0, 0, 20, 0, 1, 114413973, 9961472, 868, 1, 68927, 34818, 165, 4194304}},
		{"misc-prometheus-procfs/proc/26231/stat", // running
			want{26231, 5392, "vim", 'R', 1677, 44, 20, 0, 1, 82375, 56274944, 1981, 0, 7446, 34835, 32533, 4218880}},
		{"misc-prometheus-procfs/proc/584/stat", // crafted comm, then a second line
			want{1020, 28378, "(a b ) ( c d) ", 'R', 0, 0, 20, 0, 1, 10839175, 10395648, 155, 5, 1020, 34842, 286, 4218880}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			var p PIDStat
			if err := ParsePIDStat(fixture(t, tt.file), &p); err != nil {
				t.Fatal(err)
			}
			got := want{p.PID, p.PPID, string(p.Comm), p.State, p.UTime, p.STime, p.Priority, p.Nice,
				p.NumThreads, p.StartTime, p.VSize, p.RSS, p.Processor, p.TPGID, p.TTYNr, p.MinFlt, p.Flags}
			if got != tt.want {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParsePIDStatOldKernel(t *testing.T) {
	// Fields stop before "processor" (old kernels): 23 are too few, 24 do,
	// and processor stays -1.
	in := "7 (kswapd) S 1 1 1 0 -1 2048 0 0 0 0 0 5 0 0 15 0 1 0 12 0\n"
	var p PIDStat
	err := ParsePIDStat([]byte(in), &p)
	if !errors.Is(err, ErrParse) {
		t.Fatalf("23 fields: err = %v, want ErrParse", err)
	}
	in = "7 (kswapd) S 1 1 1 0 -1 2048 0 0 0 0 0 5 0 0 15 0 1 0 12 0 4294967295\n"
	if err := ParsePIDStat([]byte(in), &p); err != nil {
		t.Fatal(err)
	}
	if p.Processor != -1 || p.RSS != 4294967295 || p.StartTime != 12 || string(p.Comm) != "kswapd" {
		t.Errorf("got %+v", p)
	}
	// A newline inside comm (prctl(PR_SET_NAME) allows it).
	in = "8 (a\n)b) Z 1 1 1 0 -1 2048 0 0 0 0 0 5 0 0 15 0 1 0 12 0 0 0\n"
	if err := ParsePIDStat([]byte(in), &p); err != nil {
		t.Fatal(err)
	}
	if p.State != 'Z' || string(p.Comm) != "a\n)b" {
		t.Errorf("got %+v", p)
	}
}

func TestParsePIDStatBroken(t *testing.T) {
	good := string(fixture(t, "misc-prometheus-procfs/proc/26231/stat"))
	tests := map[string]string{
		"empty":              "",
		"garbage":            "garbage\n",
		"no comm":            "1 init S 0 1\n",
		"unclosed comm":      "1 (init S 0 1\n",
		"reversed":           "1 )init( S 0 1\n",
		"bad pid":            "x (init) S 0 1 1 0 -1 4194560 34 8296 98 195 2 509 44 273 20 0 1 0 9 1949696 135\n",
		"short line":         "1 (init) S 0 1\n",
		"two-letter state":   "1 (init) SS 0 1 1 0 -1 4194560 34 8296 98 195 2 509 44 273 20 0 1 0 9 1949696 135\n",
		"bad field":          "1 (init) S 0 1 1 0 -1 4194560 34 8296 98 195 2 5x9 44 273 20 0 1 0 9 1949696 135\n",
		"cut short mid-line": good[:60],
		"only comm":          "(x)",
	}
	for name, in := range tests {
		var p PIDStat
		if err := ParsePIDStat([]byte(in), &p); !errors.Is(err, ErrParse) {
			t.Errorf("%s: err = %v, want ErrParse", name, err)
		}
	}
}

func TestProcessCountsAdd(t *testing.T) {
	var c ProcessCounts
	for _, s := range []byte("RRSSDITtZXI") {
		c.Add(s)
	}
	want := ProcessCounts{All: 11, Running: 2, Sleep: 5, Stopped: 2, Zombie: 1}
	if c != want {
		t.Errorf("got %+v, want %+v", c, want)
	}
}

func TestCountProcesses(t *testing.T) {
	root := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	line := func(pid, state string) string {
		return pid + " (x y) " + state + " 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 100 10 0 0\n"
	}
	write("proc/1/stat", string(fixture(t, "router-arm-zte-zx279128/proc/1/stat")))
	write("proc/2/stat", line("2", "R"))
	write("proc/3/stat", line("3", "Z"))
	write("proc/4/stat", line("4", "T"))
	write("proc/5/stat", line("5", "D"))
	write("proc/6/stat", "6 (cut) S 1") // malformed: skipped
	write("proc/7/status", "vanished: no stat")
	write("proc/stat", "cpu 1 2 3 4\n") // not a pid
	write("proc/self/stat", line("2", "R"))

	var st PIDStat
	c, _, err := CountProcesses(context.Background(), FS(root), nil, &st, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := ProcessCounts{All: 5, Running: 1, Sleep: 2, Stopped: 1, Zombie: 1}
	if c != want {
		t.Errorf("got %+v, want %+v", c, want)
	}

	c, _, _ = CountProcesses(context.Background(), FS(root), nil, &st, 2)
	if c.All != 2 {
		t.Errorf("limit 2: counted %d", c.All)
	}

	if _, _, err := CountProcesses(context.Background(), FS(filepath.Join(root, "nope")), nil, &st, 0); err == nil {
		t.Error("no /proc: no error")
	}
}

func TestCountProcessesLocal(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc here")
	}
	var st PIDStat
	c, _, err := CountProcesses(context.Background(), FS("/"), nil, &st, 0)
	if err != nil {
		t.Fatal(err)
	}
	// This test runs, but sandboxed kernels (gVisor) may still show it as S.
	if c.All < 1 || c.Running+c.Sleep+c.Stopped+c.Zombie > c.All {
		t.Errorf("got %+v", c)
	}
}

func FuzzParsePIDStat(f *testing.F) {
	for _, b := range fixturesNamed(f, "/stat") {
		if !strings.HasPrefix(string(b), "cpu") {
			f.Add(b)
		}
	}
	for _, s := range brokenInputs {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var p PIDStat
		err := ParsePIDStat(data, &p)
		if err != nil {
			if !errors.Is(err, ErrParse) {
				t.Fatalf("error does not wrap ErrParse: %v", err)
			}
			return
		}
		if p.PID < 0 || p.State == 0 || len(p.Comm) > len(data) {
			t.Fatalf("got %+v", p)
		}
	})
}

func BenchmarkParsePIDStat(b *testing.B) {
	data := fixture(b, "misc-gopsutil/proc/68927/stat")
	var p PIDStat
	b.ReportAllocs()
	for b.Loop() {
		if err := ParsePIDStat(data, &p); err != nil {
			b.Fatal(err)
		}
	}
}
