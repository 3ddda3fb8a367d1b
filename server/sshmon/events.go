package sshmon

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"edgestat/proc"
)

// The events a Collector builds, in the order Collect returns them. Each is
// sent as {"event": name, "message": {"ssh_key": "user@host:port", name: ...}}.
const (
	EventCPUInfo = "cpu_info"
	EventCPUPerf = "cpu_perf"
	EventMemory  = "memory"
	EventUptime  = "uptime"
	EventLoadavg = "loadavg"
	EventNetDev  = "net_dev"
	EventNetStat = "net_stat"
	EventTemp    = "temp"
	EventDisk    = "disk"
	EventProcess = "process"
)

// An Event is one notification: Name is the event ("cpu_info") and Message
// one of the *...Message types below, whose JSON is an object with
// "ssh_key" first and then the event's own key.
type Event struct {
	Name    string `json:"event"`
	Message any    `json:"message"`
}

// userHZ is the unit of the tick counters of /proc: 100 per second on every
// Linux architecture edgestat meets.
const userHZ = 100

// TopProcesses is how many processes the process event lists.
const TopProcesses = 10

// CPUInfoMessage is the message of cpu_info, in the exact shape of the
// Argusyes seed: physical id -> cpu_core_info -> core id ->
// cpu_processor_info -> processor. Object keys are the ids as strings.
//
// The tree comes from /proc/cpuinfo of any architecture:
//   - physical id: x86 "physical id", MIPS "package", else 0 (ARM prints
//     none: every processor is in socket 0);
//   - core id: x86 "core id", MIPS "core" (the two VPEs of an MT7621 core
//     share it), else the processor number (one core per processor);
//   - the socket's fields come from its lowest-numbered processor.
//
// Fields a layout does not print are 0, "" or false, except:
//   - model_name: "model name", old ARM "Processor" or MIPS "cpu model";
//     when the kernel prints none (arm64) the core's name from "CPU
//     implementer" and "CPU part" ("Cortex-A72"), else the board's "Model"
//     or "Hardware" line;
//   - ARM: vendor_id is the implementer's name ("ARM", "Qualcomm", or the
//     code as printed), cpu_family the "CPU architecture" ("7", "8"), model
//     the "CPU part" ("0xd08"), stepping "r<variant>p<revision>" ("r0p3"),
//     as lscpu shows them; fpu is true when "Features" lists fp or vfp*;
//   - siblings and cpu_cores, when not printed (ARM, MIPS), count the
//     socket's processors and cores.
type CPUInfoMessage struct {
	SSHKey  string             `json:"ssh_key"`
	CPUInfo map[int]*CPUSocket `json:"cpu_info"` // by physical id
}

// CPUSocket is one physical package of cpu_info.
type CPUSocket struct {
	CPUCoreInfo    map[int]*CPUCore `json:"cpu_core_info"` // by core id
	VendorID       string           `json:"vendor_id"`     // "GenuineIntel", "AuthenticAMD", "ARM"
	CPUFamily      string           `json:"cpu_family"`    // as printed: "6"
	Model          string           `json:"model"`         // as printed: "60", "0xd08"
	ModelName      string           `json:"model_name"`
	Stepping       string           `json:"stepping"`   // as printed: "3", "r0p3"
	CacheSize      string           `json:"cache_size"` // as printed: "8192 KB"
	PhysicalID     int              `json:"physical_id"`
	Siblings       int              `json:"siblings"`        // logical processors in the socket
	CPUCores       int              `json:"cpu_cores"`       // cores in the socket
	FPU            bool             `json:"fpu"`             // has a floating-point unit
	FPUException   bool             `json:"fpu_exception"`   // x86 only
	BogoMIPS       float64          `json:"bogomips"`        // the kernel's calibration, not a speed
	CLFlushSize    int              `json:"cl_flush_size"`   // bytes, x86 only
	CacheAlignment int              `json:"cache_alignment"` // bytes, x86 only
	AddressSizes   string           `json:"address_sizes"`   // x86 only: "39 bits physical, 48 bits virtual"
}

// CPUCore is one core of cpu_info.
type CPUCore struct {
	CPUProcessorInfo map[int]CPUProcessor `json:"cpu_processor_info"` // by processor
	CoreID           int                  `json:"core_id"`
}

