package metrics

import (
	"context"
	"fmt"
	"strings"

	"edgestat/proc"
)

// userHZ is the unit of /proc/stat's CPU columns on every Linux
// architecture (USER_HZ, not the kernel's HZ).
const userHZ = 100

// sectorBytes is the unit of /proc/diskstats' sector columns, whatever the
// device's own sector size.
const sectorBytes = 512

// Bounds of the host families: a box with more interfaces, block devices
// or mounts than this (a container host with thousands of veths) gets the
// first ones in the kernel's order, not an exposition that grows without
// end.
const (
	maxIfaces = 512
	maxDisks  = 512
	maxMounts = 256
	maxZones  = 256
)

// HostCollectors are the collectors of the box's own /proc and /sys, read
// through src (proc.FS of --proc-root), each named after what it reads so
// a missing file fails only its own families.
//
// Processes by state are not among them (the Rt-Stat push and /monitor
// count them): that costs a file read per process, 85% of a scrape's time
// and all its allocations on this machine, for a figure that
// edgestat_procs_running, _procs_blocked and edgestat_threads mostly give.
func HostCollectors(src proc.Source) []NamedCollector {
	return []NamedCollector{
		{"stat", &statCollector{src: src}},
		{"meminfo", &meminfoCollector{src: src}},
		{"loadavg", &loadavgCollector{src: src}},
		{"uptime", &uptimeCollector{src: src}},
		{"netdev", &netDevCollector{src: src}},
		{"diskstats", &diskstatsCollector{src: src}},
		{"filesystem", &filesystemCollector{src: src}},
		{"thermal", &thermalCollector{src: src}},
	}
}

// NamedCollector is a collector and its name in the scrape families.
type NamedCollector struct {
	Name      string
	Collector Collector
}

// read fills *buf with the file name of src.
func read(src proc.Source, buf *[]byte, name string) error {
	b, err := proc.AppendFile(src, (*buf)[:0], name)
	*buf = b
	if err != nil {
		return fmt.Errorf("metrics: read %s: %w", name, err)
	}
	return nil
}

// --- /proc/stat ---

type statCollector struct {
	src  proc.Source
	buf  []byte
	stat proc.Stat
}

// cpuModes are the columns of a cpu line, as node_exporter names them.
// guest and guest_nice are left out: the kernel counts them in user and
// nice already, and a sum over modes must be the CPU's time.
var cpuModes = [...]struct {
	mode string
	get  func(*proc.CPUTimes) uint64
}{
	{"user", func(t *proc.CPUTimes) uint64 { return t.User }},
	{"nice", func(t *proc.CPUTimes) uint64 { return t.Nice }},
	{"system", func(t *proc.CPUTimes) uint64 { return t.System }},
	{"idle", func(t *proc.CPUTimes) uint64 { return t.Idle }},
	{"iowait", func(t *proc.CPUTimes) uint64 { return t.Iowait }},
	{"irq", func(t *proc.CPUTimes) uint64 { return t.IRQ }},
	{"softirq", func(t *proc.CPUTimes) uint64 { return t.SoftIRQ }},
	{"steal", func(t *proc.CPUTimes) uint64 { return t.Steal }},
}

