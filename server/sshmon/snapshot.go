// Package sshmon monitors remote Linux hosts agentlessly over SSH and
// reports them through the Argusyes /monitor interface.
//
// Once per tick one shell command ([Script]) prints every /proc and /sys
// file the monitor needs; [ParseSnapshot] turns its output into a
// [Snapshot], a [proc.Source], so the parsers of package proc that read the
// local box read the remote one too; a [Collector] turns successive
// snapshots into the notification events.
package sshmon

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"edgestat/proc"
)

// The output of Script, which ParseSnapshot reads:
//
//	[anything a login shell printed first]
//	@@edgestat@@ begin 1
//	==> proc/stat <==
//	<the bytes of /proc/stat>
//	==> proc/meminfo <==
//	...
//	@@edgestat@@ df
//	<the output of df -kP>
//	@@edgestat@@ end
//
// The files are printed by ONE head(1) process over every path (fixed
// files, thermal zones and every /proc/[pid]/stat): with more than one file,
// GNU coreutils and busybox head alike print a "==> name <==" header before
// each file that could be opened, and a newline before every header but
// the first (busybox: but the first argument's, opened or not), and copy
// the bytes unchanged (a last line without a newline stays without). So the
// script forks three processes (sh, head, df) whatever the number of
// processes on the host, a file that does not exist or vanishes (a process
// that exits) is skipped, and every file arrives byte for byte.
//
// The header lines cannot be forged by the content: kernel files do not hold
// such lines, /proc/mounts lines have six fields, and a command name (the
// only text of /proc/[pid]/stat a user chooses) is at most 15 bytes, too
// short to hold a newline, a whole header and another newline. df's output,
// where a FUSE user names the file system, comes after the files and is read
// only as df output up to the end marker.

const (
	// MaxSnapshot bounds the output ParseSnapshot accepts: a busy server
	// prints about 100 KB (300 processes), and 8 MiB holds 25,000 processes.
	MaxSnapshot = 8 << 20
	// MaxFiles bounds the number of files of one snapshot.
	MaxFiles = proc.MaxPIDs + 1024

	marker       = "@@edgestat@@ "
	beginLine    = marker + "begin 1\n"
	dfLine       = "\n" + marker + "df\n"
	endLine      = "\n" + marker + "end\n"
	headerPrefix = "==> "
	headerSuffix = " <=="

	// maxPath bounds a file name of the snapshot.
	maxPath = 255
)

// ErrSnapshot is wrapped by every error of ParseSnapshot.
var ErrSnapshot = errors.New("sshmon: bad snapshot")

// snapshotFiles are the fixed files of a snapshot, relative to the root.
var snapshotFiles = []string{
	"proc/stat", "proc/meminfo", "proc/loadavg", "proc/uptime",
	"proc/net/dev", "proc/net/snmp", "proc/diskstats", "proc/mounts",
}

// snapshotGlobs are read after the fixed files (and after /proc/cpuinfo).
var snapshotGlobs = []string{
	"sys/class/thermal/thermal_zone*/type",
	"sys/class/thermal/thermal_zone*/temp",
	"proc/[0-9]*/stat",
}

var (
	scriptPlain = buildScript(false)
	scriptInfo  = buildScript(true)
)

// Script returns the command that prints a snapshot of the host: a POSIX
// sh script (dash and busybox ash run it) that reads /proc/stat, meminfo,
// loadavg, uptime, net/dev, net/snmp, diskstats, mounts, /proc/cpuinfo when
// withCPUInfo, the type and temp of every /sys/class/thermal/thermal_zone*,
// every /proc/[pid]/stat, and runs `df -kP`. Files are read under
// $EDGESTAT_ROOT ("/" when unset or empty), so a test can point it at a
// fixture tree. It forks head and df only (and execs sh), and prints
// nothing but the files' bytes, their names and four marker lines, so its
// output is bounded by the files.
//
// The script is one line wrapped in `exec sh -c '...'`, because sshd runs a
// command with the user's login shell: zsh would give up on a glob that
// matches nothing (a VM has no thermal zone), and csh and fish speak
// another language; all of them run this line the same way.
func Script(withCPUInfo bool) string {
	if withCPUInfo {
		return scriptInfo
	}
	return scriptPlain
}

func buildScript(withCPUInfo bool) string {
	files := slices.Clone(snapshotFiles)
	if withCPUInfo {
		files = append(files, "proc/cpuinfo")
	}
	files = append(files, snapshotGlobs...)
	// LC_ALL=C: df's header and numbers are not translated. head -n: every
	// head has it (-c is optional in busybox); no kernel file nears a million
	// lines. The echo before each marker ends the last file's bytes when
	// they lack a final newline. No single quote, no backslash, no newline:
	// the line goes inside single quotes for any login shell.
	lines := []string{
		"LC_ALL=C",
		"export LC_ALL",
		`cd "${EDGESTAT_ROOT:-/}" || exit 1`,
		`echo "` + strings.TrimSuffix(beginLine, "\n") + `"`,
		"head -n 1000000 " + strings.Join(files, " ") + " 2>/dev/null",
		"echo",
		`echo "` + marker + `df"`,
		"df -kP 2>/dev/null",
		"echo",
		`echo "` + marker + `end"`,
	}
	return "exec sh -c '" + strings.Join(lines, "; ") + "'"
}

