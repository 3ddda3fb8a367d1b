package rtstat

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"edgestat/proc"
)

// procTestdata is where package proc keeps the fixture trees of real machines.
const procTestdata = "../../proc/testdata"

// statfsSource is a fixture tree whose file systems have fixed sizes, since
// statfs under a fixture tree would report the test machine's own disk.
type statfsSource struct {
	proc.FS
	statfs map[string]proc.Statfs
}

func (s statfsSource) Statfs(path string) (proc.Statfs, error) {
	st, ok := s.statfs[path]
	if !ok {
		return proc.Statfs{}, os.ErrNotExist
	}
	return st, nil
}

// buildTree writes files into a new temporary root: a value starting with
// "@" is the path of a fixture under proc/testdata, anything else is the
// content itself.
func buildTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, content := range files {
		data := []byte(content)
		if rest, ok := strings.CutPrefix(content, "@"); ok {
			var err error
			if data, err = os.ReadFile(filepath.Join(procTestdata, rest)); err != nil {
				t.Fatal(err)
			}
		}
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// collectAll runs every plugin once and returns its JSON by name, failing
// the test on an error or invalid JSON.
func collectAll(t *testing.T, plugins []Plugin, now time.Time) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, p := range plugins {
		b, err := p.Collect(context.Background(), []byte("prefix"), now)
		if err != nil {
			t.Fatalf("%s: %v", p.Name(), err)
		}
		v, ok := strings.CutPrefix(string(b), "prefix")
		if !ok {
			t.Fatalf("%s: the caller's bytes were not kept: %q", p.Name(), b)
		}
		if !json.Valid([]byte(v)) {
			t.Fatalf("%s: invalid JSON %s", p.Name(), v)
		}
		out[p.Name()] = v
	}
	return out
}

func TestHostPluginsOrder(t *testing.T) {
	var names []string
	for _, p := range HostPlugins(proc.FS("/")) {
		names = append(names, p.Name())
	}
	if got, want := strings.Join(names, " "), "cpu_stat meminfo processes uptime net disk temp"; got != want {
		t.Errorf("plugins %q, want %q", got, want)
	}
	a, b := HostPlugins(proc.FS("/")), HostPlugins(proc.FS("/"))
	if a[0] == b[0] {
		t.Error("HostPlugins must return fresh instances")
	}
}

// TestHostPluginsRouter runs the plugins over the ZTE router's /proc.
func TestHostPluginsRouter(t *testing.T) {
	zte := "@router-arm-zte-zx279128/proc/"
	root := buildTree(t, map[string]string{
		"proc/stat":      zte + "stat",
		"proc/meminfo":   zte + "meminfo",
		"proc/loadavg":   zte + "loadavg",
		"proc/uptime":    zte + "uptime",
		"proc/diskstats": zte + "diskstats",
		"proc/net/dev":   zte + "1/net/dev",
		"proc/1/stat":    zte + "1/stat",
		"proc/15/mounts": zte + "15/mounts", // a pid directory without stat: skipped
		// The router's own mounts plus the USB stick its diskstats shows.
		"proc/mounts": "devtmpfs / devtmpfs rw,relatime,size=47096k,nr_inodes=11774,mode=755 0 0\n" +
			"proc /proc proc rw,relatime 0 0\n" +
			"/dev/sda1 /mnt/usb1_1 vfat rw,relatime,fmask=0022 0 0\n",
		"var/run/utmp":                         "@synthetic-utmp/var/run/utmp",
		"sys/class/thermal/thermal_zone0/type": "@misc-node-exporter/sys/class/thermal/thermal_zone0/type",
		"sys/class/thermal/thermal_zone0/temp": "@misc-node-exporter/sys/class/thermal/thermal_zone0/temp",
	})
	src := statfsSource{proc.FS(root), map[string]proc.Statfs{
		"/mnt/usb1_1": {BlockSize: 4096, Blocks: 1000, BlocksFree: 400, BlocksAvail: 300},
	}}
	now := time.Date(2024, 3, 1, 10, 15, 1, 0, time.UTC)
	got := collectAll(t, HostPlugins(src), now)

	// cpu0 since boot: user 3417, system 7771+480, iowait 4710, idle 152641 of 169019 ticks.
	want := map[string]string{
		"cpu_stat": `{"cpu0":{"usage":0.1,"user":0.02,"system":0.05,"iowait":0.03},` +
			`"cpu1":{"usage":0.14,"user":0.03,"system":0.07,"iowait":0.04}}`,
		"meminfo": `{"memory":{"total":94412,"used":92396,"free":2016,"apps":59292,"buffers":4456,"cached":28648,"swapCached":0},` +
			`"swap":{"total":0,"used":0,"free":0}}`,
		"processes": `{"all":1,"running":0,"sleep":1,"stopped":0,"zombie":0}`,
		"uptime":    `{"time":"10:15:01","uptime":"28 min","users":"2","la1":"2.79","la5":"1.23","la15":"0.85"}`,
		"disk": `{"/mnt/usb1_1":{"device":"/dev/sda1","fstype":"vfat","total":4000,"used":2400,"free":1200,` +
			`"read_bytes":0,"write_bytes":0}}`,
		"temp": `{"thermal_zone0":{"type":"cpu-thermal","temp":12.4}}`,
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("%s\n got %s\nwant %s", name, got[name], w)
		}
	}

	// net: all 26 interfaces, in file order, zeros on the first Collect.
	var netv map[string]map[string]float64
	if err := json.Unmarshal([]byte(got["net"]), &netv); err != nil {
		t.Fatal(err)
	}
	if len(netv) != 26 {
		t.Errorf("net has %d interfaces, want 26", len(netv))
	}
	for _, name := range []string{"lo", "br0", "ip6tnl0", "apcli0", "wlan0"} {
		r, ok := netv[name]
		if !ok || len(r) != 4 || r["rx_bytes"] != 0 || r["tx_bytes"] != 0 || r["rx_packets"] != 0 || r["tx_packets"] != 0 {
			t.Errorf("net[%s] = %v", name, r)
		}
	}
	if !strings.HasPrefix(got["net"], `{"br0":{"rx_bytes":0,"tx_bytes":0,"rx_packets":0,"tx_packets":0},"pon":`) {
		t.Errorf("net = %.120s...", got["net"])
	}
}