func (c *statCollector) Collect(_ context.Context, w *Writer) error {
	if err := read(c.src, &c.buf, "/proc/stat"); err != nil {
		return err
	}
	if err := proc.ParseStat(c.buf, &c.stat); err != nil {
		return err
	}
	st := &c.stat
	w.Family("edgestat_cpu_seconds_total", "Time each CPU spent in each mode since boot (/proc/stat; guest time is inside user and nice).", Counter)
	for i := range st.CPUs {
		cpu := &st.CPUs[i]
		for _, m := range cpuModes {
			w.Sample("")
			w.LabelUint("cpu", uint64(cpu.ID))
			w.Label("mode", m.mode)
			w.Float(float64(m.get(&cpu.CPUTimes)) / userHZ)
		}
	}
	if st.BootTime > 0 { // 0: a box that had no clock at boot
		w.GaugeUint("edgestat_boot_time_seconds", "When the host booted, seconds since the epoch (/proc/stat btime).", st.BootTime)
	}
	w.GaugeUint("edgestat_procs_running", "Threads runnable now (/proc/stat procs_running).", st.ProcsRunning)
	w.GaugeUint("edgestat_procs_blocked", "Threads blocked on I/O now (/proc/stat procs_blocked).", st.ProcsBlocked)
	w.Counter("edgestat_forks_total", "Processes and threads created since boot (/proc/stat processes).", st.Processes)
	w.Counter("edgestat_context_switches_total", "Context switches since boot (/proc/stat ctxt).", st.ContextSwitches)
	w.Counter("edgestat_interrupts_total", "Interrupts serviced since boot (/proc/stat intr).", st.Interrupts)
	return nil
}

// --- /proc/meminfo ---

type meminfoCollector struct {
	src proc.Source
	buf []byte
	mem proc.Meminfo
}

func (c *meminfoCollector) Collect(_ context.Context, w *Writer) error {
	if err := read(c.src, &c.buf, "/proc/meminfo"); err != nil {
		return err
	}
	if err := proc.ParseMeminfo(c.buf, &c.mem); err != nil {
		return err
	}
	m := &c.mem
	const kiB = 1024 // the kernel's "kB"
	w.GaugeUint("edgestat_memory_total_bytes", "Usable RAM (/proc/meminfo MemTotal).", m.MemTotal*kiB)
	if m.HasMemAvailable { // kernels before 3.14 do not estimate it
		w.GaugeUint("edgestat_memory_available_bytes", "RAM available for new work without swapping (/proc/meminfo MemAvailable).", m.MemAvailable*kiB)
	}
	w.GaugeUint("edgestat_memory_free_bytes", "RAM not used at all (/proc/meminfo MemFree).", m.MemFree*kiB)
	w.GaugeUint("edgestat_memory_buffers_bytes", "RAM in block device buffers (/proc/meminfo Buffers).", m.Buffers*kiB)
	w.GaugeUint("edgestat_memory_cached_bytes", "RAM in the page cache (/proc/meminfo Cached).", m.Cached*kiB)
	w.GaugeUint("edgestat_memory_swap_total_bytes", "Swap space (/proc/meminfo SwapTotal).", m.SwapTotal*kiB)
	w.GaugeUint("edgestat_memory_swap_free_bytes", "Swap space unused (/proc/meminfo SwapFree).", m.SwapFree*kiB)
	return nil
}

// --- /proc/loadavg ---

type loadavgCollector struct {
	src  proc.Source
	buf  []byte
	load proc.Loadavg
}

func (c *loadavgCollector) Collect(_ context.Context, w *Writer) error {
	if err := read(c.src, &c.buf, "/proc/loadavg"); err != nil {
		return err
	}
	if err := proc.ParseLoadavg(c.buf, &c.load); err != nil {
		return err
	}
	w.Gauge("edgestat_load1", "Load average over 1 minute (/proc/loadavg).", c.load.Load1)
	w.Gauge("edgestat_load5", "Load average over 5 minutes (/proc/loadavg).", c.load.Load5)
	w.Gauge("edgestat_load15", "Load average over 15 minutes (/proc/loadavg).", c.load.Load15)
	w.GaugeUint("edgestat_threads", "Scheduling entities (threads) that exist now (/proc/loadavg).", c.load.Total)
	return nil
}

// --- /proc/uptime ---

type uptimeCollector struct {
	src proc.Source
	buf []byte
	up  proc.Uptime
}

func (c *uptimeCollector) Collect(_ context.Context, w *Writer) error {
	if err := read(c.src, &c.buf, "/proc/uptime"); err != nil {
		return err
	}
	if err := proc.ParseUptime(c.buf, &c.up); err != nil {
		return err
	}
	w.Gauge("edgestat_uptime_seconds", "Time since the host booted (/proc/uptime).", c.up.Seconds)
	return nil
}