// CPUProcessor is one logical processor of cpu_info.
type CPUProcessor struct {
	Processor int     `json:"processor"`
	CPUMHz    float64 `json:"CPUMHz"` // current clock in MHz ("cpu MHz"); 0 where not printed (ARM)
	APICID    int     `json:"apicid"` // x86 only; 0 elsewhere
}

// CPUPerfMessage is the message of cpu_perf: how the CPUs spent the time
// since the previous snapshot (none is sent for the first snapshot).
type CPUPerfMessage struct {
	SSHKey  string  `json:"ssh_key"`
	CPUPerf CPUPerf `json:"cpu_perf"`
}

// CPUPerf is the whole machine ("total", the "cpu" line of /proc/stat) and
// each logical processor ("processors", by N of its "cpuN" line, the
// processor number of cpu_info).
type CPUPerf struct {
	Total      CPUUsage         `json:"total"`
	Processors map[int]CPUUsage `json:"processors"`
}

// CPUUsage is in percent of the interval (0 to 100): user + system +
// iowait + steal + idle = 100, and utilization = 100 - idle (iowait counts
// as busy).
type CPUUsage struct {
	Processor   int     `json:"processor"` // -1 for the total
	Utilization float64 `json:"utilization"`
	User        float64 `json:"user"`   // user and nice (guest time included)
	System      float64 `json:"system"` // system, irq and softirq
	Iowait      float64 `json:"iowait"`
	Steal       float64 `json:"steal"` // taken by the hypervisor
	Idle        float64 `json:"idle"`
}

// MemoryMessage is the message of memory, from /proc/meminfo.
type MemoryMessage struct {
	SSHKey string `json:"ssh_key"`
	Memory Memory `json:"memory"`
}

// Memory is in bytes.
type Memory struct {
	Total uint64 `json:"total"`
	Free  uint64 `json:"free"` // unused
	// Available can be used without swapping (MemAvailable); kernels before
	// 3.14 do not print it, and then it is free + buffers + cached.
	Available uint64 `json:"available"`
	Buffers   uint64 `json:"buffers"`
	Cached    uint64 `json:"cached"`
	SwapTotal uint64 `json:"swap_total"`
	SwapFree  uint64 `json:"swap_free"`
	Used      uint64 `json:"used"` // total - available
}

// UptimeMessage is the message of uptime, from /proc/uptime.
type UptimeMessage struct {
	SSHKey string `json:"ssh_key"`
	Uptime Uptime `json:"uptime"`
}

// Uptime is in seconds.
type Uptime struct {
	Seconds     float64 `json:"seconds"`      // since boot
	IdleSeconds float64 `json:"idle_seconds"` // idle time summed over the CPUs: can exceed seconds
}

// LoadavgMessage is the message of loadavg, from /proc/loadavg.
type LoadavgMessage struct {
	SSHKey  string  `json:"ssh_key"`
	Loadavg Loadavg `json:"loadavg"`
}

// Loadavg is the load average: runnable and uninterruptible tasks averaged
// over 1, 5 and 15 minutes.
type Loadavg struct {
	Load1   float64 `json:"load1"`
	Load5   float64 `json:"load5"`
	Load15  float64 `json:"load15"`
	Running uint64  `json:"running"` // runnable threads now
	Total   uint64  `json:"total"`   // threads (processes and their threads) that exist now
}

// NetDevMessage is the message of net_dev: every interface of
// /proc/net/dev, by name.
type NetDevMessage struct {
	SSHKey string              `json:"ssh_key"`
	NetDev map[string]NetIface `json:"net_dev"`
}

// NetIface is one interface. Totals are counts since the interface was
// created (32-bit kernels wrap them at 4 GiB); rates are bytes per second
// since the previous snapshot, 0 on the first snapshot, for an interface
// that is new, and when a counter went backwards.
type NetIface struct {
	RxBytes       uint64  `json:"rx_bytes"`
	RxPackets     uint64  `json:"rx_packets"`
	RxErrors      uint64  `json:"rx_errors"`
	RxDrops       uint64  `json:"rx_drops"`
	TxBytes       uint64  `json:"tx_bytes"`
	TxPackets     uint64  `json:"tx_packets"`
	TxErrors      uint64  `json:"tx_errors"`
	TxDrops       uint64  `json:"tx_drops"`
	RxBytesPerSec float64 `json:"rx_bytes_per_sec"`
	TxBytesPerSec float64 `json:"tx_bytes_per_sec"`
}