// TestHostPluginsVM runs the plugins that have fixtures over the KVM guest.
func TestHostPluginsVM(t *testing.T) {
	vm := "@x86-vm-sosreport/proc/"
	root := buildTree(t, map[string]string{
		"proc/stat":      vm + "stat",
		"proc/meminfo":   vm + "meminfo",
		"proc/diskstats": vm + "diskstats",
		"proc/mounts": "/dev/sda3 / xfs rw,relatime 0 0\n/dev/sda3 /var/lib/containers xfs rw 0 0\n" +
			"/dev/sda1 /boot ext4 rw 0 0\noverlay /var/lib/containers/storage/overlay/x/merged overlay rw 0 0\n" +
			"/dev/sda2 /gone ext4 rw 0 0\n",
	})
	src := statfsSource{proc.FS(root), map[string]proc.Statfs{
		"/":     {BlockSize: 4096, Blocks: 30000000, BlocksFree: 20000000, BlocksAvail: 20000000},
		"/boot": {BlockSize: 1024, Blocks: 376832, BlocksFree: 200000, BlocksAvail: 180000},
		// "/gone" fails statfs: left out.
	}}
	plugins := HostPlugins(src)
	ctx := context.Background()
	now := time.Date(2019, 10, 2, 3, 4, 5, 0, time.UTC)
	for _, tt := range []struct {
		plugin int
		want   string
	}{
		// cpu0: user 6088+14, system 5849+2230+1398, iowait 93, idle 193612 of 209284 ticks.
		{0, `{"cpu0":{"usage":0.07,"user":0.03,"system":0.05,"iowait":0},"cpu1":{"usage":0.08,"user":0.03,"system":0.05,"iowait":0}}`},
		{1, `{"memory":{"total":8164548,"used":7312588,"free":851960,"apps":6072752,"buffers":4304,"cached":1235532,"swapCached":0},` +
			`"swap":{"total":0,"used":0,"free":0}}`},
		{5, `{"/":{"device":"/dev/sda3","fstype":"xfs","total":120000000,"used":40000000,"free":80000000,"read_bytes":0,"write_bytes":0},` +
			`"/boot":{"device":"/dev/sda1","fstype":"ext4","total":376832,"used":176832,"free":180000,"read_bytes":0,"write_bytes":0}}`},
	} {
		b, err := plugins[tt.plugin].Collect(ctx, nil, now)
		if err != nil {
			t.Fatalf("%s: %v", plugins[tt.plugin].Name(), err)
		}
		if string(b) != tt.want {
			t.Errorf("%s\n got %s\nwant %s", plugins[tt.plugin].Name(), b, tt.want)
		}
	}
}