// --- /proc/net/dev ---

type netDevCollector struct {
	src proc.Source
	buf []byte
	dev proc.NetDev
}

var netDevFamilies = [...]struct {
	name, help string
	get        func(*proc.NetDevLine) uint64
}{
	{"edgestat_network_receive_bytes_total", "Bytes received by the interface (/proc/net/dev).", func(l *proc.NetDevLine) uint64 { return l.RxBytes }},
	{"edgestat_network_receive_packets_total", "Packets received by the interface.", func(l *proc.NetDevLine) uint64 { return l.RxPackets }},
	{"edgestat_network_receive_errors_total", "Receive errors of the interface.", func(l *proc.NetDevLine) uint64 { return l.RxErrs }},
	{"edgestat_network_receive_drops_total", "Received packets the interface dropped.", func(l *proc.NetDevLine) uint64 { return l.RxDrop }},
	{"edgestat_network_transmit_bytes_total", "Bytes sent by the interface.", func(l *proc.NetDevLine) uint64 { return l.TxBytes }},
	{"edgestat_network_transmit_packets_total", "Packets sent by the interface.", func(l *proc.NetDevLine) uint64 { return l.TxPackets }},
	{"edgestat_network_transmit_errors_total", "Transmit errors of the interface.", func(l *proc.NetDevLine) uint64 { return l.TxErrs }},
	{"edgestat_network_transmit_drops_total", "Packets the interface dropped on sending.", func(l *proc.NetDevLine) uint64 { return l.TxDrop }},
}

func (c *netDevCollector) Collect(_ context.Context, w *Writer) error {
	if err := read(c.src, &c.buf, "/proc/net/dev"); err != nil {
		return err
	}
	if err := proc.ParseNetDev(c.buf, &c.dev); err != nil {
		return err
	}
	ifaces := c.dev.Ifaces[:min(len(c.dev.Ifaces), maxIfaces)]
	for _, f := range netDevFamilies {
		w.Family(f.name, f.help, Counter)
		for i := range ifaces {
			w.UintValue(f.get(&ifaces[i]), "device", ifaces[i].Name)
		}
	}
	return nil
}

// --- /proc/diskstats ---

type diskstatsCollector struct {
	src   proc.Source
	buf   []byte
	stats proc.Diskstats
	disks []*proc.DiskStat
}

var diskFamilies = [...]struct {
	name, help string
	get        func(*proc.DiskStat) uint64
	perMilli   bool // the counter is in ms, the family in seconds
}{
	{"edgestat_disk_read_bytes_total", "Bytes read from the block device (/proc/diskstats sectors x 512).", func(d *proc.DiskStat) uint64 { return d.ReadSectors * sectorBytes }, false},
	{"edgestat_disk_written_bytes_total", "Bytes written to the block device.", func(d *proc.DiskStat) uint64 { return d.WriteSectors * sectorBytes }, false},
	{"edgestat_disk_reads_completed_total", "Reads completed by the block device.", func(d *proc.DiskStat) uint64 { return d.ReadIOs }, false},
	{"edgestat_disk_writes_completed_total", "Writes completed by the block device.", func(d *proc.DiskStat) uint64 { return d.WriteIOs }, false},
	{"edgestat_disk_io_time_seconds_total", "Time the block device was busy with I/O.", func(d *proc.DiskStat) uint64 { return d.IOTicks }, true},
}

// skipDisk leaves out the devices that are not storage: RAM disks, loop
// devices (every snap is one) and floppies, as node_exporter does.
func skipDisk(name string) bool {
	for _, p := range [...]string{"ram", "loop", "fd"} {
		if rest, ok := strings.CutPrefix(name, p); ok && rest != "" && rest[0] >= '0' && rest[0] <= '9' {
			return true
		}
	}
	return false
}

