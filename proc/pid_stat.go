package proc

import (
	"bytes"
	"context"
	"strconv"
)

// PIDStat is /proc/[pid]/stat (proc(5)): one line of fields after the
// command name in parentheses.
type PIDStat struct {
	PID int
	// Comm is the command name without its parentheses. It is the caller's
	// buffer, reused by the next parse: copy it to keep it.
	Comm []byte
	// State is R running, S sleeping, D disk sleep, T stopped, t tracing
	// stop, Z zombie, X dead, I idle kernel thread (4.14+); older kernels
	// also print W paging, x dead, K wakekill, P parked.
	State               byte
	PPID, PGRP, Session int
	TTYNr, TPGID        int
	Flags               uint64
	MinFlt, CMinFlt     uint64
	MajFlt, CMajFlt     uint64
	UTime, STime        uint64 // USER_HZ ticks
	CUTime, CSTime      int64  // USER_HZ ticks, of waited-for children
	Priority, Nice      int64
	NumThreads          int64
	StartTime           uint64 // USER_HZ ticks after boot
	VSize               uint64 // bytes
	RSS                 int64  // pages
	Processor           int    // CPU last run on; -1 when not printed (before 2.2.8)
}

const pidStatFile = "/proc/[pid]/stat"

// ParsePIDStat parses /proc/[pid]/stat into dst, reusing dst.Comm. The
// command name may hold spaces, parentheses and even newlines ("(sd-pam)",
// "test(cmd).sh", "rs:main Q:Reg"), so the fields start after the LAST ')'
// of the data. Fields up to rss (the 24th) are required.
func ParsePIDStat(data []byte, dst *PIDStat) error {
	comm := dst.Comm[:0]
	*dst = PIDStat{Comm: comm, Processor: -1}
	open := bytes.IndexByte(data, '(')
	end := bytes.LastIndexByte(data, ')')
	if open < 0 || end < open {
		line, _ := nextLine(data)
		return lineError(pidStatFile, 1, line, "no (comm)")
	}
	pid, ok := parseIntField(trimSpace(data[:open]))
	if !ok || pid < 0 {
		line, _ := nextLine(data)
		return lineError(pidStatFile, 1, line, "bad pid")
	}
	dst.PID = pid
	dst.Comm = append(comm, data[open+1:end]...)
	rest, _ := nextLine(data[end+1:])

	// Fields 3.. of proc(5), numbered as there.
	n := 2
	for {
		var f []byte
		f, rest = nextField(rest)
		if len(f) == 0 {
			break
		}
		n++
		if !dst.setField(n, f) {
			line, _ := nextLine(data)
			return lineError(pidStatFile, 1, line, "bad field "+strconv.Itoa(n))
		}
	}
	if n < 24 {
		line, _ := nextLine(data)
		return lineError(pidStatFile, 1, line, "too few fields")
	}
	return nil
}

// setField stores field n (1-based, as numbered in proc(5)).
func (p *PIDStat) setField(n int, f []byte) bool {
	var ok bool
	switch n {
	case 3:
		// A state is one letter; a NUL or other byte here means a cut or
		// garbled read, not a process state.
		p.State = f[0]
		return len(f) == 1 && (p.State >= 'A' && p.State <= 'Z' || p.State >= 'a' && p.State <= 'z')
	case 4:
		p.PPID, ok = parseIntField(f)
	case 5:
		p.PGRP, ok = parseIntField(f)
	case 6:
		p.Session, ok = parseIntField(f)
	case 7:
		p.TTYNr, ok = parseIntField(f)
	case 8:
		p.TPGID, ok = parseIntField(f)
	case 9:
		p.Flags, ok = parseUint(f)
	case 10:
		p.MinFlt, ok = parseUint(f)
	case 11:
		p.CMinFlt, ok = parseUint(f)
	case 12:
		p.MajFlt, ok = parseUint(f)
	case 13:
		p.CMajFlt, ok = parseUint(f)
	case 14:
		p.UTime, ok = parseUint(f)
	case 15:
		p.STime, ok = parseUint(f)
	case 16:
		p.CUTime, ok = parseInt(f)
	case 17:
		p.CSTime, ok = parseInt(f)
	case 18:
		p.Priority, ok = parseInt(f)
	case 19:
		p.Nice, ok = parseInt(f)
	case 20:
		p.NumThreads, ok = parseInt(f)
	case 22:
		p.StartTime, ok = parseUint(f)
	case 23:
		p.VSize, ok = parseUint(f)
	case 24:
		p.RSS, ok = parseInt(f)
	case 39:
		p.Processor, ok = parseIntField(f)
	default:
		// Fields edgestat does not keep are still checked to be numbers, so a
		// line cut short mid-field or glued to garbage is caught.
		_, ok = parseInt(f)
		if !ok {
			_, ok = parseUint(f)
		}
	}
	return ok
}

// ProcessCounts counts processes by state, as Rt-Stat's processes plugin.
type ProcessCounts struct {
	All     int // every process whose stat could be read and parsed
	Running int // R
	Sleep   int // S, D, I (and the old W, K, P)
	Stopped int // T, t
	Zombie  int // Z
	// Dead processes (X, x) count only in All.
}

// Add counts one process of the given state letter.
func (c *ProcessCounts) Add(state byte) {
	c.All++
	switch state {
	case 'R':
		c.Running++
	case 'S', 'D', 'I', 'W', 'K', 'P':
		c.Sleep++
	case 'T', 't':
		c.Stopped++
	case 'Z':
		c.Zombie++
	}
}

// MaxPIDs bounds the work of one [CountProcesses] call: pid_max is 32768 on
// most boxes, and a runaway fork bomb must not stall the sampler.
const MaxPIDs = 65536

// CountProcesses lists /proc and counts the processes of src by state,
// reading at most limit (<= 0 means [MaxPIDs]) /proc/[pid]/stat files. buf is
// the read buffer, reused and returned; st is scratch for the parse. A
// process that vanishes between the listing and the read, or whose stat is
// unreadable or malformed, is skipped. Only the listing failing is an error.
func CountProcesses(ctx context.Context, src Source, buf []byte, st *PIDStat, limit int) (ProcessCounts, []byte, error) {
	var c ProcessCounts
	if limit <= 0 || limit > MaxPIDs {
		limit = MaxPIDs
	}
	names, err := src.ReadDir("/proc")
	if err != nil {
		return c, buf, err
	}
	seen := 0
	for _, name := range names {
		if !isPID(name) {
			continue
		}
		if seen >= limit {
			break
		}
		seen++
		if seen&1023 == 0 && ctx.Err() != nil {
			return c, buf, ctx.Err()
		}
		buf, err = AppendFile(src, buf[:0], "/proc/"+name+"/stat")
		if err != nil {
			continue
		}
		if ParsePIDStat(buf, st) != nil {
			continue
		}
		c.Add(st.State)
	}
	return c, buf, nil
}

// isPID reports a /proc entry made only of digits.
func isPID(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		if name[i] < '0' || name[i] > '9' {
			return false
		}
	}
	return true
}