// TestHostPluginsRates collects twice over a tree whose counters move.
func TestHostPluginsRates(t *testing.T) {
	root := buildTree(t, map[string]string{
		"proc/stat": "cpu  100 0 100 800 0 0 0 0 0 0\ncpu0 50 0 50 400 0 0 0 0 0 0\ncpu1 50 0 50 400 0 0 0 0 0 0\n",
		"proc/net/dev": "Inter-|   Receive |  Transmit\n face |bytes    packets|bytes    packets\n" +
			"    lo:    1000      10    0    0    0     0          0         0     1000      10    0    0    0     0       0          0\n" +
			"  eth0: 5000000    4000    0    0    0     0          0         0   900000    3000    0    0    0     0       0          0\n",
		"proc/diskstats": " 179       0 mmcblk0 1000 0 80000 0 500 0 9000 0 0 0 0\n" +
			" 179       2 mmcblk0p2 900 0 70000 0 400 0 8000 0 0 0 0\n",
		// Raspberry Pi OS: the root is /dev/root, found through mountinfo.
		"proc/mounts":         "/dev/root / ext4 rw,noatime 0 0\n",
		"proc/self/mountinfo": "21 1 179:2 / / rw,noatime shared:1 - ext4 /dev/root rw\n",
	})
	src := statfsSource{proc.FS(root), map[string]proc.Statfs{
		"/": {BlockSize: 4096, Blocks: 7000000, BlocksFree: 5000000, BlocksAvail: 4700000},
	}}
	plugins := HostPlugins(src)
	cpu, netp, disk := plugins[0], plugins[4], plugins[5]
	t0 := time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)
	ctx := context.Background()
	for _, p := range []Plugin{cpu, netp, disk} {
		if _, err := p.Collect(ctx, nil, t0); err != nil {
			t.Fatal(err)
		}
	}

	// Two seconds later. cpu0: 100 ticks = 30 user + 10 nice, 10 system +
	// 5 irq + 5 softirq, 10 iowait, 30 idle; cpu1 idle; eth0 +3000 B and
	// +30 packets in, lo reset; mmcblk0p2 +4096 sectors read, +100 written.
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(root, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("proc/stat", "cpu  140 10 115 930 10 5 5 0 0 0\ncpu0 80 10 60 430 10 5 5 0 0 0\ncpu1 50 0 50 500 0 0 0 0 0 0\n")
	write("proc/net/dev", "Inter-|   Receive |  Transmit\n face |bytes    packets|bytes    packets\n"+
		"    lo:      10       1    0    0    0     0          0         0       10       1    0    0    0     0       0          0\n"+
		"  eth0: 5003000    4030    0    0    0     0          0         0   900100    3001    0    0    0     0       0          0\n")
	write("proc/diskstats", " 179       0 mmcblk0 1000 0 84096 0 500 0 9100 0 0 0 0\n"+
		" 179       2 mmcblk0p2 900 0 74096 0 400 0 8100 0 0 0 0\n")
	t1 := t0.Add(2 * time.Second)
	got := map[string]string{}
	for _, p := range []Plugin{cpu, netp, disk} {
		b, err := p.Collect(ctx, nil, t1)
		if err != nil {
			t.Fatal(err)
		}
		got[p.Name()] = string(b)
	}
	want := map[string]string{
		"cpu_stat": `{"cpu0":{"usage":0.7,"user":0.4,"system":0.2,"iowait":0.1},"cpu1":{"usage":0,"user":0,"system":0,"iowait":0}}`,
		"net": `{"lo":{"rx_bytes":0,"tx_bytes":0,"rx_packets":0,"tx_packets":0},` +
			`"eth0":{"rx_bytes":1500,"tx_bytes":50,"rx_packets":15,"tx_packets":0.5}}`,
		"disk": `{"/":{"device":"/dev/root","fstype":"ext4","total":28000000,"used":8000000,"free":18800000,` +
			`"read_bytes":1048576,"write_bytes":25600}}`,
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("%s\n got %s\nwant %s", name, got[name], w)
		}
	}

	// Nothing moved and no time passed: zeros, never NaN.
	for _, p := range []Plugin{cpu, netp, disk} {
		b, err := p.Collect(ctx, nil, t1)
		if err != nil || !json.Valid(b) || strings.Contains(string(b), "NaN") {
			t.Errorf("%s: %s, %v", p.Name(), b, err)
		}
	}
}