// A Snapshot is the files of one host at one moment, as ParseSnapshot read
// them from the output of Script. It implements [proc.Source] (and
// [proc.FileAppender]) with the names the local box uses ("/proc/stat",
// "/proc/1/stat", "/sys/class/thermal/thermal_zone0/temp"); Statfs answers
// from the output of df. A Snapshot does not change once parsed and is safe
// for concurrent use.
type Snapshot struct {
	buf   []byte // the output, copied: every file's data points into it
	files []file // sorted by name
	df    map[string]proc.Statfs
}

type file struct {
	name string // "/proc/stat"
	data []byte
}

var _ proc.Source = (*Snapshot)(nil)
var _ proc.FileAppender = (*Snapshot)(nil)

// ParseSnapshot reads the output of [Script]. It copies out, so the caller
// may reuse it. Text before the begin marker (what a shell's rc files
// printed) is skipped; output over [MaxSnapshot], without the end marker
// (cut short), with more than [MaxFiles] files, with a bad file header or
// the same file twice is refused with an error that wraps [ErrSnapshot].
// The content of the files is not checked here: a bad file is an error of
// the event that reads it (see [Collector.Collect]).
func ParseSnapshot(out []byte) (*Snapshot, error) {
	if len(out) > MaxSnapshot {
		return nil, fmt.Errorf("%w: %d bytes, over the limit of %d", ErrSnapshot, len(out), MaxSnapshot)
	}
	start := 0
	if !bytes.HasPrefix(out, []byte(beginLine)) {
		i := bytes.Index(out, []byte("\n"+beginLine))
		if i < 0 {
			return nil, fmt.Errorf("%w: no begin marker in %d bytes (not the output of the snapshot script?): %q",
				ErrSnapshot, len(out), quote(out))
		}
		start = i + 1
	}
	if !bytes.HasSuffix(out, []byte(endLine)) || len(out)-start < len(beginLine)+len(endLine)-1 {
		return nil, fmt.Errorf("%w: cut short (no end marker after %d bytes)", ErrSnapshot, len(out))
	}
	s := &Snapshot{buf: bytes.Clone(out[start : len(out)-len(endLine)+1])}
	// s.buf is "begin line" files "\n" "df marker line" df-output "\n".
	body := s.buf[len(beginLine)-1:] // keep the begin line's newline: the df marker starts with one
	i := bytes.Index(body, []byte(dfLine))
	if i < 0 {
		return nil, fmt.Errorf("%w: no df marker", ErrSnapshot)
	}
	if err := s.parseFiles(body[1:max(i, 1)]); err != nil {
		return nil, err
	}
	s.df = parseDF(body[i+len(dfLine):])
	return s, nil
}

// parseFiles splits the output of head into files.
func (s *Snapshot) parseFiles(b []byte) error {
	// busybox head starts the header of every argument but the first with
	// a newline, also when the files before could not be opened.
	b = bytes.TrimPrefix(b, []byte("\n"))
	if len(b) == 0 {
		return nil
	}
	name, rest, ok := header(b)
	if !ok {
		return fmt.Errorf("%w: the files do not start with a header: %q", ErrSnapshot, quote(b))
	}
	for {
		if len(s.files) >= MaxFiles {
			return fmt.Errorf("%w: more than %d files", ErrSnapshot, MaxFiles)
		}
		// The file ends at the newline before the next header line.
		end, next, nextName := len(rest), []byte(nil), []byte(nil)
		for off := 0; ; {
			j := bytes.Index(rest[off:], []byte("\n"+headerPrefix))
			if j < 0 {
				break
			}
			j += off
			if n, r, ok := header(rest[j+1:]); ok {
				end, next, nextName = j, r, n
				break
			}
			off = j + 1
		}
		s.files = append(s.files, file{name: "/" + string(name), data: rest[:end:end]})
		if nextName == nil {
			break
		}
		name, rest = nextName, next
	}
	slices.SortFunc(s.files, func(a, b file) int { return cmp.Compare(a.name, b.name) })
	for i := 1; i < len(s.files); i++ {
		if s.files[i].name == s.files[i-1].name {
			return fmt.Errorf("%w: %s twice", ErrSnapshot, s.files[i].name)
		}
	}
	return nil
}

// header reads a "==> proc/stat <==" line at the start of b and returns the
// name and what follows the line.
func header(b []byte) (name, rest []byte, ok bool) {
	nl := bytes.IndexByte(b, '\n')
	if nl < len(headerPrefix)+len(headerSuffix) || !bytes.HasPrefix(b, []byte(headerPrefix)) ||
		!bytes.HasSuffix(b[:nl], []byte(headerSuffix)) {
		return nil, nil, false
	}
	n := b[len(headerPrefix) : nl-len(headerSuffix)]
	if !validName(n) {
		return nil, nil, false
	}
	return n, b[nl+1:], true
}

