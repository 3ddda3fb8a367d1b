package operator

import (
	"fmt"
	"sync"
	"time"

	"edgestat/proc"
)

// Resources are what admission control looks at, and GET /resources shows.
type Resources struct {
	CPU          float64 `json:"cpu"`           // busy share of all CPUs since the previous look (0-1)
	CPUs         int     `json:"cpus"`          // online CPUs
	MemTotal     uint64  `json:"mem_total"`     // bytes
	MemAvailable uint64  `json:"mem_available"` // bytes
	DiskTotal    uint64  `json:"disk_total"`    // bytes of the data directory's file system
	DiskFree     uint64  `json:"disk_free"`     // bytes available to us
	Sessions     int     `json:"sessions"`      // sessions holding workers (waiting or running)
	Ports        int     `json:"ports"`         // stream listeners open
	SessionFiles int64   `json:"session_files"` // bytes of segment files on disk
	// The database's writes to storage, the flash wear (see README).
	DBWrittenToday      uint64 `json:"db_written_today"`
	DBWrittenSinceStart uint64 `json:"db_written_since_start"`
	Limits              Limits `json:"limits"`
	Error               string `json:"error,omitempty"` // a reading that failed
}

// Limits are the admission thresholds.
type Limits struct {
	MaxSessions int     `json:"max_sessions"`
	MaxPorts    int     `json:"max_ports"`
	MaxCount    int     `json:"max_count"`
	MaxCPU      float64 `json:"max_cpu"`
	MinMemory   uint64  `json:"min_memory"`
	MinDisk     uint64  `json:"min_disk"`
}

// resourceReader samples /proc (through a proc.Source) and the data
// directory's file system.
type resourceReader struct {
	src proc.Source
	dir string

	mu      sync.Mutex
	sampler proc.CPUSampler
	stat    proc.Stat
	last    time.Time
	cpu     float64
	cpus    int
	buf     []byte
}

// read samples the host; CPU is over the time since the previous sample
// when that is at least a second, else the previous figure.
func (r *resourceReader) read() (Resources, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var res Resources
	var err error
	if time.Since(r.last) >= time.Second {
		if r.buf, err = proc.AppendFile(r.src, r.buf[:0], "/proc/stat"); err != nil {
			return res, fmt.Errorf("read /proc/stat: %w", err)
		}
		if err := proc.ParseStat(r.buf, &r.stat); err != nil {
			return res, fmt.Errorf("parse /proc/stat: %w", err)
		}
		total, _ := r.sampler.Sample(&r.stat, nil)
		r.cpu, r.cpus, r.last = total.Usage, len(r.stat.CPUs), time.Now()
	}
	res.CPU, res.CPUs = r.cpu, r.cpus
	if r.buf, err = proc.AppendFile(r.src, r.buf[:0], "/proc/meminfo"); err != nil {
		return res, fmt.Errorf("read /proc/meminfo: %w", err)
	}
	var mi proc.Meminfo
	if err := proc.ParseMeminfo(r.buf, &mi); err != nil {
		return res, fmt.Errorf("parse /proc/meminfo: %w", err)
	}
	res.MemTotal = mi.MemTotal * 1024
	res.MemAvailable = mi.MemAvailable * 1024
	if !mi.HasMemAvailable { // kernels before 3.14
		res.MemAvailable = (mi.MemFree + mi.Buffers + mi.Cached) * 1024
	}
	// The data directory is a real path, whatever root /proc is read from.
	fs, err := proc.FS("/").Statfs(r.dir)
	if err != nil {
		return res, fmt.Errorf("statfs %s: %w", r.dir, err)
	}
	res.DiskTotal, res.DiskFree = fs.Blocks*fs.BlockSize, fs.BlocksAvail*fs.BlockSize
	return res, nil
}