func (c *diskstatsCollector) Collect(_ context.Context, w *Writer) error {
	if err := read(c.src, &c.buf, "/proc/diskstats"); err != nil {
		return err
	}
	if err := proc.ParseDiskstats(c.buf, &c.stats); err != nil {
		return err
	}
	c.disks = c.disks[:0]
	for i := range c.stats.Disks {
		if d := &c.stats.Disks[i]; !skipDisk(d.Name) && len(c.disks) < maxDisks {
			c.disks = append(c.disks, d)
		}
	}
	for _, f := range diskFamilies {
		w.Family(f.name, f.help, Counter)
		for _, d := range c.disks {
			w.Sample("")
			w.Label("device", d.Name)
			if f.perMilli {
				w.Float(float64(f.get(d)) / 1000)
			} else {
				w.Uint(f.get(d))
			}
		}
	}
	clear(c.disks) // no pointers into the parse buffer kept between scrapes
	return nil
}

// --- /proc/mounts and statfs ---

type filesystemCollector struct {
	src    proc.Source
	buf    []byte
	mounts proc.Mounts
	block  []proc.Mount
	st     []proc.Statfs
}

func (c *filesystemCollector) Collect(ctx context.Context, w *Writer) error {
	if err := read(c.src, &c.buf, "/proc/mounts"); err != nil {
		return err
	}
	if err := proc.ParseMounts(c.buf, &c.mounts); err != nil {
		return err
	}
	// Block devices only, the first mount of each: pseudo and network file
	// systems are left out (statfs on a dead NFS server blocks), bind
	// mounts would count the same space twice.
	c.block = c.mounts.BlockMounts(c.block[:0])
	n := 0
	c.st = c.st[:0]
	for _, m := range c.block {
		if n == maxMounts {
			break
		}
		if err := ctx.Err(); err != nil { // statfs can be slow on a sick disk
			return fmt.Errorf("metrics: statfs: %w", err)
		}
		st, err := c.src.Statfs(m.MountPoint)
		if err != nil || st.Blocks == 0 {
			continue // unmounted since, no permission, or no size at all
		}
		c.block[n] = m
		c.st = append(c.st, st)
		n++
	}
	c.block = c.block[:n]
	fams := [...]struct {
		name, help string
		get        func(proc.Statfs) uint64
	}{
		{"edgestat_filesystem_size_bytes", "Size of the file system (statfs of each mounted block device).", proc.Statfs.TotalBytes},
		{"edgestat_filesystem_free_bytes", "Free space, the blocks reserved for root included.", func(s proc.Statfs) uint64 { return s.BlocksFree * s.BlockSize }},
		{"edgestat_filesystem_avail_bytes", "Space an unprivileged user can still fill (df's Avail).", proc.Statfs.AvailBytes},
	}
	for _, f := range fams {
		w.Family(f.name, f.help, Gauge)
		for i := range c.block {
			m := &c.block[i]
			w.Sample("")
			w.Label("device", m.Device)
			w.Label("mountpoint", m.MountPoint)
			w.Label("fstype", m.FSType)
			w.Uint(f.get(c.st[i]))
		}
	}
	return nil
}

// --- /sys/class/thermal ---

type thermalCollector struct {
	src   proc.Source
	buf   []byte
	zones []proc.ThermalZone
}

func (c *thermalCollector) Collect(_ context.Context, w *Writer) error {
	zones, buf, err := proc.ReadThermalZones(c.src, c.buf, c.zones)
	c.zones, c.buf = zones, buf
	if err != nil {
		return fmt.Errorf("metrics: thermal zones: %w", err)
	}
	w.Family("edgestat_temperature_celsius", "Temperature of each thermal zone (/sys/class/thermal).", Gauge)
	for i := range zones[:min(len(zones), maxZones)] {
		w.Value(zones[i].Celsius(), "zone", zones[i].Name, "type", zones[i].Type)
	}
	return nil
}