// validName accepts the clean relative names that Script reads: under proc/
// or sys/, made of letters, digits, '_', '-', '.' and '/', without an empty,
// "." or ".." component.
func validName(n []byte) bool {
	if len(n) == 0 || len(n) > maxPath {
		return false
	}
	if !bytes.HasPrefix(n, []byte("proc/")) && !bytes.HasPrefix(n, []byte("sys/")) {
		return false
	}
	for _, c := range n {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.' || c == '/') {
			return false
		}
	}
	for c := range bytes.SplitSeq(n, []byte("/")) {
		if len(c) == 0 || string(c) == "." || string(c) == ".." {
			return false
		}
	}
	return true
}

// parseDF reads the output of `df -kP`: a header, then "Filesystem
// 1024-blocks Used Available Capacity Mounted-on" lines, the mount point
// being the rest of the line (it may hold spaces). Lines that do not have
// three numbers where they belong (a file system name with spaces, "-" for
// an unknown size) are skipped; a mount point listed twice (over-mounted)
// keeps its last line, the visible one.
func parseDF(b []byte) map[string]proc.Statfs {
	m := make(map[string]proc.Statfs)
	for len(b) > 0 {
		var line []byte
		line, b, _ = bytes.Cut(b, []byte("\n"))
		rest := line
		var f [5][]byte
		for i := range f {
			f[i], rest = nextField(rest)
		}
		mp := bytes.TrimLeft(rest, " \t")
		mp = bytes.TrimRight(mp, "\r")
		if len(mp) == 0 || mp[0] != '/' {
			continue
		}
		total, ok1 := parseUint(f[1])
		used, ok2 := parseUint(f[2])
		avail, ok3 := parseUint(f[3])
		if !ok1 || !ok2 || !ok3 {
			continue
		}
		st := proc.Statfs{BlockSize: 1024, Blocks: total, BlocksAvail: avail}
		if used <= total {
			st.BlocksFree = total - used
		}
		m[string(mp)] = st
	}
	return m
}

func nextField(b []byte) (field, rest []byte) {
	i := 0
	for i < len(b) && (b[i] == ' ' || b[i] == '\t') {
		i++
	}
	j := i
	for j < len(b) && b[j] != ' ' && b[j] != '\t' {
		j++
	}
	return b[i:j], b[j:]
}

// parseUint parses a decimal of at most 19 digits.
func parseUint(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, true
}

// quote returns the start of b for an error message.
func quote(b []byte) []byte {
	if len(b) > 60 {
		return b[:60]
	}
	return b
}

// find returns the data of the file called name.
func (s *Snapshot) find(name string) ([]byte, bool) {
	i, ok := slices.BinarySearchFunc(s.files, name, func(f file, n string) int { return cmp.Compare(f.name, n) })
	if !ok {
		return nil, false
	}
	return s.files[i].data, true
}

func notExist(op, name string) error {
	return &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
}

// ReadFile returns a copy of the file called name ("/proc/stat"). A file
// the snapshot does not hold is an error for which [proc.IsNotExist] is true.
func (s *Snapshot) ReadFile(name string) ([]byte, error) {
	b, err := s.AppendFile(nil, name)
	if err == nil && b == nil {
		b = []byte{}
	}
	return b, err
}

// AppendFile appends the file called name to dst.
func (s *Snapshot) AppendFile(dst []byte, name string) ([]byte, error) {
	b, ok := s.find(name)
	if !ok {
		return dst, notExist("open", name)
	}
	return append(dst, b...), nil
}

// ReadDir returns, sorted, the names under the directory name that the
// snapshot holds: for "/proc" the process directories ("1", "42", ...) and
// "net" and the fixed files, for "/sys/class/thermal" the zones. A
// directory under which the snapshot holds nothing does not exist.
func (s *Snapshot) ReadDir(name string) ([]string, error) {
	prefix := strings.TrimSuffix(name, "/") + "/"
	i, _ := slices.BinarySearchFunc(s.files, prefix, func(f file, n string) int { return cmp.Compare(f.name, n) })
	var names []string
	for ; i < len(s.files) && strings.HasPrefix(s.files[i].name, prefix); i++ {
		e := s.files[i].name[len(prefix):]
		if j := strings.IndexByte(e, '/'); j >= 0 {
			e = e[:j]
		}
		if len(names) == 0 || names[len(names)-1] != e {
			names = append(names, e)
		}
	}
	if len(names) == 0 {
		return nil, notExist("readdir", name)
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}

// Statfs returns the usage of the file system mounted at mountpoint, as df
// printed it: in 1 KiB blocks (BlockSize 1024), with the free blocks
// derived from the used ones; the file system type and inode counts are 0.
// A mount point df did not list does not exist.
func (s *Snapshot) Statfs(mountpoint string) (proc.Statfs, error) {
	st, ok := s.df[mountpoint]
	if !ok {
		return proc.Statfs{}, notExist("statfs", mountpoint)
	}
	return st, nil
}

// Paths returns the names of the files of the snapshot, sorted.
func (s *Snapshot) Paths() []string {
	names := make([]string, len(s.files))
	for i, f := range s.files {
		names[i] = f.name
	}
	return names
}
