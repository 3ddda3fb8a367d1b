package rtstat

import (
	"context"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"edgestat/proc"
)

// The host plugins report the machine read through a proc.Source: the local
// /proc in production, a fixture tree in tests. Each plugin instance keeps
// its own read buffer, parse destination and previous counters, so a tick
// reads every file once per interval group and, in steady state, allocates
// almost nothing. JSON is appended by hand: reflection on the hot path would
// cost more than the reads.

// HostPlugins returns fresh instances of the host plugins, in the order of
// Rt-Stat's monitoring page and then the newer ones: cpu_stat, meminfo,
// processes, uptime, net, disk, temp.
func HostPlugins(src proc.Source) []Plugin {
	return []Plugin{
		&hostCPUStat{src: src},
		&hostMeminfo{src: src},
		&hostProcesses{src: src},
		&hostUptime{src: src},
		&hostNet{src: src},
		&hostDisk{src: src, devNames: map[string]string{}},
		&hostTemp{src: src},
	}
}

// hostCPUStat is cpu_stat: {"cpu0":{"usage":0.12,"user":0.08,"system":0.03,
// "iowait":0.01},...}, shares of the interval since the previous Collect of
// this instance (since boot on the first one), rounded to 2 decimals. usage
// is 1 - idle share, so it counts iowait, as Rt-Stat's original did; user
// includes nice, system includes irq and softirq (see proc.UsageBetween).
type hostCPUStat struct {
	src     proc.Source
	buf     []byte
	stat    proc.Stat
	sampler proc.CPUSampler
	usage   []proc.CPUUsage
}

func (p *hostCPUStat) Name() string { return "cpu_stat" }

func (p *hostCPUStat) Collect(ctx context.Context, dst []byte, now time.Time) ([]byte, error) {
	var err error
	if p.buf, err = proc.AppendFile(p.src, p.buf[:0], "/proc/stat"); err != nil {
		return dst, err
	}
	if err = proc.ParseStat(p.buf, &p.stat); err != nil {
		return dst, err
	}
	total, usage := p.sampler.Sample(&p.stat, p.usage[:0])
	p.usage = usage
	if len(usage) == 0 {
		// A uniprocessor kernel that prints only the "cpu" line: the original
		// plugin then reported that line, under its own name.
		usage = append(usage, total)
	}
	dst = append(dst, '{')
	for i, u := range usage {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `"cpu`...)
		if u.ID >= 0 {
			dst = strconv.AppendInt(dst, int64(u.ID), 10)
		}
		dst = append(dst, `":{"usage":`...)
		dst = hostAppendRound(dst, u.Usage, 2)
		dst = append(dst, `,"user":`...)
		dst = hostAppendRound(dst, u.User, 2)
		dst = append(dst, `,"system":`...)
		dst = hostAppendRound(dst, u.System, 2)
		dst = append(dst, `,"iowait":`...)
		dst = hostAppendRound(dst, u.Iowait, 2)
		dst = append(dst, '}')
	}
	return append(dst, '}'), nil
}

// hostMeminfo is meminfo: {"memory":{"total","used","free","apps","buffers",
// "cached","swapCached"},"swap":{"total","used","free"}} in kB, with
// used = total-free and apps = total-(free+buffers+cached+swapCached), both
// clamped at 0 (the kernel's counters are not one atomic snapshot).
type hostMeminfo struct {
	src proc.Source
	buf []byte
	mem proc.Meminfo
}

func (p *hostMeminfo) Name() string { return "meminfo" }

func (p *hostMeminfo) Collect(ctx context.Context, dst []byte, now time.Time) ([]byte, error) {
	var err error
	if p.buf, err = proc.AppendFile(p.src, p.buf[:0], "/proc/meminfo"); err != nil {
		return dst, err
	}
	m := &p.mem
	if err = proc.ParseMeminfo(p.buf, m); err != nil {
		return dst, err
	}
	dst = append(dst, `{"memory":{"total":`...)
	dst = strconv.AppendUint(dst, m.MemTotal, 10)
	dst = append(dst, `,"used":`...)
	dst = strconv.AppendUint(dst, hostSub(m.MemTotal, m.MemFree), 10)
	dst = append(dst, `,"free":`...)
	dst = strconv.AppendUint(dst, m.MemFree, 10)
	dst = append(dst, `,"apps":`...)
	dst = strconv.AppendUint(dst, hostSub(m.MemTotal, m.MemFree+m.Buffers+m.Cached+m.SwapCached), 10)
	dst = append(dst, `,"buffers":`...)
	dst = strconv.AppendUint(dst, m.Buffers, 10)
	dst = append(dst, `,"cached":`...)
	dst = strconv.AppendUint(dst, m.Cached, 10)
	dst = append(dst, `,"swapCached":`...)
	dst = strconv.AppendUint(dst, m.SwapCached, 10)
	dst = append(dst, `},"swap":{"total":`...)
	dst = strconv.AppendUint(dst, m.SwapTotal, 10)
	dst = append(dst, `,"used":`...)
	dst = strconv.AppendUint(dst, hostSub(m.SwapTotal, m.SwapFree), 10)
	dst = append(dst, `,"free":`...)
	dst = strconv.AppendUint(dst, m.SwapFree, 10)
	return append(dst, "}}"...), nil
}

