package metrics

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"edgestat/proc"
)

// fixtures is package proc's copy of the shared /proc and /sys trees.
const fixtures = "../../proc/testdata"

// statfsFS is a fixture tree whose file systems have the sizes the test
// says: statfs of a fixture directory would report the test machine's disk.
type statfsFS struct {
	proc.FS
	sizes map[string]proc.Statfs
}

func (f statfsFS) Statfs(path string) (proc.Statfs, error) {
	if st, ok := f.sizes[path]; ok {
		return st, nil
	}
	return proc.Statfs{}, os.ErrNotExist
}

// tree writes files (path -> content, or "@fixture/path" to copy one)
// under a temporary root.
func tree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, content := range files {
		if from, ok := strings.CutPrefix(content, "@"); ok {
			b, err := os.ReadFile(filepath.Join(fixtures, from))
			if err != nil {
				t.Fatal(err)
			}
			content = string(b)
		}
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// scrapeHost runs the host collectors over src.
func scrapeHost(t *testing.T, src proc.Source) []byte {
	t.Helper()
	h := NewHandler(nil)
	for _, c := range HostCollectors(src) {
		h.Add(c.Name, c.Collector)
	}
	out, err := h.Scrape(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// samples reads an exposition into series -> value text. A line is
// `series value`: no timestamps here, and a value holds no space, so the
// series is everything before the last space (label values may hold
// spaces).
func samples(t *testing.T, exposition []byte) map[string]string {
	t.Helper()
	m := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(exposition))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			t.Fatalf("bad line %q", line)
		}
		if _, dup := m[line[:i]]; dup {
			t.Errorf("series %s twice", line[:i])
		}
		m[line[:i]] = line[i+1:]
	}
	return m
}

func value(t *testing.T, m map[string]string, series string) float64 {
	t.Helper()
	s, ok := m[series]
	if !ok {
		t.Errorf("no series %s", series)
		return 0
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Errorf("%s: value %q: %v", series, s, err)
	}
	return v
}