func TestHostPluginsMissingSources(t *testing.T) {
	src := proc.FS(t.TempDir()) // nothing at all
	for _, p := range HostPlugins(src) {
		b, err := p.Collect(context.Background(), []byte("keep"), time.Now())
		switch p.Name() {
		case "temp": // no thermal zone is no error
			if err != nil || string(b) != "keep{}" {
				t.Errorf("temp = %q, %v; want {}", b, err)
			}
		default:
			if err == nil {
				t.Errorf("%s: no error without its source (%q)", p.Name(), b)
			}
			if string(b) != "keep" {
				t.Errorf("%s: dst changed on error: %q", p.Name(), b)
			}
		}
	}

	// A malformed file is a parse error for the hub to report.
	root := buildTree(t, map[string]string{"proc/stat": "garbage\n", "proc/meminfo": "MemTot"})
	for _, i := range []int{0, 1} {
		_, err := HostPlugins(proc.FS(root))[i].Collect(context.Background(), nil, time.Now())
		if !errors.Is(err, proc.ErrParse) {
			t.Errorf("plugin %d: err = %v, want ErrParse", i, err)
		}
	}

	// No utmp: "0" users.
	root = buildTree(t, map[string]string{"proc/uptime": "100000.5 1.0\n", "proc/loadavg": "0.00 0.01 0.10 1/1 1\n"})
	b, err := HostPlugins(proc.FS(root))[3].Collect(context.Background(), nil, time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
	if want := `{"time":"00:00:00","uptime":"1 day,  3:46","users":"0","la1":"0.00","la5":"0.01","la15":"0.10"}`; err != nil || string(b) != want {
		t.Errorf("uptime = %s, %v\nwant %s", b, err, want)
	}
}

func TestHostAppendUptime(t *testing.T) {
	tests := []struct {
		secs float64
		want string
	}{
		{0, "0 min"},
		{59.9, "0 min"},
		{60, "1 min"},
		{3599, "59 min"},
		{3600, "1:00"},
		{2*3600 + 3*60 + 59, "2:03"},
		{10*3600 + 3*60, "10:03"},
		{86400, "1 day, 0 min"},
		{86400 + 3600, "1 day,  1:00"},
		{3*86400 + 2*3600 + 3*60, "3 days,  2:03"},
		{2*86400 + 5*60, "2 days, 5 min"},
		{25*86400 + 21*3600 + 30*60, "25 days, 21:30"},
		{361471.92, "4 days,  4:24"}, // the 3.13 desktop
	}
	for _, tt := range tests {
		if got := string(hostAppendUptime(nil, tt.secs)); got != tt.want {
			t.Errorf("uptime(%v) = %q, want %q", tt.secs, got, tt.want)
		}
	}
}

func TestHostAppendString(t *testing.T) {
	for _, s := range []string{"eth0", "/media/My Disk", "tab\there", "nl\n", "q\"b\\", "\x01\x1f\x7f", "caf\xc3\xa9", "bad\xff\xfe", ""} {
		b := appendJSONString(nil, s)
		if !json.Valid(b) {
			t.Errorf("%q -> invalid JSON %s", s, b)
			continue
		}
		var back string
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		// As encoding/json: one U+FFFD per invalid byte.
		m, _ := json.Marshal(s)
		var want string
		if err := json.Unmarshal(m, &want); err != nil {
			t.Fatal(err)
		}
		if back != want {
			t.Errorf("%q -> %s -> %q", s, b, back)
		}
	}
}

func TestHostAppendRound(t *testing.T) {
	tests := []struct {
		v    float64
		d    int
		want string
	}{
		{0.07, 2, "0.07"}, {0.125, 2, "0.13"}, {1, 2, "1"}, {0.0001, 2, "0"}, {-0.0001, 2, "0"},
		{45.25, 1, "45.3"}, {-44, 1, "-44"}, {1234.5, 2, "1234.5"},
	}
	for _, tt := range tests {
		if got := string(hostAppendRound(nil, tt.v, tt.d)); got != tt.want {
			t.Errorf("round(%v, %d) = %s, want %s", tt.v, tt.d, got, tt.want)
		}
	}
}

// TestHostPluginsLocal runs every plugin on this machine's own /proc twice:
// whatever it finds, the values must be valid JSON objects.
func TestHostPluginsLocal(t *testing.T) {
	if _, err := os.Stat("/proc/stat"); err != nil {
		t.Skip("no /proc here")
	}
	plugins := HostPlugins(proc.FS("/"))
	for range 2 {
		for name, v := range collectAll(t, plugins, time.Now()) {
			var obj map[string]any
			if err := json.Unmarshal([]byte(v), &obj); err != nil {
				t.Errorf("%s: %v: %s", name, err, v)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// BenchmarkCollectTick is one full collection of the host plugins on this
// machine, into reused buffers, as one interval group's tick does.
func BenchmarkCollectTick(b *testing.B) {
	if _, err := os.Stat("/proc/stat"); err != nil {
		b.Skip("no /proc here")
	}
	plugins := HostPlugins(proc.FS("/"))
	bufs := make([][]byte, len(plugins))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		now := time.Now()
		for i, p := range plugins {
			var err error
			if bufs[i], err = p.Collect(ctx, bufs[i][:0], now); err != nil {
				b.Fatal(p.Name(), err)
			}
		}
	}
}

// BenchmarkCollectPlugin is each host plugin alone on this machine.
func BenchmarkCollectPlugin(b *testing.B) {
	if _, err := os.Stat("/proc/stat"); err != nil {
		b.Skip("no /proc here")
	}
	for _, p := range HostPlugins(proc.FS("/")) {
		b.Run(p.Name(), func(b *testing.B) {
			var buf []byte
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if buf, err = p.Collect(ctx, buf[:0], time.Now()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