// hostSub is a - b, or 0 when b > a.
func hostSub(a, b uint64) uint64 {
	if b > a {
		return 0
	}
	return a - b
}

// hostProcesses is processes: {"all","running","sleep","stopped","zombie"}
// over /proc/[0-9]*/stat (see proc.CountProcesses: R running; S, D, I sleep;
// T, t stopped; Z zombie; all = every readable process). The original ran
// `ps` and subtracted ps itself from the running count; edgestat runs no
// process, so nothing is subtracted.
type hostProcesses struct {
	src proc.Source
	buf []byte
	st  proc.PIDStat
}

func (p *hostProcesses) Name() string { return "processes" }

func (p *hostProcesses) Collect(ctx context.Context, dst []byte, now time.Time) ([]byte, error) {
	c, buf, err := proc.CountProcesses(ctx, p.src, p.buf, &p.st, proc.MaxPIDs)
	p.buf = buf
	if err != nil {
		return dst, err
	}
	dst = append(dst, `{"all":`...)
	dst = strconv.AppendInt(dst, int64(c.All), 10)
	dst = append(dst, `,"running":`...)
	dst = strconv.AppendInt(dst, int64(c.Running), 10)
	dst = append(dst, `,"sleep":`...)
	dst = strconv.AppendInt(dst, int64(c.Sleep), 10)
	dst = append(dst, `,"stopped":`...)
	dst = strconv.AppendInt(dst, int64(c.Stopped), 10)
	dst = append(dst, `,"zombie":`...)
	dst = strconv.AppendInt(dst, int64(c.Zombie), 10)
	return append(dst, '}'), nil
}

// hostUptime is uptime: {"time":"10:15:01","uptime":"3 days,  2:03",
// "users":"2","la1":"0.15","la5":"0.10","la15":"0.05"}, the strings exactly
// as the original plugin cut them out of procps `uptime` output (see
// hostAppendUptime). time is the wall clock of now in now's location (the
// hub passes time.Now(), so local time). users counts utmp's logged-in
// users like procps; no utmp, or an unreadable one, is "0" as procps prints.
type hostUptime struct {
	src  proc.Source
	buf  []byte
	up   proc.Uptime
	load proc.Loadavg
}

func (p *hostUptime) Name() string { return "uptime" }

func (p *hostUptime) Collect(ctx context.Context, dst []byte, now time.Time) ([]byte, error) {
	var err error
	if p.buf, err = proc.AppendFile(p.src, p.buf[:0], "/proc/uptime"); err != nil {
		return dst, err
	}
	if err = proc.ParseUptime(p.buf, &p.up); err != nil {
		return dst, err
	}
	if p.buf, err = proc.AppendFile(p.src, p.buf[:0], "/proc/loadavg"); err != nil {
		return dst, err
	}
	if err = proc.ParseLoadavg(p.buf, &p.load); err != nil {
		return dst, err
	}
	users, buf, _ := proc.ReadUsers(p.src, p.buf)
	p.buf = buf

	h, m, s := now.Clock()
	dst = append(dst, `{"time":"`...)
	dst = hostAppend2(dst, h)
	dst = append(dst, ':')
	dst = hostAppend2(dst, m)
	dst = append(dst, ':')
	dst = hostAppend2(dst, s)
	dst = append(dst, `","uptime":"`...)
	dst = hostAppendUptime(dst, p.up.Seconds)
	dst = append(dst, `","users":"`...)
	dst = strconv.AppendInt(dst, int64(users), 10)
	dst = append(dst, `","la1":"`...)
	dst = strconv.AppendFloat(dst, p.load.Load1, 'f', 2, 64)
	dst = append(dst, `","la5":"`...)
	dst = strconv.AppendFloat(dst, p.load.Load5, 'f', 2, 64)
	dst = append(dst, `","la15":"`...)
	dst = strconv.AppendFloat(dst, p.load.Load15, 'f', 2, 64)
	return append(dst, `"}`...), nil
}

// hostAppend2 appends 0 <= v < 100 as two digits.
func hostAppend2(dst []byte, v int) []byte {
	return append(dst, byte('0'+v/10%10), byte('0'+v%10))
}

