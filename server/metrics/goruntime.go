package metrics

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	rtmetrics "runtime/metrics"
	"syscall"
	"time"

	"edgestat/proc"
)

// Runtime collects the standard Go and process families under the names
// the Prometheus client library gives them (go_goroutines,
// process_resident_memory_bytes, ...), so stock Grafana dashboards and
// scripts read them, plus edgestat_build_info.
//
// The process figures are this process's, so they read the real
// /proc/self whatever --proc-root says.
type Runtime struct {
	version string
	self    proc.FS
	pid     string // "/proc/self"

	samples []rtmetrics.Sample
	gc      debug.GCStats
	buf     []byte
	dents   []byte
	start   float64 // process_start_time_seconds, once known
}

// Indices of Runtime.samples.
const (
	rtHeapObjects = iota
	rtTotal
	rtAllocs
	rtNum
)

// NewRuntime returns the collector; version is edgestat_build_info's.
func NewRuntime(version string) *Runtime {
	r := &Runtime{version: version, self: proc.FS("/"), pid: "/proc/self"}
	r.samples = make([]rtmetrics.Sample, rtNum)
	// client_golang's names for these runtime/metrics (its Go collector
	// maps go_memstats_* onto them since MemStats stops the world).
	r.samples[rtHeapObjects].Name = "/memory/classes/heap/objects:bytes"
	r.samples[rtTotal].Name = "/memory/classes/total:bytes"
	r.samples[rtAllocs].Name = "/gc/heap/allocs:bytes"
	// ReadGCStats keeps the pauses, and a sorted copy for the quantiles,
	// in Pause when it is large enough: sized once, no allocation later.
	r.gc.Pause = make([]time.Duration, 0, 2*256+3)
	r.gc.PauseEnd = make([]time.Time, 0, 256)
	r.gc.PauseQuantiles = make([]time.Duration, 5)
	r.dents = make([]byte, 4096)
	return r
}

// Collect implements Collector.
func (r *Runtime) Collect(_ context.Context, w *Writer) error {
	w.Family("edgestat_build_info", "Always 1; the labels say which edgestat runs.", Gauge)
	w.Value(1, "version", r.version)
	w.Family("go_info", "Information about the Go environment.", Gauge)
	w.Value(1, "version", runtime.Version())
	w.Gauge("go_goroutines", "Number of goroutines that currently exist.", float64(runtime.NumGoroutine()))

	rtmetrics.Read(r.samples)
	for _, s := range []struct {
		i          int
		name, help string
		t          Type
	}{
		{rtHeapObjects, "go_memstats_heap_alloc_bytes", "Number of heap bytes allocated and currently in use.", Gauge},
		{rtTotal, "go_memstats_sys_bytes", "Number of bytes obtained from the system.", Gauge},
		{rtAllocs, "go_memstats_alloc_bytes_total", "Total number of bytes allocated, even if freed.", Counter},
	} {
		if v := r.samples[s.i].Value; v.Kind() == rtmetrics.KindUint64 {
			w.Family(s.name, s.help, s.t)
			w.UintValue(v.Uint64())
		}
	}

	debug.ReadGCStats(&r.gc)
	w.Family("go_gc_duration_seconds", "A summary of the pause duration of garbage collection cycles (the last 256).", Summary)
	for i, q := range [...]string{"0", "0.25", "0.5", "0.75", "1"} {
		w.Sample("")
		w.Label("quantile", q)
		w.Float(r.gc.PauseQuantiles[i].Seconds())
	}
	w.Sample("_sum")
	w.Float(r.gc.PauseTotal.Seconds())
	w.Sample("_count")
	w.Uint(uint64(r.gc.NumGC))

	return r.process(w)
}

// process writes the process_* families, from /proc/self and system calls.
func (r *Runtime) process(w *Writer) error {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
		cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		w.Family("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", Counter)
		w.Value(cpu.Seconds())
	}
	var err error
	if r.buf, err = r.self.AppendFile(r.buf[:0], r.pid+"/statm"); err != nil {
		return fmt.Errorf("metrics: read statm: %w", err)
	}
	size, rss, ok := parseStatm(r.buf)
	if !ok {
		return fmt.Errorf("%w: %s/statm: %q", proc.ErrParse, r.pid, r.buf)
	}
	page := uint64(os.Getpagesize())
	w.GaugeUint("process_resident_memory_bytes", "Resident memory size in bytes.", rss*page)
	w.GaugeUint("process_virtual_memory_bytes", "Virtual memory size in bytes.", size*page)

	fds, err := r.openFDs()
	if err != nil {
		return err
	}
	w.GaugeUint("process_open_fds", "Number of open file descriptors.", fds)
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil {
		w.GaugeUint("process_max_fds", "Maximum number of open file descriptors.", lim.Cur)
	}
	if r.start == 0 {
		r.start = r.startTime()
	}
	w.Gauge("process_start_time_seconds", "Start time of the process since unix epoch in seconds.", r.start)
	return nil
}

// parseStatm reads the first two fields of /proc/self/statm: size and
// resident, in pages.
func parseStatm(b []byte) (size, rss uint64, ok bool) {
	var v [2]uint64
	n := 0
	in := false
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			if !in && n == 2 {
				return v[0], v[1], true
			}
			if !in {
				in = true
				n++
			}
			v[n-1] = v[n-1]*10 + uint64(c-'0')
		case c == ' ' || c == '\n':
			in = false
		default:
			return 0, 0, false
		}
	}
	return v[0], v[1], n == 2
}

// openFDs counts the entries of /proc/<pid>/fd with getdents, so that a
// process with thousands of sockets costs no string per descriptor. The
// descriptor opened to read the directory is not counted.
func (r *Runtime) openFDs() (uint64, error) {
	dir := r.pid + "/fd"
	fd, err := syscall.Open(dir, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return 0, fmt.Errorf("metrics: open %s: %w", dir, err)
	}
	defer syscall.Close(fd)
	var n uint64
	for {
		got, err := syscall.Getdents(fd, r.dents)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("metrics: read %s: %w", dir, err)
		}
		if got <= 0 {
			break
		}
		// linux_dirent64: ino u64, off s64, reclen u16, type u8, name.
		for b := r.dents[:got]; len(b) >= 20; {
			reclen := int(binary.NativeEndian.Uint16(b[16:18]))
			if reclen < 20 || reclen > len(b) {
				return 0, fmt.Errorf("%w: %s: bad dirent length %d", proc.ErrParse, dir, reclen)
			}
			name := b[19:reclen]
			if end := bytes.IndexByte(name, 0); end >= 0 {
				name = name[:end]
			}
			if string(name) != "." && string(name) != ".." {
				n++
			}
			b = b[reclen:]
		}
	}
	if n > 0 {
		n-- // our own descriptor of the directory
	}
	return n, nil
}

// startTime is when this process started, from its start tick in
// /proc/self/stat and the boot time in /proc/stat; the time the collector
// was first used when those cannot be read (it is a gauge of minutes'
// accuracy to anyone reading it).
func (r *Runtime) startTime() float64 {
	fallback := float64(time.Now().UnixNano()) / 1e9
	b, err := r.self.ReadFile(r.pid + "/stat")
	if err != nil {
		return fallback
	}
	var ps proc.PIDStat
	if proc.ParsePIDStat(b, &ps) != nil {
		return fallback
	}
	b, err = r.self.ReadFile("/proc/stat")
	if err != nil {
		return fallback
	}
	var st proc.Stat
	if proc.ParseStat(b, &st) != nil || st.BootTime == 0 {
		return fallback
	}
	return float64(st.BootTime) + float64(ps.StartTime)/userHZ
}