// NetStatMessage is the message of net_stat, from /proc/net/snmp.
type NetStatMessage struct {
	SSHKey  string  `json:"ssh_key"`
	NetStat NetStat `json:"net_stat"`
}

// NetStat holds TCP and UDP counters since boot (curr_estab is a count
// now). A counter the kernel does not print is 0.
type NetStat struct {
	TCP TCPStat `json:"tcp"`
	UDP UDPStat `json:"udp"`
}

// TCPStat is the Tcp lines of /proc/net/snmp.
type TCPStat struct {
	ActiveOpens  int64 `json:"active_opens"`  // connections opened from here
	PassiveOpens int64 `json:"passive_opens"` // connections accepted
	CurrEstab    int64 `json:"curr_estab"`    // connections ESTABLISHED or CLOSE-WAIT now
	InSegs       int64 `json:"in_segs"`       // segments received
	OutSegs      int64 `json:"out_segs"`      // segments sent, retransmissions excluded
	RetransSegs  int64 `json:"retrans_segs"`  // segments retransmitted
	InErrs       int64 `json:"in_errs"`       // segments received in error
}

// UDPStat is the Udp lines of /proc/net/snmp.
type UDPStat struct {
	InDatagrams  int64 `json:"in_datagrams"`
	OutDatagrams int64 `json:"out_datagrams"`
	InErrors     int64 `json:"in_errors"` // datagrams dropped (bad checksum, full buffer)
	NoPorts      int64 `json:"no_ports"`  // datagrams to a port nobody listens on
}

// TempMessage is the message of temp: every thermal zone of
// /sys/class/thermal whose temperature could be read, by zone name
// ("thermal_zone0"); an empty object on a box without sensors (most VMs).
type TempMessage struct {
	SSHKey string          `json:"ssh_key"`
	Temp   map[string]Temp `json:"temp"`
}

// Temp is one thermal zone.
type Temp struct {
	Type    string  `json:"type"`    // what it measures: "x86_pkg_temp", "cpu-thermal", "acpitz"
	Celsius float64 `json:"celsius"` // degrees Celsius, may be negative
}

// DiskMessage is the message of disk.
type DiskMessage struct {
	SSHKey string `json:"ssh_key"`
	Disk   Disk   `json:"disk"`
}

// Disk is the space of the file systems and the I/O of the block devices.
type Disk struct {
	// FileSystems are the mounted file systems stored on a block device or
	// flash, in /proc/mounts order, the first mount of each device only
	// (pseudo, network, squashfs and overlay file systems are left out),
	// with the space df reports.
	FileSystems []FileSystem `json:"file_systems"`
	// Devices are the block devices of /proc/diskstats by name ("sda",
	// "sda1", "mmcblk0p2": partitions too, so do not add them up), ram and
	// loop devices left out.
	Devices map[string]DiskIO `json:"devices"`
}

// FileSystem is the space of one mounted file system, in bytes.
type FileSystem struct {
	Device     string `json:"device"` // "/dev/sda1", "/dev/root", "ubi0:rootfs_data"
	MountPoint string `json:"mount_point"`
	FSType     string `json:"fs_type"` // "ext4", "vfat", "ubifs"
	Total      uint64 `json:"total"`
	Used       uint64 `json:"used"`
	// Free is what an unprivileged user can still write (df's Available):
	// used + free can be less than total, the rest being reserved for root.
	Free uint64 `json:"free"`
}

// DiskIO is the I/O of one block device since the previous snapshot, 0 on
// the first snapshot and for a device that is new.
type DiskIO struct {
	ReadBytesPerSec  float64 `json:"read_bytes_per_sec"`
	WriteBytesPerSec float64 `json:"write_bytes_per_sec"`
	ReadIOPS         float64 `json:"read_iops"`  // reads completed per second
	WriteIOPS        float64 `json:"write_iops"` // writes completed per second
}

// ProcessMessage is the message of process: the TopProcesses processes
// that used the most CPU since the previous snapshot (none is sent for the
// first snapshot), busiest first, ties by rss then pid.
type ProcessMessage struct {
	SSHKey  string    `json:"ssh_key"`
	Process []Process `json:"process"`
}