// hostAppendUptime appends the uptime as procps `uptime` prints it between
// "up " and the user count (procps-ng whattime.c, and procps_uptime_sprint
// in 4.x): "N day(s), " when at least a day, then "%2d:%02d" when at least
// an hour into the day, else "%d min". The original plugin trimmed the
// match at both ends only, so under a day " 2:03" becomes "2:03" while
// "3 days,  2:03" keeps procps' two spaces (an HTML page shows one).
func hostAppendUptime(dst []byte, seconds float64) []byte {
	secs := int64(seconds)
	days := secs / 86400
	hours := secs / 3600 % 24
	mins := secs / 60 % 60
	if days > 0 {
		dst = strconv.AppendInt(dst, days, 10)
		if days == 1 {
			dst = append(dst, " day, "...)
		} else {
			dst = append(dst, " days, "...)
		}
	}
	if hours > 0 {
		if hours < 10 && days > 0 {
			dst = append(dst, ' ') // %2d; trimmed away when it would lead
		}
		dst = strconv.AppendInt(dst, hours, 10)
		dst = append(dst, ':')
		dst = hostAppend2(dst, int(mins))
	} else {
		dst = strconv.AppendInt(dst, mins, 10)
		dst = append(dst, " min"...)
	}
	return dst
}

// hostNet is net: {"eth0":{"rx_bytes":1234.5,"tx_bytes":..,"rx_packets":..,
// "tx_packets":..},...} per second since the previous Collect (0 on the
// first one and for a counter that went backwards), every interface of
// /proc/net/dev including lo, rounded to 2 decimals.
type hostNet struct {
	src     proc.Source
	buf     []byte
	dev     proc.NetDev
	sampler proc.NetSampler
	rates   []proc.NetRate
}

func (p *hostNet) Name() string { return "net" }

func (p *hostNet) Collect(ctx context.Context, dst []byte, now time.Time) ([]byte, error) {
	var err error
	if p.buf, err = proc.AppendFile(p.src, p.buf[:0], "/proc/net/dev"); err != nil {
		return dst, err
	}
	if err = proc.ParseNetDev(p.buf, &p.dev); err != nil {
		return dst, err
	}
	p.rates = p.sampler.Sample(&p.dev, now, p.rates[:0])
	dst = append(dst, '{')
	for i, r := range p.rates {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, r.Name)
		dst = append(dst, `:{"rx_bytes":`...)
		dst = hostAppendRound(dst, r.RxBytes, 2)
		dst = append(dst, `,"tx_bytes":`...)
		dst = hostAppendRound(dst, r.TxBytes, 2)
		dst = append(dst, `,"rx_packets":`...)
		dst = hostAppendRound(dst, r.RxPackets, 2)
		dst = append(dst, `,"tx_packets":`...)
		dst = hostAppendRound(dst, r.TxPackets, 2)
		dst = append(dst, '}')
	}
	return append(dst, '}'), nil
}

// hostDisk is disk: {"/":{"device":"/dev/sda1","fstype":"ext4","total":kB,
// "used":kB,"free":kB,"read_bytes":..,"write_bytes":..},...} for the file
// systems on block devices (proc.Mount.OnBlockDevice: no pseudo, network or
// squashfs file system; the first mount of a device only). used excludes
// the blocks reserved for root and free is what users can still fill, as df
// shows them. The I/O rates, per second since the previous Collect, are of
// the mount's own device in /proc/diskstats: the device's base name
// ("sda1"), else the major:minor of the mount in /proc/self/mountinfo
// ("/dev/root", "/dev/mapper/vg-root"); a device found in neither (btrfs,
// ubifs, zfs) and a box without diskstats report 0. A mount whose statfs
// fails (gone, no permission) or that has no blocks is left out.
type hostDisk struct {
	src     proc.Source
	buf     []byte
	mounts  proc.Mounts
	block   []proc.Mount
	stats   proc.Diskstats
	sampler proc.DiskSampler
	rates   []proc.DiskRate
	// devNames caches the diskstats name of each mounted device ("" when
	// there is none); mountinfo is read only for a device not seen before.
	devNames map[string]string
	info     proc.MountInfos
}

func (p *hostDisk) Name() string { return "disk" }