// TestHostCollectorsFixture checks every host family against the numbers in
// the fixture files, read by eye from the files (not through package proc),
// so a parser and its use cannot agree on the same mistake.
func TestHostCollectorsFixture(t *testing.T) {
	const p = "@misc-prometheus-procfs/"
	root := tree(t, map[string]string{
		"proc/stat":      p + "proc/stat",
		"proc/meminfo":   p + "proc/meminfo",
		"proc/loadavg":   p + "proc/loadavg",
		"proc/net/dev":   p + "proc/net/dev",
		"proc/diskstats": p + "proc/diskstats",
		"proc/uptime":    "@router-arm-zte-zx279128/proc/uptime",
		"proc/mounts": "/dev/sda4 / ext4 rw 0 0\n" +
			"proc /proc proc rw 0 0\n" +
			"/dev/sda4 /var/lib/docker ext4 rw 0 0\n" + // a bind mount: counted once
			"/dev/mmcblk0p1 /boot/my\\040\"fw\" vfat rw 0 0\n" +
			"/dev/sdb1 /mnt/gone ext4 rw 0 0\n" + // statfs fails: left out
			"tmpfs /run tmpfs rw 0 0\n",
		"sys/class/thermal/thermal_zone0/temp": p + "sys/class/thermal/thermal_zone0/temp",
		"sys/class/thermal/thermal_zone0/type": p + "sys/class/thermal/thermal_zone0/type",
		"sys/class/thermal/thermal_zone1/temp": p + "sys/class/thermal/thermal_zone1/temp",
		"sys/class/thermal/thermal_zone1/type": p + "sys/class/thermal/thermal_zone1/type",
	})
	src := statfsFS{FS: proc.FS(root), sizes: map[string]proc.Statfs{
		"/":               {BlockSize: 4096, Blocks: 1000, BlocksFree: 400, BlocksAvail: 300},
		"/boot/my \"fw\"": {BlockSize: 512, Blocks: 100, BlocksFree: 50, BlocksAvail: 40},
		"/var/lib/docker": {BlockSize: 4096, Blocks: 1000, BlocksFree: 400, BlocksAvail: 300},
	}}
	out := scrapeHost(t, src)
	checkPromtool(t, out)
	m := samples(t, out)

	for series, want := range map[string]float64{
		// /proc/stat: "cpu0 44490 19 21045 1087069 220 1 3410 0 0 0" in 1/100 s.
		`edgestat_cpu_seconds_total{cpu="0",mode="user"}`:    444.9,
		`edgestat_cpu_seconds_total{cpu="0",mode="nice"}`:    0.19,
		`edgestat_cpu_seconds_total{cpu="0",mode="system"}`:  210.45,
		`edgestat_cpu_seconds_total{cpu="0",mode="idle"}`:    10870.69,
		`edgestat_cpu_seconds_total{cpu="0",mode="iowait"}`:  2.2,
		`edgestat_cpu_seconds_total{cpu="0",mode="irq"}`:     0.01,
		`edgestat_cpu_seconds_total{cpu="0",mode="softirq"}`: 34.1,
		`edgestat_cpu_seconds_total{cpu="0",mode="steal"}`:   0,
		// "cpu1 47869 23 16474 1110787 591 0 46 0 0 0"
		`edgestat_cpu_seconds_total{cpu="1",mode="idle"}`: 11107.87,
		`edgestat_boot_time_seconds`:                      1418183276,
		`edgestat_procs_running`:                          2,
		`edgestat_procs_blocked`:                          1,
		`edgestat_forks_total`:                            26442,
		`edgestat_context_switches_total`:                 38014093,
		`edgestat_interrupts_total`:                       73777505,
		// /proc/meminfo, kB.
		`edgestat_memory_total_bytes`:      15666184 * 1024,
		`edgestat_memory_free_bytes`:       440324 * 1024,
		`edgestat_memory_buffers_bytes`:    1020128 * 1024,
		`edgestat_memory_cached_bytes`:     12007640 * 1024,
		`edgestat_memory_swap_total_bytes`: 0,
		`edgestat_memory_swap_free_bytes`:  0,
		// /proc/loadavg "0.02 0.04 0.05 1/497 11947"
		`edgestat_load1`:   0.02,
		`edgestat_load5`:   0.04,
		`edgestat_load15`:  0.05,
		`edgestat_threads`: 497,
		// /proc/uptime "1690.18 2983.59"
		`edgestat_uptime_seconds`: 1690.18,
		// /proc/net/dev
		`edgestat_network_receive_bytes_total{device="lo"}`:           1664039048,
		`edgestat_network_receive_packets_total{device="lo"}`:         1566805,
		`edgestat_network_transmit_bytes_total{device="vethf345468"}`: 438,
		`edgestat_network_transmit_packets_total{device="docker0"}`:   5,
		`edgestat_network_receive_errors_total{device="docker0"}`:     0,
		`edgestat_network_transmit_drops_total{device="vethf345468"}`: 0,
		// /proc/diskstats "8 0 sda 25354637 34367663 1003346126 18492372 28444756 11134226 505697032 63877960 0 9653880 82621804"
		`edgestat_disk_reads_completed_total{device="sda"}`:  25354637,
		`edgestat_disk_read_bytes_total{device="sda"}`:       1003346126 * 512,
		`edgestat_disk_writes_completed_total{device="sda"}`: 28444756,
		`edgestat_disk_written_bytes_total{device="sda"}`:    505697032 * 512,
		`edgestat_disk_io_time_seconds_total{device="sda"}`:  9653.88,
		`edgestat_disk_read_bytes_total{device="nvme0n1"}`:   4643973 * 512,
		`edgestat_disk_read_bytes_total{device="sr0"}`:       0,
		// statfs as given above: blocks x block size.
		`edgestat_filesystem_size_bytes{device="/dev/sda4",mountpoint="/",fstype="ext4"}`:                     4096000,
		`edgestat_filesystem_free_bytes{device="/dev/sda4",mountpoint="/",fstype="ext4"}`:                     1638400,
		`edgestat_filesystem_avail_bytes{device="/dev/sda4",mountpoint="/",fstype="ext4"}`:                    1228800,
		`edgestat_filesystem_size_bytes{device="/dev/mmcblk0p1",mountpoint="/boot/my \"fw\"",fstype="vfat"}`:  51200,
		`edgestat_filesystem_avail_bytes{device="/dev/mmcblk0p1",mountpoint="/boot/my \"fw\"",fstype="vfat"}`: 20480,
		// /sys/class/thermal: 49925 and -44000 millidegrees.
		`edgestat_temperature_celsius{zone="thermal_zone0",type="bcm2835_thermal"}`: 49.925,
		`edgestat_temperature_celsius{zone="thermal_zone1",type="acpitz"}`:          -44,
	} {
		if got := value(t, m, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	for series := range m {
		for _, absent := range []string{
			"edgestat_memory_available_bytes",                 // the fixture's kernel has no MemAvailable
			`device="ram0"`, `device="loop0"`, `device="fd0"`, // not storage
			`mountpoint="/var/lib/docker"`, `mountpoint="/mnt/gone"`, `mountpoint="/proc"`, `mountpoint="/run"`,
		} {
			if strings.Contains(series, absent) {
				t.Errorf("unexpected series %s", series)
			}
		}
	}
	for _, c := range HostCollectors(src) {
		if got := value(t, m, `edgestat_scrape_collector_success{collector="`+c.Name+`"}`); got != 1 {
			t.Errorf("collector %s failed", c.Name)
		}
	}
	cpus := 0
	for series := range m {
		if strings.HasPrefix(series, "edgestat_cpu_seconds_total{") {
			cpus++
		}
	}
	if cpus != 8*8 { // 8 CPUs in the fixture, 8 modes each
		t.Errorf("%d cpu series, want 64", cpus)
	}
}

// TestHostCollectorsEveryFixture runs the collectors over every machine's
// files that the fixtures have, and checks each CPU and interface sample
// against package proc's reading of the same file: old kernels, routers,
// 32 CPUs. A file the machine lacks fails only its own collector.
func TestHostCollectorsEveryFixture(t *testing.T) {
	machines, err := os.ReadDir(fixtures)
	if err != nil {
		t.Fatal(err)
	}
	ran := 0
	for _, mach := range machines {
		files := map[string]string{}
		for _, f := range []struct{ to, from string }{
			{"proc/stat", "proc/stat"}, {"proc/meminfo", "proc/meminfo"}, {"proc/loadavg", "proc/loadavg"},
			{"proc/uptime", "proc/uptime"}, {"proc/diskstats", "proc/diskstats"},
			{"proc/net/dev", "proc/net/dev"}, {"proc/net/dev", "proc/1/net/dev"},
		} {
			if _, err := os.Stat(filepath.Join(fixtures, mach.Name(), f.from)); err == nil {
				files[f.to] = "@" + mach.Name() + "/" + f.from
			}
		}
		if files["proc/stat"] == "" {
			continue
		}
		ran++
		t.Run(mach.Name(), func(t *testing.T) {
			root := tree(t, files)
			out := scrapeHost(t, proc.FS(root))
			checkPromtool(t, out)
			m := samples(t, out)
			for file, collector := range map[string]string{
				"proc/stat": "stat", "proc/meminfo": "meminfo", "proc/loadavg": "loadavg",
				"proc/uptime": "uptime", "proc/diskstats": "diskstats", "proc/net/dev": "netdev",
			} {
				want := 0.0
				if files[file] != "" {
					want = 1
				}
				if got := value(t, m, `edgestat_scrape_collector_success{collector="`+collector+`"}`); got != want {
					t.Errorf("collector %s: success %v, want %v", collector, got, want)
				}
			}

			b, _ := os.ReadFile(filepath.Join(root, "proc/stat"))
			var st proc.Stat
			if err := proc.ParseStat(b, &st); err != nil {
				t.Fatal(err)
			}
			for _, c := range st.CPUs {
				series := `edgestat_cpu_seconds_total{cpu="` + strconv.Itoa(c.ID) + `",mode="system"}`
				if got, want := value(t, m, series), float64(c.System)/100; got != want {
					t.Errorf("%s = %v, want %v", series, got, want)
				}
			}
			if b, err := os.ReadFile(filepath.Join(root, "proc/net/dev")); err == nil {
				var nd proc.NetDev
				if err := proc.ParseNetDev(b, &nd); err != nil {
					t.Fatal(err)
				}
				for _, l := range nd.Ifaces {
					series := `edgestat_network_transmit_bytes_total{device="` + l.Name + `"}`
					if got := value(t, m, series); got != float64(l.TxBytes) {
						t.Errorf("%s = %v, want %d", series, got, l.TxBytes)
					}
				}
			}
		})
	}
	if ran < 5 {
		t.Errorf("only %d fixture machines have /proc/stat", ran)
	}
}

// TestHostNoThermal: a box without /sys/class/thermal (most VMs, many
// routers) has no temperature family and no failure.
func TestHostNoThermal(t *testing.T) {
	w := NewWriter(1 << 20)
	c := &thermalCollector{src: proc.FS(t.TempDir())}
	if err := c.Collect(context.Background(), w); err != nil {
		t.Fatal(err)
	}
	if err := w.end(); err != nil || len(w.Bytes()) != 0 {
		t.Errorf("wrote %q, %v", w.Bytes(), err)
	}
}

// TestHostMissingFile: the error names the file and wraps its cause.
func TestHostMissingFile(t *testing.T) {
	c := &statCollector{src: proc.FS(t.TempDir())}
	err := c.Collect(context.Background(), NewWriter(1<<20))
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "/proc/stat") {
		t.Errorf("err = %v", err)
	}
}