// Process is one process of /proc/[pid]/stat.
type Process struct {
	PID   int    `json:"pid"`
	Name  string `json:"name"`  // the command name (comm), at most 15 bytes
	State string `json:"state"` // one letter: R running, S sleeping, D disk wait, Z zombie, T stopped, I idle
	// CPU is the share of one CPU the process used since the previous
	// snapshot, in percent, as top shows it: a process that keeps two CPUs
	// busy shows 200. The interval is measured by the host's own /proc/stat
	// ticks, so the SSH round trip does not skew it.
	CPU     float64 `json:"cpu"`
	RSS     uint64  `json:"rss"`     // resident memory in bytes
	Threads int64   `json:"threads"` // threads of the process
}

// A Collector turns the successive snapshots of one host into events. It
// keeps the previous counters that rates and shares need, so use one per
// monitored host and make a new one when the host rebooted or the
// connection was lost. It is not safe for concurrent use.
type Collector struct {
	// PageSize turns the rss of /proc/[pid]/stat, in pages, into bytes.
	// NewCollector sets 4096, the page size of x86, 32-bit ARM and MIPS,
	// and of Raspberry Pi OS and most arm64 distributions; set it (from
	// `getconf PAGESIZE` on the host) for a 16 or 64 KiB-page kernel.
	PageSize uint64

	key string

	stat      proc.Stat
	cpu       proc.CPUSampler
	cpuPrimed bool
	usage     []proc.CPUUsage
	mem       proc.Meminfo
	up        proc.Uptime
	load      proc.Loadavg
	netDev    proc.NetDev
	net       proc.NetSampler
	netRates  []proc.NetRate
	snmp      proc.SNMP
	disks     proc.Diskstats
	disk      proc.DiskSampler
	diskRates []proc.DiskRate
	mounts    proc.Mounts
	block     []proc.Mount
	zones     []proc.ThermalZone
	buf       []byte
	info      proc.CPUInfo
	pidStat   proc.PIDStat
	procs     procState
}

// NewCollector returns a Collector for the host sshKey ("user@host:port"),
// which every message carries as its "ssh_key".
func NewCollector(sshKey string) *Collector {
	return &Collector{key: sshKey, PageSize: 4096}
}

// Collect builds the events of one snapshot taken at now (the time the
// output arrived; it measures the interval of net_dev and disk rates).
//
// Each event stands alone: a file that is missing from the snapshot or
// that does not parse fails only the events that read it. Collect returns
// every event it could build, in the order of the Event constants, and the
// errors of the others joined (errors.Join; each one starts with the
// event's name), or nil. cpu_info comes only when the snapshot holds
// /proc/cpuinfo (Script(true)); cpu_perf and process come from the second
// snapshot on.
func (c *Collector) Collect(s *Snapshot, now time.Time) ([]Event, error) {
	events := make([]Event, 0, 10)
	var errs []error
	fail := func(event string, err error) {
		errs = append(errs, fmt.Errorf("%s: %w", event, err))
	}

	if data, ok := s.find("/proc/cpuinfo"); ok {
		if err := proc.ParseCPUInfo(data, &c.info); err != nil {
			fail(EventCPUInfo, err)
		} else {
			events = append(events, Event{EventCPUInfo, &CPUInfoMessage{c.key, cpuInfo(&c.info)}})
		}
	}

	statErr := parse(s, "/proc/stat", &c.stat, proc.ParseStat)
	if statErr != nil {
		fail(EventCPUPerf, statErr)
	} else if m := c.cpuPerf(); m != nil {
		events = append(events, Event{EventCPUPerf, m})
	}

	if err := parse(s, "/proc/meminfo", &c.mem, proc.ParseMeminfo); err != nil {
		fail(EventMemory, err)
	} else {
		events = append(events, Event{EventMemory, &MemoryMessage{c.key, memory(&c.mem)}})
	}

	upErr := parse(s, "/proc/uptime", &c.up, proc.ParseUptime)
	if upErr != nil {
		fail(EventUptime, upErr)
	} else {
		events = append(events, Event{EventUptime, &UptimeMessage{c.key, Uptime{c.up.Seconds, c.up.Idle}}})
	}

	if err := parse(s, "/proc/loadavg", &c.load, proc.ParseLoadavg); err != nil {
		fail(EventLoadavg, err)
	} else {
		l := &c.load
		events = append(events, Event{EventLoadavg, &LoadavgMessage{c.key, Loadavg{l.Load1, l.Load5, l.Load15, l.Running, l.Total}}})
	}

	if err := parse(s, "/proc/net/dev", &c.netDev, proc.ParseNetDev); err != nil {
		fail(EventNetDev, err)
	} else {
		events = append(events, Event{EventNetDev, c.netDevMessage(now)})
	}

	if err := parse(s, "/proc/net/snmp", &c.snmp, proc.ParseNetSNMP); err != nil {
		fail(EventNetStat, err)
	} else {
		events = append(events, Event{EventNetStat, c.netStatMessage()})
	}

	if m, err := c.tempMessage(s); err != nil {
		fail(EventTemp, err)
	} else {
		events = append(events, Event{EventTemp, m})
	}

	if m, err := c.diskMessage(s, now); m != nil {
		events = append(events, Event{EventDisk, m})
		if err != nil {
			fail(EventDisk, err)
		}
	} else if err != nil {
		fail(EventDisk, err)
	}

	if m := c.processMessage(s, statErr == nil, upErr == nil, now); m != nil {
		events = append(events, Event{EventProcess, m})
	}
	return events, errors.Join(errs...)
}