func (p *hostDisk) Collect(ctx context.Context, dst []byte, now time.Time) ([]byte, error) {
	var err error
	if p.buf, err = proc.AppendFile(p.src, p.buf[:0], "/proc/mounts"); err != nil {
		return dst, err
	}
	if err = proc.ParseMounts(p.buf, &p.mounts); err != nil {
		return dst, err
	}
	p.block = p.mounts.BlockMounts(p.block[:0])

	p.rates = p.rates[:0]
	if p.buf, err = proc.AppendFile(p.src, p.buf[:0], "/proc/diskstats"); err == nil {
		if proc.ParseDiskstats(p.buf, &p.stats) == nil {
			p.rates = p.sampler.Sample(&p.stats, now, p.rates)
		}
	}

	start := len(dst)
	dst = append(dst, '{')
	first := true
	for i := range p.block {
		m := &p.block[i]
		if err := ctx.Err(); err != nil { // statfs can be slow on a sick disk
			return dst[:start], err
		}
		st, err := p.src.Statfs(m.MountPoint)
		if err != nil || st.Blocks == 0 {
			continue
		}
		var rd, wr float64
		if name := p.devName(m); name != "" {
			for j := range p.rates {
				if p.rates[j].Name == name {
					rd, wr = p.rates[j].ReadBytes, p.rates[j].WriteBytes
					break
				}
			}
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = appendJSONString(dst, m.MountPoint)
		dst = append(dst, `:{"device":`...)
		dst = appendJSONString(dst, m.Device)
		dst = append(dst, `,"fstype":`...)
		dst = appendJSONString(dst, m.FSType)
		dst = append(dst, `,"total":`...)
		dst = strconv.AppendUint(dst, st.TotalBytes()/1024, 10)
		dst = append(dst, `,"used":`...)
		dst = strconv.AppendUint(dst, st.UsedBytes()/1024, 10)
		dst = append(dst, `,"free":`...)
		dst = strconv.AppendUint(dst, st.AvailBytes()/1024, 10)
		dst = append(dst, `,"read_bytes":`...)
		dst = hostAppendRound(dst, rd, 2)
		dst = append(dst, `,"write_bytes":`...)
		dst = hostAppendRound(dst, wr, 2)
		dst = append(dst, '}')
	}
	return append(dst, '}'), nil
}

// devName returns the /proc/diskstats name of the device of m, or "".
func (p *hostDisk) devName(m *proc.Mount) string {
	if len(p.stats.Disks) == 0 {
		return "" // no diskstats this tick: nothing to resolve against, or to cache
	}
	if name, ok := p.devNames[m.Device]; ok && (name == "" || p.stats.Find(name) != nil) {
		return name
	}
	name := ""
	if base := m.Device[strings.LastIndexByte(m.Device, '/')+1:]; p.stats.Find(base) != nil {
		name = base
	} else if buf, err := proc.AppendFile(p.src, p.buf[:0], proc.MountInfoFile); err == nil {
		p.buf = buf
		if proc.ParseMountInfo(buf, &p.info) == nil {
			if mi := p.info.FindMountPoint(m.MountPoint); mi != nil {
				if d := p.stats.FindDev(mi.Major, mi.Minor); d != nil {
					name = d.Name
				}
			}
		}
	}
	if len(p.devNames) > 256 { // devices come and go on a long-lived box
		clear(p.devNames)
	}
	p.devNames[m.Device] = name
	return name
}

// hostTemp is temp: {"thermal_zone0":{"type":"cpu-thermal","temp":45.2},...}
// in degrees Celsius with 1 decimal, zones in numeric order; {} on a box
// without thermal zones. A zone whose sensor cannot be read is left out.
type hostTemp struct {
	src   proc.Source
	buf   []byte
	zones []proc.ThermalZone
}

func (p *hostTemp) Name() string { return "temp" }

func (p *hostTemp) Collect(ctx context.Context, dst []byte, now time.Time) ([]byte, error) {
	zones, buf, err := proc.ReadThermalZones(p.src, p.buf, p.zones)
	p.zones, p.buf = zones, buf
	if err != nil {
		return dst, err
	}
	dst = append(dst, '{')
	for i, z := range zones {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, z.Name)
		dst = append(dst, `:{"type":`...)
		dst = appendJSONString(dst, z.Type)
		dst = append(dst, `,"temp":`...)
		dst = hostAppendRound(dst, z.Celsius(), 1)
		dst = append(dst, '}')
	}
	return append(dst, '}'), nil
}

// hostAppendRound appends v rounded to the given decimals in the shortest
// form that reads back the same ("0.07", "1", "45.2").
func hostAppendRound(dst []byte, v float64, decimals int) []byte {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return append(dst, '0')
	}
	p := math.Pow10(decimals)
	r := math.Round(v*p) / p
	if r == 0 {
		r = 0 // no "-0"
	}
	return strconv.AppendFloat(dst, r, 'f', -1, 64)
}

// appendJSONString appends s as a JSON string. Names from the kernel
// (interfaces, mount points after unescaping, zone types) may hold any byte:
// control bytes are escaped and invalid UTF-8 becomes U+FFFD, so the Push is
// always valid JSON. (strconv.AppendQuote would write Go escapes like \x01,
// which JSON does not have.)
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c < 0x20 || c == 0x7f:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, `\ufffd`...)
		} else {
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}
