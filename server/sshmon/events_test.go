package sshmon

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"edgestat/proc"
)

var time0 = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)

// x86DF is what df -kP prints for the mounts of the x86-server tree (the
// fixtures hold no df output).
const x86DF = "Filesystem                                           1024-blocks     Used Available Capacity Mounted on\n" +
	"/dev/mapper/fedora_lzapx-root                           51475068 21484860  27352384      44% /\n" +
	"tmpfs                                                    8066560     1234   8065326       1% /tmp\n" +
	"/dev/mapper/luks-5cb695a3-6657-44f4-8297-aaaaaaaaaaa1  184269140 90541384  84338928      52% /home\n"

// emptyDF is df on a box whose file systems are all pseudo ones.
const emptyDF = "Filesystem           1024-blocks    Used Available Capacity Mounted on\n" +
	"devtmpfs                 47096         0     47096   0% /dev\n"

// copyTree copies testdata/<tree> into a new directory.
func copyTree(t testing.TB, tree string) string {
	t.Helper()
	src := filepath.Join("testdata", tree)
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// edit replaces, in the file name under root, the text old (which must be
// there once) by new.
func edit(t testing.TB, root, name, old, new string) {
	t.Helper()
	p := filepath.Join(root, name)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), old); n != 1 {
		t.Fatalf("%s holds %q %d times", name, old, n)
	}
	if err := os.WriteFile(p, []byte(strings.Replace(string(b), old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t testing.TB, root, name, content string) {
	t.Helper()
	p := filepath.Join(root, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// x86Second makes the second snapshot of the x86-server pair: 2 seconds
// later, on its 2 CPUs (400 ticks in all):
//   - cpu0: user +100, system +20, irq +5, softirq +5, iowait +10, idle +60
//   - cpu1: user +20, system +10, idle +170
//   - eth0: +2,000,000 bytes received, +500,000 sent
//   - sda: +20 reads of 4000 sectors, +100 writes of 10000 sectors
//   - vim (26231): +150 user and +30 system ticks; rsyslog's thread
//     (884): +6 and +4
//   - and /proc/30000/stat, WRITTEN HERE (not a capture): a process started
//     at 23536.00 s of uptime, between the two snapshots, which used 40 +
//     10 ticks since.
func x86Second(t testing.TB) string {
	root := copyTree(t, "x86-server")
	edit(t, root, "proc/stat", "cpu  12333 29 11930 386965 126 4523 2711 0 0 0\n", "cpu  12453 29 11960 387195 136 4528 2716 0 0 0\n")
	edit(t, root, "proc/stat", "cpu0 6088 14 5849 193612 93 2230 1398 0 0 0\n", "cpu0 6188 14 5869 193672 103 2235 1403 0 0 0\n")
	edit(t, root, "proc/stat", "cpu1 6245 14 6081 193353 32 2293 1312 0 0 0\n", "cpu1 6265 14 6091 193523 32 2293 1312 0 0 0\n")
	edit(t, root, "proc/net/dev", "eth0: 874354587 1036395 ", "eth0: 876354587 1037395 ")
	edit(t, root, "proc/net/dev", " 563352563  732147 ", " 563852563  732647 ")
	edit(t, root, "proc/diskstats", " sda 8933 2 856916 3507 30254 21952 2253152 26100 0 8217 15616 ",
		" sda 8953 2 860916 3517 30354 21952 2263152 26200 0 8227 15716 ")
	edit(t, root, "proc/uptime", "23535.50 188023.20", "23537.50 188026.20")
	edit(t, root, "proc/26231/stat", " 1677 44 158 99 ", " 1827 74 158 99 ")
	edit(t, root, "proc/884/stat", " 0 68 132 0 0 20 ", " 0 74 136 0 0 20 ")
	writeFile(t, root, "proc/30000/stat", "30000 (stress-ng) R 1 30000 30000 0 -1 4194304 100 0 0 0 40 10 0 0 20 0 2 0 2353600 10000000 250 "+
		"18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n")
	return root
}

// names returns the event names, and the message of each.
func names(events []Event) ([]string, map[string]any) {
	var n []string
	m := make(map[string]any)
	for _, e := range events {
		n = append(n, e.Name)
		m[e.Name] = e.Message
	}
	return n, m
}

// jsonEqual checks that got marshals to the JSON want, numbers within 1e-9
// (rates and shares are computed in floating point).
func jsonEqual(t testing.TB, what string, got any, want string) {
	t.Helper()
	b, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	var g, w any
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("%s: the expected JSON: %v", what, err)
	}
	if d := diff("", g, w); d != "" {
		t.Errorf("%s: %s\n got %s", what, d, b)
	}
}

// diff describes the first difference between two decoded JSON values.
func diff(at string, g, w any) string {
	switch w := w.(type) {
	case map[string]any:
		gm, ok := g.(map[string]any)
		if !ok {
			return fmt.Sprintf("%s: got %v, want an object", at, g)
		}
		for k := range gm {
			if _, ok := w[k]; !ok {
				return fmt.Sprintf("%s: unexpected key %q", at, k)
			}
		}
		keys := make([]string, 0, len(w))
		for k := range w {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			gv, ok := gm[k]
			if !ok {
				return fmt.Sprintf("%s: missing key %q", at, k)
			}
			if d := diff(at+"."+k, gv, w[k]); d != "" {
				return d
			}
		}
	case []any:
		ga, ok := g.([]any)
		if !ok || len(ga) != len(w) {
			return fmt.Sprintf("%s: got %v, want %v", at, g, w)
		}
		for i := range w {
			if d := diff(fmt.Sprintf("%s[%d]", at, i), ga[i], w[i]); d != "" {
				return d
			}
		}
	case float64:
		gf, ok := g.(float64)
		if !ok || math.Abs(gf-w) > 1e-9*max(1, math.Abs(w)) {
			return fmt.Sprintf("%s: got %v, want %v", at, g, w)
		}
	default:
		if g != w {
			return fmt.Sprintf("%s: got %#v, want %#v", at, g, w)
		}
	}
	return ""
}

const x86Key = "root@192.0.2.10:22"

// TestCollectX86Pair takes two snapshots of the x86 server through the
// real script and checks every event, the rates and shares exactly.
func TestCollectX86Pair(t *testing.T) {
	c := NewCollector(x86Key)
	s1 := snapshotOf(t, filepath.Join("testdata", "x86-server"), true, x86DF)
	events, err := c.Collect(s1, time0)
	if err != nil {
		t.Fatal(err)
	}
	got, msg := names(events)
	want := []string{"cpu_info", "memory", "uptime", "loadavg", "net_dev", "net_stat", "temp", "disk"}
	if !slices.Equal(got, want) {
		t.Errorf("first snapshot: events %q, want %q (no cpu_perf nor process yet)", got, want)
	}
	jsonEqual(t, "cpu_info", msg["cpu_info"], `{"ssh_key": "root@192.0.2.10:22", "cpu_info": {"0": {
		"cpu_core_info": {"0": {"cpu_processor_info": {
			"0": {"processor": 0, "CPUMHz": 3311.999, "apicid": 0},
			"1": {"processor": 1, "CPUMHz": 3311.999, "apicid": 1}}, "core_id": 0}},
		"vendor_id": "GenuineIntel", "cpu_family": "6", "model": "85",
		"model_name": "Intel(R) Xeon(R) W-2155 CPU @ 3.30GHz", "stepping": "4", "cache_size": "14080 KB",
		"physical_id": 0, "siblings": 2, "cpu_cores": 1, "fpu": true, "fpu_exception": true,
		"bogomips": 6623.99, "cl_flush_size": 64, "cache_alignment": 64,
		"address_sizes": "46 bits physical, 48 bits virtual"}}}`)
	jsonEqual(t, "memory", msg["memory"], `{"ssh_key": "root@192.0.2.10:22", "memory": {
		"total": 8360497152, "free": 872407040, "available": 1996881920, "buffers": 4407296,
		"cached": 1265184768, "swap_total": 0, "swap_free": 0, "used": 6363615232}}`)
	jsonEqual(t, "uptime", msg["uptime"], `{"ssh_key": "root@192.0.2.10:22", "uptime": {"seconds": 23535.5, "idle_seconds": 188023.2}}`)
	jsonEqual(t, "loadavg", msg["loadavg"], `{"ssh_key": "root@192.0.2.10:22", "loadavg": {
		"load1": 0.01, "load5": 0.02, "load15": 0.05, "running": 1, "total": 135}}`)
	jsonEqual(t, "net_dev", msg["net_dev"], `{"ssh_key": "root@192.0.2.10:22", "net_dev": {
		"vethf345468": {"rx_bytes": 648, "rx_packets": 8, "rx_errors": 0, "rx_drops": 0, "tx_bytes": 438, "tx_packets": 5,
			"tx_errors": 0, "tx_drops": 0, "rx_bytes_per_sec": 0, "tx_bytes_per_sec": 0},
		"lo": {"rx_bytes": 1664039048, "rx_packets": 1566805, "rx_errors": 0, "rx_drops": 0, "tx_bytes": 1664039048,
			"tx_packets": 1566805, "tx_errors": 0, "tx_drops": 0, "rx_bytes_per_sec": 0, "tx_bytes_per_sec": 0},
		"docker0": {"rx_bytes": 2568, "rx_packets": 38, "rx_errors": 0, "rx_drops": 0, "tx_bytes": 438, "tx_packets": 5,
			"tx_errors": 0, "tx_drops": 0, "rx_bytes_per_sec": 0, "tx_bytes_per_sec": 0},
		"eth0": {"rx_bytes": 874354587, "rx_packets": 1036395, "rx_errors": 0, "rx_drops": 0, "tx_bytes": 563352563,
			"tx_packets": 732147, "tx_errors": 0, "tx_drops": 0, "rx_bytes_per_sec": 0, "tx_bytes_per_sec": 0}}}`)
	jsonEqual(t, "net_stat", msg["net_stat"], `{"ssh_key": "root@192.0.2.10:22", "net_stat": {
		"tcp": {"active_opens": 3556, "passive_opens": 230, "curr_estab": 0, "in_segs": 57252008,
			"out_segs": 54915039, "retrans_segs": 227, "in_errs": 5},
		"udp": {"in_datagrams": 88542, "out_datagrams": 53028, "in_errors": 0, "no_ports": 120}}}`)
	jsonEqual(t, "temp", msg["temp"], `{"ssh_key": "root@192.0.2.10:22", "temp": {}}`)
	jsonEqual(t, "disk", msg["disk"], `{"ssh_key": "root@192.0.2.10:22", "disk": {
		"file_systems": [
			{"device": "/dev/mapper/fedora_lzapx-root", "mount_point": "/", "fs_type": "ext4",
				"total": 52710469632, "used": 22000496640, "free": 28008841216},
			{"device": "/dev/mapper/luks-5cb695a3-6657-44f4-8297-aaaaaaaaaaa1", "mount_point": "/home", "fs_type": "ext4",
				"total": 188691599360, "used": 92714377216, "free": 86363062272}],
		"devices": {
			"sr0": {"read_bytes_per_sec": 0, "write_bytes_per_sec": 0, "read_iops": 0, "write_iops": 0},
			"sda": {"read_bytes_per_sec": 0, "write_bytes_per_sec": 0, "read_iops": 0, "write_iops": 0},
			"sda1": {"read_bytes_per_sec": 0, "write_bytes_per_sec": 0, "read_iops": 0, "write_iops": 0},
			"sda2": {"read_bytes_per_sec": 0, "write_bytes_per_sec": 0, "read_iops": 0, "write_iops": 0},
			"sda3": {"read_bytes_per_sec": 0, "write_bytes_per_sec": 0, "read_iops": 0, "write_iops": 0}}}}`)

	s2 := snapshotOf(t, x86Second(t), false, x86DF)
	events, err = c.Collect(s2, time0.Add(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	got, msg = names(events)
	want = []string{"cpu_perf", "memory", "uptime", "loadavg", "net_dev", "net_stat", "temp", "disk", "process"}
	if !slices.Equal(got, want) {
		t.Errorf("second snapshot: events %q, want %q", got, want)
	}
	jsonEqual(t, "cpu_perf", msg["cpu_perf"], `{"ssh_key": "root@192.0.2.10:22", "cpu_perf": {
		"total": {"processor": -1, "utilization": 42.5, "user": 30, "system": 10, "iowait": 2.5, "steal": 0, "idle": 57.5},
		"processors": {
			"0": {"processor": 0, "utilization": 70, "user": 50, "system": 15, "iowait": 5, "steal": 0, "idle": 30},
			"1": {"processor": 1, "utilization": 15, "user": 10, "system": 5, "iowait": 0, "steal": 0, "idle": 85}}}}`)
	nd := msg["net_dev"].(*NetDevMessage).NetDev
	if e := nd["eth0"]; e.RxBytesPerSec != 1e6 || e.TxBytesPerSec != 250e3 || e.RxBytes != 876354587 || e.TxPackets != 732647 {
		t.Errorf("eth0 = %+v, want 1,000,000 B/s in and 250,000 out", e)
	}
	if lo := nd["lo"]; lo.RxBytesPerSec != 0 || lo.TxBytesPerSec != 0 {
		t.Errorf("lo = %+v, want no traffic", lo)
	}
	devs := msg["disk"].(*DiskMessage).Disk.Devices
	if d := devs["sda"]; d != (DiskIO{ReadBytesPerSec: 4000 * 512 / 2, WriteBytesPerSec: 10000 * 512 / 2, ReadIOPS: 10, WriteIOPS: 50}) {
		t.Errorf("sda = %+v", d)
	}
	if d := devs["sda1"]; d != (DiskIO{}) {
		t.Errorf("sda1 = %+v, want idle", d)
	}
	jsonEqual(t, "process", msg["process"], `{"ssh_key": "root@192.0.2.10:22", "process": [
		{"pid": 26231, "name": "vim", "state": "R", "cpu": 90, "rss": 8114176, "threads": 1},
		{"pid": 30000, "name": "stress-ng", "state": "R", "cpu": 25, "rss": 1024000, "threads": 2},
		{"pid": 884, "name": "rs:main Q:Reg", "state": "S", "cpu": 5, "rss": 1675264, "threads": 4},
		{"pid": 68927, "name": "test(cmd).sh", "state": "S", "cpu": 0, "rss": 3555328, "threads": 1},
		{"pid": 4854, "name": "(sd-pam)", "state": "S", "cpu": 0, "rss": 1658880, "threads": 1}]}`)
}

// TestCollectBadFile: a /proc/stat cut short fails cpu_perf (and makes
// process measure its interval by the clock), nothing else.
func TestCollectBadFile(t *testing.T) {
	c := NewCollector(x86Key)
	if _, err := c.Collect(snapshotOf(t, filepath.Join("testdata", "x86-server"), false, x86DF), time0); err != nil {
		t.Fatal(err)
	}
	root := x86Second(t)
	writeFile(t, root, "proc/stat", "cpu  12453 29\n")
	writeFile(t, root, "proc/net/dev", "Inter-|   Receive\n face |bytes\n  eth0: 876354587 1037395    0\n")
	events, err := c.Collect(snapshotOf(t, root, false, x86DF), time0.Add(2*time.Second))
	got, msg := names(events)
	want := []string{"memory", "uptime", "loadavg", "net_stat", "temp", "disk", "process"}
	if !slices.Equal(got, want) {
		t.Errorf("events %q, want %q", got, want)
	}
	if err == nil || !errors.Is(err, proc.ErrParse) || !strings.Contains(err.Error(), "cpu_perf: ") ||
		!strings.Contains(err.Error(), "net_dev: ") || strings.Count(err.Error(), "\n") != 1 {
		t.Errorf("error %v, want the parse errors of cpu_perf and net_dev", err)
	}
	// 2 s of the clock are 200 ticks of one CPU, as the good /proc/stat said.
	if p := msg["process"].(*ProcessMessage).Process; len(p) != 5 || p[0].PID != 26231 || math.Abs(p[0].CPU-90) > 1e-9 {
		t.Errorf("process = %+v", p)
	}

	// The next good /proc/stat is measured from the last good one.
	events, err = c.Collect(snapshotOf(t, x86Second(t), false, x86DF), time0.Add(4*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	_, msg = names(events)
	if u := msg["cpu_perf"].(*CPUPerfMessage).CPUPerf.Total; math.Abs(u.Utilization-42.5) > 1e-9 {
		t.Errorf("cpu_perf total after a bad stat = %+v", u)
	}
}

// TestCollectPartialTree: the Raspberry Pi tree holds only cpuinfo and a
// thermal zone; the other events fail with a "not exist" error each.
func TestCollectPartialTree(t *testing.T) {
	c := NewCollector("pi@192.0.2.20:22")
	events, err := c.Collect(snapshotOf(t, filepath.Join("testdata", "rpi4"), true, emptyDF), time0)
	got, msg := names(events)
	if !slices.Equal(got, []string{"cpu_info", "temp"}) {
		t.Errorf("events %q", got)
	}
	if !proc.IsNotExist(err) {
		t.Errorf("error %v, want not-exist errors", err)
	}
	for _, ev := range []string{"cpu_perf", "memory", "uptime", "loadavg", "net_dev", "net_stat", "disk"} {
		if err == nil || !strings.Contains(err.Error(), ev+": ") {
			t.Errorf("no error for %s in %v", ev, err)
		}
	}
	jsonEqual(t, "cpu_info", msg["cpu_info"], `{"ssh_key": "pi@192.0.2.20:22", "cpu_info": {"0": {
		"cpu_core_info": {
			"0": {"cpu_processor_info": {"0": {"processor": 0, "CPUMHz": 0, "apicid": 0}}, "core_id": 0},
			"1": {"cpu_processor_info": {"1": {"processor": 1, "CPUMHz": 0, "apicid": 0}}, "core_id": 1},
			"2": {"cpu_processor_info": {"2": {"processor": 2, "CPUMHz": 0, "apicid": 0}}, "core_id": 2},
			"3": {"cpu_processor_info": {"3": {"processor": 3, "CPUMHz": 0, "apicid": 0}}, "core_id": 3}},
		"vendor_id": "ARM", "cpu_family": "8", "model": "0xd08", "model_name": "Cortex-A72", "stepping": "r0p3",
		"cache_size": "", "physical_id": 0, "siblings": 4, "cpu_cores": 4, "fpu": true, "fpu_exception": false,
		"bogomips": 108, "cl_flush_size": 0, "cache_alignment": 0, "address_sizes": ""}}}`)
	jsonEqual(t, "temp", msg["temp"], `{"ssh_key": "pi@192.0.2.20:22", "temp": {"thermal_zone0": {"type": "cpu-thermal", "celsius": 12.376}}}`)
}

// TestCPUInfoX86TwoSockets compares cpu_info of a 2-socket Xeon with the
// hand-written expected message.
func TestCPUInfoX86TwoSockets(t *testing.T) {
	want, err := os.ReadFile(filepath.Join("testdata", "x86-2socket-xeon-x5675.cpu_info.json"))
	if err != nil {
		t.Fatal(err)
	}
	events, _ := NewCollector("cc@10.128.248.93:22").Collect(snapshotOf(t, filepath.Join("testdata", "x86-2socket-xeon-x5675"), true, emptyDF), time0)
	if len(events) == 0 || events[0].Name != "cpu_info" {
		t.Fatalf("events %+v", events)
	}
	jsonEqual(t, "cpu_info", events[0].Message, string(want))
}

func TestCPUInfoARMAndMIPS(t *testing.T) {
	for _, tc := range []struct{ tree, want string }{
		{"arm-zte-router", `{"0": {"cpu_core_info": {
			"0": {"cpu_processor_info": {"0": {"processor": 0, "CPUMHz": 0, "apicid": 0}}, "core_id": 0},
			"1": {"cpu_processor_info": {"1": {"processor": 1, "CPUMHz": 0, "apicid": 0}}, "core_id": 1}},
			"vendor_id": "ARM", "cpu_family": "7", "model": "0xc09", "model_name": "ARMv7 Processor rev 1 (v7l)",
			"stepping": "r4p1", "cache_size": "", "physical_id": 0, "siblings": 2, "cpu_cores": 2, "fpu": false,
			"fpu_exception": false, "bogomips": 1594.16, "cl_flush_size": 0, "cache_alignment": 0, "address_sizes": ""}}`},
		{"rpi-zero-w-armv6", `{"0": {"cpu_core_info": {
			"0": {"cpu_processor_info": {"0": {"processor": 0, "CPUMHz": 0, "apicid": 0}}, "core_id": 0}},
			"vendor_id": "ARM", "cpu_family": "7", "model": "0xb76", "model_name": "ARMv6-compatible processor rev 7 (v6l)",
			"stepping": "r0p7", "cache_size": "", "physical_id": 0, "siblings": 1, "cpu_cores": 1, "fpu": true,
			"fpu_exception": false, "bogomips": 697.95, "cl_flush_size": 0, "cache_alignment": 0, "address_sizes": ""}}`},
		// MT7621: 2 cores of 2 VPEs: "core" groups the processors.
		{"mips-mt7621-router", `{"0": {"cpu_core_info": {
			"0": {"cpu_processor_info": {"0": {"processor": 0, "CPUMHz": 0, "apicid": 0}, "1": {"processor": 1, "CPUMHz": 0, "apicid": 0}}, "core_id": 0},
			"1": {"cpu_processor_info": {"2": {"processor": 2, "CPUMHz": 0, "apicid": 0}, "3": {"processor": 3, "CPUMHz": 0, "apicid": 0}}, "core_id": 1}},
			"vendor_id": "", "cpu_family": "", "model": "", "model_name": "MIPS 1004Kc V2.15",
			"stepping": "", "cache_size": "", "physical_id": 0, "siblings": 4, "cpu_cores": 2, "fpu": false,
			"fpu_exception": false, "bogomips": 586.13, "cl_flush_size": 0, "cache_alignment": 0, "address_sizes": ""}}`},
		{"mips-lantiq-router", `{"0": {"cpu_core_info": {
			"0": {"cpu_processor_info": {"0": {"processor": 0, "CPUMHz": 0, "apicid": 0}}, "core_id": 0}},
			"vendor_id": "", "cpu_family": "", "model": "", "model_name": "MIPS 34Kc V5.6",
			"stepping": "", "cache_size": "", "physical_id": 0, "siblings": 1, "cpu_cores": 1, "fpu": false,
			"fpu_exception": false, "bogomips": 399.76, "cl_flush_size": 0, "cache_alignment": 0, "address_sizes": ""}}`},
	} {
		events, _ := NewCollector("u@h:22").Collect(snapshotOf(t, filepath.Join("testdata", tc.tree), true, emptyDF), time0)
		_, msg := names(events)
		m, ok := msg["cpu_info"].(*CPUInfoMessage)
		if !ok {
			t.Errorf("%s: no cpu_info in %+v", tc.tree, events)
			continue
		}
		jsonEqual(t, tc.tree, m.CPUInfo, tc.want)
	}
}

// TestCPUInfoEveryTree: on every tree each processor of /proc/cpuinfo is
// in the tree once, under a socket with a model name and counts that add up.
func TestCPUInfoEveryTree(t *testing.T) {
	for _, tree := range fixtureTrees {
		root := filepath.Join("testdata", tree)
		data, err := os.ReadFile(filepath.Join(root, "proc", "cpuinfo"))
		if err != nil {
			continue
		}
		var ci proc.CPUInfo
		if err := proc.ParseCPUInfo(data, &ci); err != nil {
			t.Fatal(err)
		}
		events, _ := NewCollector("u@h:22").Collect(snapshotOf(t, root, true, emptyDF), time0)
		_, msg := names(events)
		m, ok := msg["cpu_info"].(*CPUInfoMessage)
		if !ok {
			t.Errorf("%s: no cpu_info", tree)
			continue
		}
		seen := map[int]int{}
		for id, sock := range m.CPUInfo {
			n := 0
			if sock.PhysicalID != id || sock.ModelName == "" || sock.BogoMIPS <= 0 && tree != "old-arm-arm720t" {
				t.Errorf("%s: socket %d: %+v", tree, id, sock)
			}
			for cid, core := range sock.CPUCoreInfo {
				if core.CoreID != cid || len(core.CPUProcessorInfo) == 0 {
					t.Errorf("%s: core %d: %+v", tree, cid, core)
				}
				for pid, p := range core.CPUProcessorInfo {
					if p.Processor != pid {
						t.Errorf("%s: processor %d under key %d", tree, p.Processor, pid)
					}
					seen[pid]++
					n++
				}
			}
			if sock.Siblings != n || sock.CPUCores != len(sock.CPUCoreInfo) {
				t.Errorf("%s: socket %d: siblings %d cpu_cores %d, counted %d processors in %d cores",
					tree, id, sock.Siblings, sock.CPUCores, n, len(sock.CPUCoreInfo))
			}
		}
		if len(seen) != len(ci.Processors) {
			t.Errorf("%s: %d processors in cpu_info, %d in the file", tree, len(seen), len(ci.Processors))
		}
		for pid, n := range seen {
			if n != 1 {
				t.Errorf("%s: processor %d %d times", tree, pid, n)
			}
		}
	}
}

// TestCollectARMRouterPair: the ZTE router's own files, and one busy
// second on its 2 CPUs (200 ticks): cpu0 user +60 system +30 idle +10,
// cpu1 softirq +20 iowait +20 idle +60; br0 received 1000 bytes.
func TestCollectARMRouterPair(t *testing.T) {
	c := NewCollector("admin@192.0.2.1:22")
	events, err := c.Collect(snapshotOf(t, filepath.Join("testdata", "arm-zte-router"), true, emptyDF), time0)
	if err != nil {
		t.Fatal(err)
	}
	_, msg := names(events)
	jsonEqual(t, "memory", msg["memory"], `{"ssh_key": "admin@192.0.2.1:22", "memory": {"total": 96677888, "free": 2064384,
		"available": 40976384, "buffers": 4562944, "cached": 29335552, "swap_total": 0, "swap_free": 0, "used": 55701504}}`)
	jsonEqual(t, "net_stat", msg["net_stat"], `{"ssh_key": "admin@192.0.2.1:22", "net_stat": {
		"tcp": {"active_opens": 0, "passive_opens": 8, "curr_estab": 1, "in_segs": 2084, "out_segs": 1111, "retrans_segs": 0, "in_errs": 0},
		"udp": {"in_datagrams": 0, "out_datagrams": 0, "in_errors": 0, "no_ports": 0}}}`)
	d := msg["disk"].(*DiskMessage).Disk
	if len(d.FileSystems) != 0 || len(d.Devices) != 13 {
		t.Errorf("disk = %+v, want no file system (devtmpfs only) and 13 devices", d)
	}
	if nd := msg["net_dev"].(*NetDevMessage).NetDev; len(nd) != 26 || nd["apcli0"].RxDrops != 3235057664 {
		t.Errorf("net_dev: %d interfaces, apcli0 %+v", len(nd), nd["apcli0"])
	}

	root := copyTree(t, "arm-zte-router")
	edit(t, root, "proc/stat", "cpu  9293 0 18868 298359 10970 0 536 0 0 0\n", "cpu  9353 0 18898 298429 10990 0 556 0 0 0\n")
	edit(t, root, "proc/stat", "cpu0 3417 0 7771 152641 4710 0 480 0 0 0\n", "cpu0 3477 0 7801 152651 4710 0 480 0 0 0\n")
	edit(t, root, "proc/stat", "cpu1 5876 0 11097 145718 6260 0 56 0 0 0\n", "cpu1 5876 0 11097 145778 6280 0 76 0 0 0\n")
	edit(t, root, "proc/net/dev", "   br0:  135572 ", "   br0:  136572 ")
	events, err = c.Collect(snapshotOf(t, root, false, emptyDF), time0.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	_, msg = names(events)
	jsonEqual(t, "cpu_perf", msg["cpu_perf"], `{"ssh_key": "admin@192.0.2.1:22", "cpu_perf": {
		"total": {"processor": -1, "utilization": 65, "user": 30, "system": 25, "iowait": 10, "steal": 0, "idle": 35},
		"processors": {
			"0": {"processor": 0, "utilization": 90, "user": 60, "system": 30, "iowait": 0, "steal": 0, "idle": 10},
			"1": {"processor": 1, "utilization": 40, "user": 0, "system": 20, "iowait": 20, "steal": 0, "idle": 60}}}}`)
	if br0 := msg["net_dev"].(*NetDevMessage).NetDev["br0"]; br0.RxBytesPerSec != 1000 || br0.TxBytesPerSec != 0 {
		t.Errorf("br0 = %+v", br0)
	}
	if p := msg["process"].(*ProcessMessage).Process; len(p) != 1 || p[0].Name != "init" || p[0].RSS != 135*4096 || p[0].CPU != 0 {
		t.Errorf("process = %+v", p)
	}
}

// TestMessagesJSON: every message is an object whose first key is ssh_key,
// and every field name is snake_case (but the seed's "CPUMHz").
func TestMessagesJSON(t *testing.T) {
	c := NewCollector(x86Key)
	ev1, _ := c.Collect(snapshotOf(t, filepath.Join("testdata", "x86-server"), true, x86DF), time0)
	ev2, _ := c.Collect(snapshotOf(t, x86Second(t), true, x86DF), time0.Add(2*time.Second))
	ev3, _ := NewCollector(x86Key).Collect(snapshotOf(t, filepath.Join("testdata", "rpi4"), true, emptyDF), time0)
	seen := map[string]bool{}
	snake := regexp.MustCompile(`^[a-z0-9_]+$`)
	var walk func(string, any)
	walk = func(at string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if !snake.MatchString(k) && k != "CPUMHz" {
					t.Errorf("%s: key %q is not snake_case", at, k)
				}
				walk(at+"."+k, x)
			}
		case []any:
			for _, x := range v {
				walk(at+"[]", x)
			}
		}
	}
	for _, e := range slices.Concat(ev1, ev2, ev3) {
		seen[e.Name] = true
		b, err := json.Marshal(e.Message)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(b), `{"ssh_key":"`+x86Key+`","`+e.Name+`":`) {
			t.Errorf("%s: %.80s", e.Name, b)
		}
		var v any
		json.Unmarshal(b, &v)
		walk(e.Name, v)
		if b, _ := json.Marshal(e); !strings.HasPrefix(string(b), `{"event":"`+e.Name+`","message":{"ssh_key":`) {
			t.Errorf("Event JSON: %.80s", b)
		}
	}
	if len(seen) != 10 {
		t.Errorf("saw events %v, want all 10", seen)
	}
}

// busyTree makes a server of 300 processes: the x86-server tree with
// /proc/[pid]/stat files WRITTEN HERE from vim's line (pid, name and CPU
// times changed); bump > 0 adds that many ticks to every process.
func busyTree(t testing.TB, bump int) string {
	root := copyTree(t, "x86-server")
	for i := range 300 {
		pid := 1000 + i
		writeFile(t, root, fmt.Sprintf("proc/%d/stat", pid), fmt.Sprintf("%d (worker-%d) S 5392 7446 5392 34835 7446 4218880 32533 309516 26 82 %d %d 158 99 20 0 1 0 82375 56274944 %d "+
			"18446744073709551615 4194304 6294284 140736914091744 140736914087944 139965136429984 0 0 12288 1870679807 0 0 0 17 0 0 0 31 0 0 8391624 8481048 16420864 140736914093252 140736914093279 140736914093279 140736914096107 0\n",
			pid, i, 1000+i*7+bump, 100+i*3+bump, 500+i))
	}
	return root
}

// busyServerOutput returns the script's output over busyTree.
func busyServerOutput(b *testing.B) []byte {
	out, _ := busyServerOutputs(b, true)
	return out
}

// busyServerOutputs returns the outputs of two ticks of busyTree.
func busyServerOutputs(b *testing.B, withInfo bool) ([]byte, []byte) {
	if _, err := os.Stat("/bin/sh"); err != nil {
		b.Skip("no /bin/sh")
	}
	sh := shell{name: "sh", argv: []string{"/bin/sh"}}
	return runScript(b, sh, busyTree(b, 0), withInfo, x86DF), runScript(b, sh, busyTree(b, 50), withInfo, x86DF)
}

// BenchmarkCollect: one tick of a host of 300 processes, snapshots in turn
// (every other one sees counters go back, which costs the same).
func BenchmarkCollect(b *testing.B) {
	out1, out2 := busyServerOutputs(b, false)
	s1, err1 := ParseSnapshot(out1)
	s2, err2 := ParseSnapshot(out2)
	if err1 != nil || err2 != nil {
		b.Fatal(err1, err2)
	}
	c := NewCollector(x86Key)
	c.Collect(s1, time0)
	now := time0
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		now = now.Add(time.Second)
		s := s2
		if i%2 == 1 {
			s = s1
		}
		i++
		events, err := c.Collect(s, now)
		if err != nil || len(events) != 9 {
			b.Fatal(len(events), err)
		}
	}
}