// parse runs a parser of package proc over the file name of s.
func parse[T any](s *Snapshot, name string, dst *T, parser func([]byte, *T) error) error {
	data, ok := s.find(name)
	if !ok {
		return notExist("open", name)
	}
	return parser(data, dst)
}

// percent turns the fractions of proc.CPUUsage into percentages.
func percent(u proc.CPUUsage) CPUUsage {
	return CPUUsage{Processor: u.ID, Utilization: 100 * u.Usage, User: 100 * u.User,
		System: 100 * u.System, Iowait: 100 * u.Iowait, Steal: 100 * u.Steal, Idle: 100 * u.Idle}
}

// cpuPerf samples c.stat; nil for the first sample, which has no interval.
func (c *Collector) cpuPerf() *CPUPerfMessage {
	total, per := c.cpu.Sample(&c.stat, c.usage[:0])
	c.usage = per
	if !c.cpuPrimed {
		c.cpuPrimed = true
		return nil
	}
	m := &CPUPerfMessage{SSHKey: c.key, CPUPerf: CPUPerf{Total: percent(total), Processors: make(map[int]CPUUsage, len(per))}}
	for _, u := range per {
		m.CPUPerf.Processors[u.ID] = percent(u)
	}
	return m
}

func memory(m *proc.Meminfo) Memory {
	avail := m.MemAvailable
	if !m.HasMemAvailable {
		avail = min(m.MemFree+m.Buffers+m.Cached, m.MemTotal)
	}
	const kiB = 1024
	out := Memory{
		Total: m.MemTotal * kiB, Free: m.MemFree * kiB, Available: avail * kiB,
		Buffers: m.Buffers * kiB, Cached: m.Cached * kiB,
		SwapTotal: m.SwapTotal * kiB, SwapFree: m.SwapFree * kiB,
	}
	if out.Available <= out.Total {
		out.Used = out.Total - out.Available
	}
	return out
}

func (c *Collector) netDevMessage(now time.Time) *NetDevMessage {
	c.netRates = c.net.Sample(&c.netDev, now, c.netRates[:0])
	m := &NetDevMessage{SSHKey: c.key, NetDev: make(map[string]NetIface, len(c.netDev.Ifaces))}
	for i, l := range c.netDev.Ifaces {
		r := c.netRates[i] // Sample appends one rate per interface, in order
		m.NetDev[l.Name] = NetIface{
			RxBytes: l.RxBytes, RxPackets: l.RxPackets, RxErrors: l.RxErrs, RxDrops: l.RxDrop,
			TxBytes: l.TxBytes, TxPackets: l.TxPackets, TxErrors: l.TxErrs, TxDrops: l.TxDrop,
			RxBytesPerSec: r.RxBytes, TxBytesPerSec: r.TxBytes,
		}
	}
	return m
}

