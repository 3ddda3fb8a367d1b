package proc

import "bytes"

// MountInfoFile is the mount table of the reading process with device
// numbers (kernel 2.6.26+). /proc/mounts says "/dev/root" for a root given
// as root=PARTUUID=... (Raspberry Pi OS does); only the major:minor here
// tells which /proc/diskstats line it is.
const MountInfoFile = "/proc/self/mountinfo"

// MountInfo is one line of /proc/[pid]/mountinfo (proc(5)):
//
//	36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
type MountInfo struct {
	MountID, ParentID int
	Major, Minor      uint32 // st_dev of the file system; 0:N for anonymous ones (btrfs, tmpfs)
	Root              string // the root of the mount within its file system
	MountPoint        string
	Options           string // per-mount options
	FSType            string
	Source            string // the device, as in /proc/mounts
	SuperOptions      string // per-superblock options
}

// MountInfos is a mountinfo file in file order.
type MountInfos struct {
	List    []MountInfo
	scratch Mounts // unescaping and string reuse
}

// FindMountPoint returns the mount at mountPoint (the last one mounted
// there, which hides the others), or nil.
func (m *MountInfos) FindMountPoint(mountPoint string) *MountInfo {
	for i := len(m.List) - 1; i >= 0; i-- {
		if m.List[i].MountPoint == mountPoint {
			return &m.List[i]
		}
	}
	return nil
}

const mountInfoFile = "/proc/[pid]/mountinfo"

// ParseMountInfo parses /proc/[pid]/mountinfo into dst, reusing dst.List
// and its strings when nothing changed. Optional fields ("shared:1",
// "master:2") run up to a lone "-"; the fields after it are required. Octal
// escapes in the root, the mount point and the source are decoded as in
// /proc/mounts.
func ParseMountInfo(data []byte, dst *MountInfos) error {
	prev := dst.List
	dst.List = dst.List[:0]
	for n := 1; len(data) > 0; n++ {
		var line []byte
		line, data = nextLine(data)
		if len(trimSpace(line)) == 0 {
			continue
		}
		var f [6][]byte
		rest := line
		for i := range f {
			if f[i], rest = nextField(rest); len(f[i]) == 0 {
				return lineError(mountInfoFile, n, line, "too few fields")
			}
		}
		for { // optional fields up to the separator
			var opt []byte
			if opt, rest = nextField(rest); len(opt) == 0 {
				return lineError(mountInfoFile, n, line, "no \"-\" separator")
			}
			if len(opt) == 1 && opt[0] == '-' {
				break
			}
		}
		fsType, rest := nextField(rest)
		source, rest := nextField(rest)
		super, _ := nextField(rest)
		if len(fsType) == 0 || len(source) == 0 || len(super) == 0 {
			return lineError(mountInfoFile, n, line, "too few fields after \"-\"")
		}
		id, ok1 := parseIntField(f[0])
		parent, ok2 := parseIntField(f[1])
		colon := bytes.IndexByte(f[2], ':')
		var maj, mnr uint64
		ok3 := colon > 0
		if ok3 {
			var okMaj, okMin bool
			maj, okMaj = parseUint(f[2][:colon])
			mnr, okMin = parseUint(f[2][colon+1:])
			ok3 = okMaj && okMin && maj <= 1<<32-1 && mnr <= 1<<32-1
		}
		if !ok1 || !ok2 || !ok3 {
			return lineError(mountInfoFile, n, line, "bad id or device number")
		}
		var m MountInfo
		if i := len(dst.List); i < len(prev) {
			m = prev[i]
		}
		m.MountID, m.ParentID, m.Major, m.Minor = id, parent, uint32(maj), uint32(mnr)
		dst.scratch.setString(&m.Root, f[3])
		dst.scratch.setString(&m.MountPoint, f[4])
		dst.scratch.setString(&m.Options, f[5])
		dst.scratch.setString(&m.FSType, fsType)
		dst.scratch.setString(&m.Source, source)
		dst.scratch.setString(&m.SuperOptions, super)
		dst.List = append(dst.List, m)
	}
	return nil
}