func (c *Collector) netStatMessage() *NetStatMessage {
	get := func(proto, name string) int64 {
		v, _ := c.snmp.Get(proto, name)
		return v
	}
	return &NetStatMessage{SSHKey: c.key, NetStat: NetStat{
		TCP: TCPStat{
			ActiveOpens: get("Tcp", "ActiveOpens"), PassiveOpens: get("Tcp", "PassiveOpens"),
			CurrEstab: get("Tcp", "CurrEstab"), InSegs: get("Tcp", "InSegs"), OutSegs: get("Tcp", "OutSegs"),
			RetransSegs: get("Tcp", "RetransSegs"), InErrs: get("Tcp", "InErrs"),
		},
		UDP: UDPStat{
			InDatagrams: get("Udp", "InDatagrams"), OutDatagrams: get("Udp", "OutDatagrams"),
			InErrors: get("Udp", "InErrors"), NoPorts: get("Udp", "NoPorts"),
		},
	}}
}

func (c *Collector) tempMessage(s *Snapshot) (*TempMessage, error) {
	var err error
	c.zones, c.buf, err = proc.ReadThermalZones(s, c.buf, c.zones)
	if err != nil {
		return nil, err
	}
	m := &TempMessage{SSHKey: c.key, Temp: make(map[string]Temp, len(c.zones))}
	for _, z := range c.zones {
		m.Temp[z.Name] = Temp{Type: z.Type, Celsius: z.Celsius()}
	}
	return m, nil
}

// diskMessage builds the disk event. Its two halves stand alone: when one
// file fails, the event still carries the other half (the failed one
// empty) with the error; only when both fail is there no event.
func (c *Collector) diskMessage(s *Snapshot, now time.Time) (*DiskMessage, error) {
	m := &DiskMessage{SSHKey: c.key, Disk: Disk{FileSystems: []FileSystem{}, Devices: map[string]DiskIO{}}}
	fsErr := parse(s, "/proc/mounts", &c.mounts, proc.ParseMounts)
	if fsErr == nil {
		c.block = c.mounts.BlockMounts(c.block[:0])
		for _, mt := range c.block {
			st, err := s.Statfs(mt.MountPoint)
			if err != nil {
				continue // df did not list it (no permission, or gone)
			}
			m.Disk.FileSystems = append(m.Disk.FileSystems, FileSystem{
				Device: mt.Device, MountPoint: mt.MountPoint, FSType: mt.FSType,
				Total: st.TotalBytes(), Used: st.UsedBytes(), Free: st.AvailBytes(),
			})
		}
	}
	ioErr := parse(s, "/proc/diskstats", &c.disks, proc.ParseDiskstats)
	if ioErr == nil {
		c.diskRates = c.disk.Sample(&c.disks, now, c.diskRates[:0])
		for _, r := range c.diskRates {
			if strings.HasPrefix(r.Name, "ram") || strings.HasPrefix(r.Name, "loop") {
				continue
			}
			m.Disk.Devices[r.Name] = DiskIO{
				ReadBytesPerSec: r.ReadBytes, WriteBytesPerSec: r.WriteBytes,
				ReadIOPS: r.ReadOps, WriteIOPS: r.WriteOps,
			}
		}
	}
	err := errors.Join(fsErr, ioErr)
	if fsErr != nil && ioErr != nil {
		return nil, err
	}
	return m, err
}

// procTimes is what the process event keeps of a process between snapshots.
type procTimes struct {
	start uint64 // start time, ticks after boot: tells a reused pid
	ticks uint64 // utime + stime
}

type procState struct {
	prev, cur map[int]procTimes
	primed    bool
	// Of the previous snapshot: the "cpu" line's total ticks and the
	// number of CPUs (when /proc/stat was good), the uptime in ticks (when
	// /proc/uptime was good), and the time.
	prevTotal    uint64
	prevCPUs     int
	prevUptime   uint64
	prevUptimeOK bool
	prevTime     time.Time
	cands        []procCand
}

type procCand struct {
	pid     int
	ticks   uint64 // CPU ticks in the interval
	rss     int64  // pages
	threads int64
	state   byte
	data    []byte // the stat file, for the name of the few that are listed
}

// processMessage reads every /proc/[pid]/stat of s. A stat that does not
// parse (a process that exited while being read) is skipped.
func (c *Collector) processMessage(s *Snapshot, statOK, upOK bool, now time.Time) *ProcessMessage {
	p := &c.procs
	if p.cur == nil {
		p.prev, p.cur = make(map[int]procTimes), make(map[int]procTimes)
	}
	clear(p.cur)
	p.cands = p.cands[:0]
	for i := range s.files {
		f := &s.files[i]
		if !isPIDStat(f.name) {
			continue
		}
		if proc.ParsePIDStat(f.data, &c.pidStat) != nil {
			continue
		}
		st := &c.pidStat
		t := procTimes{start: st.StartTime, ticks: st.UTime + st.STime}
		p.cur[st.PID] = t
		var d uint64
		if old, ok := p.prev[st.PID]; ok && old.start == t.start {
			if t.ticks >= old.ticks {
				d = t.ticks - old.ticks
			}
		} else if p.prevUptimeOK && t.start >= p.prevUptime {
			d = t.ticks // started since the previous snapshot
		}
		p.cands = append(p.cands, procCand{pid: st.PID, ticks: d, rss: st.RSS, threads: st.NumThreads, state: st.State, data: f.data})
	}

	// The interval, in ticks of one CPU.
	var elapsed float64
	ncpu := len(c.stat.CPUs)
	total := c.stat.Total.Total()
	if statOK && p.prevCPUs > 0 && ncpu > 0 && total > p.prevTotal {
		elapsed = float64(total-p.prevTotal) / float64(ncpu)
	} else if !p.prevTime.IsZero() {
		elapsed = now.Sub(p.prevTime).Seconds() * userHZ
	}
	primed := p.primed

	p.prev, p.cur = p.cur, p.prev
	p.primed, p.prevTime = true, now
	p.prevTotal, p.prevCPUs = 0, 0
	if statOK {
		p.prevTotal, p.prevCPUs = total, ncpu
	}
	p.prevUptimeOK = upOK
	if upOK {
		p.prevUptime = uint64(c.up.Seconds * userHZ)
	}
	if !primed {
		clear(p.cands)
		p.cands = p.cands[:0]
		return nil
	}

	slices.SortFunc(p.cands, func(a, b procCand) int {
		if r := cmp.Compare(b.ticks, a.ticks); r != 0 {
			return r
		}
		if r := cmp.Compare(b.rss, a.rss); r != 0 {
			return r
		}
		return cmp.Compare(a.pid, b.pid)
	})
	n := min(len(p.cands), TopProcesses)
	m := &ProcessMessage{SSHKey: c.key, Process: make([]Process, n)}
	for i, cd := range p.cands[:n] {
		pr := Process{PID: cd.pid, Name: comm(cd.data), State: string(rune(cd.state)), Threads: cd.threads}
		if elapsed > 0 {
			pr.CPU = float64(cd.ticks) / elapsed * 100
		}
		if cd.rss > 0 {
			pr.RSS = uint64(cd.rss) * c.PageSize
		}
		m.Process[i] = pr
	}
	clear(p.cands) // do not keep this snapshot's bytes alive until the next one
	p.cands = p.cands[:0]
	return m
}

// isPIDStat reports a "/proc/<digits>/stat" name.
func isPIDStat(name string) bool {
	rest, ok := strings.CutPrefix(name, "/proc/")
	if !ok {
		return false
	}
	pid, ok := strings.CutSuffix(rest, "/stat")
	if !ok || pid == "" {
		return false
	}
	for i := 0; i < len(pid); i++ {
		if pid[i] < '0' || pid[i] > '9' {
			return false
		}
	}
	return true
}

// comm returns the command name of a stat that ParsePIDStat accepted: what
// lies between the first '(' and the last ')'.
func comm(data []byte) string {
	i, j := bytes.IndexByte(data, '('), bytes.LastIndexByte(data, ')')
	if i < 0 || j < i {
		return ""
	}
	return string(data[i+1 : j])
}

// cpuInfo builds the cpu_info tree (see CPUInfoMessage for the mapping).
func cpuInfo(ci *proc.CPUInfo) map[int]*CPUSocket {
	ps := make([]*proc.Processor, len(ci.Processors))
	for i := range ci.Processors {
		ps[i] = &ci.Processors[i]
	}
	slices.SortStableFunc(ps, func(a, b *proc.Processor) int { return cmp.Compare(a.Processor, b.Processor) })

	sockets := make(map[int]*CPUSocket)
	procs := make(map[int]int) // processors per socket
	for _, p := range ps {
		sock := sockets[p.PhysicalID]
		if sock == nil {
			sock = newSocket(p, ci)
			sockets[p.PhysicalID] = sock
		}
		core := sock.CPUCoreInfo[p.CoreID]
		if core == nil {
			core = &CPUCore{CPUProcessorInfo: make(map[int]CPUProcessor), CoreID: p.CoreID}
			sock.CPUCoreInfo[p.CoreID] = core
		}
		core.CPUProcessorInfo[p.Processor] = CPUProcessor{Processor: p.Processor, CPUMHz: p.MHz, APICID: p.APICID}
		procs[p.PhysicalID]++
	}
	for id, sock := range sockets {
		if sock.Siblings == 0 {
			sock.Siblings = procs[id]
		}
		if sock.CPUCores == 0 {
			sock.CPUCores = len(sock.CPUCoreInfo)
		}
	}
	return sockets
}

// newSocket fills the fields of a socket from its first processor p.
func newSocket(p *proc.Processor, ci *proc.CPUInfo) *CPUSocket {
	s := &CPUSocket{
		CPUCoreInfo: make(map[int]*CPUCore),
		VendorID:    p.VendorID, CPUFamily: p.CPUFamily, Model: p.Model, ModelName: p.ModelName,
		Stepping: p.Stepping, CacheSize: p.CacheSize, PhysicalID: p.PhysicalID,
		Siblings: p.Siblings, CPUCores: p.CPUCores, FPU: p.FPU, FPUException: p.FPUExcept,
		BogoMIPS: p.BogoMIPS, CLFlushSize: p.CLFlushSize, CacheAlignment: p.CacheAlignment,
		AddressSizes: p.AddressSizes,
	}
	if p.VendorID == "" && p.CPUImplementer != "" { // ARM
		s.VendorID = armImplementers[p.CPUImplementer]
		if s.VendorID == "" {
			s.VendorID = p.CPUImplementer
		}
		s.CPUFamily, s.Model = p.CPUArchitecture, p.CPUPart
		v, err1 := strconv.ParseUint(strings.TrimPrefix(p.CPUVariant, "0x"), 16, 32)
		r, err2 := strconv.ParseUint(p.CPURevision, 10, 32)
		if err1 == nil && err2 == nil {
			s.Stepping = "r" + strconv.FormatUint(v, 10) + "p" + strconv.FormatUint(r, 10)
		}
		for _, f := range p.Flags {
			if f == "fp" || strings.HasPrefix(f, "vfp") {
				s.FPU = true
				break
			}
		}
		if s.ModelName == "" && p.CPUImplementer == "0x41" {
			s.ModelName = armCores[p.CPUPart]
		}
	}
	if s.ModelName == "" {
		s.ModelName = cmp.Or(ci.Model, ci.Hardware)
	}
	return s
}

// armImplementers names the "CPU implementer" codes, as lscpu does.
var armImplementers = map[string]string{
	"0x41": "ARM", "0x42": "Broadcom", "0x43": "Cavium", "0x48": "HiSilicon",
	"0x4e": "NVIDIA", "0x50": "APM", "0x51": "Qualcomm", "0x53": "Samsung",
	"0x56": "Marvell", "0x61": "Apple", "0x66": "Faraday", "0x69": "Intel",
	"0x6d": "Microsoft", "0x70": "Phytium", "0xc0": "Ampere",
}

// armCores names the "CPU part" of ARM's own cores (implementer 0x41): the
// cores of Raspberry Pis, routers and common arm64 boards.
var armCores = map[string]string{
	"0xb02": "ARM11 MPCore", "0xb36": "ARM1136", "0xb56": "ARM1156", "0xb76": "ARM1176",
	"0xc05": "Cortex-A5", "0xc07": "Cortex-A7", "0xc08": "Cortex-A8", "0xc09": "Cortex-A9",
	"0xc0d": "Cortex-A17", "0xc0e": "Cortex-A17", "0xc0f": "Cortex-A15",
	"0xd03": "Cortex-A53", "0xd04": "Cortex-A35", "0xd05": "Cortex-A55", "0xd07": "Cortex-A57",
	"0xd08": "Cortex-A72", "0xd09": "Cortex-A73", "0xd0a": "Cortex-A75", "0xd0b": "Cortex-A76",
	"0xd0c": "Neoverse-N1", "0xd0d": "Cortex-A77", "0xd40": "Neoverse-V1", "0xd41": "Cortex-A78",
	"0xd44": "Cortex-X1", "0xd46": "Cortex-A510", "0xd47": "Cortex-A710", "0xd49": "Neoverse-N2",
	"0xd4b": "Cortex-A78C", "0xd80": "Cortex-A520", "0xd81": "Cortex-A720",
}
